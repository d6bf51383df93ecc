/**
 * Lesson 9 against its machine and the real emulator under the lab's multi-VM host (VT-x): every
 * state reachable; a scripted run to completion with full marks on the lesson's two scenarios
 * (attack.json without an IOMMU, vtd.json under VT-d); what each wait step's view shows (the
 * stolen read landing in the victim's RAM, the blocked read's walk and fault record) checked
 * against the run; every number the student-facing text states found among the runs' figures, the
 * dma-attack-amdvi example's and the reference tables'; both languages complete.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportOf } from '../../src/lessons/report.ts';
import type { ViewState } from '../../src/worker/protocol.ts';
import { loadScenario } from '../../src/emu/scenario/migrate.ts';
import { buildScenario } from '../../src/emu/scenario/build.ts';
import { HostMachine } from '../../src/emu/hv/host-machine.ts';
import { frameLength, IO_OUT, IO_RECEIVED, nicDriver } from '../../src/emu/hv/io-guest.ts';
import { HOST_DEVICE_FIRST } from '../../src/emu/hv/host.ts';
import { answerOf, describeLanguages, describeMachine, playScripted, strayNumbers } from '../checks.ts';
import attack from './attack.json';
import vtd from './vtd.json';
import attackExample from '../../src/emu/scenario/examples/dma-attack.json';
import vtdExample from '../../src/emu/scenario/examples/dma-attack-vtd.json';
import amdExample from '../../src/emu/scenario/examples/dma-attack-amdvi.json';
import lesson from './index.ts';
import { info } from './meta.ts';
import { en, zh } from './text.ts';

describeMachine(lesson, info);
describeLanguages(lesson);

const refFile = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(import.meta.dirname, '../../tests/reference', name), 'utf8')) as Record<string, unknown>;
const vtdRef = refFile('vtd.json') as { fault_reasons: Record<string, string> };
const amdRef = refFile('amd-vi.json') as { event_log: { types: Record<string, string> } };

const SECRET = 0x800000 + 0x300000;
/** The stolen read comes about 1,000 steps in. */
const WAIT_BUDGET = 2000;
const played = playScripted({ lesson, scenario: attack, scenarioId: 'attack', waitBudget: WAIT_BUDGET, others: { vtd } });

async function at(id: string): Promise<ViewState> {
  const v = (await played).views.get(id);
  if (v === undefined) throw new Error(`no view at ${id}`);
  return v;
}

function runToEnd(json: unknown): HostMachine {
  const r = loadScenario(json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const m = buildScenario(r.loaded) as unknown as HostMachine;
  expect(m).toBeInstanceOf(HostMachine);
  expect(m.run(r.loaded.maxSteps)).toBe('hlt');
  return m;
}
const runs = { attack: runToEnd(attack), vtd: runToEnd(vtd), amd: runToEnd(amdExample), vtd4: runToEnd(vtdExample) };
const stolenOf = (m: HostMachine) => m.host.pci!.dmaLog.find((e) => e.iova === `0x${SECRET.toString(16)}`)!;

describe('lesson 09-iommu: the scenarios', () => {
  it('are the dma-attack examples with one frame (stolen) and a time slice of 300 steps', () => {
    for (const [mine, ex] of [[attack, attackExample], [vtd, vtdExample]] as const) {
      expect(mine.vms[0]!.kernel.source).toBe(nicDriver(1, { steal: SECRET }));
      expect(mine.vms[1]).toEqual(ex.vms[1]);
      expect(mine.hypervisor).toEqual({ quantum: 300 });
      expect([mine.technique, mine.iommu]).toEqual([ex.technique, ex.iommu]);
    }
    expect([attack.iommu, vtd.iommu]).toEqual(['none', 'vtd']);
  });
});

describe('lesson 09-iommu: a scripted run against the emulator', () => {
  it('completes with full marks', async () => {
    const { actor } = await played;
    expect(reportOf(actor.getSnapshot())).toEqual({ lessonId: '09-iommu', step: lesson.steps.length - 1, reached: lesson.steps.length - 1, steps: lesson.steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
  });

  it('stolen: the IOMMU view shows the read of 0xB00000 by 00:08.0, no IOMMU on its path, landing in VM victim\u2019s RAM', async () => {
    const v = await at('stolen');
    const r = v.io!.requests.find((x) => x.iova === '0xb00000')!;
    expect(r).toMatchObject({ rid: '00:08.0', access: 'read', length: frameLength(0), ok: true, via: 'none', owner: { kind: 'vm', vm: 1, name: 'victim' } });
  });

  it('blocked: the read is blocked in domain 1 with fault reason 6 recorded for 00:08.0, page 0xB00000, a read; 3 entries read', async () => {
    const v = await at('blocked');
    const r = v.io!.requests.find((x) => !x.ok)!;
    expect(r).toMatchObject({ iova: '0xb00000', rid: '00:08.0', fault: { vendor: 'vtd', reason: 6 }, record: { vendor: 'vtd', reason: 6, sid: '00:08.0', type: 1, recorded: true } });
    expect(Number(r.record!.vendor === 'vtd' ? r.record!.pageAddress : 0)).toBe(SECRET);
    const read = r.walk.filter((w) => w.decision !== 'cached');
    expect(read.map((w) => [w.kind, w.level, w.index, w.decision])).toEqual([['page-table-entry', 4, 0, 'next'], ['page-table-entry', 3, 0, 'next'], ['page-table-entry', 2, 5, 'fault']]);
  });
});

describe('lesson 09-iommu: the runs to their end', () => {
  it('without an IOMMU the attacker receives its one frame, the victim\u2019s secret; under VT-d, none', () => {
    expect(runs.attack.mem.read(IO_RECEIVED, 4)).toBe(1);
    expect(String.fromCharCode(...Array.from({ length: 16 }, (_, i) => runs.attack.mem.read8(IO_OUT + i)))).toBe("victim's secret:");
    expect(runs.vtd.mem.read(IO_RECEIVED, 4)).toBe(0);
    expect(stolenOf(runs.attack)).toMatchObject({ ok: true, hpa: SECRET, length: 64 });
    expect(stolenOf(runs.vtd)).toMatchObject({ ok: false, rid: HOST_DEVICE_FIRST << 3, record: { vendor: 'vtd', reason: 6, pageAddress: '0xb00000', type: 1 } });
    // The context cache answered the blocked request: no root or context entry among what it read.
    expect(stolenOf(runs.vtd).refs.map((x) => x.kind)).toEqual(['page-table-entry', 'page-table-entry', 'page-table-entry']);
    // The descriptor read just before it walked from the root entry.
    expect(runs.vtd.host.pci!.dmaLog.map((e) => e.what)).toEqual(['ring', 'data']);
    expect(runs.vtd.host.pci!.dmaLog[0]!.refs.map((x) => x.kind).slice(0, 2)).toEqual(['root-entry', 'context-entry']);
  });

  it('AMD-Vi logs an IO_PAGE_FAULT (code 2) for DeviceID 00:08.0, domain 1, address 0xB00000; the 4-frame VT-d run hits the IOTLB 13 times', () => {
    expect(stolenOf(runs.amd).record).toMatchObject({ vendor: 'amd-vi', code: 2, deviceId: HOST_DEVICE_FIRST << 3, domainId: 1, address: '0xb00000' });
    expect(runs.vtd4.host.pci!.dmaLog.filter((e) => e.iotlbHit).length).toBe(13);
  });
});

function facts(): Map<string, number> {
  const f = new Map<string, number>();
  const put = (k: string, v: number) => f.set(k, v);
  put('VM RAM (MiB)', runs.attack.host.vm(0).memSize / 0x100000);
  put('host bus', 0);
  put('assigned device', HOST_DEVICE_FIRST);
  put('victim secret (guest-physical)', 0x300000);
  put('victim base', runs.attack.host.vm(1).hpaBase);
  put('secret (host-physical)', SECRET);
  put('one frame', 1);
  put('stolen length', stolenOf(runs.attack).length);
  put('domain', 1);
  put('fault reason', 6);
  expect(vtdRef.fault_reasons['0x6']).toBe('PTE Read access is not set');
  put('T (read)', 1);
  put('entries read', stolenOf(runs.vtd).refs.length);
  put('PDE index', stolenOf(runs.vtd).refs.at(-1)!.index);
  put('2 MiB region start', 0xa00000);
  put('2 MiB region end', 0xbfffff);
  put('IOTLB hits (4 frames)', runs.vtd4.host.pci!.dmaLog.filter((e) => e.iotlbHit).length);
  put('4 frames', 4);
  put('event code', 2);
  expect(amdRef.event_log.types['2']).toBe('IO_PAGE_FAULT');
  put('lesson 8', 8);
  put('first, second, third', 3);
  return f;
}

describe('lesson 09-iommu: numbers in the text', () => {
  it('every number the lesson text states, in both languages, is one of the runs\u2019 facts', () => {
    expect(strayNumbers(lesson, new Set(facts().values()))).toEqual([]);
  });

  it('each question\u2019s answer is what the runs show, and the sentences quote them', () => {
    expect(answerOf(lesson, 'predict-steal')).toBe('reads');
    expect(answerOf(lesson, 'predict-vtd')).toBe('blocked');
    expect(answerOf(lesson, 'predict-entries')).toBe(facts().get('entries read'));
    expect(en.steps.blocked.done).toContain('fault reason 6 (the second-level entry\'s Read field is clear for a read), source ID 00:08.0, page address 0xB00000, T = 1 (a read)');
    expect(zh.steps.blocked.done).toContain('故障原因 6');
    expect(en.steps['predict-steal'].body).toContain('64 bytes at 0xB00000');
  });
});
