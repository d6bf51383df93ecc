/** The lab's URL parameters (`?scenario=`, `?theme=`, `?mode=`; `?lang=` is i18n's): read leniently, written back. */

export const SCENARIOS = ['syscalls', 'page-fault', 'timer'] as const;
export type ScenarioId = (typeof SCENARIOS)[number];

export const THEMES = ['auto', 'light', 'dark', 'contrast'] as const;
export type Theme = (typeof THEMES)[number];

/** `presenter`: large type and only the big controls, for a projector (DESIGN.md, "Modes"). */
export const MODES = ['normal', 'presenter'] as const;
export type Mode = (typeof MODES)[number];

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

/** Unknown or absent `?mode=` is the normal lab. */
export function pickMode(search: string): Mode {
  return pick(MODES, new URLSearchParams(search).get('mode'), 'normal');
}

/** The URL with these parameters set (`theme` left out when it is `auto`, `mode` when it is `normal`). */
export function withParams(href: string, p: { lang: string; scenario: ScenarioId; theme: Theme; mode?: Mode }): string {
  const url = new URL(href);
  url.searchParams.set('lang', p.lang);
  url.searchParams.set('scenario', p.scenario);
  if (p.theme === 'auto') url.searchParams.delete('theme');
  else url.searchParams.set('theme', p.theme);
  if ((p.mode ?? 'normal') === 'normal') url.searchParams.delete('mode');
  else url.searchParams.set('mode', p.mode ?? 'normal');
  return url.toString();
}
