/** Scenarios: the format (schema.ts), loading (migrate.ts, validate.ts) and booting (build.ts). */
export * from './schema.ts';
export { loadScenario, migrate, migrateV0 } from './migrate.ts';
export { validateScenario, parseHex, type Image, type LoadedScenario, type LoadResult } from './validate.ts';
export { buildScenario, runScenario, machineResult, type RunResult } from './build.ts';
export * as layout from './layout.ts';
