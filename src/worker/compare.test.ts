import { describe, expect, it, vi } from 'vitest';
import { compareScenario } from '../emu/hv/compare.ts';
import workload from '../emu/scenario/examples/mm-workload.json';
import syscalls from '../emu/scenario/examples/syscalls.json';
import { InThreadClient } from './in-thread.ts';
import { createLabHandler } from './lab.worker.ts';
import type { Json, LabMessage } from './protocol.ts';
import { COMPARE_STEP_CAP } from './compare.ts';
import { compareTechniques, TECHNIQUE_IDS, WORKLOADS } from '../emu/hv/technique-compare.ts';
import { TECHNIQUE_ITERATIONS } from './techniques-types.ts';

describe('the compare call', () => {
  it('answers with the comparison the command line prints, once its chunk has loaded', async () => {
    const got: LabMessage[] = [];
    const handle = createLabHandler((m) => got.push(m));
    handle({ id: 3, type: 'compare', scenario: workload as unknown as Json });
    await vi.waitFor(() => expect(got).toHaveLength(1));
    const m = got[0]!;
    expect(m).toMatchObject({ kind: 'result', id: 3, type: 'compare' });
    if (m.kind === 'result' && m.type === 'compare') expect(m.result).toEqual(compareScenario(workload, { stepCap: COMPARE_STEP_CAP }));
  });

  it('leaves the loaded scenario where it was, and answers a scenario it cannot compare with errors', async () => {
    const c = new InThreadClient();
    const loaded = await c.load(syscalls as unknown as Json);
    if (!loaded.ok) throw new Error('syscalls did not load');
    const at = await c.step(5);
    const r = await c.compare(workload as unknown as Json);
    expect(r.ok).toBe(true);
    const next = await c.step(1);
    expect(next.step).toBe(at.step + 1);
    const bad = await c.compare({ ...(workload as object), vms: [] } as unknown as Json);
    expect(bad).toMatchObject({ ok: false, errors: [{ path: 'vms' }] });
  });
});

describe('the I/O comparison calls', () => {
  it('ioWays runs the network card or the disk task; ioInterrupts the interrupt deliveries; bad arguments are errors', async () => {
    const c = new InThreadClient();
    const nic = await c.ioWays('vtx', 8);
    expect(nic.perFrame.map((p) => p.deviceExits)).toEqual([2, 0.25, 0]);
    const disk = await c.ioWays('vtx', 8, 'disk');
    expect(disk.perFrame.map((p) => p.deviceExits)).toEqual([4, 0.25, 0]);
    expect(disk.runs.every((r) => r.dataOk)).toBe(true);
    const irq = await c.ioInterrupts('vtx', 4);
    expect(irq.perFrame.map((p) => [p.way, p.eoiExits])).toEqual([['emulated', 1], ['assigned', 1], ['posted', 0]]);
    await expect(c.ioWays('vtx', 8, 'tape' as 'nic')).rejects.toThrow(/kind 'tape'/);
    await expect(c.ioInterrupts('vtx', 33)).rejects.toThrow(/frames 33 is not 1..32/);
  });
});

describe('the techniques call', () => {
  it('answers with compareTechniques under the chosen Intel preset (AMD-V as amd-recent), and refuses another preset', async () => {
    const c = new InThreadClient();
    const r = await c.techniques('vtx-prescott');
    expect(r.intel).toBe('vtx-prescott');
    expect(r.iterations).toBe(TECHNIQUE_ITERATIONS);
    expect(r.rows).toEqual(compareTechniques(TECHNIQUE_ITERATIONS, 'vtx-prescott'));
    // Every workload under every technique but port I/O under PV, which has no PV version (PV_UNAVAILABLE).
    expect(r.rows).toHaveLength(WORKLOADS.length * TECHNIQUE_IDS.length - 1);
    const row = (w: string, t: string) => r.rows.find((x) => x.workload === w && x.technique === t)!;
    // First-generation VT-x: binary translation wins on I/O, page faults and page-table edits, loses on system calls.
    for (const w of ['in', 'pgfault', 'ptemod']) expect(row(w, 'bt').cycles, w).toBeLessThan(row(w, 'vtx-shadow').cycles);
    expect(row('syscall', 'vtx-shadow').cycles).toBeLessThan(row('syscall', 'bt').cycles);
    expect(row('in', 'vtx-shadow').byKind).toEqual({ EXIT_REASON_IO_INSTRUCTION: 1 });
    expect(row('in', 'svm-shadow').preset).toBe('amd-recent');
    expect(row('in', 'native')).toMatchObject({ preset: null, exits: 0 });
    expect(row('ptemod', 'pv')).toMatchObject({ preset: 'vtx-prescott', exits: 1, byKind: { update_va_mapping: 1 } });
    const broadwell = await c.techniques('intel-broadwell');
    expect(broadwell.rows.find((x) => x.workload === 'in' && x.technique === 'vtx-shadow')!.cycles).toBeLessThan(row('in', 'vtx-shadow').cycles);
    await expect(c.techniques('amd-recent')).rejects.toThrow(/preset 'amd-recent' is not one of vtx-prescott, core2-merom, intel-broadwell/);
  });
});
