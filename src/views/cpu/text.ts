/** Catalog lookups with `{name}` placeholders, shared by the CPU views. */
import { translate, type Locale, type MessageKey } from '../../i18n/messages.ts';

/** Replaces each `{name}` in `template` with `vars[name]`; unknown names stay as written. */
export function fill(template: string, vars: Readonly<Record<string, string | number>>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const v = vars[name];
    return v === undefined ? whole : String(v);
  });
}

export type Tr = (key: MessageKey, vars?: Readonly<Record<string, string | number>>) => string;

export function translator(locale: Locale): Tr {
  return (key, vars) => (vars === undefined ? translate(locale, key) : fill(translate(locale, key), vars));
}

const MODE_KEYS: Readonly<Record<string, MessageKey>> = {
  real: 'view.mode.real',
  prot16: 'view.mode.prot16',
  prot32: 'view.mode.prot32',
  compat: 'view.mode.compat',
  long64: 'view.mode.long64',
};

/** The CPU mode (CpuMode) in words; an unknown mode as given. */
export function modeName(mode: string, t: Tr): string {
  const key = MODE_KEYS[mode];
  return key === undefined ? mode : t(key);
}
