/**
 * The narration of a step under binary translation (VmView.bt.step, bt-view.ts): a POPF callout
 * (what trap-and-emulate could not do), another callout with its reason, a block translated, an
 * exit chained, a code write caught (self-modifying code) and an adaptive rewrite, in that order
 * of weight; one sentence each, joined.
 */
import type { TraceEvent } from '../../emu/trace/events.ts';
import { translate, type Locale, type MessageKey } from '../../i18n/messages.ts';
import '../../i18n/parts/bt.ts';
import { fill, type Segment } from '../shell/narrate.ts';
import type { VmBtView } from '../../worker/bt-types.ts';

const code = (text: string): Segment => ({ text, code: true });
const plain = (text: string): Segment => ({ text });

/** The step's sentences, or null when the step did nothing to the translation cache and made no callout. `ifOn`: the guest's IF after the step. */
export function narrateBt(locale: Locale, bt: VmBtView, ifOn: boolean, _evs: readonly TraceEvent[] = []): Segment[] | null {
  const t = (k: MessageKey): string => translate(locale, k);
  const s = bt.step;
  const parts: Segment[][] = [];
  // An adaptive rewrite and a code write say why the step's fault went to the monitor: first.
  if (s.adaptive > 0) parts.push(fill(t('bt.narr.adaptive'), {}));
  if (s.codeWrites > 0) parts.push(fill(t('bt.narr.smc'), { n: plain(String(s.invalidated)) }));
  for (const c of s.callouts) {
    if (/^popf/.test(c.insn)) parts.push(fill(t('bt.narr.popf'), { insn: code(c.insn), if: code(ifOn ? '1' : '0') }));
    else parts.push(fill(t('bt.narr.callout'), { insn: code(c.insn), reason: plain(t(`bt.reason.${c.reason}`)) }));
  }
  if (s.translated.length > 0) parts.push(fill(t('bt.narr.translated'), { ids: plain(s.translated.join(locale === 'zh-CN' ? '、' : ', ')) }));
  if (s.chained > 0) parts.push(fill(t('bt.narr.chained'), {}));
  if (parts.length === 0) return null;
  const out: Segment[] = [];
  parts.forEach((p, i) => {
    if (i > 0 && locale !== 'zh-CN') out.push(plain(' '));
    out.push(...p);
  });
  return out;
}
