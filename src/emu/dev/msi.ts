/**
 * Message Signalled Interrupts: the MSI capability of a PCI function (PCI Local Bus Specification
 * 3.0, 6.8.1) and the x86 meaning of its message (Intel SDM Vol. 3A, 11.11 "Message Signalled
 * Interrupts").
 *
 * The capability (ID 0x05), 64-bit address form, 16 bytes from its offset:
 *   +0x00 capability ID, +0x01 next pointer,
 *   +0x02 message control: bit 0 MSI enable (RW), 3:1 multiple message capable (RO 0: one vector),
 *         6:4 multiple message enable (RW in the specification, but with one vector the only legal
 *         value is 0, so it is hardwired to 0 here), bit 7 64-bit address capable (RO 1),
 *         bit 8 per-vector masking capable (RO 0);
 *   +0x04 message address, bits 1:0 read 0 (dword aligned); +0x08 message upper address;
 *   +0x0C message data (16 bits; the upper half of that dword is reserved).
 * The function signals by writing the data (as a dword, upper half 0) to the address: a memory
 * write, so bus mastering must be on (the bus checks, pci.ts).
 *
 * On x86 an MSI aimed at 0xFEEx_xxxx is an interrupt message (SDM 11.11.1, 11.11.2):
 *   address: 31:20 = 0xFEE, 19:12 destination ID, bit 3 redirection hint (RH),
 *            bit 2 destination mode (DM: 0 physical, 1 logical);
 *   data:    7:0 vector, 10:8 delivery mode (000 fixed, 001 lowest priority, 010 SMI, 100 NMI,
 *            101 INIT, 111 ExtINT), bit 14 level (assert / deassert, for level trigger),
 *            bit 15 trigger mode (0 edge, 1 level).
 *
 * There is no local APIC model. `MsiInterruptSink` stands for the single CPU's: it accepts
 * fixed and lowest-priority, edge-triggered messages in physical destination mode for APIC ID 0 (or
 * the broadcast ID 0xFF) with a vector of 16 or more, keeps one pending bit per vector (as the
 * IRR does), and as the CPU's InterruptSource hands out the highest pending vector first. Not
 * modelled: ISR, TPR/PPR and EOI (a vector is taken off as soon as the CPU acknowledges it),
 * logical destinations, other delivery modes (decoded and logged, not delivered), level-triggered
 * messages, per-vector masking, multiple messages. Interrupt remapping is the IOMMU's (iommu/
 * vtd.ts, amdvi.ts): the bus (pci.ts signalMsi) asks it before a message reaches the sink.
 */
import type { InterruptSource } from '../cpu/cpu.ts';
import type { InterruptTarget } from '../iommu/types.ts';
import type { CapabilitySpec, MsiRemap } from './pci.ts';

export const MSI_CAP_ID = 0x05;

/** Register offsets from the capability's start (64-bit form). */
export const MSI_REG = { CONTROL: 0x02, ADDRESS_LO: 0x04, ADDRESS_HI: 0x08, DATA_64: 0x0c } as const;

export const MSI_CONTROL = { ENABLE: 1 << 0, ADDR_64: 1 << 7 } as const;

/** The MSI capability with a 64-bit address, one vector, no per-vector masking. */
export function msiCapability(): CapabilitySpec {
  return {
    id: MSI_CAP_ID,
    length: 16,
    // from +0x02: control (0x0080), address, upper address, data, reserved
    init: [MSI_CONTROL.ADDR_64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    writable: [MSI_CONTROL.ENABLE, 0, 0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0],
  };
}

export type MsiDeliveryMode = 'fixed' | 'lowest-priority' | 'smi' | 'nmi' | 'init' | 'extint' | 'reserved';

const DELIVERY: readonly MsiDeliveryMode[] = ['fixed', 'lowest-priority', 'smi', 'reserved', 'nmi', 'init', 'reserved', 'extint'];

/** One interrupt message as a function sent it, decoded (plain data for the logs and views). */
export interface MsiMessage {
  seq: number;
  device: string;
  /** Requester ID of the function that sent it. */
  rid: number;
  /** The message address (0xFEEx_xxxx) and data as written. */
  address: number;
  data: number;
  destinationId: number;
  redirectionHint: boolean;
  destinationMode: 'physical' | 'logical';
  vector: number;
  deliveryMode: MsiDeliveryMode;
  trigger: 'edge' | 'level';
  level: 'assert' | 'deassert';
  /** Whether the sink took it as an interrupt for the CPU. */
  delivered: boolean;
  /** Why it was not delivered, or null. */
  notDelivered: string | null;
  /** What interrupt remapping decided (null: the bus's remapper does not remap interrupts). */
  remap: MsiRemap | null;
}

/** Decodes an MSI address (0xFEEx_xxxx) and data per SDM 11.11.1 and 11.11.2. */
export function decodeMsi(seq: number, device: string, rid: number, address: number, data: number): MsiMessage {
  return {
    seq,
    device,
    rid,
    address: address >>> 0,
    data: data & 0xffff,
    destinationId: (address >>> 12) & 0xff,
    redirectionHint: ((address >>> 3) & 1) === 1,
    destinationMode: ((address >>> 2) & 1) === 1 ? 'logical' : 'physical',
    vector: data & 0xff,
    deliveryMode: DELIVERY[(data >>> 8) & 7]!,
    trigger: ((data >>> 15) & 1) === 1 ? 'level' : 'edge',
    level: ((data >>> 14) & 1) === 1 ? 'assert' : 'deassert',
    delivered: false,
    notDelivered: null,
    remap: null,
  };
}

/**
 * The message as written (`address`, `data`) whose decoded fields are those of `t`, the interrupt
 * an IOMMU sent in its place (an IRTE's, or a posted-interrupt notification event).
 */
export function msiFromTarget(seq: number, device: string, rid: number, address: number, data: number, t: InterruptTarget): MsiMessage {
  return {
    ...decodeMsi(seq, device, rid, address, data),
    destinationId: t.destinationId,
    redirectionHint: t.redirectionHint,
    destinationMode: t.destinationMode,
    vector: t.vector,
    deliveryMode: DELIVERY[t.deliveryMode & 7]!,
    trigger: t.trigger,
    level: 'assert',
  };
}

/** Where a bus's interrupt messages go. `deliver` returns null when taken, else why not. */
export interface MsiSink {
  deliver(msg: MsiMessage): string | null;
}

export interface MsiSinkState {
  /** Pending vectors, one bit each: 8 words of 32 (as the local APIC's IRR). */
  irr: number[];
  /** Vectors the CPU acknowledged, in order. */
  taken: number[];
}

/** The single CPU's interrupt acceptance for MSI (see the header: no local APIC model). */
export class MsiInterruptSink implements MsiSink, InterruptSource {
  /** APIC ID of the one CPU. */
  static readonly APIC_ID = 0;
  state: MsiSinkState = { irr: new Array<number>(8).fill(0), taken: [] };

  deliver(msg: MsiMessage): string | null {
    if (msg.deliveryMode !== 'fixed' && msg.deliveryMode !== 'lowest-priority') return `delivery mode ${msg.deliveryMode} is not modelled`;
    if (msg.trigger === 'level') return 'level-triggered messages are not modelled';
    if (msg.destinationMode === 'logical') return 'logical destination mode is not modelled (no local APIC)';
    if (msg.destinationId !== MsiInterruptSink.APIC_ID && msg.destinationId !== 0xff) return `no CPU has APIC ID ${msg.destinationId}`;
    // SDM 11.5.3: vectors 0..15 are illegal for the local APIC (a receive illegal vector error)
    if (msg.vector < 16) return `vector ${msg.vector} is illegal (0..15)`;
    this.state.irr[msg.vector >>> 5] = (this.state.irr[msg.vector >>> 5]! | (1 << (msg.vector & 31))) >>> 0;
    return null;
  }

  pending(): boolean {
    return this.state.irr.some((w) => w !== 0);
  }

  acknowledge(): number {
    for (let i = 7; i >= 0; i--) {
      const w = this.state.irr[i]!;
      if (w === 0) continue;
      const b = 31 - Math.clz32(w);
      this.state.irr[i] = (w & ~(1 << b)) >>> 0;
      const v = i * 32 + b;
      this.state.taken.push(v);
      return v;
    }
    throw new Error('acknowledge with no MSI pending');
  }

  snapshot(): MsiSinkState {
    return { irr: this.state.irr.slice(), taken: this.state.taken.slice() };
  }

  restore(s: MsiSinkState): void {
    this.state = { irr: s.irr.slice(), taken: s.taken.slice() };
  }
}
