/**
 * Issue 3's properties on whole scenarios: the same scenario gives the same trace twice, and on
 * the example scenarios stepping back k steps then forward k steps gives the identical state and
 * trace (TLB events included).
 */
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cloneCpuState } from '../trace/checkpoint.ts';
import { ArraySink, type TraceEvent } from '../trace/events.ts';
import { Timeline } from '../trace/timeline.ts';
import type { Machine } from '../machine/machine.ts';
import { buildScenario, loadScenario } from './index.ts';
import type { LoadedScenario } from './validate.ts';

const DIR = join(import.meta.dirname, 'examples');
const examples: [string, LoadedScenario][] = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => {
    const r = loadScenario(JSON.parse(readFileSync(join(DIR, f), 'utf8')));
    if (!r.ok) throw new Error(`${f}: ${JSON.stringify(r.errors)}`);
    return [f, r.loaded];
  });

/** Whether a scenario's run ends before its first instruction retires (pv-unmodified: the hypervisor stops the domain at its first CLI). */
function endsAtOnce(ls: LoadedScenario): boolean {
  const m = buildScenario(ls);
  m.run(ls.maxSteps);
  return m.cpu.state.steps === 0;
}
const stepping = examples.filter(([, ls]) => !endsAtOnce(ls));

function traceOf(ls: LoadedScenario, steps: number): TraceEvent[] {
  const m = buildScenario(ls);
  const sink = new ArraySink();
  m.setTrace(sink);
  m.run(steps);
  return sink.events;
}

function state(m: Machine) {
  const pages: Record<number, string> = {};
  m.mem.pages.forEach((p, n) => {
    if (p !== undefined && p.some((b) => b !== 0)) pages[n] = Buffer.from(p).toString('hex');
  });
  const t = m.mmu.tlb;
  return { cpu: cloneCpuState(m.cpu.state), pages, tlb: t.entries(), misses: t.misses, devices: structuredClone(m.devices) };
}

describe('scenarios replay exactly', () => {
  it('has the examples', () => {
    expect(examples.map(([f]) => f).sort()).toEqual(['bare-metal-two-vms.json', 'bt-adaptive.json', 'bt-popf.json', 'bt-smc.json', 'containers-crash.json', 'containers.json', 'disk-three-ways.json', 'dma-attack-amdvi.json', 'dma-attack-vtd.json', 'dma-attack.json', 'hosted-two-vms.json', 'mm-workload.json', 'nested-walk-svm.json', 'nested-walk-vtx.json', 'nic-interrupts-amdvi.json', 'nic-interrupts-posted.json', 'nic-interrupts.json', 'nic-three-ways.json', 'nic-two-ways.json', 'page-fault.json', 'popf-trap.json', 'pv-kernel.json', 'pv-unmodified.json', 'red-pill.json', 'shadow-paging-svm.json', 'shadow-paging-vtx.json', 'sriov-two-vms.json', 'svm-first-exit.json', 'syscalls.json', 'timer.json', 'two-vms-svm.json', 'two-vms.json', 'vms-crash.json', 'vtx-first-exit.json']);
  });

  it.each(examples)('%s gives the same trace, every kind, twice', (_f, ls) => {
    const a = traceOf(ls, 20_000);
    const b = traceOf(ls, 20_000);
    expect(a.length).toBeGreaterThan(endsAtOnce(ls) ? 1 : 100);
    expect(b).toEqual(a);
  });

  it('only pv-unmodified ends before an instruction retires', () => {
    expect(examples.filter(([, ls]) => endsAtOnce(ls)).map(([f]) => f)).toEqual(['pv-unmodified.json']);
  });

  it.each(stepping)('%s: back(k) then step(k) gives the identical state and trace', (_f, ls) => {
    const whole = buildScenario(ls);
    whole.run(ls.maxSteps);
    const end = whole.cpu.state.steps;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: end }), fc.integer({ min: 1, max: 400 }), (at, k0) => {
        const k = Math.min(k0, at);
        const tl = new Timeline(buildScenario(ls), { interval: 128 });
        tl.step(at - k);
        const first = new ArraySink();
        tl.setTrace(first);
        tl.step(k);
        tl.setTrace(null);
        const here = state(tl.machine);
        tl.back(k);
        const second = new ArraySink();
        tl.setTrace(second);
        tl.step(k);
        tl.setTrace(null);
        expect(second.events).toEqual(first.events);
        expect(state(tl.machine)).toEqual(here);
      }),
      { numRuns: 12 },
    );
  });
});
