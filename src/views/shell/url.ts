/** The lab's URL parameters (`?scenario=`, `?theme=`; `?lang=` is i18n's): read leniently, written back. */

export const SCENARIOS = ['syscalls', 'page-fault', 'timer'] as const;
export type ScenarioId = (typeof SCENARIOS)[number];

export const THEMES = ['auto', 'light', 'dark', 'contrast'] as const;
export type Theme = (typeof THEMES)[number];

function pick<T extends string>(values: readonly T[], asked: string | null, fallback: T): T {
  if (asked === null) return fallback;
  return values.find((v) => v === asked.toLowerCase()) ?? fallback;
}

export function pickScenario(search: string): ScenarioId {
  return pick(SCENARIOS, new URLSearchParams(search).get('scenario'), 'syscalls');
}

/** `high-contrast` is accepted for `contrast`. */
export function pickTheme(search: string): Theme {
  const asked = new URLSearchParams(search).get('theme');
  return pick(THEMES, asked === 'high-contrast' ? 'contrast' : asked, 'auto');
}

/** The URL with these parameters set (and `theme` left out when it is `auto`). */
export function withParams(href: string, p: { lang: string; scenario: ScenarioId; theme: Theme }): string {
  const url = new URL(href);
  url.searchParams.set('lang', p.lang);
  url.searchParams.set('scenario', p.scenario);
  if (p.theme === 'auto') url.searchParams.delete('theme');
  else url.searchParams.set('theme', p.theme);
  return url.toString();
}
