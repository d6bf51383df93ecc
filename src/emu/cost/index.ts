/** The cost model: what costs cycles (kinds), the named presets, pricing, and the ledger. */
export * from './figure.ts';
export * from './kinds.ts';
export * from './ledger.ts';
export * from './presets.ts';
export * from './price.ts';
