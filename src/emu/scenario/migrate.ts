/**
 * Migrations: each older scenario version lifts to the next, so that anything ever saved (a share
 * link, a lesson file) still loads. `loadScenario` migrates, then validates.
 *
 * Version 0 is the input of `lab exec` (issue 2): `{ version: 0, mode, load, code }`, raw machine
 * code (hex) at a load address on the bare machine. It becomes a v1 scenario with `boot: 'bare'`,
 * which starts exactly as `lab exec` does (64 MiB of RAM, flat segment caches, RIP at `load`) and
 * has its default step budget (10,000,000).
 */
import { BARE_RAM_SIZE, DEFAULT_MAX_STEPS as EXEC_MAX_STEPS } from '../machine/bare.ts';
import { SCENARIO_VERSION, type ScenarioError } from './schema.ts';
import { validateScenario, type LoadResult } from './validate.ts';

type Obj = Record<string, unknown>;

/** v0 → v1. Fields are carried over untouched; validation then reports anything wrong in them. */
export function migrateV0(v0: Obj): Obj {
  const errors: string[] = [];
  for (const k of Object.keys(v0)) if (!['version', 'mode', 'load', 'code'].includes(k)) errors.push(k);
  const out: Obj = {
    version: 1,
    name: 'exec',
    description: 'Migrated from a version-0 (lab exec) program.',
    boot: 'bare',
    cpu: { vendor: 'intel' },
    mode: v0.mode,
    paging: v0.mode === 'long64' ? '4level' : 'none',
    memory: { size: BARE_RAM_SIZE },
    kernel: { bytes: v0.code, origin: v0.load },
    // lab exec's own default budget, so that `lab run` of a v0 file ends where `lab exec` does.
    limits: { maxSteps: EXEC_MAX_STEPS },
  };
  // Unknown v0 fields travel along so that v1 validation names them rather than dropping them.
  for (const k of errors) out[k] = v0[k];
  return out;
}

const MIGRATIONS: Readonly<Record<number, (o: Obj) => Obj>> = { 0: migrateV0 };

/** Lifts any known version to the current one; an error for unknown versions. */
export function migrate(input: unknown): { ok: true; value: unknown } | { ok: false; errors: ScenarioError[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { ok: true, value: input };
  let o = input as Obj;
  const v = o.version;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > SCENARIO_VERSION) {
    return { ok: false, errors: [{ path: 'version', message: `expected a version 0..${SCENARIO_VERSION}, got ${JSON.stringify(v) ?? 'nothing'}` }] };
  }
  for (let ver = v; ver < SCENARIO_VERSION; ver++) o = MIGRATIONS[ver]!(o);
  return { ok: true, value: o };
}

/** Migrates then validates: the one entry point for scenarios from files, links and lessons. */
export function loadScenario(input: unknown): LoadResult {
  const m = migrate(input);
  if (!m.ok) return m;
  return validateScenario(m.value);
}
