/**
 * fast-check runs with a fixed seed so that a test run is reproducible (CI never fails on a case
 * that the next run would not try). Set FC_SEED to explore other cases, e.g. FC_SEED=$RANDOM.
 */
import fc from 'fast-check';

const seed = Number(process.env['FC_SEED'] ?? 20261129);
fc.configureGlobal({ seed: Number.isFinite(seed) ? seed : 20261129 });
