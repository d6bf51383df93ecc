/**
 * The engine side of the lab: one scenario's Machine under a Timeline, answering the protocol's
 * calls deterministically. Pure TypeScript (no DOM, no worker API): lab.worker.ts runs it in a
 * worker, InThreadClient calls it directly.
 */
import { formatInsn } from '../emu/asm/disasm.ts';
import { walk } from '../emu/mmu/walk.ts';
import type { EntryMemory } from '../emu/mmu/types.ts';
import { decode } from '../emu/cpu/decode.ts';
import { REG_NAMES } from '../emu/cpu/state.ts';
import type { Machine } from '../emu/machine/machine.ts';
import { PAGE_SIZE } from '../emu/mem/physmem.ts';
import { buildScenario } from '../emu/scenario/build.ts';
import { loadScenario } from '../emu/scenario/migrate.ts';
import { ArraySink, TRACE_KINDS, type TraceEvent, type TraceKind } from '../emu/trace/events.ts';
import { Timeline } from '../emu/trace/timeline.ts';
import { linearRip, parseBreakpoints, runToBreakpoint } from './breakpoints.ts';
import { MARK_KINDS, MarkIndex } from '../emu/trace/marks.ts';
import {
  MAX_MARKS_LIMIT, MAX_VIEW_EVENTS, VIEW_REGS,
  type DisasmRow, type EndReason, type Json, type LabRequest, type LabResponse, type LoadResult, type MachineView,
  type MarksView, type RunMatch, type RunUntilView, type ViewReg, type ViewState,
} from './protocol.ts';
import { stepWalks } from './walks.ts';
import { makeExercise } from './exercise.ts';
import { runCompare, runIoInterrupts, runIoWays, runPair, runTechniques } from './compare.ts';
import type { PairHolder } from './pair.ts';
import type { VmView } from './vm-types.ts';
import type { StepTwoD } from './twod-types.ts';
import type { StepShadow } from './shadow-types.ts';
import type { StepIo } from './io-types.ts';
import type { DmaStepIndex } from './dma-index.ts';
import { CONTAINER_KERNEL_MARK, type StepContainers } from './containers-types.ts';

let hvPart: typeof import('./hv-part.ts') | null = null;
let containersPart: typeof import('./containers-part.ts') | null = null;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Whether loading `scenario` needs the hypervisor's chunk and it has not loaded yet. */
export function needsHypervisor(scenario: unknown): boolean {
  return hvPart === null && isObject(scenario) && typeof scenario.technique === 'string';
}

/** Whether `scenario` runs the container kernel without a technique (its source's first line says so) and the containers' chunk has not loaded yet. */
export function needsContainers(scenario: unknown): boolean {
  if (containersPart !== null || !isObject(scenario) || scenario.technique !== undefined || !isObject(scenario.kernel)) return false;
  const src = scenario.kernel.source;
  return typeof src === 'string' && src.startsWith(CONTAINER_KERNEL_MARK);
}

/** Whether a `load` of `scenario` must wait for prepareLoad. */
export function needsPart(scenario: unknown): boolean {
  return needsHypervisor(scenario) || needsContainers(scenario);
}

/**
 * Loads the hypervisor's chunk (hv-part.ts) when `scenario` has a technique, and the containers'
 * (containers-part.ts) when it runs the container kernel (a no-op otherwise or once loaded): the
 * worker's handler and the in-thread client await it before a `load`.
 */
export async function prepareLoad(scenario: unknown): Promise<void> {
  if (needsHypervisor(scenario)) hvPart = await import('./hv-part.ts');
  if (needsContainers(scenario)) containersPart = await import('./containers-part.ts');
}

/** Kinds collected unless the page asks otherwise: all but the TLB-path ones (tlb/lookup, mmu/walk, tlb/fill), which are many per step. */
export const DEFAULT_TRACE_KINDS: readonly TraceKind[] = TRACE_KINDS.filter((k) => k !== 'tlb/lookup' && k !== 'mmu/walk' && k !== 'tlb/fill');

/** Kinds whose tracing perturbs the TLB path (see Timeline.setTrace). */
const TLB_PATH: readonly TraceKind[] = ['tlb/lookup', 'mmu/walk', 'tlb/fill'];

/** Instructions disassembled from RIP on. */
export const DISASM_LINES = 8;
/** Steps one call may take forward (step n, runUntil's budget). */
export const MAX_CALL_STEPS = 50_000_000;

export interface SessionOptions {
  /** Steps between the timeline's checkpoints (default 1000: going back replays at most that many). */
  interval?: number;
}

function hex64(lo: number, hi: number): string {
  return `0x${(hi >>> 0).toString(16).padStart(8, '0')}${(lo >>> 0).toString(16).padStart(8, '0')}`;
}

function hex16(v: number): string {
  return `0x${(v & 0xffff).toString(16).padStart(4, '0')}`;
}

function checkCount(what: string, v: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} must be an integer 0..${max}, got ${String(v)}`);
  return v;
}

function checkKinds(kinds: readonly TraceKind[]): TraceKind[] {
  if (!Array.isArray(kinds)) throw new TypeError('kinds must be an array of trace kinds');
  for (const k of kinds) if (!(TRACE_KINDS as readonly string[]).includes(k)) throw new RangeError(`unknown trace kind ${JSON.stringify(k)}`);
  return [...new Set(kinds)];
}

/** runUntil's test for RunMatch (protocol.ts): the kinds asked for, narrowed by exit code and vector. */
function matchTest(kinds: readonly TraceKind[], match: RunMatch): (e: TraceEvent) => boolean {
  const { exitCodes: codes, vectors } = match;
  for (const v of [codes, vectors]) if (v !== undefined && !(Array.isArray(v) && v.every(Number.isInteger))) throw new TypeError('match.exitCodes and match.vectors must be arrays of integers');
  return (e) =>
    kinds.includes(e.kind) &&
    (e.kind === 'vm/exit' ? codes?.includes(e.code) ?? true : e.kind === 'cpu/exception' ? vectors?.includes(e.vector) ?? true : true);
}

/** The architectural state a view shows; reads only (no side effects on the machine). */
export function machineView(m: Machine): MachineView {
  const s = m.cpu.state;
  const regs = {} as Record<ViewReg, string>;
  REG_NAMES.forEach((name, i) => {
    regs[name] = hex64(s.regLo[i]!, s.regHi[i]!);
  });
  regs.rip = hex64(s.ripLo, s.ripHi);
  regs.rflags = hex64(s.rflags, 0);
  regs.cr0 = hex64(s.cr0, 0);
  regs.cr2 = hex64(s.cr2Lo, s.cr2Hi);
  regs.cr3 = hex64(s.cr3Lo, s.cr3Hi);
  regs.cr4 = hex64(s.cr4, 0);
  regs.efer = hex64(s.efer, 0);
  regs.cs = hex16(s.seg[1]!.selector);
  regs.ss = hex16(s.seg[2]!.selector);
  const { rows, stop } = disasmAtRip(m);
  return {
    cpl: m.cpu.cpl(),
    mode: m.cpu.mode(),
    paging: m.cpu.pctl.mode,
    regs,
    halted: s.halted,
    shutdown: s.shutdown,
    // The hypervisor's machine is stopped once its VM has ended (the CPU then holds the host).
    stopped: m.cpu.stuck() || ((m as { ended?: unknown }).ended ?? null) !== null,
    disasm: rows,
    disasmStop: stop,
    tlb: m.mmu.tlb.entries(),
    tlbStats: { hits: m.mmu.tlb.hits, misses: m.mmu.tlb.misses, flushes: m.mmu.tlb.flushes, invalidated: m.mmu.tlb.invalidated },
    uart: m.devices.uartOut,
  };
}

/**
 * Code bytes from CS.base + RIP, translated page by page with the MMU's side-effect-free probe
 * (a fetch at the current CPL) and read from RAM pages only (no MMIO read, no A/D bit written).
 */
function disasmAtRip(m: Machine): { rows: DisasmRow[]; stop: string | null } {
  const s = m.cpu.state;
  const lin = linearRip(m);
  const want = DISASM_LINES * 15;
  const bytes: number[] = [];
  let stop: string | null = null;
  const user = m.cpu.cpl() === 3;
  // Several VMs: the guest's physical addresses (its page tables' and its code's) lie in the
  // current VM's range of host RAM (HostMachine.hostPhysical); the walk reads through that.
  const host = (m as { hostPhysical?: (gpa: number) => number | null }).hostPhysical?.bind(m);
  const entries: EntryMemory | null = host === undefined ? null : {
    read: (pa, size) => {
      const h = host(pa);
      return h === null ? 0 : m.mem.read(h, size);
    },
    write: () => {},
  };
  while (bytes.length < want) {
    const a = BigInt.asUintN(64, lin + BigInt(bytes.length));
    const lo = Number(a & 0xffffffffn);
    const hi = Number(a >> 32n);
    let pa: number;
    if (m.cpu.pctl.mode === 'none') pa = lo;
    else {
      const access = { write: false, fetch: true, user };
      const w = entries === null ? m.mmu.probe(m.cpu.pctl, lo, hi, access) : walk(entries, m.cpu.pctl, lo, hi, access, false);
      if (!w.ok) {
        stop = `no translation for a fetch at ${hex64(lo, hi)} (#PF error code 0x${w.fault.errorCode.toString(16)} at the ${w.fault.level})`;
        break;
      }
      pa = w.pa;
    }
    if (host !== undefined) {
      const hpa = host(pa);
      if (hpa === null) {
        stop = `no RAM of this VM at guest-physical 0x${pa.toString(16)}`;
        break;
      }
      pa = hpa;
    }
    const page = m.mem.pageForRead(pa);
    if (page === undefined) {
      stop = `no RAM at physical 0x${pa.toString(16)}`;
      break;
    }
    const off = pa % PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - off, want - bytes.length);
    for (let i = 0; i < n; i++) bytes.push(page[off + i]!);
  }
  const rows: DisasmRow[] = [];
  let off = 0;
  while (rows.length < DISASM_LINES && off < bytes.length) {
    const base = off;
    const r = decode((i) => (base + i < bytes.length ? bytes[base + i]! : -1), m.cpu.decodeMode);
    // The bytes fetched may cut the last instruction short (an unmapped page follows): stop there.
    if (r.kind === 'fetch-fault') break;
    const length = r.kind === 'ok' ? r.insn.length : 1;
    const a = BigInt.asUintN(64, lin + BigInt(base));
    const ip = { lo: Number(a & 0xffffffffn), hi: Number(a >> 32n) };
    const hexBytes: string[] = [];
    for (let k = 0; k < length; k++) hexBytes.push(bytes[base + k]!.toString(16).padStart(2, '0'));
    rows.push({
      address: hex64(ip.lo, ip.hi),
      bytes: hexBytes.join(' '),
      text: r.kind === 'ok' ? formatInsn(r.insn, ip) : '(bad)',
      current: base === 0,
    });
    off += length;
  }
  return { rows, stop };
}

function changedRegs(prev: MachineView | null, next: MachineView): ViewReg[] {
  if (prev === null) return [];
  return VIEW_REGS.filter((r) => prev.regs[r] !== next.regs[r]);
}

class BoundedSink extends ArraySink {
  dropped = 0;
  override emit(e: TraceEvent): void {
    super.emit(e);
    if (this.events.length > 2 * MAX_VIEW_EVENTS) {
      this.dropped += this.events.length - MAX_VIEW_EVENTS;
      this.events.splice(0, this.events.length - MAX_VIEW_EVENTS);
    }
  }
  take(): { events: TraceEvent[]; dropped: number } {
    const extra = Math.max(0, this.events.length - MAX_VIEW_EVENTS);
    return { events: this.events.slice(extra), dropped: this.dropped + extra };
  }
}

interface Loaded {
  machine: Machine;
  timeline: Timeline;
  /** The run's notable events, fed by the timeline's frontier. */
  marks: MarkIndex;
  /** The steps of the run's DMA requests (ViewState.io), fed by the frontier too; null while the hypervisor's chunk is not loaded (no device can exist). */
  dma: DmaStepIndex | null;
  /** The steps of the run's interrupt messages, the same way. */
  msi: DmaStepIndex | null;
  /** marksVersion = marksBase + marks.version: it never repeats across loads. */
  marksBase: number;
  /** The scenario's name and mode (for ViewState.vm's VM). */
  name: string;
  mode: 'prot32' | 'long64';
  /** The kernel's labels, for a scenario without a technique (ViewState.containers); null with one. */
  labels: ReadonlyMap<string, number> | null;
}

export class LabSession {
  private cur: Loaded | null = null;
  private kinds: TraceKind[] = [...DEFAULT_TRACE_KINDS];
  private prev: MachineView | null = null;
  private readonly interval: number;
  /** The side-by-side pair's machines (worker/pair.ts), apart from this session's. */
  private readonly pair: PairHolder;

  constructor(opts: SessionOptions = {}) {
    this.interval = opts.interval ?? 1000;
    this.pair = { session: null, interval: opts.interval };
  }

  get traceKinds(): readonly TraceKind[] {
    return this.kinds;
  }

  load(scenario: Json): LoadResult {
    const r = loadScenario(scenario);
    if (!r.ok) return { ok: false, errors: r.errors };
    const machine = buildScenario(r.loaded);
    const timeline = new Timeline(machine, { interval: this.interval });
    const marks = new MarkIndex();
    const pair = hvPart?.dmaFrontier(marks) ?? null;
    if (pair === null) timeline.setFrontier(marks, MARK_KINDS);
    else timeline.setFrontier(pair.sink, pair.kinds);
    const dma = pair?.index ?? null;
    const msi = pair?.msi ?? null;
    const marksBase = this.cur === null ? 0 : this.cur.marksBase + this.cur.marks.version + 1;
    const labels = r.loaded.scenario.technique === undefined ? r.loaded.kernel.labels : null;
    this.cur = { machine, timeline, marks, dma, msi, marksBase, name: r.loaded.scenario.name, mode: r.loaded.scenario.mode, labels };
    this.prev = null;
    const sc = r.loaded.scenario;
    return {
      ok: true,
      info: { name: sc.name, description: sc.description ?? '', maxSteps: r.loaded.maxSteps },
      view: this.view('loaded', { events: [], dropped: 0 }),
    };
  }

  /**
   * Steps forward up to `n` steps. With `breakpoints` (linear addresses), stops before an
   * instruction at one of them (not the one at the current step: see breakpoints.ts); the view
   * is then the one `goto` gives there, with end 'breakpoint'. Otherwise the same as without.
   */
  step(n: number, breakpoints?: readonly string[]): ViewState {
    const { timeline } = this.need();
    checkCount('step count', n, MAX_CALL_STEPS);
    if (breakpoints !== undefined) {
      const at = runToBreakpoint(timeline, parseBreakpoints(breakpoints), n);
      if (at !== null) return this.view('breakpoint', this.lastStepEvents());
    }
    const sink = new BoundedSink();
    timeline.setTrace(sink, this.kinds);
    let end: EndReason;
    try {
      end = timeline.step(n);
    } finally {
      timeline.setTrace(null);
    }
    this.settle();
    return this.view(end, sink.take());
  }

  back(k: number): ViewState {
    const { timeline } = this.need();
    checkCount('back count', k, Number.MAX_SAFE_INTEGER);
    timeline.back(k);
    return this.view('moved', this.lastStepEvents());
  }

  goto(step: number): ViewState {
    const { timeline } = this.need();
    checkCount('step', step, timeline.furthest + MAX_CALL_STEPS);
    timeline.goto(step);
    return this.view('moved', this.lastStepEvents());
  }

  runUntil(kinds: readonly TraceKind[], maxSteps: number, match?: RunMatch): RunUntilView {
    const { timeline } = this.need();
    const ks = checkKinds(kinds);
    if (ks.length === 0) throw new RangeError('runUntil needs at least one trace kind');
    checkCount('step budget', maxSteps, MAX_CALL_STEPS);
    const r = timeline.runUntil(match === undefined ? ks : { kinds: ks, test: matchTest(ks, match) }, maxSteps);
    return { view: this.view(r.end, this.lastStepEvents()), event: r.event };
  }

  setTraceKinds(kinds: readonly TraceKind[]): TraceKind[] {
    this.kinds = checkKinds(kinds);
    return [...this.kinds];
  }

  /** The marks of the run so far with from ≤ step ≤ to (see MarkIndex.query); moves nothing. */
  marks(from: number, to: number, limit: number, buckets: number): MarksView {
    const { timeline, marks, marksBase } = this.need();
    checkCount('from', from, Number.MAX_SAFE_INTEGER);
    checkCount('to', to, Number.MAX_SAFE_INTEGER);
    checkCount('limit', limit, MAX_MARKS_LIMIT);
    checkCount('buckets', buckets, MAX_MARKS_LIMIT);
    if (buckets < 1) throw new RangeError('buckets must be at least 1');
    if (from > to) throw new RangeError(`from (${from}) is after to (${to})`);
    const lo = Math.max(from, timeline.start);
    const hi = Math.min(to, timeline.furthest);
    return { ...marks.query(lo, Math.max(lo, hi), limit, buckets), version: marksBase + marks.version, furthest: timeline.furthest };
  }

  /** Answers one request; never throws (an exception becomes an error response). */
  handle(req: LabRequest): LabResponse {
    try {
      switch (req.type) {
        case 'load':
          return { kind: 'result', id: req.id, type: 'load', result: this.load(req.scenario) };
        case 'step':
          return { kind: 'result', id: req.id, type: 'step', result: this.step(req.n, req.breakpoints) };
        case 'back':
          return { kind: 'result', id: req.id, type: 'back', result: this.back(req.k) };
        case 'goto':
          return { kind: 'result', id: req.id, type: 'goto', result: this.goto(req.step) };
        case 'runUntil':
          return { kind: 'result', id: req.id, type: 'runUntil', result: this.runUntil(req.kinds, req.maxSteps, req.match) };
        case 'setTraceKinds':
          return { kind: 'result', id: req.id, type: 'setTraceKinds', result: this.setTraceKinds(req.kinds) };
        case 'marks':
          return { kind: 'result', id: req.id, type: 'marks', result: this.marks(req.from, req.to, req.limit, req.buckets) };
        case 'exercise':
          return { kind: 'result', id: req.id, type: 'exercise', result: makeExercise(req.spec) };
        case 'compare':
          return { kind: 'result', id: req.id, type: 'compare', result: runCompare(req.scenario) };
        case 'ioWays':
          return { kind: 'result', id: req.id, type: 'ioWays', result: runIoWays(req.under, req.frames, req.kind ?? 'nic') };
        case 'ioInterrupts':
          return { kind: 'result', id: req.id, type: 'ioInterrupts', result: runIoInterrupts(req.under, req.frames) };
        case 'techniques':
          return { kind: 'result', id: req.id, type: 'techniques', result: runTechniques(req.intel) };
        case 'pair':
          return { kind: 'result', id: req.id, type: 'pair', result: runPair(this.pair, req.op) };
        default: {
          const bad: { type?: unknown } = req;
          throw new TypeError(`unknown request type ${JSON.stringify(bad.type)}`);
        }
      }
    } catch (e) {
      const id = typeof req === 'object' && req !== null && typeof req.id === 'number' ? req.id : -1;
      return { kind: 'error', id, message: e instanceof Error ? e.message : String(e) };
    }
  }

  private need(): Loaded {
    if (this.cur === null) throw new Error('no scenario is loaded');
    return this.cur;
  }

  /** After a traced stretch on the TLB path, come back to the same step untraced (what goto gives). */
  private settle(): void {
    const { timeline } = this.need();
    if (!this.kinds.some((k) => TLB_PATH.includes(k))) return;
    const at = timeline.current;
    if (at <= timeline.start) return;
    timeline.goto(at - 1);
    timeline.goto(at);
  }

  /** The events of the step that led to the current one (replayed, traced), the machine left as it was. */
  private lastStepEvents(): { events: TraceEvent[]; dropped: number } {
    const { timeline } = this.need();
    const at = timeline.current;
    if (at <= timeline.start || this.kinds.length === 0) return { events: [], dropped: 0 };
    timeline.goto(at - 1);
    const sink = new BoundedSink();
    timeline.setTrace(sink, this.kinds);
    try {
      timeline.step(1);
    } finally {
      timeline.setTrace(null);
    }
    this.settle();
    return sink.take();
  }

  private view(end: EndReason, ev: { events: TraceEvent[]; dropped: number }): ViewState {
    const { timeline, machine, marks, marksBase } = this.need();
    const walks = stepWalks(timeline);
    const mv = machineView(machine);
    const changed = changedRegs(this.prev, mv);
    this.prev = mv;
    return {
      step: timeline.current, furthest: timeline.furthest, end, machine: mv, changed, events: ev.events, eventsDropped: ev.dropped,
      walks, marksVersion: marksBase + marks.version, vm: this.vm(), twod: this.twod(), shadow: this.shadow(), io: this.io(), containers: this.containers(),
    };
  }

  /** ViewState.containers: the container kernel's state (null for another program, or with a technique). */
  private containers(): StepContainers | null {
    const { machine, labels } = this.need();
    return containersPart !== null && labels !== null ? containersPart.containersView(machine, labels) : null;
  }

  /** ViewState.twod: the 2D walks of the step that led here (null without a technique, or when the step made none). */
  private twod(): StepTwoD | null {
    const { timeline, machine } = this.need();
    if (hvPart === null) return null;
    const m = machine as unknown;
    if (!(m instanceof hvPart.HvMachine) && !(m instanceof hvPart.HostMachine)) return null;
    return hvPart.stepTwoD(timeline);
  }

  /** ViewState.shadow: under shadow paging, the shadow MMU's work and tables (null otherwise). */
  private shadow(): StepShadow | null {
    const m = this.need().machine as unknown;
    return hvPart !== null && m instanceof hvPart.HvMachine ? hvPart.stepShadow(m) : null;
  }

  /** ViewState.io: a multi-VM host whose VMs have devices: the devices, the step's DMA requests through the IOMMU, the rings (null otherwise). */
  private io(): StepIo | null {
    const { machine, timeline, dma, msi } = this.need();
    const m = machine as unknown;
    return hvPart !== null && dma !== null && msi !== null && m instanceof hvPart.HostMachine ? hvPart.stepIo(m, timeline.current, dma, msi) : null;
  }

  /** ViewState.vm: the hypervisor's view at the current step (null for a scenario without a technique). */
  private vm(): VmView | null {
    const { timeline, machine, name, mode } = this.need();
    if (hvPart === null) return null;
    const hp = hvPart;
    const m = machine as unknown;
    if (!(m instanceof hp.HvMachine) && !(m instanceof hp.HostMachine)) return null;
    const at = timeline.current;
    let before: Map<string, string> | null = null;
    if (at > timeline.start) {
      // The fields at the step before, for `changed`; then back (the machine as goto leaves it).
      timeline.goto(at - 1);
      before = hp.vmFieldValues(m);
      timeline.goto(at);
    }
    return m instanceof hp.HostMachine ? hp.hostVmView(m, before) : hp.vmView(m, name, mode, before);
  }
}
