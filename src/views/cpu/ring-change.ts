/** What the ring view says about privilege levels and the last `ring/change` event of a step. */
import type { MessageKey } from '../../i18n/messages.ts';
import type { TraceEvent } from '../../emu/trace/events.ts';
import type { Tr } from './text.ts';

export type RingChange = Extract<TraceEvent, { kind: 'ring/change' }>;
/** What the descriptions below read of a ring change (the timeline's marks carry no RIP). */
export type RingChangeCause = Pick<RingChange, 'from' | 'to' | 'cause' | 'vector'>;

/** The last privilege-level change among `events`, or null. */
export function lastRingChange(events: readonly TraceEvent[]): RingChange | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e !== undefined && e.kind === 'ring/change') return e;
  }
  return null;
}

/** Exception mnemonics by vector (SDM Vol. 3A, Table 6-1); 9 and 15 are reserved. */
export const EXCEPTION_MNEMONICS: Readonly<Record<number, string>> = {
  0: '#DE', 1: '#DB', 2: 'NMI', 3: '#BP', 4: '#OF', 5: '#BR', 6: '#UD', 7: '#NM', 8: '#DF',
  10: '#TS', 11: '#NP', 12: '#SS', 13: '#GP', 14: '#PF', 16: '#MF', 17: '#AC', 18: '#MC',
  19: '#XM', 20: '#VE', 21: '#CP',
};

export const EXCEPTION_NAMES: Readonly<Record<number, MessageKey>> = {
  0: 'view.exc.DE', 1: 'view.exc.DB', 3: 'view.exc.BP', 6: 'view.exc.UD', 8: 'view.exc.DF',
  10: 'view.exc.TS', 11: 'view.exc.NP', 12: 'view.exc.SS', 13: 'view.exc.GP', 14: 'view.exc.PF',
};

/** `0x20`-style vector number. */
export function hexVector(v: number): string {
  return `0x${v.toString(16).padStart(2, '0')}`;
}

/** The cause alone: "SYSCALL", "interrupt 0x20 (timer)", "exception #PF (14, page fault)". */
export function describeCause(e: RingChangeCause, t: Tr): string {
  const v = e.vector ?? -1;
  switch (e.cause) {
    case 'syscall': return t('view.ring.cause.syscall');
    case 'sysret': return t('view.ring.cause.sysret');
    case 'sysenter': return t('view.ring.cause.sysenter');
    case 'sysexit': return t('view.ring.cause.sysexit');
    case 'iret': return t('view.ring.cause.iret');
    case 'far-call': return t('view.ring.cause.farCall');
    case 'far-jmp': return t('view.ring.cause.farJmp');
    case 'far-ret': return t('view.ring.cause.farRet');
    // The machine's one external interrupt source is the timer (trace/events.ts, cpu/interrupt).
    case 'interrupt': return t('view.ring.cause.interrupt', { vector: hexVector(v) });
    case 'software-interrupt': return t('view.ring.cause.softInt', { vector: hexVector(v) });
    case 'exception': {
      const mnemonic = EXCEPTION_MNEMONICS[v] ?? `#${v}`;
      const name = EXCEPTION_NAMES[v];
      return name === undefined
        ? t('view.ring.cause.exception', { mnemonic, vector: v })
        : t('view.ring.cause.exceptionNamed', { mnemonic, vector: v, name: t(name) });
    }
    default: {
      const never: never = e.cause;
      return String(never);
    }
  }
}

/** "SYSCALL: ring 3 → ring 0". */
export function describeRingChange(e: RingChangeCause, t: Tr): string {
  return t('view.ring.transition', { cause: describeCause(e, t), from: e.from, to: e.to });
}

/** The role of a ring in words: kernel (0), user (3), rarely used (1, 2). */
export function ringRole(ring: number, t: Tr): string {
  return ring === 0 ? t('view.ring.kernel') : ring === 3 ? t('view.ring.user') : t('view.ring.unused');
}

/** The ring view's text alternative. */
export function describeRings(cpl: number, change: RingChange | null, t: Tr): string {
  const now = t('view.ring.current', { n: cpl, role: ringRole(cpl, t) });
  const last = change === null ? t('view.ring.noChange') : t('view.ring.lastChange', { change: describeRingChange(change, t) });
  return `${now} ${last}`;
}
