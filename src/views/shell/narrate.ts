/**
 * The narration line: one sentence, in the reader's language, saying what the last step did,
 * built from that step's trace events and the text of the instruction it ran. Plain TS (no DOM).
 */
import type { RingCause, TraceEvent } from '../../emu/trace/events.ts';
import { translate, type Locale, type MessageKey } from '../../i18n/messages.ts';

/** A piece of the sentence; `code` pieces are instruction text or numbers to set in monospace. */
export interface Segment {
  text: string;
  code?: boolean;
}

export interface NarrationInput {
  /** The current step: the events narrated are those of step `step - 1`, the one that led here. */
  step: number;
  events: readonly TraceEvent[];
  /** The disassembly of the instruction at a linear address, if known. */
  insnText: (rip: bigint) => string | null;
}

/** COM1's transmit holding register (the UART the scenarios write to). */
const UART_PORT = 0x3f8;

/** Mnemonics of the exception vectors (SDM Vol. 3A, Table 6-1). */
const EXC_MNEMONIC: Record<number, string> = {
  0: '#DE', 1: '#DB', 2: 'NMI', 3: '#BP', 4: '#OF', 5: '#BR', 6: '#UD', 7: '#NM', 8: '#DF', 10: '#TS', 11: '#NP',
  12: '#SS', 13: '#GP', 14: '#PF', 16: '#MF', 17: '#AC', 18: '#MC', 19: '#XM', 20: '#VE', 21: '#CP',
};
const EXC_NAMED = new Set([0, 1, 3, 6, 8, 13]);

const CAUSE_LABEL: Record<Exclude<RingCause, 'software-interrupt'>, string> = {
  exception: 'exception',
  interrupt: 'interrupt',
  iret: 'IRET',
  syscall: 'SYSCALL',
  sysret: 'SYSRET',
  sysenter: 'SYSENTER',
  sysexit: 'SYSEXIT',
  'far-call': 'far CALL',
  'far-jmp': 'far JMP',
  'far-ret': 'far RET',
};

/** `0x` and lower-case hex digits, no padding. */
export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

type Vars = Record<string, Segment | Segment[]>;

/** Fills a catalog template's `{name}` holes with segments. */
export function fill(template: string, vars: Vars): Segment[] {
  const out: Segment[] = [];
  const push = (s: Segment): void => {
    if (s.text === '') return;
    const last = out[out.length - 1];
    if (last !== undefined && !last.code && !s.code) last.text += s.text;
    else out.push({ ...s });
  };
  for (const [i, part] of template.split(/\{(\w+)\}/).entries()) {
    if (i % 2 === 0) push({ text: part });
    else {
      const v = vars[part];
      if (v === undefined) push({ text: `{${part}}` });
      else for (const s of Array.isArray(v) ? v : [v]) push(s);
    }
  }
  return out;
}

export function segmentsText(segs: readonly Segment[]): string {
  return segs.map((s) => s.text).join('');
}

const code = (text: string): Segment => ({ text, code: true });
const plain = (text: string): Segment => ({ text });

/** The #PF error code in words (SDM Vol. 3A, 4.7: bit 0 P, bit 1 W/R, bit 2 U/S, bit 3 RSVD, bit 4 I/D). */
export function describePfError(locale: Locale, errorCode: number): string {
  const t = (k: MessageKey): string => translate(locale, k);
  const who = t(errorCode & 4 ? 'shell.pf.user' : 'shell.pf.supervisor');
  const access = t(errorCode & 16 ? 'shell.pf.fetch' : errorCode & 2 ? 'shell.pf.write' : 'shell.pf.read');
  const base = segmentsText(fill(t(errorCode & 1 ? 'shell.pf.protection' : 'shell.pf.notPresent'), { who: plain(who), access: plain(access) }));
  return errorCode & 8 ? base + t('shell.pf.rsvd') : base;
}

function exceptionName(locale: Locale, vector: number): string {
  if (EXC_NAMED.has(vector)) return translate(locale, `shell.exc.${vector}` as MessageKey);
  return segmentsText(fill(translate(locale, 'shell.exc.other'), { mnemonic: plain(EXC_MNEMONIC[vector] ?? '?'), vector: plain(String(vector)) }));
}

function printable(value: number): string {
  if (value === 10) return '\\n';
  if (value === 13) return '\\r';
  if (value >= 0x20 && value < 0x7f) return `'${String.fromCharCode(value)}'`;
  return hex(value);
}

/** An external interrupt taken at a step boundary, and the privilege change of its delivery. */
function arrivalDelivery(e: TraceEvent): boolean {
  return (e.kind === 'cpu/interrupt' && e.source === 'external') || (e.kind === 'ring/change' && e.cause === 'interrupt');
}

/** The exit's short name (`CPUID` for EXIT_REASON_CPUID, `IOIO` for VMEXIT_IOIO), as the narration says it. */
export function exitShortName(name: string): string {
  return name.replace(/^(EXIT_REASON_|VMEXIT_)/, '');
}

/**
 * The hypervisor's part of a step (vm/* events), or null when the step had none: a VM exit and
 * what the handler did up to the entry that resumed the guest, a first entry, a failed entry, the
 * end of a VM or a switch between VMs.
 */
function narrateVm(locale: Locale, evs: readonly TraceEvent[]): Segment[] | null {
  const t = (k: MessageKey): string => translate(locale, k);
  const exit = evs.find((e) => e.kind === 'vm/exit');
  const entry = evs.find((e) => e.kind === 'vm/entry');
  const end = evs.find((e) => e.kind === 'vm/end');
  if (exit?.kind === 'vm/exit') {
    const head = {
      name: code(exitShortName(exit.name)),
      label: plain(exit.vendor === 'intel' ? t('shell.narr.vm.reason') : 'EXITCODE'),
      code: code(exit.vendor === 'intel' ? String(exit.code) : hex(exit.code)),
    };
    if (end?.kind === 'vm/end') return fill(t('shell.narr.vmExitEnd'), { ...head, vm: plain(String(end.vm)), why: code(end.detail === '' ? end.why : end.detail) });
    const handle = evs.find((e) => e.kind === 'vm/handle');
    const note = handle?.kind === 'vm/handle' ? handle.note : '';
    const act = handle?.kind === 'vm/handle' && handle.action !== 'ended' ? handle.action : 'emulated';
    const action = fill(t(`shell.narr.vm.${act}`), { note: code(note) });
    // The handler's last write of the guest RIP, against the RIP the exit reported.
    const ripWrite = evs.filter((e) => e.kind === 'vm/field' && e.op === 'write' && (e.field === 'GUEST_RIP' || e.field === 'save.rip')).at(-1);
    const step = ripWrite?.kind === 'vm/field' ? ripWrite.value - exit.rip : null;
    const rip = step !== null && step > 0n && step < 16n ? fill(t('shell.narr.vm.rip'), { n: plain(String(step)) }) : [];
    if (entry?.kind === 'vm/entry' && entry.failed === undefined) return fill(t('shell.narr.vmExit'), { ...head, action, rip, entry: code(entry.instruction) });
    return fill(t('shell.narr.vmExitStay'), { ...head, action, rip });
  }
  if (entry?.kind === 'vm/entry') {
    const vars = { entry: code(entry.instruction), vm: plain(String(entry.vm)) };
    if (entry.failed !== undefined) return fill(t('shell.narr.vmEnterFailed'), { ...vars, checks: code(entry.failed.join(', ')) });
    return fill(t('shell.narr.vmEnter'), { ...vars, rip: code(hex(entry.rip)) });
  }
  if (end?.kind === 'vm/end') return fill(t('shell.narr.vmEnd'), { vm: plain(String(end.vm)), why: code(end.detail === '' ? end.why : end.detail) });
  const sw = evs.find((e) => e.kind === 'vm/switch');
  if (sw?.kind === 'vm/switch') return fill(t('shell.narr.vmSwitch'), { from: plain(String(sw.from)), to: plain(String(sw.to)) });
  return null;
}

/** The sentence for the step that led to `input.step`. */
export function narrate(locale: Locale, input: NarrationInput): Segment[] {
  const t = (k: MessageKey): string => translate(locale, k);
  if (input.step === 0) return [plain(t('shell.narr.start'))];
  // The step's own events, and an external interrupt delivered as it ended (stamped with the step
  // reached: the screen already shows the handler, so the sentence must say why).
  const evs = input.events.filter((e) => e.step === input.step - 1 || (e.step === input.step && arrivalDelivery(e)));
  const first = <K extends TraceEvent['kind']>(kind: K): Extract<TraceEvent, { kind: K }> | undefined =>
    evs.find((e): e is Extract<TraceEvent, { kind: K }> => e.kind === kind);

  if (evs.length === 0) return fill(t('shell.narr.noEvents'), { step: plain(String(input.step)) });
  const insnEv = first('cpu/insn');
  const insnSeg = (): Segment | Segment[] => {
    if (insnEv === undefined) return fill(t('shell.narr.insnAt'), { rip: code('?') });
    const text = input.insnText(insnEv.rip);
    return text !== null ? code(text) : fill(t('shell.narr.insnAt'), { rip: code(hex(insnEv.rip)) });
  };

  const triple = first('cpu/triple-fault');
  if (triple) return fill(t('shell.narr.tripleFault'), { rip: code(hex(triple.rip)) });

  const vm = narrateVm(locale, evs);
  if (vm !== null) return vm;

  const exc = first('cpu/exception');
  if (exc) {
    const ring = evs.find((e) => e.kind === 'ring/change' && e.cause === 'exception');
    const from = ring?.kind === 'ring/change' ? ring.from : null;
    const to = ring?.kind === 'ring/change' ? ring.to : (insnEv?.cpl ?? 0);
    if (exc.vector === 14) {
      const vars = {
        cr2: code(hex(exc.cr2 ?? 0n)),
        code: code(String(exc.errorCode)),
        detail: plain(describePfError(locale, exc.errorCode)),
        from: plain(String(from)),
        to: plain(String(to)),
      };
      return fill(t(from !== null ? 'shell.narr.pfRing' : 'shell.narr.pf'), vars);
    }
    const codeSegs = exc.errorCode >= 0 ? fill(t('shell.narr.errorCode'), { code: code(hex(exc.errorCode)) }) : [];
    return fill(t(from !== null ? 'shell.narr.exception' : 'shell.narr.exceptionSameRing'), {
      name: plain(exceptionName(locale, exc.vector)),
      rip: code(hex(exc.rip)),
      code: codeSegs,
      from: plain(String(from)),
      to: plain(String(to)),
    });
  }

  const ext = evs.find((e) => e.kind === 'cpu/interrupt' && e.source === 'external');
  if (ext?.kind === 'cpu/interrupt') {
    const ring = evs.find((e) => e.kind === 'ring/change' && e.cause === 'interrupt');
    const vars = { vector: code(String(ext.vector)), to: plain(String(ring?.kind === 'ring/change' ? ring.to : (insnEv?.cpl ?? 0))) };
    if (ring?.kind === 'ring/change') return fill(t('shell.narr.extInt'), { ...vars, from: plain(String(ring.from)) });
    return fill(t('shell.narr.extIntSameRing'), vars);
  }

  const ring = first('ring/change');
  if (ring) {
    const cause = ring.cause === 'software-interrupt' ? `INT ${hex(ring.vector ?? 0)}` : CAUSE_LABEL[ring.cause];
    return fill(t('shell.narr.ring'), { insn: insnSeg(), from: plain(String(ring.from)), to: plain(String(ring.to)), cause: plain(cause) });
  }

  if (first('cpu/halt')) return fill(t('shell.narr.halt'), { insn: insnSeg() });

  const port = first('io/port');
  if (port) {
    const vars = { insn: insnSeg(), value: code(hex(port.value)), port: code(hex(port.port)) };
    if (port.dir === 'in') return fill(t('shell.narr.portIn'), vars);
    if (port.port === UART_PORT && port.size === 1) return fill(t('shell.narr.portOutUart'), { ...vars, char: code(printable(port.value)) });
    return fill(t('shell.narr.portOut'), vars);
  }

  const flush = first('tlb/flush');
  if (flush) {
    const what = flush.linear !== undefined ? `${flush.cause}, ${hex(flush.linear)}` : `${flush.cause}, ${flush.scope}`;
    return fill(t('shell.narr.tlbFlush'), { insn: insnSeg(), cause: code(what) });
  }

  return fill(t('shell.narr.executed'), { insn: insnSeg() });
}
