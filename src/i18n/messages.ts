/**
 * The UI string catalog: every string the app shows, in English and Simplified Chinese. Parts of
 * the UI keep their strings in ./parts/*.ts (the first screen's with their Chinese in a `-zh` file
 * beside them). The first screen's strings are one chunk per language (eager-en.ts, eager-zh.ts):
 * `loadLocale` fetches the reader's before the app mounts and the other when the reader switches,
 * so the initial download holds one language. A part that loads on demand (LAZY_PARTS) registers
 * both languages when its chunk loads (`registerMessages` at the end of its file, imported by each
 * module that uses them). The key type covers every part.
 */
import type { eagerEn } from './eager-en.ts';
import type { sandboxEn } from './parts/sandbox.ts';
import type { timelineEn } from './parts/timeline.ts';
import type { progressEn } from './parts/progress.ts';
import type { practiceEn } from './parts/practice.ts';
import type { lessonEn } from './parts/lesson.ts';
import type { speakerEn } from './parts/speaker.ts';
import type { referenceEn } from './parts/reference.ts';
import type { vmEn } from './parts/vm.ts';
import type { nestedEn } from './parts/nested.ts';
import type { shadowEn } from './parts/shadow.ts';
import type { pairEn } from './parts/pair.ts';
import type { ioEn } from './parts/io.ts';
import type { techniquesEn } from './parts/techniques.ts';
import type { btEn } from './parts/bt.ts';
import type { pvEn } from './parts/pv.ts';
import type { containersEn } from './parts/containers.ts';
import type { hostingEn } from './parts/hosting.ts';

export const LOCALES = ['en', 'zh-CN'] as const;
export type Locale = (typeof LOCALES)[number];


/** The parts that load on demand, by the prefix of their keys (each registers itself: see the top). */
export const LAZY_PARTS = ['sandbox', 'timeline', 'progress', 'practice', 'speaker', 'reference', 'lesson', 'vm', 'nested', 'shadow', 'pair', 'io', 'techniques', 'bt', 'pv', 'containers', 'hosting'] as const;

export type MessageKey = keyof typeof eagerEn | keyof typeof sandboxEn | keyof typeof timelineEn | keyof typeof progressEn | keyof typeof practiceEn | keyof typeof speakerEn | keyof typeof referenceEn | keyof typeof lessonEn | keyof typeof vmEn | keyof typeof nestedEn | keyof typeof shadowEn | keyof typeof pairEn | keyof typeof ioEn | keyof typeof techniquesEn | keyof typeof btEn | keyof typeof pvEn | keyof typeof containersEn | keyof typeof hostingEn;
type EagerKey = keyof typeof eagerEn;


/** The strings known now, per locale: the first screen's once `loadLocale` has fetched them, and those of every part registered since. */
export const catalogs: Record<Locale, Partial<Record<MessageKey, string>>> = { en: {}, 'zh-CN': {} };

const installed = new Set<Locale>();

/** Adds a language's first-screen strings (loadLocale; the unit tests' setup installs both at once). */
export function installLocale(locale: Locale, strings: Readonly<Record<EagerKey, string>>): void {
  Object.assign(catalogs[locale], strings);
  installed.add(locale);
}

/** Whether `locale`'s first-screen strings are here. */
export function localeReady(locale: Locale): boolean {
  return installed.has(locale);
}

/** Fetches `locale`'s first-screen strings (a chunk per language) unless they are here. */
export async function loadLocale(locale: Locale): Promise<void> {
  if (installed.has(locale)) return;
  installLocale(locale, locale === 'en' ? (await import('./eager-en.ts')).eagerEn : (await import('./eager-zh.ts')).eagerZh);
}

/** Adds a part's strings (both languages, the same keys); a part calls it once, when its module loads. */
export function registerMessages<K extends MessageKey>(partEn: Readonly<Record<K, string>>, partZh: Readonly<Record<K, string>>): void {
  Object.assign(catalogs.en, partEn);
  Object.assign(catalogs['zh-CN'], partZh);
}

const reported = new Set<string>();

/** The locale a URL asks for (`?lang=zh-CN`), else the browser's preference, else English. */
export function pickLocale(search: string, preferred: readonly string[]): Locale {
  const asked = new URLSearchParams(search).get('lang');
  if (asked !== null) {
    const hit = LOCALES.find((l) => l.toLowerCase() === asked.toLowerCase());
    if (hit) return hit;
  }
  for (const p of preferred) if (p.toLowerCase().startsWith('zh')) return 'zh-CN';
  return 'en';
}

/**
 * The string for `key`. A key whose part has not loaded (a module used it without importing its
 * part) shows as the key itself and is reported once on the console, which the browser tests treat
 * as a failure.
 */
export function translate(locale: Locale, key: MessageKey): string {
  const v = catalogs[locale][key];
  if (v !== undefined) return v;
  if (!reported.has(key)) {
    reported.add(key);
    console.error(`i18n: no string for ${key} (${locale}): its part is not loaded`);
  }
  return key;
}
