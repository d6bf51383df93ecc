/**
 * Scenarios: the format (schema.ts), loading (migrate.ts, validate.ts) and booting (build.ts).
 * Importing this module also loads the hypervisor (hv/hv-machine.ts), so `buildScenario` builds
 * scenarios with a technique; the worker imports the parts directly and loads it on demand.
 */
import '../hv/hv-machine.ts';
import '../hv/host-machine.ts';
export * from './schema.ts';
export { loadScenario, migrate, migrateV0 } from './migrate.ts';
export { validateScenario, parseHex, type Image, type LoadedScenario, type LoadResult } from './validate.ts';
export { buildScenario, runScenario, machineResult, type RunResult } from './build.ts';
export * as layout from './layout.ts';
