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
  /**
   * Tells the step's events a part of the lab loaded on demand knows (the hypervisor's: the VM
   * views' narrateVm), or returns null to leave them to the sentences here.
   */
  extra?: (events: readonly TraceEvent[]) => Segment[] | null;
  /**
   * A sentence to add after the step's (a part loaded on demand: the VM views' narrateDma, about the
   * devices' DMA the step started), or null for none.
   */
  after?: (events: readonly TraceEvent[]) => Segment[] | null;
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

/** An event at a step boundary, stamped with the step reached: an external interrupt and the privilege change of its delivery, or the hypervisor's (below). */
function arrivalDelivery(e: TraceEvent): boolean {
  return (e.kind === 'cpu/interrupt' && e.source === 'external') || (e.kind === 'ring/change' && e.cause === 'interrupt')
    // A VM exit taken as the step ended, before the next instruction (several VMs: the end of a time
    // slice, a host interrupt, an interrupt window), with what followed it (a switch, a host process's turn).
    || e.kind.startsWith('vm/') || e.kind.startsWith('host/');
}

/** The sentence for the step that led to `input.step`, and the `after` sentence about it if any. */
export function narrate(locale: Locale, input: NarrationInput): Segment[] {
  if (input.step === 0) {
    // A VM stopped before its first instruction retired (a paravirtualized domain's unmodified
    // kernel at its first CLI) has its exit and end at step 0: told as the step's.
    const atStart = input.events.filter((e) => e.step === 0 && e.kind.startsWith('vm/'));
    const said = atStart.some((e) => e.kind === 'vm/end') ? (input.extra?.(atStart) ?? null) : null;
    return said ?? [plain(translate(locale, 'shell.narr.start'))];
  }
  // The step's own events, and an external interrupt delivered as it ended (stamped with the step
  // reached: the screen already shows the handler, so the sentence must say why).
  const evs = input.events.filter((e) => e.step === input.step - 1 || (e.step === input.step && arrivalDelivery(e)));
  const main = narrateStep(locale, input, evs);
  const more = input.after?.(evs) ?? null;
  if (more === null || more.length === 0) return main;
  return fill('{main}{sep}{more}', { main, sep: { text: locale === 'zh-CN' ? '' : ' ' }, more });
}

function narrateStep(locale: Locale, input: NarrationInput, evs: readonly TraceEvent[]): Segment[] {
  const t = (k: MessageKey): string => translate(locale, k);
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

  const extra = input.extra?.(evs) ?? null;
  if (extra !== null) return extra;

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
