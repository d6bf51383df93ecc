import { describe, expect, it, vi } from 'vitest';
import { compareScenario } from '../emu/hv/compare.ts';
import workload from '../emu/scenario/examples/mm-workload.json';
import syscalls from '../emu/scenario/examples/syscalls.json';
import { InThreadClient } from './in-thread.ts';
import { createLabHandler } from './lab.worker.ts';
import type { Json, LabMessage } from './protocol.ts';
import { COMPARE_STEP_CAP } from './compare.ts';

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
