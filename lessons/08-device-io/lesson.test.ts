/**
 * Lesson 8 against its machine and the real emulator under the lab's multi-VM host (VT-x, VT-d):
 * every state reachable; a scripted run to completion with full marks on the lesson's scenario
 * (devices.json, the nic-two-ways example); what each wait step's view shows (the first
 * configuration-space exit, the emulated card's first register write) checked against the run;
 * every number the student-facing text states found among the run's figures, the three-ways
 * comparison's and the reference tables'; both languages complete.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportOf } from '../../src/lessons/report.ts';
import type { ViewState } from '../../src/worker/protocol.ts';
import type { VmExitView } from '../../src/worker/vm-types.ts';
import { loadScenario } from '../../src/emu/scenario/migrate.ts';
import { buildScenario } from '../../src/emu/scenario/build.ts';
import { HostMachine } from '../../src/emu/hv/host-machine.ts';
import { compareWays, ioReport } from '../../src/emu/hv/io-compare.ts';
import { IO_BAR, IO_FRAMES, VIRTIO_BATCH } from '../../src/emu/hv/io-guest.ts';
import { GUEST_DEVICE, HOST_DEVICE_FIRST } from '../../src/emu/hv/host.ts';
import { NIC_REG } from '../../src/emu/dev/nic.ts';
import { CONFIG_ADDRESS_PORT, CONFIG_DATA_PORT } from '../../src/emu/dev/pci.ts';
import { answerOf, describeLanguages, describeMachine, playScripted, strayNumbers } from '../checks.ts';
import scenario from './devices.json';
import example from '../../src/emu/scenario/examples/nic-two-ways.json';
import lesson from './index.ts';
import { info } from './meta.ts';
import { en, zh } from './text.ts';

describeMachine(lesson, info);
describeLanguages(lesson);

const refFile = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(import.meta.dirname, '../../tests/reference', name), 'utf8')) as Record<string, unknown>;
const reasons = refFile('vmx-exit-reasons.json') as Record<string, string>;

/** The most steps a wait step may take (from the first configuration exit to the first MMIO exit is about 170). */
const WAIT_BUDGET = 400;
const played = playScripted({ lesson, scenario, scenarioId: 'devices', waitBudget: WAIT_BUDGET });

async function at(id: string): Promise<ViewState> {
  const v = (await played).views.get(id);
  if (v === undefined) throw new Error(`no view at ${id}`);
  return v;
}
const exitsOf = (v: ViewState): VmExitView[] => v.vm?.exits ?? [];
const field = (e: VmExitView, name: string): number => Number(e.info.find((i) => i.field === name)!.value);

/** The scenario run to its end on the host, and the two VMs' reports. */
function fullRun() {
  const r = loadScenario(scenario);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const m = buildScenario(r.loaded) as unknown as HostMachine;
  expect(m).toBeInstanceOf(HostMachine);
  const end = m.run(r.loaded.maxSteps);
  const frames = 6;
  return { m, end, frames, emu: ioReport(m.host, 0, 'emulated', 'vtd', frames, 'ended'), asg: ioReport(m.host, 1, 'assigned', 'vtd', frames, 'ended') };
}
const run = fullRun();
const ways = compareWays('vtx', 16, ['emulated', 'virtio', 'assigned'], 'vtd');

describe('lesson 08-device-io: the scenario', () => {
  it('is the nic-two-ways example: an emulated and an assigned card, 8 MiB each, VT-d', () => {
    expect(scenario).toEqual(example);
    expect(scenario.vms.map((v) => [v.name, v.devices.nic, v.memory.size])).toEqual([['emulated', 'emulated', 0x800000], ['assigned', 'assigned', 0x800000]]);
    expect([scenario.technique, scenario.iommu]).toEqual(['vtx', 'vtd']);
  });
});

describe('lesson 08-device-io: a scripted run against the emulator', () => {
  it('completes with full marks', async () => {
    const { actor } = await played;
    expect(reportOf(actor.getSnapshot())).toEqual({ lessonId: '08-device-io', step: lesson.steps.length - 1, reached: lesson.steps.length - 1, steps: lesson.steps.length, score: info.maxScore, maxScore: info.maxScore, completed: true });
  });

  it('config-exit: the first exit is VM "emulated"\u2019s OUT of 4 bytes to port 0xCF8', async () => {
    const v = await at('config-exit');
    const [e, ...more] = exitsOf(v);
    expect(more).toEqual([]);
    expect([e!.vm, e!.code, e!.name, e!.action]).toEqual([0, 30, 'EXIT_REASON_IO_INSTRUCTION', 'forwarded']);
    expect(field(e!, 'EXIT_QUALIFICATION')).toBe(0xcf80003);
    expect(e!.note).toMatch(/^out port 0xcf8 size 4 value 0x800000/);
  });

  it('mmio-exit: an EPT violation, a data write to guest-physical 0xE0002800 (RDBAL), the ring address handed to the device model', async () => {
    const v = await at('mmio-exit');
    const [e] = exitsOf(v);
    expect([e!.vm, e!.code, e!.name]).toEqual([0, 48, 'EXIT_REASON_EPT_VIOLATION']);
    expect(field(e!, 'EXIT_QUALIFICATION')).toBe(0x182);
    expect(field(e!, 'GUEST_PHYSICAL_ADDRESS')).toBe(IO_BAR + NIC_REG.RDBAL);
    expect(e!.note).toBe('mmio write 0xe0002800 4 bytes value 0x201000; page unmapped again, cached translations flushed (INVEPT)');
  });
});

describe('lesson 08-device-io: the run to its end', () => {
  it('both VMs deliver all 6 frames; the emulated VM makes 12 + 2 × 6 MMIO exits, the assigned none; the same configuration exits', () => {
    expect(run.end).toBe('hlt');
    expect([run.emu.dataOk, run.asg.dataOk]).toEqual([true, true]);
    expect(run.emu.exits.mmio).toBe(12 + 2 * run.frames);
    expect(run.asg.exits.mmio).toBe(0);
    expect(run.emu.exits.config).toBe(run.asg.exits.config);
    expect(run.emu.copies).toBe(2 * run.frames);
  });

  it('the assigned card reads frame 0 at host-physical 0xA10000: guest-physical 0x210000 in domain 2, requester 00:09.0', () => {
    const first = run.m.host.pci!.dmaLog.find((e) => e.what === 'data')!;
    expect(first).toMatchObject({ iova: '0x210000', hpa: 0xa10000, domainId: 2, rid: (HOST_DEVICE_FIRST + 1) << 3, ok: true });
    expect(run.m.host.vm(1).hpaBase).toBe(0x800000);
    // Without an IOMMU that address is VM "emulated"'s RAM.
    expect(0x210000).toBeLessThan(run.m.host.vm(0).memSize);
  });
});

/** The figures the text may state, each from the run, the comparison or the reference tables. */
function facts(): Map<string, number> {
  const f = new Map<string, number>();
  const put = (k: string, v: number) => f.set(k, v);
  put('VM RAM (MiB)', run.m.host.vm(0).memSize / 0x100000);
  put('frames', run.frames);
  put('BAR', IO_BAR);
  put('guest device', GUEST_DEVICE);
  put('bus, function, zero', 0);
  put('config address port', CONFIG_ADDRESS_PORT);
  put('config data port', CONFIG_DATA_PORT);
  put('last config port', CONFIG_DATA_PORT + 3);
  put('mechanism #1', 1);
  put('reason IO_INSTRUCTION', 30);
  put('reason EPT_VIOLATION', 48);
  expect([reasons['30'], reasons['48']]).toEqual(['IO_INSTRUCTION', 'EPT_VIOLATION']);
  put('I/O qualification', 0xcf80003);
  put('size field (bits 2:0)', 3);
  put('bit 2', 2);
  put('direction bit', 3);
  put('port bits high', 31);
  put('port bits low', 16);
  put('RX ring address', 0x201000);
  put('RDBAL address', IO_BAR + NIC_REG.RDBAL);
  put('RDBAL offset', NIC_REG.RDBAL);
  put('EPT qualification', 0x182);
  put('write bit', 1);
  put('linear valid bit', 7);
  put('translated bit', 8);
  put('set-up register writes', run.emu.exits.mmio - 2 * run.frames);
  put('exits per frame, emulated', ways.perFrame[0]!.deviceExits);
  put('exits per frame, assigned', ways.perFrame[2]!.deviceExits);
  put('bytes of the configuration dword', 4);
  put('virtio batch', VIRTIO_BATCH);
  put('virtio exits per batch', ways.perFrame[1]!.deviceExits * VIRTIO_BATCH);
  put('assigned VM host base', run.m.host.vm(1).hpaBase);
  put('frame 0', IO_FRAMES);
  put('frame 0 host-physical', run.m.host.vm(1).hpaBase + IO_FRAMES);
  put('assigned host device', HOST_DEVICE_FIRST + 1);
  put('domain', 2);
  return f;
}

describe('lesson 08-device-io: numbers in the text', () => {
  it('the runs give the figures the text states', () => {
    const f = facts();
    expect(f.get('set-up register writes')).toBe(12);
    expect([f.get('exits per frame, emulated'), ways.perFrame[1]!.deviceExits, f.get('exits per frame, assigned')]).toEqual([2, 0.25, 0]);
    expect(f.get('virtio exits per batch')).toBe(2);
    expect(ways.perFrame[2]!.copies).toBe(0);
    expect(ways.perFrame[0]!.copies).toBe(2);
    expect(f.get('frame 0 host-physical')).toBe(0xa10000);
    expect(ways.runs.every((r) => r.dataOk)).toBe(true);
  });

  it('every number the lesson text states, in both languages, is one of those facts', () => {
    expect(strayNumbers(lesson, new Set(facts().values()))).toEqual([]);
  });
});

describe('lesson 08-device-io: answers and sentences against the run', () => {
  it('each question\u2019s answer is what the run shows', () => {
    // Configuration space exits in both VMs.
    expect(answerOf(lesson, 'predict-config')).toBe('both');
    expect([run.emu.exits.config > 0, run.asg.exits.config > 0]).toEqual([true, true]);
    expect(answerOf(lesson, 'predict-register')).toBe('ept');
    expect(answerOf(lesson, 'predict-per-frame')).toBe(ways.perFrame[0]!.deviceExits);
    expect(answerOf(lesson, 'predict-dma')).toBe('translated');
  });

  it('the sentences that quote the run say what it shows', () => {
    expect(en.steps['config-exit'].done).toContain('The exit qualification 0xCF80003 says: 4 bytes (bits 2:0 = 3), an OUT (bit 3 = 0), port 0xCF8 in bits 31:16');
    expect(en.steps['mmio-exit'].done).toContain('The exit qualification 0x182 says a data write (bit 1)');
    expect(en.steps['mmio-exit'].done).toContain('GUEST_PHYSICAL_ADDRESS is 0xE0002800');
    expect(en.steps['three-ways'].body).toContain('Paravirtual: 0.25 exits per frame');
    expect(zh.steps['three-ways'].body).toContain('每帧 0.25 次退出');
    expect(en.steps['predict-dma'].choices!.translated).toContain('0xA10000');
  });
});
