/**
 * The multi-VM host (host.ts) as a machine the Timeline can drive, as hv-machine.ts does for one
 * VM: the same surface (cpu, mem, mmu, devices, run, snapshot, restore, setTrace), so the Timeline,
 * the marks and the session use it unchanged. A scenario with `vms` builds it (scenario/build.ts).
 *
 * Steps are the physical CPU's (`CpuState.steps`): guest instructions retired on it, whichever VM
 * they belong to, plus the steps it idled with every vCPU halted. `run(n)` stops at exactly n more
 * steps (host.ts `run` stops in the middle of a slice), so every step is reachable and a run split
 * anywhere equals a straight run.
 *
 * Events (setTrace): the CPU's own; per VM the hypervisor's `vm/exit`, `vm/field`, `vm/handle`,
 * `vm/entry` and `vm/end` with that VM's index (`vm`), in the order and at the steps hv-machine.ts
 * gives them; and `vm/switch` when the scheduler gives the CPU to another vCPU (not at the first
 * placement, which switches from nothing), at the step of the exit that ended the slice (or, after
 * the CPU idled, the step the switch starts). A VM's `vm/end` comes when its last vCPU ends.
 * With `hosting` (hv/hosting.ts): after each exit's events its `host/path`; hosted, `host/run` when
 * the host's scheduler gives the CPU to a host process (at the step a switch would have).
 *
 * Snapshots: the host's (every VM, vCPU, device, the scheduler, the VMX or SVM state, a guest in
 * the processor) plus this object's exit records and consoles, kept by length like hv-machine.ts.
 */
import type { RunEnd } from '../cpu/cpu.ts';
import type { Cpu } from '../cpu/cpu.ts';
import type { DeviceState, MachineSnapshot } from '../machine/machine.ts';
import type { PhysMem } from '../mem/physmem.ts';
import type { Mmu } from '../mmu/mmu.ts';
import type { Preset } from '../cost/presets.ts';
import { fieldByName } from '../vmx/fields.ts';
import { VMCB_FIELDS, type VmcbField } from '../svm/vmcb.ts';
import type { MsiOutcome, TraceEvent, TraceKind, TraceSink } from '../trace/events.ts';
import { useHost } from '../scenario/build.ts';
import { Host, type HostOptions, type HostSnapshot, type VmSwitch } from './host.ts';
import type { ExitPath } from './hosting.ts';
import type { DmaLogEntry, MsiRemap } from '../dev/pci.ts';
import type { MsiMessage } from '../dev/msi.ts';
import type { HvEnd, Hypervisor } from './hypervisor.ts';
import { SVM_EXIT_INFO_FIELDS, VMX_EXIT_INFO_FIELDS, type HeldEntry, type HvExitRecord } from './hv-machine.ts';
import type { HvLogEntry } from './types.ts';
import { SvmBackend } from './svm-backend.ts';
import { VmxBackend } from './vmx-backend.ts';

const VM_KINDS: readonly TraceKind[] = ['vm/exit', 'vm/field', 'vm/handle', 'vm/entry', 'vm/end', 'vm/switch', 'host/path', 'host/run'];

/** One vCPU's hypervisor as the views read it (vm-view.ts): its backend and what it reads from memory. */
export interface HvUnitView {
  readonly backend: VmxBackend | SvmBackend;
  readonly mem: PhysMem;
  readonly vendor: 'intel' | 'amd';
  fieldKey(name: string): number | null;
  peek(name: string): bigint;
}

/** A field of the control structure as it is in memory (no VMREAD, nothing logged or charged). */
export function peekField(b: VmxBackend | SvmBackend, mem: PhysMem, name: string): bigint {
  if (b instanceof VmxBackend) {
    const read = b.vmx.currentReader();
    if (read === undefined) throw new Error('no current VMCS');
    return read(name);
  }
  const f = VMCB_FIELDS[name as VmcbField];
  if (f === undefined || f.kind !== 'int') throw new Error(`not an integer VMCB field: ${name}`);
  let v = 0n;
  for (let i = f.size - 1; i >= 0; i--) v = (v << 8n) | BigInt(mem.read8(b.vmcb.pa + f.offset + i));
  return v;
}

/** The encoding (VT-x) or offset (AMD-V) of a field, or null for state kept in software (`gpr.*`). */
export function fieldKeyOf(vmx: boolean, name: string): number | null {
  if (vmx) return fieldByName(name)?.field.encoding ?? null;
  const f = VMCB_FIELDS[name as VmcbField];
  if (f !== undefined) return f.offset;
  const m = /^(save\.[a-z]+)\.attrib$/.exec(name);
  const seg = m === null ? undefined : VMCB_FIELDS[m[1] as VmcbField];
  return seg === undefined ? null : seg.offset + 2;
}

/** Per VM: its exit records and console, and per vCPU the bookkeeping of round trips. */
interface VmTrack {
  records: HvExitRecord[];
  console: string;
  /** How many of the UART's characters the console holds. */
  uartSeen: number;
  /** Per vCPU: the step of its last exit, whether an entry completes a record, its round-trip total, its last entry's step. */
  vcpus: { entryStep: number; awaiting: boolean; enteredAt: number; lastRecord: number }[];
  roundTrip: number;
  ended: string | null;
  endStep: number | null;
}

interface HostMachineSnapshot extends MachineSnapshot {
  readonly host: HostSnapshot;
  readonly tracks: { track: VmTrack; records: HvExitRecord[]; length: number; open: { at: number; record: HvExitRecord }[] }[];
  readonly lastExit: { step: number; at: number } | null;
}

export class HostMachine {
  readonly host: Host;
  readonly technique: 'vtx' | 'svm';
  readonly vendor: 'intel' | 'amd';
  readonly preset: Preset;
  /** Each VM's name and mode, in order. */
  readonly guests: readonly { name: string; mode: 'prot32' | 'long64' }[];
  devices: DeviceState = { uartOut: '', portLog: [] };
  readonly uartPort = 0x3f8;
  trace: TraceSink | null = null;
  private tracks: VmTrack[];
  private vmSink: TraceSink | null = null;
  /** The last exit's step and the CPU's step when it was handled (a switch right after it belongs to its step). */
  private lastExit: { step: number; at: number } | null = null;
  private vmKinds: ReadonlySet<TraceKind> = new Set();
  /** An entry a handler made for one instruction, reported after its exit (hv-machine.ts HeldEntry). */
  private held: HeldEntry | null = null;
  private dmaTraced = false;
  private msiTraced = false;
  private pendingDma: TraceEvent[] = [];
  /** The path of the exit being handled (host.ts calls the hook before the exit's observer). */
  private pendingPath: ExitPath | null = null;

  constructor(opts: HostOptions) {
    this.host = new Host(opts);
    this.technique = opts.under;
    this.vendor = opts.under === 'svm' ? 'amd' : 'intel';
    this.guests = opts.guests.map((g) => ({ name: g.name, mode: g.mode }));
    this.preset = this.host.vm(0).ledger.preset;
    this.tracks = opts.guests.map((_, i) => ({
      records: [], console: '', uartSeen: 0, roundTrip: 0, ended: null, endStep: null,
      vcpus: this.host.vm(i).hypervisors.map(() => ({ entryStep: this.cpu.state.steps, awaiting: false, enteredAt: 0, lastRecord: -1 })),
    }));
    for (let vm = 0; vm < this.host.vmCount; vm++) {
      const parts = this.host.vm(vm);
      parts.hypervisors.forEach((hv, k) => {
        hv.observer = (entry, end) => this.exited(vm, k, entry, end);
        // The guest is entered again before a run stops after an exit it resumes from, so the
        // entry belongs to the exit's step (as hv-machine.ts does).
        hv.enterAtLimit = true;
        parts.backends[k]!.onEntry = (instr, failed) => this.entered(vm, k, instr, failed);
      });
    }
    this.host.hooks = {
      switched: (s) => this.switched(s),
      ended: (vm) => this.vcpuEnded(vm),
      dma: (vm, bus, e) => this.dma(vm, bus, e),
      msi: (vm, bus, m) => this.msi(vm, bus, m),
      path: (p) => {
        this.pendingPath = p;
      },
      hostRun: (r) => {
        const step = this.lastExit !== null && this.lastExit.at === r.step ? this.lastExit.step : r.step;
        this.emit({ kind: 'host/run', step, proc: r.proc, steps: r.steps });
      },
    };
  }

  get cpu(): Cpu {
    return this.host.cpu;
  }

  get mem(): PhysMem {
    return this.host.mem;
  }

  get mmu(): Mmu {
    return this.host.mmu;
  }

  /** Whether a guest is in the processor now. */
  get guestLoaded(): boolean {
    for (let i = 0; i < this.host.vmCount; i++) if (this.host.vm(i).backends.some((b) => b.loaded)) return true;
    return false;
  }

  /** VM `vm`'s exit records (append-only; a restore starts a fresh copy of the prefix). */
  records(vm: number): readonly HvExitRecord[] {
    return this.tracks[vm]!.records;
  }

  /** VM `vm`'s console: its UART's output and the print hypercall's characters, in order. */
  console(vm: number): string {
    return this.tracks[vm]!.console;
  }

  /** How VM `vm` ended (`hlt`, `shutdown`, `hypercall-exit`, `error: …`), or null while a vCPU of it can run. */
  vmEnd(vm: number): string | null {
    return this.tracks[vm]!.ended;
  }

  /** Non-null once every VM has ended (the session's "stopped", as hv-machine.ts's `ended`): VM 0's end. */
  get ended(): string | null {
    return this.tracks.every((t) => t.ended !== null) ? this.tracks[0]!.ended : null;
  }

  /**
   * Where guest-physical `gpa` of the VM on the CPU lies in host RAM (its RAM is one range of it),
   * or null outside its RAM (for the session's code view, which translates the guest's linear
   * addresses with the guest's own tables).
   */
  hostPhysical(gpa: number): number | null {
    const v = this.host.vm(this.currentVm);
    return gpa >= 0 && gpa < v.memSize ? v.hpaBase + gpa : null;
  }

  /** The VM on the CPU, or the one that ran last; 0 before the first. */
  get currentVm(): number {
    return Math.max(0, this.host.currentVm);
  }

  /** The current VM's first vCPU's hypervisor (or the vCPU of that VM that ran last). */
  unit(vm: number): HvUnitView & { hypervisor: Hypervisor } {
    const parts = this.host.vm(vm);
    const sw = this.host.switches;
    let k = 0;
    for (let i = sw.length - 1; i >= 0; i--) {
      if (sw[i]!.to === vm) {
        k = sw[i]!.toVcpu;
        break;
      }
    }
    const backend = parts.backends[k]!;
    const mem = this.mem;
    const vmx = backend instanceof VmxBackend;
    return {
      backend, mem, vendor: this.vendor, hypervisor: parts.hypervisors[k]!,
      fieldKey: (name) => fieldKeyOf(vmx, name),
      peek: (name) => peekField(backend, mem, name),
    };
  }

  run(maxSteps: number): RunEnd {
    if (maxSteps <= 0) return 'limit';
    const r = this.host.run(this.cpu.state.steps + maxSteps);
    if (r === 'limit') return 'limit';
    const ends = this.host.report().flatMap((v) => v.vcpus.map((c) => c.end));
    return ends.some((e) => e === 'shutdown' || e === 'error') ? 'shutdown' : 'hlt';
  }

  setTrace(sink: TraceSink | null, kinds?: Iterable<TraceKind>): void {
    const ks = kinds === undefined ? null : [...kinds];
    this.trace = sink;
    this.dmaTraced = sink !== null && (ks === null || ks.includes('iommu/dma'));
    this.msiTraced = sink !== null && (ks === null || ks.includes('iommu/msi'));
    this.cpu.setTrace(sink === null ? null : { emit: (e) => (this.held !== null ? this.held.events.push(e) : sink.emit(e)) }, ks ?? undefined);
    const vm = ks === null ? VM_KINDS : VM_KINDS.filter((k) => ks.includes(k));
    this.vmSink = sink !== null && vm.length > 0 ? sink : null;
    this.vmKinds = new Set(vm);
  }

  snapshot(): MachineSnapshot {
    const host = this.host.snapshot();
    const snap: HostMachineSnapshot = {
      ...host.core, uartOut: '', portLog: [], portLogLength: 0,
      host,
      lastExit: this.lastExit === null ? null : { ...this.lastExit },
      tracks: this.tracks.map((t) => ({
        track: { ...t, records: [], vcpus: t.vcpus.map((v) => ({ ...v })) },
        records: t.records, length: t.records.length,
        // A vCPU's last record may still wait for its entry (an idling HLT, a preempted slice), and
        // is completed in place later: it is kept as it is now.
        open: t.vcpus.filter((v) => v.lastRecord >= 0).map((v) => ({ at: v.lastRecord, record: { ...t.records[v.lastRecord]! } })),
      })),
    };
    return snap;
  }

  restore(snap: MachineSnapshot): void {
    this.held = null;
    this.pendingDma = [];
    const s = snap as HostMachineSnapshot;
    if (s.host === undefined) throw new Error('HostMachine.restore: not a checkpoint of the multi-VM host');
    this.host.restore(s.host);
    this.lastExit = s.lastExit === null ? null : { ...s.lastExit };
    this.tracks = s.tracks.map((t) => {
      const records = t.records.slice(0, t.length);
      for (const o of t.open) records[o.at] = { ...o.record };
      return { ...t.track, records, vcpus: t.track.vcpus.map((v) => ({ ...v })) };
    });
  }

  private emit(e: TraceEvent): void {
    if (this.vmSink !== null && this.vmKinds.has(e.kind)) this.vmSink.emit(e);
  }

  private roundTripTotal(vm: number): number {
    let n = 0;
    for (const t of Object.values(this.host.vm(vm).ledger.data().exits)) n += t.roundTripCycles;
    return n;
  }

  private exited(vm: number, k: number, entry: HvLogEntry, end: HvEnd | null): void {
    const t = this.tracks[vm]!;
    const v = t.vcpus[k]!;
    const step = entry.step ?? this.cpu.state.steps;
    this.lastExit = { step, at: this.cpu.state.steps };
    entry.guestSteps = step - v.enteredAt;
    v.entryStep = step;
    const unit = this.unit(vm);
    const info: Record<string, bigint> = {};
    const b = this.host.vm(vm).backends[k]!;
    for (const f of b instanceof VmxBackend ? VMX_EXIT_INFO_FIELDS : SVM_EXIT_INFO_FIELDS) info[f] = peekField(b, this.mem, f);
    const record: HvExitRecord = { log: entry, entry: null, cycles: 0, info };
    v.lastRecord = t.records.length;
    t.records.push(record);
    const hv = this.host.vm(vm).hypervisors[k]!;
    if (entry.kind === 'hypercall' && entry.note.startsWith('print ')) t.console += hv.console.slice(-1);
    // What the guest wrote to its UART (COM1) since the last exit joins the console.
    const uart = this.host.vm(vm).platform?.uart.state.console ?? '';
    if (uart.length > t.uartSeen) {
      t.console += uart.slice(t.uartSeen);
      t.uartSeen = uart.length;
    }
    const held = this.held;
    this.held = null;
    if (end !== null) record.cycles = this.roundTripTotal(vm) - t.roundTrip;
    v.awaiting = (end === null && held === null) || end?.kind === 'preempted' || end?.kind === 'idle';
    if (held !== null) {
      const total = this.roundTripTotal(vm);
      record.entry = held.instruction;
      if (end === null) record.cycles = total - t.roundTrip;
      t.roundTrip = total;
      v.enteredAt = held.at;
    }
    const path = this.pendingPath;
    this.pendingPath = null;
    if (this.vmSink === null) {
      // No vm/… events wanted, but the held run's own (CPU, DMA) may be.
      if (held !== null) for (const e of held.events) this.trace?.emit(e);
      this.flushDma();
      return;
    }
    this.emit({ kind: 'vm/exit', step, vm, vendor: this.vendor, code: entry.code, name: entry.name, rip: entry.rip, info: { ...info } });
    for (const a of entry.accesses) this.emit({ kind: 'vm/field', step, vm, op: a.op, field: a.field, key: unit.fieldKey(a.field), value: a.value });
    this.emit({ kind: 'vm/handle', step, vm, action: entry.action, note: entry.note });
    if (held !== null) {
      this.emit({ kind: 'vm/entry', step, vm, vendor: this.vendor, instruction: held.instruction, rip: held.rip, ...(held.failed !== null ? { failed: held.failed } : {}) });
      for (const e of held.events) this.trace?.emit(e);
    }
    if (path !== null) this.emit({ kind: 'host/path', step, vm, hosting: this.host.hosting!, name: path.name, where: path.where, output: path.output, preempt: path.preempt, final: path.final, hops: [...path.hops] });
    this.flushDma();
  }

  private entered(vm: number, k: number, instruction: 'VMLAUNCH' | 'VMRESUME' | 'VMRUN', failed: string[] | null): void {
    const t = this.tracks[vm]!;
    const v = t.vcpus[k]!;
    if (this.host.vm(vm).backends[k]!.inHandler === true) {
      // A handler enters the guest for one instruction: reported, with that run's events, once the exit is (exited).
      // A retried run (runOnce opens another page and runs the instruction again) continues the same held entry.
      if (this.held !== null) return;
      const b = this.host.vm(vm).backends[k]!;
      this.held = { instruction, failed, rip: peekField(b, this.mem, b instanceof VmxBackend ? 'GUEST_RIP' : 'save.rip'), at: this.cpu.state.steps, events: [] };
      return;
    }
    const total = this.roundTripTotal(vm);
    const last = v.lastRecord >= 0 ? t.records[v.lastRecord] ?? null : null;
    if (v.awaiting && last !== null && last.entry === null) {
      last.entry = instruction;
      last.cycles = total - t.roundTrip;
    }
    v.awaiting = false;
    t.roundTrip = total;
    v.enteredAt = this.cpu.state.steps;
    if (this.vmSink === null) return;
    const b = this.host.vm(vm).backends[k]!;
    const rip = peekField(b, this.mem, b instanceof VmxBackend ? 'GUEST_RIP' : 'save.rip');
    this.emit({ kind: 'vm/entry', step: v.entryStep, vm, vendor: this.vendor, instruction, rip, ...(failed !== null ? { failed } : {}) });
  }

  /**
   * A device's DMA request, at the step of the instruction whose register write started it (the
   * CPU's trace clock: a guest's write to an assigned card's register, or the instruction an MMIO
   * exit's handler runs once for an emulated one, whose events come after the exit's, as the held
   * entry's do).
   */
  private dma(vm: number, bus: 'vm' | 'host', e: DmaLogEntry): void {
    if (!this.dmaTraced || this.trace === null) return;
    const ev: TraceEvent = {
      kind: 'iommu/dma', step: this.cpu.traceClock.step, vm, bus, seq: e.seq, rid: e.rid, device: e.device, access: e.access, what: e.what,
      iova: BigInt(e.iova), length: e.length, hpa: e.hpa === null ? null : BigInt(e.hpa), domainId: e.domainId, iotlbHit: e.iotlbHit, fault: e.fault,
    };
    if (this.held !== null) this.held.events.push(ev);
    else if (this.host.vm(vm).backends.some((b) => b.inHandler === true)) this.pendingDma.push(ev);
    else this.trace.emit(ev);
  }

  /**
   * A device's interrupt message, at the step of the instruction whose register write made the
   * device send it, placed as its DMA is (held with a handler's one-instruction run, or after the
   * exit's events when a handler made it).
   */
  private msi(vm: number, bus: 'vm' | 'host', m: MsiMessage): void {
    if (!this.msiTraced || this.trace === null) return;
    const ev: TraceEvent = {
      kind: 'iommu/msi', step: this.cpu.traceClock.step, vm, bus, seq: m.seq, rid: m.rid, device: m.device,
      address: m.address, data: m.data, vector: m.vector, destinationId: m.destinationId, outcome: msiOutcome(m.remap), delivered: m.delivered,
      guestVector: bus === 'vm' ? (m.delivered ? m.vector : null) : m.remap?.kind === 'posted' ? m.remap.vector : m.delivered ? (this.host.interruptsOf(vm).msi?.guestVector ?? null) : null,
    };
    if (this.held !== null) this.held.events.push(ev);
    else if (this.host.vm(vm).backends.some((b) => b.inHandler === true)) this.pendingDma.push(ev);
    else this.trace.emit(ev);
  }

  /** DMA a handler made itself (a virtio notification's), reported after its exit's events. */
  private flushDma(): void {
    const p = this.pendingDma;
    if (p.length === 0) return;
    this.pendingDma = [];
    for (const e of p) this.trace?.emit(e);
  }

  private switched(s: VmSwitch): void {
    if (s.from === null) return;
    // A switch the exit that ended the slice led to belongs to that exit's step (as the entry
    // after an exit does); after the CPU idled, to the step it starts.
    const step = this.lastExit !== null && this.lastExit.at === s.step ? this.lastExit.step : s.step;
    this.emit({ kind: 'vm/switch', step, from: s.from, to: s.to });
  }

  private vcpuEnded(vm: number): void {
    const r = this.host.report()[vm]!;
    if (r.vcpus.some((c) => c.state !== 'ended')) return;
    const t = this.tracks[vm]!;
    const first = r.vcpus.find((c) => c.end !== 'hlt') ?? r.vcpus[0]!;
    const why = first.end === 'shutdown' ? 'shutdown' : first.end === 'hypercall-exit' ? 'hypercall-exit' : first.end === 'hlt' ? 'hlt' : 'error';
    t.ended = why === 'error' ? `error: ${first.error ?? first.end ?? ''}` : why;
    t.endStep = this.cpu.state.steps;
    const step = Math.max(...t.vcpus.map((v) => v.entryStep));
    this.emit({ kind: 'vm/end', step, vm, why, detail: why === 'hlt' ? 'halted with no interrupt that can wake it' : why === 'shutdown' ? 'triple fault' : why === 'hypercall-exit' ? 'exit hypercall' : (first.error ?? 'error') });
  }
}

/** The trace's summary of an MSI log entry's remapping decision (without the entries read). */
export function msiOutcome(r: MsiRemap | null): MsiOutcome {
  if (r === null) return { kind: 'direct' };
  switch (r.kind) {
    case 'passed':
      return { kind: 'passed', why: r.why };
    case 'remapped':
      return { kind: 'remapped', index: r.index, vector: r.target.vector, destinationId: r.target.destinationId, cacheHit: r.cacheHit };
    case 'posted':
      return { kind: 'posted', index: r.index, vector: r.vector, descriptor: r.descriptor, notification: r.notification?.vector ?? null, cacheHit: r.cacheHit };
    case 'blocked': {
      const f = r.fault;
      if (f.vendor !== 'vtd' && f.vendor !== 'amd-vi') throw new Error(`interrupt remapping blocked with a ${f.vendor} fault`);
      return { kind: 'blocked', index: r.index, fault: f };
    }
    case 'aborted':
      return { kind: 'aborted', why: r.why };
  }
}

// Scenarios with `vms` build this machine (scenario/build.ts): loading this module provides it.
useHost((opts) => new HostMachine(opts));
