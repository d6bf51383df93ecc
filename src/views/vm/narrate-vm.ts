/**
 * The narration of the hypervisor's part of a step (vm/* trace events), in the reader's language:
 * loaded with the VM views and handed to the narration line (`NarrationInput.extra`), so the first
 * screen carries neither the sentences nor their strings. Plain TS (no DOM).
 */
import type { TraceEvent } from '../../emu/trace/events.ts';
import { translate, type Locale, type MessageKey } from '../../i18n/messages.ts';
import '../../i18n/parts/vm.ts';
import { fill, hex, type Segment } from '../shell/narrate.ts';
import { vmExitTitle } from '../../emu/hv/exit-names.ts';
import '../../i18n/parts/pv.ts';
import '../../i18n/parts/hosting.ts';
import type { VmPvView, VmTeView } from '../../worker/vm-types.ts';
import type { VmBtView } from '../../worker/bt-types.ts';
import { narrateBt } from '../bt/narrate-bt.ts';
import { translator } from '../cpu/text.ts';
import { didClause } from './pv-text.ts';

const code = (text: string): Segment => ({ text, code: true });
const plain = (text: string): Segment => ({ text });

/** An exit as the manuals name it (hv/exit-names.ts `vmExitTitle`); `name` is its identifier, kept when the code is unknown. */
export function exitManualName(vendor: 'intel' | 'amd', code: number, name: string): string {
  const t = vmExitTitle(vendor, code);
  return t.startsWith('exit reason ') ? name : t;
}

/**
 * The hypervisor's part of a step (vm/* events), or null when the step had none: a VM exit and
 * what the handler did up to the entry that resumed the guest, a first entry, a failed entry, the
 * end of a VM or a switch between VMs. `names`: the VMs' names by index (ViewState.vm.vms), so a
 * VM is told as "VM 1 (spinner)" when there are several.
 */
export function narrateVm(locale: Locale, evs: readonly TraceEvent[], names: readonly string[] = [], te: VmTeView | null = null, bt: VmBtView | null = null, pv: VmPvView | null = null): Segment[] | null {
  // Where the hypervisor lives (a scenario's hypervisor.hosting): each exit's path after the exit,
  // a host process's turn at the end.
  const said = narrateExits(locale, evs, names, te, bt, pv, narrateHostPaths(locale, evs));
  const runs = narrateHostRuns(locale, evs);
  if (runs.length === 0) return said;
  return said === null ? runs : [...said, plain(gap(locale)), ...runs];
}

/** The space between two sentences (none in Chinese). */
const gap = (locale: Locale): string => (locale === 'zh-CN' ? '' : ' ');

/** `seg`, then `after` as the next sentence. */
function then(locale: Locale, seg: Segment[], after: readonly Segment[]): Segment[] {
  return after.length === 0 ? seg : [...seg, plain(gap(locale)), ...after];
}

/**
 * The path of each exit of the step (`host/path`) in words: hosted, the world switches, the VMM
 * process and its system call; bare-metal, the hypervisor's own model, driver or scheduler (an exit
 * the monitor handled alone is not told again there). Empty without such events.
 */
export function narrateHostPaths(locale: Locale, evs: readonly TraceEvent[]): Segment[] {
  const t = (k: MessageKey): string => translate(locale, k);
  const out: Segment[] = [];
  let note = '';
  for (const e of evs) {
    if (e.kind === 'vm/handle') note = e.note;
    if (e.kind !== 'host/path') continue;
    const sched = e.hops.some((h) => h === 'host-scheduler' || h === 'hv-scheduler');
    const key: MessageKey | null =
      e.final ? `hosting.narr.end.${e.hosting}`
      : e.where === 'device' ? (e.output ? `hosting.narr.device.${e.hosting}.out` : `hosting.narr.device.${e.hosting}`)
      : e.where === 'interrupt' ? `hosting.narr.interrupt.${e.hosting}`
      : e.where === 'idle' ? `hosting.narr.idle.${e.hosting}`
      : sched ? `hosting.narr.slice.${e.hosting}`
      : e.hosting === 'hosted' ? 'hosting.narr.monitor.hosted'
      : null;
    if (key === null) continue;
    if (out.length > 0) out.push(plain(gap(locale)));
    out.push(...fill(t(key), { note: code(note), sched: plain(sched && e.where === 'interrupt' ? t('hosting.narr.sched') : '') }));
  }
  return out;
}

/** A host process's turn (`host/run`): the host's scheduler gave it the CPU, and no VM runs meanwhile. */
export function narrateHostRuns(locale: Locale, evs: readonly TraceEvent[]): Segment[] {
  const t = (k: MessageKey): string => translate(locale, k);
  const out: Segment[] = [];
  for (const e of evs) {
    if (e.kind !== 'host/run') continue;
    if (out.length > 0) out.push(plain(gap(locale)));
    out.push(...fill(t('hosting.narr.run'), { proc: plain(String(e.proc + 1)), steps: plain(e.steps.toLocaleString(locale)) }));
  }
  return out;
}

/** narrateVm without the host's processes: `after` (the exits' paths) follows the exit's sentence. */
function narrateExits(locale: Locale, evs: readonly TraceEvent[], names: readonly string[], te: VmTeView | null, bt: VmBtView | null, pv: VmPvView | null, after: readonly Segment[]): Segment[] | null {
  const t = (k: MessageKey): string => translate(locale, k);
  if (pv !== null) {
    const said = narratePv(locale, evs, pv);
    if (said !== null) return said;
  }
  // Binary translation: the step's callouts and what it did to the translation cache (views/bt/narrate-bt.ts).
  if (bt !== null) {
    const said = narrateBt(locale, bt, te?.interruptsOn ?? false, evs);
    if (said !== null) return said;
  }
  if (evs.some((e) => e.kind === 'vm/exit' && e.trap === true)) return narrateTraps(locale, evs);
  // Trap-and-emulate's gap: a POPF that asked for another IF in ring 1, ignored without a trap (vm-view.ts teView).
  const popf = te?.popfIgnored ?? null;
  if (popf !== null) {
    const bit = (b: boolean): Segment => code(b ? '1' : '0');
    return fill(t('vm.narr.te.popf'), { insn: code(popf.insn), cpl: plain(String(popf.cpl)), asked: bit(popf.asked), kept: bit(popf.kept) });
  }
  const vmName = (i: number): Segment[] =>
    names.length > 1 && names[i] !== undefined ? fill(t('vm.narr.vmNamed'), { vm: plain(String(i)), name: plain(names[i]) }) : [plain(String(i))];
  const sw = evs.find((e) => e.kind === 'vm/switch');
  const exit = evs.find((e) => e.kind === 'vm/exit');
  // A switch's entry is the next VM's: the exit's own VM is not resumed.
  const entry = evs.find((e) => e.kind === 'vm/entry' && (sw === undefined || exit?.kind !== 'vm/exit' || e.vm === exit.vm));
  const end = evs.find((e) => e.kind === 'vm/end');
  if (sw?.kind === 'vm/switch') {
    const exitPart = exit?.kind === 'vm/exit' ? narrateExits(locale, evs.filter((e) => e.kind !== 'vm/switch' && !(e.kind === 'vm/entry' && e.vm !== exit.vm)), names, null, null, null, after) : null;
    const handle = evs.find((e) => e.kind === 'vm/handle');
    const why: MessageKey =
      end?.kind === 'vm/end' && end.vm === sw.from ? 'vm.narr.why.ended'
      : exit?.kind === 'vm/exit' && exit.vm === sw.from && exit.vendor === 'intel' && exit.code === 52 ? 'vm.narr.why.slice'
      : exit?.kind === 'vm/exit' && exit.vm === sw.from && handle?.kind === 'vm/handle' && handle.note.includes('time slice') ? 'vm.narr.why.sliceHost'
      : exit?.kind === 'vm/exit' && exit.vm === sw.from && (exit.name.endsWith('HLT')) ? 'vm.narr.why.idle'
      : 'vm.narr.why.turn';
    const say = fill(t('vm.narr.vmSwitch'), { from: vmName(sw.from), to: vmName(sw.to), why: plain(t(why)) });
    return exitPart === null ? say : [...exitPart, plain(locale === 'zh-CN' ? '' : ' '), ...say];
  }
  if (exit?.kind === 'vm/exit') {
    const head = {
      name: code(exitManualName(exit.vendor, exit.code, exit.name)),
      label: plain(exit.vendor === 'intel' ? t('vm.narr.reason') : 'EXITCODE'),
      code: code(exit.vendor === 'intel' ? String(exit.code) : hex(exit.code)),
    };
    if (end?.kind === 'vm/end') return then(locale, fill(t('vm.narr.vmExitEnd'), { ...head, vm: vmName(end.vm), why: code(end.detail === '' ? end.why : end.detail) }), after);
    const handle = evs.find((e) => e.kind === 'vm/handle');
    const note = handle?.kind === 'vm/handle' ? handle.note : '';
    const act = handle?.kind === 'vm/handle' && handle.action !== 'ended' ? handle.action : 'emulated';
    const action = fill(t(`vm.narr.${act}`), { note: code(note) });
    // The handler's last write of the guest RIP, against the RIP the exit reported.
    const ripWrite = evs.filter((e) => e.kind === 'vm/field' && e.op === 'write' && (e.field === 'GUEST_RIP' || e.field === 'save.rip')).at(-1);
    const step = ripWrite?.kind === 'vm/field' ? ripWrite.value - exit.rip : null;
    const rip = step !== null && step > 0n && step < 16n ? fill(t('vm.narr.rip'), { n: plain(String(step)) }) : [];
    if (entry?.kind === 'vm/entry' && entry.failed === undefined) return then(locale, fill(t('vm.narr.vmExit'), { ...head, action, rip, entry: code(entry.instruction) }), after);
    return then(locale, fill(t('vm.narr.vmExitStay'), { ...head, action, rip }), after);
  }
  if (entry?.kind === 'vm/entry') {
    const vars = { entry: code(entry.instruction), vm: vmName(entry.vm) };
    if (entry.failed !== undefined) return fill(t('vm.narr.vmEnterFailed'), { ...vars, checks: code(entry.failed.join(', ')) });
    return fill(t('vm.narr.vmEnter'), { ...vars, rip: code(hex(entry.rip)) });
  }
  if (end?.kind === 'vm/end') return fill(t('vm.narr.vmEnd'), { vm: vmName(end.vm), why: code(end.detail === '' ? end.why : end.detail) });
  return null;
}

/**
 * Paravirtualization: the step's hypercalls (what the hypervisor did, decoded, or why it refused),
 * the located failure of a privileged instruction, or the kernel's store to the upcall mask (its
 * CLI or STI, with no exit at all). Null when the step did none of these.
 */
function narratePv(locale: Locale, evs: readonly TraceEvent[], pv: VmPvView): Segment[] | null {
  const t = (k: MessageKey): string => translate(locale, k);
  const tr = translator(locale);
  const out: Segment[] = [];
  const calls = pv.hypercalls.filter((h) => pv.inStep.includes(h.n));
  const end = evs.find((e) => e.kind === 'vm/end');
  let k = 0;
  for (const e of evs) {
    if (e.kind !== 'vm/exit' || e.trap !== true) continue;
    if (out.length > 0 && locale !== 'zh-CN') out.push(plain(' '));
    if (e.label?.startsWith('not paravirtualized: ') === true) {
      out.push(...fill(t('pv.narr.failure'), { insn: code(e.insn ?? e.label.slice(21)), eip: code(hex(Number(e.rip & 0xffffffffn))) }));
      continue;
    }
    const h = calls[k++];
    if (h === undefined) return null;
    const name = code(h.name);
    if (h.errno !== null) out.push(...fill(t('pv.narr.refused'), { name, result: code(String(h.result)), errno: plain(h.errno), why: code(h.did) }));
    else if (end !== undefined && k === calls.length) out.push(...fill(t('pv.narr.callEnd'), { name, what: plain(didClause(tr, h)) }));
    else out.push(...fill(t('pv.narr.call'), { name, what: plain(didClause(tr, h)), result: code(String(h.result)) }));
  }
  if (out.length > 0) return out;
  if (pv.maskChanged) {
    const on = pv.events.upcallMask;
    return fill(t('pv.narr.mask'), { v: code(on ? '1' : '0'), state: plain(t(on ? 'pv.narr.maskOn' : 'pv.narr.maskOff')) });
  }
  return null;
}

/**
 * The traps of a step in order (a step can hold several: a hidden page fault filling the shadow,
 * then the instruction's own trap), each told from its vm/exit to its vm/handle and the IRET back.
 */
function narrateTraps(locale: Locale, evs: readonly TraceEvent[]): Segment[] {
  const out: Segment[] = [];
  const starts = evs.flatMap((e, i) => (e.kind === 'vm/exit' && e.trap === true ? [i] : []));
  starts.forEach((at, k) => {
    const part = evs.slice(at, starts[k + 1] ?? evs.length);
    if (k > 0 && locale !== 'zh-CN') out.push(plain(' '));
    out.push(...narrateTrap(locale, part[0] as Extract<TraceEvent, { kind: 'vm/exit' }>, part));
  });
  return out;
}

/**
 * A trap of the trap-and-emulate monitor: the trapped instruction (or the guest's exception) from
 * its ring up to the monitor, what the monitor did, and the IRET back (or the guest's end).
 */
function narrateTrap(locale: Locale, exit: Extract<TraceEvent, { kind: 'vm/exit' }>, evs: readonly TraceEvent[]): Segment[] {
  const t = (k: MessageKey): string => translate(locale, k);
  const from = exit.from ?? 1;
  const vars = {
    who: plain(t(from === 3 ? 'vm.narr.te.user' : 'vm.narr.te.kernel')),
    insn: exit.insn != null ? code(exit.insn) : plain(t('vm.te.unreadable')),
    from: plain(String(from)),
    vector: code(exit.name),
  };
  const end = evs.find((e) => e.kind === 'vm/end');
  if (end?.kind === 'vm/end') return fill(t('vm.narr.te.trapEnd'), { ...vars, why: code(end.detail === '' ? end.why : end.detail) });
  const handle = evs.find((e) => e.kind === 'vm/handle');
  const act = handle?.kind === 'vm/handle' ? handle.action : 'emulated';
  const note = handle?.kind === 'vm/handle' ? handle.note : '';
  const key: MessageKey =
    exit.label === 'cli' ? 'vm.narr.te.cli'
    : exit.label === 'sti' ? 'vm.narr.te.sti'
    : act === 'forwarded' ? 'vm.narr.te.forwarded'
    : act === 'reflected' ? 'vm.narr.te.reflected'
    : act === 'host' ? 'vm.narr.te.host'
    : 'vm.narr.te.emulated';
  return fill(t('vm.narr.te.trap'), { ...vars, action: fill(t(key), { note: code(note) }) });
}
