/**
 * The narration of a step's DMA (narrate-dma.ts), in both languages: the request the sentence is
 * about, each outcome (a model's copy, translated by VT-d or AMD-Vi, no IOMMU, blocked with the
 * vendor's reason), on hand-made events and on the DMA attack examples' real ones; and the
 * narration line adding it after the step's own sentence (narrate.ts `after`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildScenario, loadScenario } from '../../emu/scenario/index.ts';
import { ArraySink, type TraceEvent } from '../../emu/trace/events.ts';
import { narrate, segmentsText } from '../shell/narrate.ts';
import { mainDma, narrateDma } from './narrate-dma.ts';

type Dma = Extract<TraceEvent, { kind: 'iommu/dma' }>;
const dma = (over: Partial<Dma>): Dma => ({
  kind: 'iommu/dma', step: 4, vm: 1, bus: 'host', seq: 0, rid: 0x48, device: 'nic', access: 'read', what: 'data', iova: 0x210000n, length: 342,
  hpa: 0x1210000n, domainId: 2, iotlbHit: false, fault: null, ...over,
});
const say = (locale: 'en' | 'zh-CN', evs: TraceEvent[], iommu: 'vtd' | 'amd-vi' | null = 'vtd', names: string[] = []): string | null => {
  const s = narrateDma(locale, evs, { iommu, names });
  return s === null ? null : segmentsText(s);
};

describe('narrateDma', () => {
  it('says nothing for a step without DMA', () => {
    expect(narrateDma('en', [{ kind: 'cpu/halt', step: 4, rip: 0n }])).toBeNull();
  });

  it('an assigned card’s request translated by VT-d or AMD-Vi: domain and host address', () => {
    expect(say('en', [dma({})])).toBe('The assigned network card of VM 1 read 342 bytes of data at 0x210000: VT-d translated it in domain 2 to host 0x1210000.');
    expect(say('zh-CN', [dma({})])).toBe('虚拟机 1 的直通网卡从 0x210000 读取了 342 字节数据：VT-d 在域 2 中把它翻译为宿主机地址 0x1210000。');
    expect(say('en', [dma({ access: 'write', what: 'ring', length: 8, iotlbHit: true })], 'amd-vi')).toBe(
      'The assigned network card of VM 1 wrote 8 bytes of descriptors at 0x210000: AMD-Vi translated it in domain 2 to host 0x1210000 (the IOTLB already held the translation).',
    );
    expect(say('en', [dma({})], null)).toContain(': the IOMMU translated it in domain 2');
  });

  it('names an SR-IOV virtual function and the virtio disk in words', () => {
    expect(say('en', [dma({ device: 'nic-vf1', rid: 0x82 })])).toBe('The assigned network card\u2019s virtual function 1 of VM 1 read 342 bytes of data at 0x210000: VT-d translated it in domain 2 to host 0x1210000.');
    expect(say('zh-CN', [dma({ device: 'nic-vf1', rid: 0x82 })])).toContain('虚拟机 1 的直通网卡的虚拟功能 1');
    expect(say('en', [dma({ device: 'virtio-blk', bus: 'vm', hpa: 0x210000n, domainId: -1 })])).toContain('virtio block device');
  });

  it('without an IOMMU: nothing checked the address', () => {
    const e = dma({ vm: 0, iova: 0x1300000n, hpa: 0x1300000n, domainId: -1 });
    expect(say('en', [e], null, ['attacker', 'victim'])).toBe(
      'The assigned network card of VM 0 (attacker) read 342 bytes of data at 0x1300000: with no IOMMU nothing checked it, and it reached host-physical 0x1300000 unchanged.',
    );
    expect(say('zh-CN', [e], null, ['attacker', 'victim'])).toMatch(/^虚拟机 0（attacker）的直通网卡从/);
    expect(say('en', [dma({ bus: 'vm' })], null, ['a', 'b'])).toMatch(/^The hypervisor, emulating the network card of VM 1 \(b\), copied/);
    expect(say('zh-CN', [e], null)).toBe('虚拟机 0 的直通网卡从 0x1300000 读取了 342 字节数据：没有 IOMMU，无人检查，请求原样到达宿主机物理地址 0x1300000。');
  });

  it('blocked: VT-d’s fault reason as the reference words it, AMD-Vi’s event, an address beyond the host', () => {
    const vtd = dma({ vm: 0, hpa: null, domainId: null, fault: { vendor: 'vtd', reason: 6, recorded: true } });
    expect(say('en', [vtd])).toBe(
      'The assigned network card of VM 0 tried to read 342 bytes of data at 0x210000 and was blocked: VT-d fault reason 6 (PTE Read access is not set), recorded in a fault-recording register.',
    );
    expect(say('zh-CN', [vtd])).toBe('虚拟机 0 的直通网卡试图从 0x210000 读取 342 字节数据，被阻止：VT-d 故障原因 6（PTE Read access is not set），已记录在故障记录寄存器中。');
    const unrecorded = dma({ access: 'write', hpa: null, domainId: null, fault: { vendor: 'vtd', reason: 5, recorded: false } });
    expect(say('en', [unrecorded])).toMatch(/tried to write .* VT-d fault reason 5 \(PTE Write access is not set\), not recorded\.$/);
    const amd = dma({ hpa: null, domainId: null, fault: { vendor: 'amd-vi', code: 2, logged: true } });
    expect(say('en', [amd], 'amd-vi')).toMatch(/and was blocked: AMD-Vi event IO_PAGE_FAULT \(code 0x2\), logged in the event log\.$/);
    expect(say('zh-CN', [amd], 'amd-vi')).toMatch(/，被阻止：AMD-Vi 事件 IO_PAGE_FAULT（代码 0x2），已写入事件日志。$/);
    const beyond = dma({ iova: 1n << 60n, hpa: null, domainId: null, fault: { vendor: 'none', reason: 'beyond-host' } });
    expect(say('en', [beyond])).toMatch(/at 0x1000000000000000 and nothing answered: the address is beyond the host’s address space\.$/);
  });

  it('a model in the hypervisor: its DMA is the hypervisor’s copy of guest-physical memory', () => {
    const read = dma({ bus: 'vm', vm: 0, hpa: 0x210000n, domainId: -1 });
    expect(say('en', [read])).toBe('The hypervisor, emulating the network card of VM 0, copied 342 bytes of data from guest-physical 0x210000.');
    expect(say('zh-CN', [read])).toBe('虚拟机监控器模拟虚拟机 0 的网卡，从客户机物理地址 0x210000 复制了 342 字节数据。');
    expect(say('en', [dma({ bus: 'vm', access: 'write', device: 'virtio-net', hpa: 0x230000n, domainId: -1 })])).toBe(
      'The hypervisor, emulating the virtio network device of VM 1, copied 342 bytes of data to guest-physical 0x210000.',
    );
    expect(say('en', [dma({ bus: 'vm', hpa: null, domainId: null, fault: { vendor: 'hv', reason: 'not-guest-ram' } })])).toBe(
      'The hypervisor, emulating the network card of VM 1, refused to copy 342 bytes at guest-physical 0x210000: that is not the VM’s memory.',
    );
    expect(say('en', [dma({ device: 'scratch' })])).toMatch(/^The assigned scratch of VM 1/);
  });

  it('is about the blocked request, else the first data, and counts the step’s requests', () => {
    const ring = dma({ what: 'ring', length: 16, seq: 0 });
    const data = dma({ seq: 1 });
    const blocked = dma({ seq: 2, hpa: null, domainId: null, fault: { vendor: 'vtd', reason: 6, recorded: true } });
    expect(mainDma([ring, data])).toBe(data);
    expect(mainDma([ring, data, blocked])).toBe(blocked);
    expect(mainDma([ring])).toBe(ring);
    expect(say('en', [ring, data])).toMatch(/read 342 bytes of data .* The step made 2 DMA requests in all\.$/);
    expect(say('zh-CN', [ring, data, blocked])).toMatch(/被阻止：.*。本步共有 3 次 DMA 请求。$/);
  });
});

/** A DMA example run to its end with every kind traced. */
function run(name: string): TraceEvent[] {
  const json: unknown = JSON.parse(readFileSync(join(import.meta.dirname, '../../emu/scenario/examples', `${name}.json`), 'utf8'));
  const r = loadScenario(json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const m = buildScenario(r.loaded);
  const sink = new ArraySink();
  m.setTrace(sink);
  m.run(r.loaded.maxSteps);
  return sink.events;
}

describe('the DMA attack examples, narrated', () => {
  it.each([
    ['dma-attack-vtd', 'vtd', /tried to read 355 bytes of data at 0xb00000 and was blocked: VT-d fault reason 6 \(PTE Read access is not set\), recorded/],
    ['dma-attack-amdvi', 'amd-vi', /tried to read 355 bytes of data at 0xb00000 and was blocked: AMD-Vi event IO_PAGE_FAULT \(code 0x2\), logged in the event log/],
  ] as const)('%s: the step of the last frame’s doorbell tells the blocked read', (name, iommu, blocked) => {
    const events = run(name);
    const steps = [...new Set(events.filter((e) => e.kind === 'iommu/dma').map((e) => e.step))];
    const sentences = steps.map((s) => say('en', events.filter((e) => e.step === s), iommu)!);
    expect(sentences.filter((s) => blocked.test(s))).toHaveLength(1);
    expect(sentences.at(-1)).toMatch(blocked);
    for (const s of sentences.slice(0, -1)) expect(s).toMatch(/^The assigned network card of VM 0 read \d+ bytes of data at 0x[0-9a-f]+: .* translated it in domain 1 to host 0x[0-9a-f]+/);
  });

  it('dma-attack (no IOMMU): the last frame’s read reaches the victim’s memory unchecked', () => {
    const events = run('dma-attack');
    const last = events.filter((e) => e.kind === 'iommu/dma').at(-1)!;
    const s = say('en', events.filter((e) => e.step === last.step), null)!;
    expect(s).toMatch(/^The assigned network card of VM 0 read \d+ bytes of data at 0xb00000: with no IOMMU nothing checked it, and it reached host-physical 0xb00000 unchanged\./);
  });

  it('the narration line adds the DMA sentence after the step’s own, with a space in English and none in Chinese', () => {
    const ev: TraceEvent[] = [{ kind: 'cpu/insn', step: 4, rip: 0x1000n, length: 2, cpl: 0 }, dma({})];
    const input = { step: 5, events: ev, insnText: () => 'mov [rbx], eax', after: (e: readonly TraceEvent[]) => narrateDma('en', e, { iommu: 'vtd' }) };
    const base = segmentsText(narrate('en', { ...input, after: undefined }));
    expect(segmentsText(narrate('en', input))).toBe(`${base} The assigned network card of VM 1 read 342 bytes of data at 0x210000: VT-d translated it in domain 2 to host 0x1210000.`);
    const zhInput = { ...input, after: (e: readonly TraceEvent[]) => narrateDma('zh-CN', e, { iommu: 'vtd' }) };
    const zhBase = segmentsText(narrate('zh-CN', { ...zhInput, after: undefined }));
    expect(segmentsText(narrate('zh-CN', zhInput))).toBe(`${zhBase}虚拟机 1 的直通网卡从 0x210000 读取了 342 字节数据：VT-d 在域 2 中把它翻译为宿主机地址 0x1210000。`);
    expect(segmentsText(narrate('en', { ...input, events: [ev[0]!] }))).toBe(base);
  });
});
