/**
 * The pair in the lab's URL: `pair=A,B` (two configuration ids of the comparison, left and right)
 * and `pstep=N` (the pair's step, 0 when absent). Read leniently: a value that is not two ids or
 * not a step is reported (the view says so and drops it), never a broken state; whether the ids
 * are configurations the lab knows is the worker's to say (it answers unknown ones with errors).
 * Loaded with the pair's chunk; the first screen only asks whether `pair` is present.
 */
import { MAX_URL_STEP } from '../shell/url.ts';

export type PairParams =
  | { ok: true; configs: [string, string]; step: number; badStep: string | null }
  | { ok: false; value: string };

const ID = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** `pair` and `pstep` of a URL's search, or null when it asks for no pair. */
export function readPairParams(search: string): PairParams | null {
  const q = new URLSearchParams(search);
  const asked = q.get('pair');
  if (asked === null) return null;
  const ids = asked.trim().toLowerCase().split(',').map((s) => s.trim());
  if (ids.length !== 2 || !ids.every((s) => ID.test(s)) || ids[0] === ids[1]) return { ok: false, value: asked };
  const ps = q.get('pstep');
  let step = 0;
  let badStep: string | null = null;
  if (ps !== null) {
    if (/^\d{1,15}$/.test(ps.trim())) step = Math.min(Number(ps.trim()), MAX_URL_STEP);
    else badStep = ps;
  }
  return { ok: true, configs: [ids[0]!, ids[1]!], step, badStep };
}

/** The URL with the pair and its step set (`pstep` dropped at 0), or both removed (null); the rest kept. */
export function withPairParams(href: string, p: { configs: readonly [string, string]; step: number } | null): string {
  const url = new URL(href);
  url.searchParams.delete('pair');
  url.searchParams.delete('pstep');
  if (p !== null) {
    url.searchParams.set('pair', `${p.configs[0]},${p.configs[1]}`);
    if (Number.isSafeInteger(p.step) && p.step > 0) url.searchParams.set('pstep', String(Math.min(p.step, MAX_URL_STEP)));
  }
  return url.toString();
}
