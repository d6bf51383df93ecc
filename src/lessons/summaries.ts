/**
 * Each lesson's one-sentence summary (what the student will be able to do afterwards), by lesson
 * id, in both languages: for the lesson map, which imports this (its own chunk), so that the first
 * screen does not carry every lesson's sentences in both languages. A lesson's test checks its
 * entry against the lesson's text (lessons/checks.ts).
 */
import type { Locale } from '../i18n/messages.ts';
import { summary as rings } from '../../lessons/01-rings/summary.ts';
import { summary as paging } from '../../lessons/02-paging/summary.ts';
import { summary as vmxExit } from '../../lessons/03-vmx-exit/summary.ts';
import { summary as svmExit } from '../../lessons/04-svm-exit/summary.ts';
import { summary as nestedWalk } from '../../lessons/05-nested-walk/summary.ts';
import { summary as taggedTlb } from '../../lessons/06-tagged-tlb/summary.ts';
import { summary as shadowPaging } from '../../lessons/07-shadow-paging/summary.ts';
import { summary as deviceIo } from '../../lessons/08-device-io/summary.ts';
import { summary as iommu } from '../../lessons/09-iommu/summary.ts';
import { summary as trapEmulate } from '../../lessons/10-trap-emulate/summary.ts';
import { summary as binaryTranslation } from '../../lessons/11-binary-translation/summary.ts';
import { summary as paravirt } from '../../lessons/12-paravirtualization/summary.ts';
import { summary as vtxMyths } from '../../lessons/13-vtx-myths/summary.ts';
import { summary as hosting } from '../../lessons/14-hosting/summary.ts';

export const SUMMARIES: Readonly<Record<string, Record<Locale, string>>> = {
  '01-rings': rings,
  '02-paging': paging,
  '03-vmx-exit': vmxExit,
  '04-svm-exit': svmExit,
  '05-nested-walk': nestedWalk,
  '06-tagged-tlb': taggedTlb,
  '07-shadow-paging': shadowPaging,
  '08-device-io': deviceIo,
  '09-iommu': iommu,
  '10-trap-emulate': trapEmulate,
  '11-binary-translation': binaryTranslation,
  '12-paravirtualization': paravirt,
  '13-vtx-myths': vtxMyths,
  '14-hosting': hosting,
};
