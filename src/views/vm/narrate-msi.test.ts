/**
 * The narration of a step's interrupt messages (narrate-msi.ts), in both languages: each outcome
 * (an emulated card to its VM's local APIC, remapped to a host vector and injected, posted with or
 * without a notification, blocked with VT-d's reason name or AMD-Vi's event, aborted), the message
 * the sentence is about, and narrateIo putting it after the step's DMA sentence.
 */
import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../emu/trace/events.ts';
import { segmentsText } from '../shell/narrate.ts';
import { mainMsi, narrateIo, narrateMsi } from './narrate-msi.ts';

type Msi = Extract<TraceEvent, { kind: 'iommu/msi' }>;
const msi = (over: Partial<Msi>): Msi => ({
  kind: 'iommu/msi', step: 4, vm: 1, bus: 'host', seq: 0, rid: 0x48, device: 'nic', address: 0xfee00030, data: 0, vector: 0x61, destinationId: 0,
  outcome: { kind: 'remapped', index: 1, vector: 0x61, destinationId: 0, cacheHit: false }, delivered: true, guestVector: 0x41, ...over,
});
const posted = (notification: number | null): Partial<Msi> => ({ vector: 0xf2, delivered: notification !== null, outcome: { kind: 'posted', index: 1, vector: 0x41, descriptor: 0x1040000, notification, cacheHit: false } });
const blockedVtd: Partial<Msi> = { delivered: false, guestVector: null, outcome: { kind: 'blocked', index: 1, fault: { vendor: 'vtd', reason: 0x22, recorded: true } } };
const say = (locale: 'en' | 'zh-CN', evs: TraceEvent[], iommu: 'vtd' | 'amd-vi' | null = 'vtd'): string | null => {
  const s = narrateMsi(locale, evs, { iommu });
  return s === null ? null : segmentsText(s);
};

describe('narrateMsi', () => {
  it('says nothing for a step without an interrupt message', () => {
    expect(narrateMsi('en', [{ kind: 'cpu/halt', step: 4, rip: 0n }])).toBeNull();
  });

  it('remapped: the IRTE, the host vector, the exit and the injected guest vector', () => {
    expect(say('en', [msi({})])).toBe('The assigned network card of VM 1 sent its MSI; VT-d’s interrupt remapping entry 1 sent host vector 0x61 to the CPU: the guest exits and the hypervisor injects 0x41.');
    expect(say('zh-CN', [msi({})])).toBe('虚拟机 1 的直通网卡发出 MSI；VT-d 的中断重映射表项 1 把宿主机向量 0x61 发给 CPU：客户机退出，虚拟机监控器注入 0x41。');
    expect(say('en', [msi({ guestVector: null })])).toBe('The assigned network card of VM 1 sent its MSI; VT-d’s interrupt remapping entry 1 sent host vector 0x61 to the CPU.');
  });

  it('posted: PIR of vCPU 0’s descriptor, with a notification and no exit, or without one', () => {
    expect(say('en', [msi(posted(0xf2))])).toBe('The assigned network card of VM 1 sent its MSI; VT-d’s interrupt remapping entry 1 posted vector 0x41 into vCPU 0’s descriptor and sent notification vector 0xf2, with no VM exit.');
    expect(say('zh-CN', [msi(posted(0xf2))])).toBe('虚拟机 1 的直通网卡发出 MSI；VT-d 的中断重映射表项 1 以中断投递方式把向量 0x41 记入 vCPU 0 的描述符，并发出通知向量 0xf2，不引起 VM 退出。');
    expect(say('en', [msi(posted(null))])).toContain('with no notification (ON was set, or SN): it waits there for the vCPU’s next VM entry.');
  });

  it('an emulated card: to its VM’s virtual local APIC, injected at the next VM entry', () => {
    const e = msi({ vm: 0, bus: 'vm', rid: 0x18, address: 0xfee00000, data: 0x41, vector: 0x41, outcome: { kind: 'direct' } });
    expect(say('en', [e])).toBe('The emulated network card of VM 0 sent its MSI to the VM’s virtual local APIC: the hypervisor injects 0x41 at the next VM entry.');
    expect(say('zh-CN', [e])).toBe('虚拟机 0 的模拟网卡把 MSI 发给该虚拟机的虚拟本地 APIC：虚拟机监控器在下次进入时注入 0x41。');
    expect(say('en', [{ ...e, delivered: false, guestVector: null }])).toBe('The emulated network card of VM 0 sent its MSI, but no local APIC accepted it.');
  });

  it('blocked: VT-d’s reason with its name and whether it was recorded; AMD-Vi’s event; an abort', () => {
    expect(say('en', [msi(blockedVtd)])).toBe('The assigned network card of VM 1 sent its MSI, and VT-d’s interrupt remapping blocked it: fault reason 0x22 (present field in the IRTE is clear), recorded in a fault-recording register.');
    expect(say('zh-CN', [msi(blockedVtd)])).toBe('虚拟机 1 的直通网卡发出 MSI，被 VT-d 的中断重映射阻止：故障原因 0x22（present field in the IRTE is clear），已记录在故障记录寄存器中。');
    expect(say('en', [msi({ delivered: false, outcome: { kind: 'blocked', index: 2, fault: { vendor: 'amd-vi', code: 1, logged: false } } })], 'amd-vi')).toBe(
      'The assigned network card of VM 1 sent its MSI, and AMD-Vi’s interrupt remapping blocked it: event ILLEGAL_DEV_TABLE_ENTRY (code 0x1), not logged.',
    );
    expect(say('en', [msi({ delivered: false, outcome: { kind: 'aborted', why: 'int-ctl' } })], 'amd-vi')).toBe('The assigned network card of VM 1 sent its MSI, and AMD-Vi target-aborted it without logging an event.');
  });

  it('tells of the blocked message first, and how many the step sent', () => {
    const evs = [msi({}), msi(blockedVtd)];
    expect(mainMsi(evs)).toBe(evs[1]);
    expect(say('en', evs)).toMatch(/blocked it: .* The step sent 2 interrupt messages in all\.$/);
  });

  it('narrateIo: the DMA sentence, then the interrupt one', () => {
    const dma: TraceEvent = {
      kind: 'iommu/dma', step: 4, vm: 1, bus: 'host', seq: 0, rid: 0x48, device: 'nic', access: 'write', what: 'data', iova: 0x210000n, length: 60,
      hpa: 0x1210000n, domainId: 2, iotlbHit: false, fault: null,
    };
    const en = segmentsText(narrateIo('en', [dma, msi({})], { iommu: 'vtd' })!);
    expect(en).toMatch(/^The assigned network card of VM 1 wrote 60 bytes .*0x1210000\. The assigned network card of VM 1 sent its MSI; /);
    const zh = segmentsText(narrateIo('zh-CN', [dma, msi({})], { iommu: 'vtd' })!);
    expect(zh).toMatch(/0x1210000。虚拟机 1 的直通网卡发出 MSI；/);
    expect(narrateIo('en', [msi({})], { iommu: 'vtd' })).toEqual(narrateMsi('en', [msi({})], { iommu: 'vtd' }));
    expect(narrateIo('en', [], {})).toBeNull();
  });
});
