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

  it('does not load the sandbox, the hypervisor or the cost presets (the sandbox shows the presets\' names from its own chunk)', () => {
    const lazy = /src\/views\/nested\/(?!load\.ts)|src\/worker\/twod\.ts|src\/i18n\/parts\/nested\.ts|src\/views\/sandbox\/(?!start\.ts)|src\/emu\/(hv\/(?!area\.ts)|vmx\/|svm\/|cost\/presets\.ts)/;
    const bad = [...graph.keys()].map((f) => relative(root, f)).filter((f) => lazy.test(f));
    expect(bad).toEqual([]);
  });
});

describe('the worker\'s first load stays small', () => {
  // The worker's entry and its static imports are part of "before interactive" (bench/browser.ts):
  // the hypervisor, the VT-x and AMD-V models, the cost presets and the exercise generators are
  // chunks loaded on demand (session.ts prepareLoad, exercise.ts prepareExercise).
  const graph = firstScreen('src/worker/lab.worker.ts');

  it('follows the worker\'s static imports', () => {
    expect([...graph.keys()].some((f) => f.endsWith('src/emu/cpu/cpu.ts'))).toBe(true);
  });

  it('does not load the hypervisor, VT-x, AMD-V, the cost presets or the exercise generators', () => {
    const lazy = /src\/emu\/(hv\/(?!area\.ts)|vmx\/|svm\/|cost\/presets\.ts|exercise\/(walk|vmexit|nested|shadow)-exercise\.ts)|src\/worker\/(vm-view|hv-part|twod)\.ts/;
    const bad = [...graph.keys()].map((f) => relative(root, f)).filter((f) => lazy.test(f));
    expect(bad).toEqual([]);
  });
});
