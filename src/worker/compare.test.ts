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
