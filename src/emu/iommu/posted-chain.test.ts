/**
 * The whole path of an assigned device's interrupt, with every part real: a guest in VMX non-root
 * operation programs the copy engine's registers directly (as an assigned device's driver does);
 * the engine's completion MSI is a remappable-format message; VT-d interrupt remapping looks up
 * its IRTE; and then
 * - a **posted** IRTE sets the vector in the vCPU's posted-interrupt descriptor and sends the
 *   notification vector to the CPU, whose posted-interrupt processing delivers the vector to the
 *   guest's handler without a VM exit (and the guest's EOI is virtualized, no exit either);
 * - a **remapped** IRTE sends the host vector it names: the guest exits (reason 1) with that
 *   vector, for the hypervisor to inject;
 * - a **missing** IRTE blocks the interrupt with fault reason 22H, and a device that writes an
 *   interrupt in compatibility format (choosing its own vector) is blocked with 25H.
 */
import { describe, expect, it } from 'vitest';
import { timerStop } from '../cpu/timer.ts';
import { PortBus } from '../dev/bus.ts';
import { CopyEngine, REG } from '../dev/dma-engine.ts';
import { MSI_CAP_ID, MSI_CONTROL, MSI_REG, MsiInterruptSink } from '../dev/msi.ts';
import { CFG, CMD, PciBus } from '../dev/pci.ts';
import { ExitReason } from '../vmx/exit-reasons.ts';
import { exitAt, postedFields, vm } from '../vmx/guest-testkit.ts';
import { decodeInterruptionInfo, InterruptionType } from '../vmx/qualification.ts';
import { enableIr, irteValue, PageAlloc, putEntry, remappableAddress, VtdKit, type IrteSpec } from './testkit.ts';
import { requesterId } from './types.ts';

const DEVICE = 4;
const RID = requesterId(0, DEVICE, 0);
const BAR = 0x10000000; // above the 64 MiB of RAM, inside the guest's identity-mapped first GiB
const SRC = 0x200000;
const DST = 0x300000;
const PI_DESC = 0x23000;
const VAPIC_PAGE = 0x24000;
const NV = 0xf2; // the notification vector (Linux's POSTED_INTR_VECTOR)
const HANDLE = 5;

const POSTED = postedFields({ descriptor: PI_DESC, virtualApic: VAPIC_PAGE, vector: NV });

/** The guest's driver: one copy through the engine's registers, then wait; the handler EOIs (x2APIC) and stops. */
const DRIVER = `
  mov rdi, ${BAR}
  mov dword [rdi + ${REG.SRC_LO}], ${SRC}
  mov dword [rdi + ${REG.DST_LO}], ${DST}
  mov dword [rdi + ${REG.LEN}], 0x100
  mov dword [rdi + ${REG.DOORBELL}], 1
l: jmp l
h:
  mov ecx, 0x80b
  xor eax, eax
  xor edx, edx
  wrmsr
after: vmcall`;

/** The host's side: the bus with VT-d interrupt remapping, the engine at BAR with MSI pointing at `msi`, and the IRTE. */
function setup(irte: IrteSpec | null, msi: { address: number; data: number } = { address: remappableAddress(HANDLE), data: 0 }) {
  const v = vm(DRIVER, POSTED, { 0x41: 'h' });
  const m = v.m;
  timerStop(m.cpu.state.timer);
  const kit = new VtdKit(m.mem, new PageAlloc(0x1000000));
  const table = enableIr(kit, { s: 3 }); // 16 entries; DMA translation stays off (TE = 0)
  if (irte !== null) putEntry(m.mem, table + HANDLE * 16, irteValue(irte), 4);
  const sink = new MsiInterruptSink(); // the physical CPU's acceptance of interrupt messages
  const pci = new PciBus({ mem: m.mem, ports: new PortBus(), msiSink: sink, remapper: kit.iommu });
  pci.add(DEVICE, 0, new CopyEngine());
  m.cpu.interrupts = sink;
  // What the host's VFIO-like driver did: BAR, memory decoding, bus mastering, the MSI message.
  pci.configWrite(DEVICE, 0, CFG.BAR0, 4, BAR);
  pci.configWrite(DEVICE, 0, CFG.COMMAND, 2, CMD.MEMORY | CMD.BUS_MASTER);
  let cap = pci.configRead(DEVICE, 0, 0x34, 1);
  while (cap !== 0 && pci.configRead(DEVICE, 0, cap, 1) !== MSI_CAP_ID) cap = pci.configRead(DEVICE, 0, cap + 1, 1);
  expect(cap).not.toBe(0);
  pci.configWrite(DEVICE, 0, cap + MSI_REG.ADDRESS_LO, 4, msi.address);
  pci.configWrite(DEVICE, 0, cap + MSI_REG.ADDRESS_HI, 4, 0);
  pci.configWrite(DEVICE, 0, cap + MSI_REG.DATA_64, 2, msi.data);
  pci.configWrite(DEVICE, 0, cap + MSI_REG.CONTROL, 2, MSI_CONTROL.ENABLE);
  // The vCPU's posted-interrupt descriptor: NV, NDST (xAPIC: APIC ID 0 in bits 15:8), ON = SN = 0.
  m.mem.write(PI_DESC + 34, 1, NV);
  m.mem.write(PI_DESC + 36, 4, 0);
  for (let i = 0; i < 0x100; i++) m.mem.write8(SRC + i, i);
  return { v, m, kit, pci, sink };
}

describe('an assigned device\'s MSI through VT-d interrupt remapping to a vCPU', () => {
  it('posted: the vector reaches the guest\'s handler without a VM exit, and its EOI is virtualized', () => {
    const { v, m, pci, sink } = setup({ vector: 0x41, sid: RID, svt: 1, posted: { pda: PI_DESC } });
    exitAt(v, ExitReason.VMCALL!, 'after'); // the first exit is the handler's VMCALL
    expect(m.mem.read8(DST + 0x7f)).toBe(0x7f); // the copy ran
    const msg = pci.snapshot().msiLog.at(-1)!;
    expect(msg.remap).toMatchObject({ kind: 'posted', index: HANDLE, vector: 0x41, descriptor: PI_DESC });
    expect(m.mem.read(PI_DESC, 4)).toBe(0); // PIR moved to the virtual APIC
    expect(m.mem.read8(PI_DESC + 32) & 1).toBe(0); // ON cleared by the processor
    expect(sink.pending()).toBe(false); // the notification was consumed
    expect(sink.snapshot().taken).toEqual([NV]);
    expect(v.rd('GUEST_INTR_STATUS')).toBe(0n); // delivered and EOIed: RVI = SVI = 0
  });

  it('remapped: the IRTE\'s host vector makes the guest exit (reason 1) for the hypervisor to inject', () => {
    const { v } = setup({ vector: 0x61, dest: 0, sid: RID, svt: 1 });
    exitAt(v, ExitReason.EXTERNAL_INTERRUPT!, 'l');
    expect(decodeInterruptionInfo(Number(v.rd('VM_EXIT_INTR_INFO')))).toMatchObject({ valid: true, vector: 0x61, type: InterruptionType.EXTERNAL_INTERRUPT });
  });

  it('blocked: no IRTE is fault 22H with the index; a compatibility-format message choosing its own vector is fault 25H', () => {
    for (const [irte, msi, reason, index] of [
      [null, undefined, 0x22, HANDLE],
      [{ vector: 0x41, sid: RID, svt: 1, posted: { pda: PI_DESC } }, { address: 0xfee00000, data: 0x41 }, 0x25, 0],
    ] as const) {
      const { v, m, kit, sink } = setup(irte, msi);
      expect(v.run(5000).kind).toBe('budget'); // no interrupt of any kind reached the guest
      expect(m.mem.read8(DST + 0x7f)).toBe(0x7f);
      expect(sink.pending()).toBe(false);
      expect(kit.iommu.faultRecord(0)).toMatchObject({ reason, sid: RID, interruptIndex: index });
    }
  });
});
