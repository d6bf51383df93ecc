/**
 * The hypervisor as a machine the Timeline can drive (time travel, marks, run until): a scenario's
 * built Machine becomes the only guest of the hypervisor (hypervisor.ts) over the VT-x or AMD-V
 * backend, and this object has the Machine's surface (cpu, mem, mmu, devices, run, snapshot,
 * restore, setTrace), so the Timeline and the session use it unchanged.
 *
 * Steps. Positions stay `CpuState.steps`, which counts guest instructions only (the hypervisor is
 * TypeScript and runs no host instructions): an exit and its handling happen inside the step of the
 * instruction that caused it, an instruction the hypervisor emulates retiring as one step (as
 * `exec --under` counts). `run(n)` runs until n more guest steps have retired; before it returns,
 * the guest is entered again (VMRESUME, VMRUN) if an exit left it out, so at every step boundary
 * the guest is in the CPU, except at the start (the hypervisor has built the VMCS or VMCB; VMLAUNCH
 * or VMRUN is the first thing step 1 does) and after the VM ended.
 *
 * Snapshots capture everything that decides the future: the Machine's (CPU state whether the guest
 * or the host is loaded, RAM with the VMCS/VMCB and bitmaps, TLB, devices), the Vmx or Svm state,
 * the guest monitor installed in the CPU (copied, with its plain-data fields) and the nested
 * translator, the backend's and the hypervisor's own fields (copied generically: every own field
 * holding plain data, so fields added later are covered), the ledger, and the exit log, which is
 * append-only and kept by length (like the Machine's port log).
 *
 * Events (setTrace): the CPU's own, and the hypervisor's `vm/exit`, `vm/field`, `vm/handle`,
 * `vm/entry` and `vm/end`, at the step of the exit they belong to (an entry after an exit carries
 * that exit's step; the first VMLAUNCH/VMRUN the start step). Order: the exiting instruction's CPU
 * events, vm/exit, the handler's vm/field accesses in order, vm/handle, then vm/entry (or vm/end).
 * A handler that runs the instruction once in the guest (string I/O, MMIO, a shadow page-table
 * write) has that entry and the run's CPU events reported after its vm/handle (HeldEntry).
 */
import type { RunEnd } from '../cpu/cpu.ts';
import type { Cpu } from '../cpu/cpu.ts';
import { SegAttr } from '../cpu/state.ts';
import { cpuid, readMsr, writeMsr } from '../cpu/sys-ctl.ts';
import { Ledger, type LedgerData } from '../cost/ledger.ts';
import type { Preset } from '../cost/presets.ts';
import type { Machine, MachineSnapshot, DeviceState } from '../machine/machine.ts';
import type { PhysMem } from '../mem/physmem.ts';
import type { Mmu } from '../mmu/mmu.ts';
import { activeMonitor, setActiveMonitor, type SvmMonitor } from '../svm/guest-run.ts';
import { VMCB_FIELDS, type VmcbField } from '../svm/vmcb.ts';
import type { VmxState } from '../vmx/vmx.ts';
import { fieldByName } from '../vmx/fields.ts';
import { decode } from '../cpu/decode.ts';
import { formatInsn } from '../asm/disasm.ts';
import { deepCopy } from '../trace/checkpoint.ts';
import { captureFields, cloneMonitor, restoreFields, type Fields } from './capture.ts';
import type { TraceEvent, TraceKind, TraceSink } from '../trace/events.ts';
import { presetFor, tlbJson, type HvJson } from './exec.ts';
import { HV_BT_AREA, HV_MACHINE_AREA, HV_SHADOW_POOL_SIZE, hvMachineArea } from './area.ts';
import { NestedTlb, PageWalkCache } from '../mmu/walk-cache.ts';
import { SHADOW_POOL_SIZE } from './shadow.ts';
import { useHypervisor } from '../scenario/build.ts';
import { COST_KIND_IDS } from '../cost/kinds.ts';
import { REG_ORDER, type U64Json } from '../machine/bare.ts';
import { Hypervisor, SHADOW_MSRS, type HvEnd } from './hypervisor.ts';
import { SVM_AREA_SIZE, SvmBackend, svmAreaSize, type SvmIntercepts } from './svm-backend.ts';
import { VMX_AREA_SIZE, VmxBackend, vmxAreaSize } from './vmx-backend.ts';
import { TE_AREA_SIZE, TeBackend } from './te/backend.ts';
import { BT_AREA_SIZE, BtBackend } from './bt/backend.ts';
import { PV_AREA_SIZE, PvBackend, type PvHypercallRecord } from './pv/backend.ts';
import { decodeHypercall, type PvDetail } from './pv/decode.ts';
import { KERNEL_LOAD, kernelSource } from './pv/kernel.ts';
import { PV_KERNEL_LOAD, usePvKernels } from '../scenario/validate.ts';
import type { NestedPageSize } from './nested-map.ts';
import { GPR_NAMES, type HvLogEntry, type PortHandler } from './types.ts';

export type HvTechnique = 'vtx' | 'svm' | 'trap-emulate' | 'bt' | 'pv';

export { HV_MACHINE_AREA };
if (HV_SHADOW_POOL_SIZE !== SHADOW_POOL_SIZE) throw new Error(`hv/area.ts: HV_SHADOW_POOL_SIZE is 0x${HV_SHADOW_POOL_SIZE.toString(16)}, shadow.ts needs 0x${SHADOW_POOL_SIZE.toString(16)}`);
if (PV_AREA_SIZE > HV_MACHINE_AREA) throw new Error(`hv/area.ts: the PV hypervisor's area (0x${PV_AREA_SIZE.toString(16)}) does not fit in HV_MACHINE_AREA`);
if (TE_AREA_SIZE > HV_MACHINE_AREA) throw new Error(`hv/area.ts: the trap-and-emulate monitor's area (0x${TE_AREA_SIZE.toString(16)}) does not fit in HV_MACHINE_AREA`);
if (HV_BT_AREA !== BT_AREA_SIZE) throw new Error(`hv/area.ts: HV_BT_AREA is 0x${HV_BT_AREA.toString(16)}, binary translation needs 0x${BT_AREA_SIZE.toString(16)}`);
if (HV_MACHINE_AREA !== Math.max(SVM_AREA_SIZE, VMX_AREA_SIZE)) throw new Error(`hv/area.ts: HV_MACHINE_AREA is 0x${HV_MACHINE_AREA.toString(16)}, the backends need 0x${Math.max(SVM_AREA_SIZE, VMX_AREA_SIZE).toString(16)}`);
for (const ram of [0x200000, 0x1000000]) {
  if (hvMachineArea(ram, '4k') !== Math.max(svmAreaSize(ram, '4k'), vmxAreaSize(ram, '4k'))) throw new Error('hv/area.ts: hvMachineArea disagrees with the backends\' area with 4-KByte nested pages');
}

/** The 2D walk's optional caches (`hypervisor.walkCaches`, mmu/walk-cache.ts): the page-walk cache and the nested TLB. */
export interface HvWalkCacheOptions {
  pwc?: boolean;
  ntlb?: boolean;
}

/** The exits a scenario may turn on (`hypervisor.exits`); passed to the backend's options. */
export interface HvExitOptions {
  hlt?: boolean;
  rdtsc?: boolean;
  invlpg?: boolean;
  cr3?: boolean;
  exceptions?: number[];
}

export interface HvMachineOptions {
  technique: HvTechnique;
  /** Cost preset id (default: exec.ts DEFAULT_PRESET for the technique). */
  preset?: string;
  /** 4-KByte aligned physical address of HV_MACHINE_AREA bytes of the guest's RAM for the backend. */
  area: number;
  nestedPaging?: boolean;
  /** The guest's RAM in bytes, at guest-physical 0 and host-physical 0 (the area lies above it). */
  guestRam?: number;
  /** Shadow paging (`nestedPaging: false`): where the shadow pool lies (HV_SHADOW_POOL_SIZE bytes, above the area). */
  shadowPool?: number;
  exits?: HvExitOptions;
  /** Tagged TLBs (`hypervisor.tlbTags`; the backends' default when absent). */
  tlbTags?: boolean;
  /** Nested paging: the nested pages mapping the guest's RAM (`hypervisor.nestedPageSize`, default '2m'; '4k' needs hvMachineArea(guestRam, '4k') bytes at `area`). */
  nestedPageSize?: NestedPageSize;
  /** Nested paging: the 2D walk's caches to turn on (`hypervisor.walkCaches`; default none), set as the MMU's `walkCaches`. */
  walkCaches?: HvWalkCacheOptions;
  /** Under paravirtualization: which version of the lab's kernel the domain runs (scenario field pv.kernel), for views. */
  pvKernel?: 'paravirtualized' | 'unmodified';
}

/** The exceptions the hypervisor intercepts and reflects when a scenario names none (#UD, as KVM and exec --under). */
export const DEFAULT_EXCEPTION_INTERCEPTS = [6] as const;

/** One exit as the machine records it, for views: the hypervisor's log entry and what followed. */
export interface HvExitRecord {
  log: HvLogEntry;
  /** The entry that followed (null: the VM ended); under trap-and-emulate the monitor's IRET back to the guest. */
  entry: 'VMLAUNCH' | 'VMRESUME' | 'VMRUN' | 'IRET' | null;
  /** The round trip's cycles: exit, dispatch, field accesses, handler, entry (trap-and-emulate: the fault, the monitor's path and handler, shadow updates, the IRET). */
  cycles: number;
  /**
   * The exit-information fields as the processor wrote them (VMX_EXIT_INFO_FIELDS,
   * SVM_EXIT_INFO_FIELDS); under trap-and-emulate what the fault pushed: `vector`, `error_code`.
   */
  info: Record<string, bigint>;
  /**
   * Under trap-and-emulate: what trapped, as the monitor counts it (`cli`, `out`, `mov cr3`, or the
   * guest's own exception `#PF`, `#UD`), and the instruction at the trap's EIP, disassembled.
   */
  trap?: { label: string; insn: string | null; from: number };
  /** Under paravirtualization, when the exit was a hypercall: the hypervisor's record of it (arguments decoded, result, what it did). */
  hypercall?: PvHypercallRecord;
  /** Its arguments decoded from the guest's memory right after it was handled (pv/decode.ts). */
  pvDetail?: PvDetail;
}


interface HvState {
  backend: Fields;
  shadow: Fields | null;
  hyper: Fields;
  /** The VMX or SVM unit's state (null under trap-and-emulate, which uses neither). */
  unit: VmxState | Fields | null;
  monitor: object | null;
  nested: ReturnType<Cpu['nestedTranslator']>;
  /** The walk caches' entries and counters (null: that cache is off). */
  pwc: Fields | null;
  ntlb: Fields | null;
  cpuExit: unknown;
  cpuVectoring: unknown;
  ledger: LedgerData;
  log: HvLogEntry[];
  logLength: number;
  records: HvExitRecord[];
  recordsLength: number;
  own: Fields;
}

export interface HvMachineSnapshot extends MachineSnapshot {
  readonly hv: HvState;
}

const VM_KINDS: readonly TraceKind[] = ['vm/exit', 'vm/field', 'vm/handle', 'vm/entry', 'vm/end'];

/** VT-x exit-information fields the vm/exit event reports (SDM Vol. 3C, 25.9). */
export const VMX_EXIT_INFO_FIELDS = [
  'VM_EXIT_REASON', 'EXIT_QUALIFICATION', 'GUEST_LINEAR_ADDRESS', 'GUEST_PHYSICAL_ADDRESS', 'VM_EXIT_INTR_INFO', 'VM_EXIT_INTR_ERROR_CODE',
  'IDT_VECTORING_INFO_FIELD', 'IDT_VECTORING_ERROR_CODE', 'VM_EXIT_INSTRUCTION_LEN', 'VMX_INSTRUCTION_INFO',
] as const;
/** AMD-V exit-information fields of the VMCB (APM 15.6). */
export const SVM_EXIT_INFO_FIELDS = ['exit_code', 'exit_info_1', 'exit_info_2', 'exit_int_info', 'next_rip'] as const satisfies readonly VmcbField[];

/**
 * An entry made inside an exit's handler: string I/O, MMIO and a shadow page-table write are run
 * by entering the guest for that one instruction with the access let through (hypervisor.ts,
 * shadow.ts `runOnce`). The exit is reported only once its handler is done, so the entry and the
 * CPU events of that run are held and reported after the exit's vm/handle, in the order they
 * happened relative to it; its round trip is the exit's cycles.
 */
export interface HeldEntry {
  instruction: 'VMLAUNCH' | 'VMRESUME' | 'VMRUN';
  failed: string[] | null;
  rip: bigint;
  /** The guest step at the entry. */
  at: number;
  events: TraceEvent[];
}

export class HvMachine {
  readonly inner: Machine;
  readonly technique: HvTechnique;
  readonly vendor: 'intel' | 'amd';
  readonly backend: VmxBackend | SvmBackend | TeBackend | PvBackend;
  readonly hypervisor: Hypervisor;
  readonly ledger: Ledger;
  readonly preset: Preset;
  /** Under paravirtualization: the kernel version the scenario named (null otherwise). */
  readonly pvKernel: 'paravirtualized' | 'unmodified' | null;
  /** The trace sink, as set by setTrace (null: tracing off). */
  trace: TraceSink | null = null;
  /** Exits with what followed each (append-only; a restore starts a fresh copy of the prefix). */
  records: HvExitRecord[] = [];
  /** What the guest wrote to its UART and through the print hypercall, in order. */
  console = '';
  /** How the VM ended, or null while it can run. */
  ended: HvEnd | null = null;
  /** Steps the VM had retired when it ended. */
  endStep: number | null = null;
  /** The step of the last exit (the step a following entry belongs to). */
  private entryStep: number;
  private vmSink: TraceSink | null = null;
  private vmKinds: ReadonlySet<TraceKind> | null = null;
  private roundTrip = 0;
  /** An exit was handled and the guest resumes: the next entry completes its record. */
  private awaiting = false;
  /** The step of the last entry. */
  private enteredAt = 0;
  /** An entry a handler made for one instruction (see `HeldEntry`), reported after its exit. */
  private held: HeldEntry | null = null;

  constructor(inner: Machine, opts: HvMachineOptions) {
    // Paravirtualization is priced as trap-and-emulate is (runPv's default: the Pentium 4 of Xen's first years).
    const p = presetFor(opts.technique === 'pv' ? 'trap-emulate' : opts.technique, opts.preset);
    if (typeof p === 'string') throw new RangeError(p);
    this.inner = inner;
    this.technique = opts.technique;
    this.pvKernel = opts.technique === 'pv' ? (opts.pvKernel ?? 'paravirtualized') : null;
    // The software techniques run on any processor: the vendor is the cost preset's.
    this.vendor = opts.technique === 'svm' ? 'amd' : opts.technique === 'trap-emulate' || opts.technique === 'bt' || opts.technique === 'pv' ? p.vendor : 'intel';
    this.preset = p;
    const cpu = inner.cpu;
    const ledger = new Ledger(p);
    this.ledger = ledger;
    const exits = opts.exits ?? {};
    const intercepts: SvmIntercepts = { exceptions: exits.exceptions ?? DEFAULT_EXCEPTION_INTERCEPTS, msrs: SHADOW_MSRS };
    // The options of the nested-paging and optional-exits work (backend `nested`, `exits`) ride
    // along: a backend that does not know them yet ignores them.
    const extra = {
      ...(opts.nestedPaging !== undefined ? { nested: opts.nestedPaging } : {}), exits,
      ...(opts.tlbTags !== undefined ? { tlbTags: opts.tlbTags } : {}),
      ...(opts.guestRam !== undefined ? { guestRam: { size: opts.guestRam, hpaBase: 0 } } : {}),
      ...(opts.shadowPool !== undefined ? { shadowPool: opts.shadowPool } : {}),
      ...(opts.nestedPageSize !== undefined ? { nestedPageSize: opts.nestedPageSize } : {}),
    };
    if ((opts.technique === 'trap-emulate' || opts.technique === 'bt') && (opts.guestRam === undefined || opts.shadowPool === undefined)) throw new RangeError('trap-and-emulate: the guest\u2019s RAM size and the shadow pool are needed (the monitor always shadows)');
    if (opts.technique === 'pv' && opts.guestRam === undefined) throw new RangeError('pv: the domain\u2019s RAM size is needed');
    this.backend = opts.technique === 'svm'
      ? new SvmBackend(cpu, { area: opts.area, ledger, intercepts, ...extra })
      : opts.technique === 'pv'
        ? new PvBackend(cpu, { area: opts.area, ledger, guestRam: { size: opts.guestRam!, hpaBase: 0 }, vendor: p.vendor })
      : opts.technique === 'trap-emulate'
        ? new TeBackend(cpu, { area: opts.area, ledger, shadowPool: opts.shadowPool!, guestRam: { size: opts.guestRam!, hpaBase: 0 }, vendor: p.vendor })
        // Binary translation: the area is BT_AREA_SIZE (the monitor's structures and the translation cache), the shadow pool after it.
        : opts.technique === 'bt'
        ? new BtBackend(cpu, { area: opts.area, ledger, shadowPool: opts.shadowPool!, guestRam: { size: opts.guestRam!, hpaBase: 0 }, vendor: p.vendor })
        : new VmxBackend(cpu, { area: opts.area, ledger, intercepts, ...extra });
    if (this.backend instanceof SvmBackend && cpu.cpl() !== 0) {
      // The SVM backend keeps the built state as the host's; a guest that starts in ring 3 would
      // leave the host there, and VMRUN needs CPL 0: the host's CS and SS become ring 0 (RPL and
      // DPL cleared). The host runs no instructions of its own; VM_HSAVE keeps this state.
      for (const i of [1, 2]) {
        const c = cpu.state.seg[i]!;
        c.selector &= ~3;
        c.attr &= ~(3 << SegAttr.DPL_SHIFT);
      }
      cpu.modeChanged();
    }
    const machineIo = cpu.io;
    const uart = inner.uartPort;
    const ports: PortHandler = {
      portIn: (port, size) => machineIo.portIn(port, size),
      portOut: (port, size, value) => {
        if (port === uart && size === 1) this.console += String.fromCharCode(value & 0xff);
        machineIo.portOut(port, size, value);
      },
    };
    const vendor = cpu.state.vendor;
    const features = cpu.features;
    this.hypervisor = new Hypervisor({
      backend: this.backend, ledger,
      cpuid: (leaf, sub) => cpuid(vendor, leaf, sub, features),
      ports,
      // Guest-physical addresses outside its RAM reach the machine's MMIO handler (through nested
      // page faults or EPT violations with nested paging; directly without).
      mmio: inner.mem.mmio,
      msr: { read: (i) => readMsr(cpu, i), write: (i, lo, hi) => writeMsr(cpu, i, lo, hi) },
    });
    this.hypervisor.enterAtLimit = true;
    this.hypervisor.observer = (entry, end) => this.exited(entry, end);
    // The trap-and-emulate monitor makes no VM entry: its IRET back completes each trap's record (exited).
    if (!(this.backend instanceof TeBackend) && !(this.backend instanceof PvBackend)) this.backend.onEntry = (instr: 'VMLAUNCH' | 'VMRESUME' | 'VMRUN', failed: string[] | null) => this.entered(instr, failed);
    this.entryStep = cpu.state.steps;
    // The walk caches serve only the 2D walk: under shadow paging there is none to shorten.
    const wc = opts.walkCaches ?? {};
    if (this.backend.nested && (wc.pwc === true || wc.ntlb === true)) {
      cpu.mmu.walkCaches = { pwc: wc.pwc === true ? new PageWalkCache() : null, ntlb: wc.ntlb === true ? new NestedTlb() : null };
    }
  }

  get cpu(): Cpu {
    return this.inner.cpu;
  }

  get mem(): PhysMem {
    return this.inner.mem;
  }

  get mmu(): Mmu {
    return this.inner.mmu;
  }

  get devices(): DeviceState {
    return this.inner.devices;
  }

  set devices(d: DeviceState) {
    this.inner.devices = d;
  }

  get uartPort(): number {
    return this.inner.uartPort;
  }

  /** Whether the guest is in the CPU now (VMX non-root operation, SVM guest mode). */
  get guestLoaded(): boolean {
    // Under trap-and-emulate the guest's state stays in the processor (the monitor works on it in place).
    return this.backend instanceof TeBackend || this.backend instanceof PvBackend ? true : this.backend.loaded;
  }

  /** Runs until `maxSteps` more guest instructions have retired, or the VM ends. */
  run(maxSteps: number): RunEnd {
    if (this.ended !== null) return endOf(this.ended);
    // Nothing retires in a run of 0 steps, and nothing happens (the start stays before VMLAUNCH/VMRUN).
    if (maxSteps <= 0) return 'limit';
    const end = this.hypervisor.run(this.cpu.state.steps + maxSteps);
    if (end.kind === 'limit') return 'limit';
    this.ended = end;
    this.endStep = this.cpu.state.steps;
    this.emit({ kind: 'vm/end', step: this.entryStep, vm: 0, why: end.kind === 'hlt' ? 'hlt' : end.kind === 'shutdown' ? 'shutdown' : end.kind === 'hypercall-exit' ? 'hypercall-exit' : 'error', detail: endDetail(end) });
    return endOf(end);
  }

  setTrace(sink: TraceSink | null, kinds?: Iterable<TraceKind>): void {
    const ks = kinds === undefined ? null : [...kinds];
    this.trace = sink;
    // The CPU's events pass through here so that those of a handler's one-instruction run can be held back (HeldEntry).
    this.inner.setTrace(sink === null ? null : { emit: (e) => (this.held !== null ? this.held.events.push(e) : sink.emit(e)) }, ks ?? undefined);
    const vm = ks === null ? VM_KINDS : VM_KINDS.filter((k) => ks.includes(k));
    this.vmSink = sink !== null && vm.length > 0 ? sink : null;
    this.vmKinds = new Set(vm);
  }

  snapshot(): HvMachineSnapshot {
    const cpu = this.cpu;
    const b = this.backend;
    const unit: VmxState | Fields | null = b instanceof VmxBackend ? b.vmx.save() : b instanceof SvmBackend ? deepCopy(b.svm.svm) as unknown as Fields : null;
    const hv: HvState = {
      backend: captureFields(b),
      // The shadow MMU's state (shadow.ts): roots, leaves, reverse maps, counters (its host hooks are references).
      shadow: b.shadow != null ? captureFields(b.shadow, ['host', 'guestMem']) : null,
      hyper: captureFields(this.hypervisor, ['log', 'opts']),
      unit,
      monitor: cpu.guest === null ? null : cloneMonitor(cpu.guest),
      nested: cpu.nestedTranslator(),
      pwc: cpu.mmu.walkCaches?.pwc != null ? captureFields(cpu.mmu.walkCaches.pwc) : null,
      ntlb: cpu.mmu.walkCaches?.ntlb != null ? captureFields(cpu.mmu.walkCaches.ntlb) : null,
      cpuExit: deepCopy(cpu.exit),
      cpuVectoring: deepCopy(cpu.guestVectoring),
      ledger: this.ledger.data(),
      log: this.hypervisor.log,
      logLength: this.hypervisor.log.length,
      records: this.records,
      recordsLength: this.records.length,
      own: { console: this.console, ended: deepCopy(this.ended), endStep: this.endStep, entryStep: this.entryStep, roundTrip: this.roundTrip, awaiting: this.awaiting, enteredAt: this.enteredAt },
    };
    return { ...this.inner.snapshot(), hv };
  }

  restore(snap: MachineSnapshot): void {
    this.held = null;
    const s = (snap as HvMachineSnapshot).hv;
    if (s === undefined) throw new Error('HvMachine.restore: not a checkpoint of a hypervisor machine');
    const cpu = this.cpu;
    const b = this.backend;
    // Before the CPU's state: setNested flushes the TLB and the fast translation cache, which the
    // checkpoint restores (after it, a replay would miss where the run it repeats had hit).
    if (cpu.nestedTranslator() !== s.nested) cpu.setNested(s.nested);
    this.inner.restore(snap);
    restoreFields(b, s.backend);
    if (b.shadow != null && s.shadow !== null) restoreFields(b.shadow, s.shadow);
    restoreFields(this.hypervisor, s.hyper);
    if (b instanceof VmxBackend) b.vmx.restore(s.unit as VmxState);
    else if (b instanceof SvmBackend) Object.assign(b.svm.svm, deepCopy(s.unit));
    const wc = cpu.mmu.walkCaches;
    if (wc?.pwc != null && s.pwc !== null) restoreFields(wc.pwc, s.pwc);
    if (wc?.ntlb != null && s.ntlb !== null) restoreFields(wc.ntlb, s.ntlb);
    const mon = s.monitor === null ? null : cloneMonitor(s.monitor);
    cpu.guest = mon as Cpu['guest'];
    if (b instanceof SvmBackend) setActiveMonitor(b.svm, (mon ?? undefined) as SvmMonitor | undefined);
    cpu.exit = deepCopy(s.cpuExit) as Cpu['exit'];
    cpu.guestVectoring = deepCopy(s.cpuVectoring) as Cpu['guestVectoring'];
    this.ledger.restore(s.ledger);
    (this.hypervisor as { log: HvLogEntry[] }).log = s.log.slice(0, s.logLength);
    this.records = s.records.slice(0, s.recordsLength);
    if (b instanceof TeBackend || b instanceof PvBackend) this.pvSeen = this.records.filter((r) => r.hypercall !== undefined).length;
    const o = s.own as { console: string; ended: HvEnd | null; endStep: number | null; entryStep: number; roundTrip: number; awaiting: boolean; enteredAt: number };
    this.awaiting = o.awaiting;
    this.enteredAt = o.enteredAt;
    this.console = o.console;
    this.ended = deepCopy(o.ended);
    this.endStep = o.endStep;
    this.entryStep = o.entryStep;
    this.roundTrip = o.roundTrip;
  }

  /** The SVM monitor in the CPU, if any (tests). */
  svmMonitor(): SvmMonitor | undefined {
    return this.backend instanceof SvmBackend ? activeMonitor(this.backend.svm) : undefined;
  }

  /** A field of the control structure as it is in memory (no VMREAD, nothing logged or charged). */
  peek(name: string): bigint {
    const b = this.backend;
    if (b instanceof TeBackend || b instanceof PvBackend) throw new Error('no control structure under trap-and-emulate or paravirtualization: the monitor keeps the guest\u2019s state in software');
    if (b instanceof VmxBackend) {
      const read = b.vmx.currentReader();
      if (read === undefined) throw new Error('no current VMCS');
      return read(name);
    }
    const f = VMCB_FIELDS[name as VmcbField];
    if (f === undefined || f.kind !== 'int') throw new Error(`not an integer VMCB field: ${name}`);
    let v = 0n;
    for (let i = f.size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.mem.read8(b.vmcb.pa + f.offset + i));
    return v;
  }

  /** The encoding (VT-x) or offset (AMD-V) of a field, or null for state kept in software (`gpr.*`). */
  fieldKey(name: string): number | null {
    if (this.backend instanceof TeBackend || this.backend instanceof PvBackend) return null;
    if (this.backend instanceof VmxBackend) return fieldByName(name)?.field.encoding ?? null;
    const f = VMCB_FIELDS[name as VmcbField];
    if (f !== undefined) return f.offset;
    // Sub-fields such as save.cs.attrib: the segment's offset plus the attribute's place (2).
    const m = /^(save\.[a-z]+)\.attrib$/.exec(name);
    const seg = m === null ? undefined : VMCB_FIELDS[m[1] as VmcbField];
    return seg === undefined ? null : seg.offset + 2;
  }

  private emit(e: TraceEvent): void {
    if (this.vmSink !== null && this.vmKinds!.has(e.kind)) this.vmSink.emit(e);
  }

  /** The sum of every exit's round-trip cycles in the ledger. */
  private roundTripTotal(): number {
    let n = 0;
    for (const t of Object.values(this.ledger.data().exits)) n += t.roundTripCycles;
    return n;
  }

  private exited(entry: HvLogEntry, end: HvEnd | null): void {
    const step = entry.step ?? this.cpu.state.steps;
    // The guest's native steps since the entry, whichever run calls they were split across (the
    // hypervisor counts them within one call of its loop).
    entry.guestSteps = step - this.enteredAt;
    this.entryStep = step;
    const info: Record<string, bigint> = {};
    const te = this.backend instanceof TeBackend || this.backend instanceof PvBackend;
    if (this.backend instanceof VmxBackend) for (const f of VMX_EXIT_INFO_FIELDS) info[f] = this.peek(f);
    else if (this.backend instanceof SvmBackend) for (const f of SVM_EXIT_INFO_FIELDS) info[f] = this.peek(f);
    else Object.assign(info, entry.raw);
    const record: HvExitRecord = { log: entry, entry: null, cycles: 0, info };
    this.records.push(record);
    // The print hypercall's character joins the UART's output in the console.
    const hc = this.hypervisor.console;
    if (entry.kind === 'hypercall' && entry.note.startsWith('print ')) this.console += hc.slice(-1);
    if (this.backend instanceof PvBackend) {
      // A hypercall's record is the backend's newest log entry (its console_io text joins the console).
      const log = this.backend.hypercallLog;
      const last = log[log.length - 1];
      if (entry.kind === 'hypercall' && last !== undefined && last.n === this.pvSeen) {
        record.hypercall = last;
        record.pvDetail = decodeHypercall(last, this.backend.memory());
        this.pvSeen++;
      }
      this.console = this.backend.console;
    }
    if (te) {
      this.trapExited(record, entry, step, end);
      return;
    }
    const held = this.held;
    this.held = null;
    if (end !== null) record.cycles = this.roundTripTotal() - this.roundTrip;
    this.awaiting = end === null && held === null;
    if (held !== null) {
      // The handler's own entry completes this record (its cycles include the one-instruction run's entry).
      const total = this.roundTripTotal();
      record.entry = held.instruction;
      if (end === null) record.cycles = total - this.roundTrip;
      this.roundTrip = total;
      this.enteredAt = held.at;
    }
    if (this.vmSink === null) {
      // No vm/… events wanted, but the held run's CPU events may be.
      if (held !== null) for (const e of held.events) this.trace?.emit(e);
      return;
    }
    this.emit({ kind: 'vm/exit', step, vm: 0, vendor: this.vendor, code: entry.code, name: entry.name, rip: entry.rip, info: { ...info } });
    for (const a of entry.accesses) this.emit({ kind: 'vm/field', step, vm: 0, op: a.op, field: a.field, key: this.fieldKey(a.field), value: a.value });
    this.emit({ kind: 'vm/handle', step, vm: 0, action: entry.action, note: entry.note });
    if (held !== null) {
      this.emit({ kind: 'vm/entry', step, vm: 0, vendor: this.vendor, instruction: held.instruction, rip: held.rip, ...(held.failed !== null ? { failed: held.failed } : {}) });
      for (const e of held.events) this.trace?.emit(e);
    }
  }

  /**
   * A trap of the trap-and-emulate monitor: the ledger keeps no per-exit round trips for it (no VM
   * exit is charged), so a trap's cycles are what the monitor's side of the ledger (everything but
   * the guest's own instructions and page walks) grew by since the last trap: the fault, the
   * monitor's path, the handler, its shadow updates and the IRET. The IRET back to the guest is
   * the record's entry unless the VM ended; its events follow the handler's at the trap's step.
   */
  private trapExited(record: HvExitRecord, entry: HvLogEntry, step: number, end: HvEnd | null): void {
    // What trapped: the cause the monitor counted for this exit (its names: cli, out, mov cr3, #PF);
    // under paravirtualization a hypercall is labelled with its name.
    const label = record.hypercall?.name ?? entry.cause ?? entry.name;
    // The ring it came from: the CPL is still the trapping code's once the handler is done (an
    // emulated instruction stays in its ring; a reflected exception is delivered at the next entry).
    record.trap = { label, insn: this.insnAt(entry.rip), from: this.cpu.cpl() };
    const total = this.monitorCycles();
    record.cycles = total - this.roundTrip;
    this.roundTrip = total;
    record.entry = end === null ? 'IRET' : null;
    this.enteredAt = step;
    if (this.vmSink === null) return;
    this.emit({ kind: 'vm/exit', step, vm: 0, vendor: this.vendor, code: entry.code, name: entry.name, rip: entry.rip, info: { ...record.info }, trap: true, label, insn: record.trap.insn, from: record.trap.from });
    this.emit({ kind: 'vm/handle', step, vm: 0, action: entry.action, note: entry.note });
    if (end === null) this.emit({ kind: 'vm/entry', step, vm: 0, vendor: this.vendor, instruction: 'IRET', rip: this.backend.rip() });
  }

  /** Paravirtualization: the hypercalls the records hold (derived from the records on restore). */
  private pvSeen = 0;

  /** The guest's instruction at CS:`rip`, read through its own translation as the monitor reads it (null if unmapped or undecodable). */
  private insnAt(rip: bigint): string | null {
    const b = this.backend as TeBackend | PvBackend;
    const cs = this.cpu.state.seg[1]!;
    const lin = (cs.baseLo + Number(rip & 0xffffffffn)) >>> 0;
    const r = decode((i) => b.readGuest(lin + i, 1) ?? -1, (cs.attr & SegAttr.DB) !== 0 ? 32 : 16);
    return r.kind === 'ok' ? formatInsn(r.insn, Number(rip & 0xffffffffn)) : null;
  }

  /** The ledger's cycles outside the guest's own instructions and page walks (trap-and-emulate's monitor). */
  private monitorCycles(): number {
    const d = this.ledger.data();
    return d.cycles - (d.byKind['guest-insn']?.cycles ?? 0) - (d.byKind['page-walk-ref']?.cycles ?? 0);
  }

  private entered(instruction: 'VMLAUNCH' | 'VMRESUME' | 'VMRUN', failed: string[] | null): void {
    if (this.backend.inHandler === true) {
      // A handler enters the guest for one instruction: reported, with that run's events, once the exit is (exited).
      // A retried run (runOnce opens another page and runs the instruction again) continues the same held entry.
      if (this.held !== null) return;
      const rip = this.backend instanceof VmxBackend ? this.peek('GUEST_RIP') : this.peek('save.rip');
      this.held = { instruction, failed, rip, at: this.cpu.state.steps, events: [] };
      return;
    }
    const total = this.roundTripTotal();
    const last = this.records[this.records.length - 1];
    if (this.awaiting && last !== undefined) {
      last.entry = instruction;
      last.cycles = total - this.roundTrip;
    }
    this.awaiting = false;
    this.roundTrip = total;
    this.enteredAt = this.cpu.state.steps;
    if (this.vmSink === null) return;
    const rip = this.backend instanceof VmxBackend ? this.peek('GUEST_RIP') : this.peek('save.rip');
    this.emit({ kind: 'vm/entry', step: this.entryStep, vm: 0, vendor: this.vendor, instruction, rip, ...(failed !== null ? { failed } : {}) });
  }

  /**
   * The guest's final state for `lab run` (nothing logged or charged): its registers as the
   * machine's result names them, its CPL, and the hypervisor's figures as `exec --under` prints them.
   */
  guestResult(): { regs: Record<string, U64Json>; cpl: number; hv: HvJson } {
    const b = this.backend;
    const r = b.report();
    const j = (v: bigint): U64Json => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());
    const regs: Record<string, U64Json> = {};
    for (const name of REG_ORDER) regs[name] = j(r.gpr[GPR_NAMES.indexOf(name)]!);
    regs.rip = j(r.rip);
    regs.rflags = j(r.rflags & 0xffffffffn);
    regs.cr0 = j(r.cr0 & 0xffffffffn);
    regs.cr3 = j(r.cr3);
    regs.cr4 = j(r.cr4 & 0xffffffffn);
    const st = this.cpu.state;
    const vmx = b instanceof VmxBackend;
    if (b instanceof TeBackend || b instanceof PvBackend) {
      // The guest's state is the processor's, except what the monitor keeps for it: EFER, and its ring 0 run in ring 1.
      regs.cr2 = j((BigInt(st.cr2Hi >>> 0) << 32n) | BigInt(st.cr2Lo >>> 0));
      regs.efer = j(b.efer());
      return { regs, cpl: b.cpl(), hv: this.hvJson() };
    }
    const loaded = b.loaded;
    regs.cr2 = j(vmx || loaded ? (BigInt(st.cr2Hi >>> 0) << 32n) | BigInt(st.cr2Lo >>> 0) : this.peek('save.cr2'));
    const efer = loaded ? BigInt(st.efer >>> 0) : this.peek(vmx ? 'GUEST_IA32_EFER' : 'save.efer');
    regs.efer = j(vmx ? efer : efer & ~0x1000n);
    const cpl = loaded ? this.cpu.cpl() : vmx ? Number((this.peek('GUEST_SS_AR_BYTES') >> 5n) & 3n) : Number(this.peek('save.cpl'));
    return { regs, cpl, hv: this.hvJson() };
  }

  /** The hypervisor's figures as `exec --under` prints them. */
  private hvJson(): HvJson {
    const st = this.cpu.state;
    const data = this.ledger.data();
    const byKind: HvJson['cost']['byKind'] = {};
    for (const k of COST_KIND_IDS) {
      const t = data.byKind[k];
      if (t !== undefined) byKind[k] = { count: t.count, cycles: t.cycles };
    }
    const hv: HvJson = {
      under: this.technique,
      nested: this.backend.nested,
      paging: this.backend.nested ? 'nested' : 'shadow',
      ...(this.backend.shadow != null ? { shadow: { ...this.backend.shadow.stats } } : {}),
      steps: st.steps,
      exits: Object.fromEntries([...this.hypervisor.counts].map(([name, c]) => [name, { code: c.code, count: c.count }])),
      exitTotal: this.hypervisor.exitCount,
      cost: { preset: this.preset.id, vendor: this.preset.vendor, cycles: data.cycles, byKind, byWork: { ...data.byWork } as HvJson['cost']['byWork'] },
      tlb: tlbJson(this.inner.mmu, this.backend.tlbTags),
    };
    if (this.backend instanceof PvBackend) {
      hv.traps = Object.fromEntries([...this.backend.traps].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      hv.paging = 'direct';
    }
    if (this.backend instanceof TeBackend) hv.traps = Object.fromEntries([...this.backend.traps].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    if (this.backend instanceof BtBackend) hv.bt = { ...this.backend.stats, callouts: { ...this.backend.stats.callouts }, cacheBlocks: this.backend.blocks.size };
    if (this.console !== '') hv.console = this.console;
    if (this.ended?.kind === 'hypercall-exit') hv.exitCode = this.ended.code;
    return hv;
  }
}

function endOf(e: HvEnd): RunEnd {
  return e.kind === 'shutdown' || e.kind === 'error' ? 'shutdown' : 'hlt';
}

function endDetail(e: HvEnd): string {
  switch (e.kind) {
    case 'hlt': return 'halted with no interrupt that can wake it';
    case 'shutdown': return 'triple fault';
    case 'hypercall-exit': return `exit hypercall with code ${e.code}`;
    case 'error': return e.why;
    case 'limit': return 'step limit';
    // The multi-VM host's ends of a run (host.ts); this machine's one VM runs without them.
    case 'idle': return 'idle until an interrupt';
    case 'preempted': return 'time slice over';
  }
}

// Scenarios with a technique build this machine (scenario/build.ts): loading this module provides it,
// and the PV kernels a 'pv' scenario is validated with.
useHypervisor((guest, opts) => new HvMachine(guest, opts));
if (KERNEL_LOAD !== PV_KERNEL_LOAD) throw new Error('scenario/validate.ts: PV_KERNEL_LOAD is not hv/pv/kernel.ts KERNEL_LOAD');
usePvKernels(kernelSource);
