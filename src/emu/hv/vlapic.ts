/**
 * The hypervisor's virtual local APIC for a VM's vCPU 0: what a device's interrupt becomes when the
 * hypervisor, not the processor, delivers it (SDM Vol. 3A 11.8 "Handling Interrupts" for the
 * registers it keeps). It holds
 * - **IRR**: an interrupt message the VM's devices sent (an emulated card's MSI on the VM's own bus,
 *   or an assigned card's MSI the host received and routed here) sets its vector's bit;
 * - **ISR**: acknowledging (the hypervisor injecting the vector at an entry) moves the highest IRR
 *   vector whose priority class is above the ISR's highest class to ISR (11.8.4: the processor
 *   priority is the in-service class, the task priority being 0 here);
 * - **EOI**: the guest's write of 0 to the x2APIC EOI register (MSR 80BH, SDM Vol. 3A 11.12.1.2)
 *   clears the highest ISR bit (11.8.5). Without APIC virtualization that WRMSR is a VM exit
 *   (MSR write, VT-x reason 32, #VMEXIT(MSR)) and the hypervisor calls `eoi`.
 *
 * Acceptance as msi.ts's sink: fixed or lowest-priority, edge, physical destination 0 (the VM's
 * vCPU 0) or broadcast, vector 16..255. Not modelled: the TPR, logical destinations, other delivery
 * modes, level triggering, the timer and LINT pins, and the xAPIC MMIO page (the lab's guests
 * reach their APIC through the x2APIC EOI MSR only).
 */
import type { InterruptSource } from '../cpu/cpu.ts';
import type { MsiMessage, MsiSink } from '../dev/msi.ts';

export interface VirtualLapicState {
  irr: number[];
  isr: number[];
  /** Vectors accepted, injected and EOIed, in order (for logs, views and tests). */
  accepted: number;
  injected: number[];
  eois: number[];
}

/** The x2APIC EOI register (SDM Vol. 3A Table 11-6). */
export const X2APIC_EOI_MSR = 0x80b;

function top(words: readonly number[]): number {
  for (let i = 7; i >= 0; i--) {
    const w = words[i]! >>> 0;
    if (w !== 0) return i * 32 + 31 - Math.clz32(w);
  }
  return -1;
}

function setBit(words: number[], v: number, on: boolean): void {
  const m = 1 << (v & 31);
  words[v >>> 5] = (on ? words[v >>> 5]! | m : words[v >>> 5]! & ~m) >>> 0;
}

export class VirtualLapic implements MsiSink, InterruptSource {
  state: VirtualLapicState = { irr: new Array<number>(8).fill(0), isr: new Array<number>(8).fill(0), accepted: 0, injected: [], eois: [] };

  deliver(msg: MsiMessage): string | null {
    if (msg.deliveryMode !== 'fixed' && msg.deliveryMode !== 'lowest-priority') return `delivery mode ${msg.deliveryMode} is not modelled`;
    if (msg.trigger === 'level') return 'level-triggered messages are not modelled';
    if (msg.destinationMode === 'logical') return 'logical destination mode is not modelled';
    if (msg.destinationId !== 0 && msg.destinationId !== 0xff) return `the VM has no vCPU with APIC ID ${msg.destinationId}`;
    if (msg.vector < 16) return `vector ${msg.vector} is illegal (0..15)`;
    this.raise(msg.vector);
    return null;
  }

  /** Sets `vector` in IRR (a device's interrupt the host routed here). */
  raise(vector: number): void {
    setBit(this.state.irr, vector, true);
    this.state.accepted++;
  }

  /** A vector whose class is above the in-service class is requested (11.8.3.1 with TPR 0). */
  pending(): boolean {
    const r = top(this.state.irr);
    return r >= 0 && r >>> 4 > Math.max(0, top(this.state.isr)) >>> 4;
  }

  acknowledge(): number {
    if (!this.pending()) throw new Error('acknowledge with no deliverable vector');
    const v = top(this.state.irr);
    setBit(this.state.irr, v, false);
    setBit(this.state.isr, v, true);
    this.state.injected.push(v);
    return v;
  }

  /** The guest's EOI: clears the highest in-service vector; returns it, or -1 when none was in service. */
  eoi(): number {
    const v = top(this.state.isr);
    if (v >= 0) setBit(this.state.isr, v, false);
    this.state.eois.push(v);
    return v;
  }

  snapshot(): VirtualLapicState {
    return { irr: this.state.irr.slice(), isr: this.state.isr.slice(), accepted: this.state.accepted, injected: this.state.injected.slice(), eois: this.state.eois.slice() };
  }

  restore(s: VirtualLapicState): void {
    this.state = { irr: s.irr.slice(), isr: s.isr.slice(), accepted: s.accepted, injected: s.injected.slice(), eois: s.eois.slice() };
  }
}

/** Two interrupt controllers feeding one injection path (a VM's 8259A pair and its local APIC): `a`'s request first. */
export function eitherSource(a: InterruptSource, b: InterruptSource): InterruptSource {
  return {
    pending: () => a.pending() || b.pending(),
    acknowledge: () => (a.pending() ? a.acknowledge() : b.acknowledge()),
  };
}
