/** Plain-data helpers of the shadow view: a record as a sentence, addresses shortened. */
import type { MessageKey } from '../../i18n/messages.ts';
import type { ShadowRecordView } from '../../worker/shadow-types.ts';

type Tr = (key: MessageKey, vars?: Record<string, string | number>) => string;

/** 0x + 16 hex digits shortened to 0x + 8 when the high half is zero. */
export function short(h: string): string {
  return h.startsWith('0x00000000') && h.length === 18 ? `0x${h.slice(10)}` : h;
}

/** A record of the shadow MMU as one sentence. */
export function recordText(t: Tr, r: ShadowRecordView): string {
  switch (r.op) {
    case 'hidden-fault':
    case 'true-fault':
      return t(`shadow.rec.${r.op}`, { gva: short(r.gva), ec: `0x${r.errorCode.toString(16)}` });
    case 'fill':
      return t('shadow.rec.fill', { gva: short(r.gva), gpa: short(r.gpa), hpa: short(r.hpa), spte: short(r.spte) });
    case 'zap':
      return t('shadow.rec.zap', { gva: short(r.gva), why: t(`shadow.why.${r.why}`) });
    case 'write-protect':
    case 'unprotect':
      return t(`shadow.rec.${r.op}`, { gfn: short(r.gfn) });
    case 'emulated-write':
      return t(r.changed.length === 1 ? 'shadow.rec.emulated-write.one' : 'shadow.rec.emulated-write', { gpa: short(r.gpa), n: r.changed.length });
    case 'mmio':
      return t('shadow.rec.mmio', { gva: short(r.gva), gpa: short(r.gpa) });
    case 'cr3':
      return t(r.hit ? 'shadow.rec.cr3.hit' : 'shadow.rec.cr3.miss', { cr3: short(r.cr3), root: short(r.root) });
    case 'reset':
      return t(r.why.startsWith('paging mode') ? 'shadow.rec.reset.mode' : 'shadow.rec.reset.pool');
  }
}
