/** The sandbox's failures and error places in the reader's language (plain TS, testable). */
import { scenarioErrorText, type ScenarioError } from '../../emu/scenario/schema.ts';
import type { MessageKey } from '../../i18n/messages.ts';
import type { Tr } from '../cpu/text.ts';
import { FIELDS, placeOf } from './form.ts';
import type { JsonIssue } from './json-pos.ts';
import type { ShareFailure } from './share.ts';
import '../../i18n/parts/sandbox.ts';

export function jsonIssueText(t: Tr, issue: JsonIssue | 'root', found: string): string {
  return t(`sandbox.json.${issue}` as MessageKey, { found: JSON.stringify(found).slice(1, -1) });
}

/** Why a share link did not open, in one or two sentences. */
export function shareFailureText(t: Tr, f: ShareFailure): string {
  switch (f.kind) {
    case 'malformed':
      return t('share.malformed');
    case 'too-long':
      return t('share.tooLong', { n: f.length, max: f.max });
    case 'newer':
      return t('share.newer', { version: f.version });
    case 'base64':
      return t('share.base64');
    case 'deflate':
      return t('share.deflate');
    case 'too-big':
      return t('share.tooBig', { max: f.max });
    case 'text':
      return t('share.text');
    case 'json':
      return t('share.json', { line: f.at.line, column: f.at.column, issue: jsonIssueText(t, f.issue, '') });
    case 'invalid':
      return t('share.invalid', { n: f.errors.length, first: f.errors[0] === undefined ? '?' : scenarioErrorText(f.errors[0]) });
    default: {
      const never: never = f;
      return String(never);
    }
  }
}

const TAB_KEYS = { kernel: 'sandbox.tab.kernel', user: 'sandbox.tab.user', settings: 'sandbox.tab.settings', json: 'sandbox.tab.json' } as const;

/** Where an error is, as the error list names it: "Kernel, line 3, column 7", "Machine: Paging", "JSON: mappings[0].size". */
export function errorWhere(t: Tr, e: ScenarioError): string {
  const p = placeOf(e);
  if (p.tab === 'json') return t('sandbox.errors.atJson', { path: p.path });
  if (p.tab === 'settings') {
    const f = FIELDS.find((x) => x.id === p.field)!;
    return t('sandbox.errors.atField', { where: t(TAB_KEYS.settings), field: t(`sandbox.field.${f.id}` as MessageKey) });
  }
  const where = t(TAB_KEYS[p.tab]);
  if (p.line === null) return where;
  return p.column === null ? t('sandbox.errors.atLineOnly', { where, line: p.line }) : t('sandbox.errors.atLine', { where, line: p.line, column: p.column });
}
