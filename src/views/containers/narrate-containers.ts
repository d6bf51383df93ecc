/**
 * The narration of a step of the container kernel (ViewState.containers): a system call by INT 0x80
 * with the container that made it, the kernel's return to a process, a fault in ring 3 (the kernel
 * kills only that process) or in ring 0 (a kernel bug: the panic stops every container), and the
 * final halt. Null for any other step, which the shell's sentences tell.
 */
import type { TraceEvent } from '../../emu/trace/events.ts';
import { SYSCALLS } from '../../emu/hv/containers/layout.ts';
import { translate, type Locale, type MessageKey } from '../../i18n/messages.ts';
import '../../i18n/parts/containers.ts';
import { fill, hex, type Segment } from '../shell/narrate.ts';
import type { StepContainers } from '../../worker/containers-types.ts';

const code = (text: string): Segment => ({ text, code: true });
const plain = (text: string): Segment => ({ text });

/** The sentence with its first letter made a capital (English sentences that open with a value). */
function capital(segs: Segment[]): Segment[] {
  const first = segs[0];
  if (first === undefined || first.code === true) return segs;
  return [{ ...first, text: first.text.charAt(0).toUpperCase() + first.text.slice(1) }, ...segs.slice(1)];
}

/** "container alpha's process (pid 1 inside it, pid 1 in the kernel)" for process `i`, or null. */
export function whoIs(locale: Locale, c: StepContainers, i: number): Segment[] | null {
  const p = c.procs[i];
  if (p === undefined) return null;
  return fill(translate(locale, 'containers.who'), { name: code(p.container), ns: plain(String(p.nsPid)), pid: plain(String(p.pid)) });
}

/** The step's sentence, or null. `eax`: EAX after the step (a system call's number at the kernel's entry). */
export function narrateContainers(locale: Locale, evs: readonly TraceEvent[], c: StepContainers, eax: number): Segment[] | null {
  const t = (k: MessageKey): string => translate(locale, k);
  const say = (k: MessageKey, vars: Record<string, Segment | Segment[]>): Segment[] => (locale === 'en' ? capital(fill(t(k), vars)) : fill(t(k), vars));
  const who = whoIs(locale, c, c.current);
  const exc = evs.find((e) => e.kind === 'cpu/exception');
  if (exc?.kind === 'cpu/exception' && who !== null) {
    const fromUser = evs.some((e) => e.kind === 'ring/change' && e.cause === 'exception' && e.from === 3);
    const vars = { who, code: code(String(exc.errorCode)), addr: code(hex(exc.cr2 ?? 0n)) };
    if (exc.vector === 14) return say(fromUser ? 'containers.narr.userPf' : 'containers.narr.kernelPf', vars);
    if (exc.vector === 13 && fromUser) return say('containers.narr.userGp', vars);
    return null;
  }
  const ring = evs.find((e) => e.kind === 'ring/change');
  if (ring?.kind === 'ring/change' && who !== null) {
    if (ring.cause === 'software-interrupt' && ring.vector === 0x80 && ring.from === 3) {
      const name = SYSCALLS[eax];
      return say('containers.narr.syscall', { who, call: name === undefined ? plain(t('containers.call.unknown')) : code(name), n: code(String(eax)) });
    }
    if (ring.cause === 'iret' && ring.to === 3) return say('containers.narr.return', { who });
  }
  if (evs.some((e) => e.kind === 'cpu/halt')) {
    if (c.kernel === 'panic') return say('containers.narr.haltPanic', {});
    if (c.kernel === 'idle') return say('containers.narr.haltIdle', {});
  }
  return null;
}
