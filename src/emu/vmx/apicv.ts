/**
 * APIC virtualization in VMX non-root operation, the part posted interrupts need (Intel SDM Vol. 3C,
 * chapter 30 "APIC Virtualization and Virtual Interrupts"):
 *
 * - **The virtual-APIC page** (30.1: at the physical address in the virtual-APIC address field,
 *   never translated by EPT): VTPR at 0x80, VPPR at 0xA0, VISR at 0x100 and VIRR at 0x200 (each
 *   256 bits as eight 32-bit words 16 bytes apart, bit n of the set at word n / 32).
 * - **RVI and SVI**, the guest interrupt status (VMCS 0x0810: RVI bits 7:0, SVI bits 15:8), loaded
 *   at entry and stored back at every exit (27.3.2.5, 28.3).
 * - **TPR virtualization** (30.1.2), **PPR virtualization** (30.1.3), **EOI virtualization**
 *   (30.1.4: VISR[SVI] ← 0, SVI ← the highest bit left in VISR, PPR virtualization, then an
 *   EOI-induced VM exit (reason 45, qualification the vector) if the EOI-exit bitmap has the
 *   vector, else evaluation of pending virtual interrupts).
 * - **Evaluation and delivery of virtual interrupts** (30.2.1, 30.2.2): recognized when
 *   "interrupt-window exiting" is 0 and RVI[7:4] > VPPR[7:4]; delivered at an instruction boundary
 *   with RFLAGS.IF = 1 and no STI / MOV SS blocking: VISR[RVI] ← 1, SVI ← RVI, VPPR ← RVI & F0H,
 *   VIRR[RVI] ← 0, RVI ← the highest bit left in VIRR (or 0), then the vector through the guest's
 *   IDT as an external interrupt, without a VM exit.
 * - **Posted-interrupt processing** (30.6): with "process posted interrupts", an external
 *   interrupt that arrives in non-root operation is acknowledged; if its vector is the
 *   posted-interrupt notification vector there is no VM exit: ON (bit 256 of the 64-byte
 *   descriptor) is cleared, PIR (bits 255:0) is ORed into VIRR and cleared, RVI ← max(RVI, the
 *   highest PIR bit), and pending virtual interrupts are evaluated (and may be delivered at once).
 * - **MSR-based APIC accesses** under "virtualize x2APIC mode" (30.5), for the MSRs whose access
 *   the MSR bitmap does not intercept: RDMSR 808H (TPR) reads the 64 bits at offset 80H; WRMSR
 *   808H with EDX = 0 and EAX[31:8] = 0 writes VTPR and does TPR virtualization (else #GP(0));
 *   with "virtual-interrupt delivery", WRMSR 80BH (EOI) with EDX:EAX = 0 does EOI virtualization
 *   (else #GP(0)). Other x2APIC MSRs behave as without the control (on this lab's processor, which
 *   has no x2APIC, #GP(0)), as they do with "APIC-register virtualization" 0, which the lab does
 *   not offer.
 * - **CR8** under "use TPR shadow" (26.3 and 30.3) when CR8 exiting does not take it: MOV from CR8
 *   reads VTPR[7:4]; MOV to CR8 writes VTPR ← value[3:0] << 4 (bits 3:0 and 31:8 zero) and does
 *   TPR virtualization.
 * - Without "virtual-interrupt delivery", TPR virtualization is the TPR-threshold check: a VTPR[7:4]
 *   below the TPR threshold is a TPR-below-threshold VM exit (reason 43) after the instruction.
 *
 * A guest in the HLT activity state wakes when a virtual interrupt is delivered (30.2.2: the same
 * inactive states an external interrupt ends), since the CPU asks the boundary before its halted
 * wait.
 *
 * Not modelled: "virtualize APIC accesses" and the APIC-access page (the xAPIC MMIO path, APIC-access
 * and APIC-write exits), "APIC-register virtualization", and self-IPI virtualization (WRMSR of the
 * x2APIC SELF IPI register, 83FH: here #GP(0), as without the control).
 */
import type { PhysMem } from '../mem/physmem.ts';
import type { Intercept } from '../cpu/guest.ts';

/** Offsets in the virtual-APIC page (SDM Vol. 3C 30.1, Table 30-1 and 11.4.1's register map). */
export const VAPIC = { VTPR: 0x80, VPPR: 0xa0, VEOI: 0xb0, VISR: 0x100, VIRR: 0x200 } as const;

/** x2APIC MSRs the lab virtualizes (SDM Vol. 3A 11.12.1.2: 800H + the xAPIC offset / 16). */
export const X2APIC_MSR = { TPR: 0x808, EOI: 0x80b } as const;

/** The posted-interrupt descriptor (SDM Vol. 3C 30.6, Table 30-1): byte offsets of ON/SN and NV, NDST. */
export const PI_DESC = { PIR: 0, CONTROL: 32, ON_BIT: 0, SN_BIT: 1, NV: 34, NDST: 36, SIZE: 64 } as const;

export interface ApicvControls {
  /** "use TPR shadow": the virtual-APIC page exists. */
  tprShadow: boolean;
  virtualInterruptDelivery: boolean;
  virtualizeX2apic: boolean;
  processPosted: boolean;
  /** "interrupt-window exiting" (a recognized virtual interrupt waits while it is 1). */
  interruptWindowExiting: boolean;
  virtualApicAddress: number;
  /** Posted-interrupt notification vector (bits 7:0 of the 16-bit field) and descriptor address. */
  notificationVector: number;
  descriptorAddress: number;
  tprThreshold: number;
  /** The EOI-exit bitmap, 256 bits as eight 32-bit words (fields 201CH..2022H). */
  eoiExitBitmap: number[];
  /** Guest interrupt status at entry: RVI bits 7:0, SVI bits 15:8. */
  interruptStatus: number;
}

/** The highest set bit of a 256-bit set held as eight words, or -1. */
function highest(words: readonly number[]): number {
  for (let i = 7; i >= 0; i--) {
    const w = words[i]! >>> 0;
    if (w !== 0) return i * 32 + 31 - Math.clz32(w);
  }
  return -1;
}

/** The state of a guest's virtual APIC while it runs; the CPU asks it through GuestMonitor.apic. */
export class VirtualApic {
  rvi: number;
  svi: number;
  /** A pending virtual interrupt was recognized at the last evaluation (30.2.1). */
  private recognized = false;
  /** A trap-like VM exit the last instruction caused (EOI-induced, TPR below threshold); the CPU takes it at the next boundary. */
  trap: Intercept | null = null;
  /** Virtual interrupts delivered and EOIs virtualized while this entry lasted (for logs and tests). */
  readonly delivered: number[] = [];
  readonly eois: number[] = [];
  /** Notifications processed without a VM exit. */
  postedProcessed = 0;

  constructor(
    private readonly mem: PhysMem,
    readonly ctl: ApicvControls,
  ) {
    this.rvi = ctl.interruptStatus & 0xff;
    this.svi = (ctl.interruptStatus >>> 8) & 0xff;
  }

  hasPending(): boolean {
    return this.recognized && this.ctl.virtualInterruptDelivery && !this.ctl.interruptWindowExiting;
  }

  /** The posted-interrupt notification vector, or -1 without "process posted interrupts". */
  get notificationVector(): number {
    return this.ctl.processPosted ? this.ctl.notificationVector : -1;
  }

  /** RVI and SVI as the guest interrupt-status field holds them. */
  interruptStatus(): number {
    return ((this.svi & 0xff) << 8) | (this.rvi & 0xff);
  }

  private page(off: number): number {
    return this.ctl.virtualApicAddress + off;
  }

  private words(base: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < 8; i++) out.push(this.mem.read(this.page(base + i * 16), 4) >>> 0);
    return out;
  }

  private setBit(base: number, v: number, on: boolean): void {
    const at = this.page(base + (v >>> 5) * 16);
    const w = this.mem.read(at, 4) >>> 0;
    const m = 1 << (v & 31);
    this.mem.write(at, 4, (on ? w | m : w & ~m) >>> 0);
  }

  vtpr(): number {
    return this.mem.read(this.page(VAPIC.VTPR), 4) >>> 0;
  }

  vppr(): number {
    return this.mem.read(this.page(VAPIC.VPPR), 4) >>> 0;
  }

  /**
   * VM entry's part with "virtual-interrupt delivery" (27.3.2.5): PPR virtualization, then
   * evaluation. (Without it, VM entry's own check keeps the TPR threshold at or below VTPR[7:4]
   * when "virtualize APIC accesses" is 0, as it always is here, so no threshold exit follows entry.)
   */
  atEntry(): void {
    if (!this.ctl.virtualInterruptDelivery) return;
    this.pprVirtualization();
    this.evaluate();
  }

  /** 30.1.3. */
  private pprVirtualization(): void {
    const vtpr = this.vtpr() & 0xff;
    const ppr = vtpr >>> 4 >= this.svi >>> 4 ? vtpr : this.svi & 0xf0;
    this.mem.write(this.page(VAPIC.VPPR), 4, ppr);
  }

  /** 30.2.1. */
  private evaluate(): void {
    this.recognized = !this.ctl.interruptWindowExiting && this.rvi >>> 4 > (this.vppr() & 0xff) >>> 4;
  }

  /** 30.1.2 without virtual-interrupt delivery: VTPR[7:4] below the TPR threshold is a trap-like exit (reason 43). */
  private thresholdCheck(): void {
    if ((this.vtpr() & 0xff) >>> 4 < (this.ctl.tprThreshold & 0xf)) this.trap = { kind: 'tpr-below-threshold', rip: 0n, length: 0 };
  }

  /** 30.1.2. */
  private tprVirtualization(): void {
    if (this.ctl.virtualInterruptDelivery) {
      this.pprVirtualization();
      this.evaluate();
    } else this.thresholdCheck();
  }

  /** 30.1.4. */
  private eoiVirtualization(): void {
    const vector = this.svi;
    this.setBit(VAPIC.VISR, vector, false);
    const left = highest(this.words(VAPIC.VISR));
    this.svi = left < 0 ? 0 : left;
    this.pprVirtualization();
    this.eois.push(vector);
    if (((this.ctl.eoiExitBitmap[vector >>> 5]! >>> (vector & 31)) & 1) === 1) {
      this.trap = { kind: 'virtualized-eoi', rip: 0n, length: 0, vector };
    } else this.evaluate();
  }

  /**
   * At an instruction boundary where the guest could take an interrupt (IF = 1, no blocking; the
   * CPU checks): the virtual interrupt to deliver now, with the virtual APIC updated as 30.2.2
   * says, or -1.
   */
  deliverable(): number {
    if (!this.ctl.virtualInterruptDelivery || !this.recognized || this.ctl.interruptWindowExiting) return -1;
    const vector = this.rvi;
    this.setBit(VAPIC.VISR, vector, true);
    this.svi = vector;
    this.mem.write(this.page(VAPIC.VPPR), 4, vector & 0xf0);
    this.setBit(VAPIC.VIRR, vector, false);
    const left = highest(this.words(VAPIC.VIRR));
    this.rvi = left < 0 ? 0 : left;
    this.recognized = false;
    this.delivered.push(vector);
    return vector;
  }

  /** 30.6 steps 3 to 7, for an acknowledged notification vector. */
  processPosted(): void {
    const d = this.ctl.descriptorAddress;
    const control = this.mem.read(d + PI_DESC.CONTROL, 1);
    this.mem.write(d + PI_DESC.CONTROL, 1, control & ~(1 << PI_DESC.ON_BIT));
    let top = -1;
    for (let i = 0; i < 8; i++) {
      const pir = this.mem.read(d + PI_DESC.PIR + i * 4, 4) >>> 0;
      if (pir === 0) continue;
      const at = this.page(VAPIC.VIRR + i * 16);
      this.mem.write(at, 4, (this.mem.read(at, 4) | pir) >>> 0);
      this.mem.write(d + PI_DESC.PIR + i * 4, 4, 0);
      top = i * 32 + 31 - Math.clz32(pir);
    }
    if (top >= 0 && top > this.rvi) this.rvi = top;
    this.postedProcessed++;
    this.evaluate();
  }

  /** MOV from CR8 under "use TPR shadow": VTPR bits 7:4. */
  cr8Read(): number {
    return (this.vtpr() >>> 4) & 0xf;
  }

  /** MOV to CR8 under "use TPR shadow": VTPR ← value[3:0] << 4, then TPR virtualization. */
  cr8Write(value: number): void {
    this.mem.write(this.page(VAPIC.VTPR), 4, (value & 0xf) << 4);
    this.tprVirtualization();
  }

  /**
   * RDMSR of an x2APIC MSR that did not exit: [low, high], or null to behave as without
   * "virtualize x2APIC mode" (30.5 with "APIC-register virtualization" 0: only TPR is virtualized).
   */
  msrRead(msr: number): [number, number] | null {
    if (!this.ctl.virtualizeX2apic || msr !== X2APIC_MSR.TPR) return null;
    return [this.mem.read(this.page(VAPIC.VTPR), 4) >>> 0, this.mem.read(this.page(VAPIC.VTPR + 4), 4) >>> 0];
  }

  /**
   * WRMSR of an x2APIC MSR that did not exit: 'done', 'gp' (the instruction raises #GP(0)), or null
   * to behave as without "virtualize x2APIC mode".
   */
  msrWrite(msr: number, lo: number, hi: number): 'done' | 'gp' | null {
    if (!this.ctl.virtualizeX2apic) return null;
    if (msr === X2APIC_MSR.TPR) {
      if (hi !== 0 || (lo & 0xffffff00) !== 0) return 'gp';
      this.mem.write(this.page(VAPIC.VTPR), 4, lo & 0xff);
      this.mem.write(this.page(VAPIC.VTPR + 4), 4, 0);
      this.tprVirtualization();
      return 'done';
    }
    if (msr === X2APIC_MSR.EOI && this.ctl.virtualInterruptDelivery) {
      if (hi !== 0 || lo !== 0) return 'gp';
      this.eoiVirtualization();
      return 'done';
    }
    return null;
  }
}
