/**
 * The source files of the first screen: src/app/main.ts (or another entry, such as the worker's) and everything it imports statically (not
 * `import type`, not `import()`), following .ts, .svelte and .json files of the repository, with
 * the packages each imports. Shared by the layering test (no xstate or d3 there) and the i18n test
 * (only strings the first screen loads with).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '../..');

/** File (absolute path) → the packages it imports statically. */
export function firstScreen(entry = 'src/app/main.ts'): Map<string, string[]> {
  const staticRe = /(?:^|\n)\s*(?:import|export)\s+(?!type\s)(?:[^'"]*?from\s*)?['"]([^'"]+)['"]/g;
  const seen = new Map<string, string[]>();
  const queue = [join(root, entry)];
  while (queue.length > 0) {
    const f = queue.pop() as string;
    if (seen.has(f)) continue;
    let text = readFileSync(f, 'utf8');
    if (f.endsWith('.svelte')) text = [...text.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]).join('\n');
    const specs = f.endsWith('.json') ? [] : [...text.matchAll(staticRe)].map((m) => m[1] ?? '');
    seen.set(f, specs.filter((s) => !s.startsWith('.')));
    for (const s of specs) if (s.startsWith('.')) queue.push(resolve(dirname(f), s));
  }
  return seen;
}
