import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { firstScreen } from './first-screen.ts';

const root = resolve(import.meta.dirname, '../..');
const emu = join(root, 'src/emu');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sources(p);
    return /\.ts$/.test(n) && !/\.test\.ts$/.test(n) ? [p] : [];
  });
}

const importRe = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

describe('src/emu stays a pure, self-contained core', () => {
  const files = sources(emu);

  it('has sources to check', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('imports nothing outside src/emu (no packages, no Node, no app code)', () => {
    const bad: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(importRe)) {
        const spec = m[1] ?? m[2] ?? '';
        const target = spec.startsWith('.') ? resolve(dirname(f), spec) : spec;
        if (!spec.startsWith('.') || relative(emu, target).startsWith('..')) bad.push(`${relative(root, f)} → ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('touches no DOM, clock or unseeded randomness', () => {
    const bad: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      for (const word of ['document.', 'window.', 'localStorage', 'Date.now', 'new Date', 'performance.now', 'Math.random', 'process.']) {
        if (text.includes(word)) bad.push(`${relative(root, f)} uses ${word}`);
      }
    }
    expect(bad).toEqual([]);
  });
});

describe('the first screen stays small', () => {
  const graph = firstScreen();

  it('follows the app\'s static imports', () => {
    expect(graph.size).toBeGreaterThan(20);
    expect([...graph.keys()].some((f) => f.endsWith('src/lessons/runtime.svelte.ts'))).toBe(true);
  });

  it('does not load xstate or d3 (the lesson runtime and the timeline load on demand)', () => {
    const bad = [...graph].flatMap(([f, pkgs]) => pkgs.filter((p) => /^(xstate|d3)(\/|-|$)/.test(p)).map((p) => `${relative(root, f)} → ${p}`));
    expect(bad).toEqual([]);
  });
});
