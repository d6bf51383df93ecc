/**
 * The ledger: cycles charged under one preset, totalled by kind, by handler work, and by exit
 * reason (Intel) or exit code (AMD). Its state is plain data (`LedgerData`), so the worker can post
 * it and a checkpoint can copy it; the same charges in the same order give the same data.
 *
 * Attribution to exits: a VM exit or #VMEXIT opens its reason or code, and everything charged
 * until the next VM entry or VMRUN (the dispatch, field accesses, handler work, the entry itself)
 * is added to that reason's round-trip cycles as well as to its kind. Charges outside an exit (the
 * first VMLAUNCH, the host's setup, guest instructions) count only by kind. A handler that enters
 * the guest for one instruction holds its exit open until it is done (`hold` / `release`).
 */
import { type Charge, type CostKind, type HandlerWork } from './kinds.ts';
import { preset as presetById, type Preset } from './presets.ts';
import { price } from './price.ts';

export interface Tally {
  count: number;
  cycles: number;
}

export interface ExitTally {
  /** Exits of this reason or code. */
  count: number;
  /** Cycles of the exits themselves. */
  exitCycles: number;
  /** Cycles from each exit to the entry that resumed the guest, both included. */
  roundTripCycles: number;
}

export const LEDGER_FORMAT = 1;

export interface LedgerData {
  format: typeof LEDGER_FORMAT;
  preset: string;
  vendor: 'intel' | 'amd';
  cycles: number;
  byKind: Partial<Record<CostKind, Tally>>;
  byWork: Partial<Record<HandlerWork, Tally>>;
  /** By basic exit reason (Intel) or exit code (AMD), as a decimal string key. */
  exits: Record<string, ExitTally>;
  /** The reason or code of the exit being handled, or null while the guest runs (or before the first exit). */
  open: number | null;
}

function emptyData(p: Preset): LedgerData {
  return { format: LEDGER_FORMAT, preset: p.id, vendor: p.vendor, cycles: 0, byKind: {}, byWork: {}, exits: {}, open: null };
}

const add = <K extends string>(rec: Partial<Record<K, Tally>>, key: K, count: number, cycles: number): void => {
  const t = rec[key];
  if (t === undefined) rec[key] = { count, cycles };
  else {
    t.count += count;
    t.cycles += cycles;
  }
};

export class Ledger {
  private d: LedgerData;
  /**
   * While an exit's handler runs (`hold`), the exit it handles: everything charged until `release`
   * is that exit's, even after an entry the handler makes to run the guest for one instruction
   * (string I/O, MMIO, a shadow page-table write), which would otherwise close it. Transient: never
   * set between runs, so not part of the data.
   */
  private held: { key: number; entered: boolean; next: number | null } | null = null;

  constructor(readonly preset: Preset) {
    this.d = emptyData(preset);
  }

  /** A ledger continuing from data made by `data()` (posted by a worker, kept in a checkpoint). */
  static from(data: LedgerData, p: Preset | undefined = presetById(data.preset)): Ledger {
    if (data.format !== LEDGER_FORMAT) throw new Error(`ledger format ${String(data.format)} is not ${LEDGER_FORMAT}`);
    if (p === undefined || p.id !== data.preset) throw new Error(`ledger of preset ${data.preset}: no such preset given`);
    if (p.vendor !== data.vendor) throw new Error(`ledger of preset ${data.preset} says vendor ${data.vendor}, the preset ${p.vendor}`);
    const l = new Ledger(p);
    l.d = copy(data);
    return l;
  }

  /** Continues from `data` in place (restoring a checkpoint while other objects hold this ledger). */
  load(data: LedgerData): void {
    if (data.preset !== this.preset.id) throw new Error(`ledger of preset ${data.preset} loaded into one of ${this.preset.id}`);
    this.d = copy(data);
    this.held = null;
  }

  /** Charge one charge; returns its cycles. Throws UnpricedCharge (nothing recorded) if the preset has no figure. */
  charge(c: Charge): number {
    const cycles = price(this.preset, c);
    const n = c.count ?? 1;
    const d = this.d;
    d.cycles += cycles;
    add(d.byKind, c.kind, n, cycles);
    if (c.kind === 'handler') add(d.byWork, c.work, n, cycles);
    if ((c.kind === 'vm-exit' || c.kind === 'vmexit') && n > 0) {
      const key = c.kind === 'vm-exit' ? c.reason : c.code;
      const k = String(key);
      const t = (d.exits[k] ??= { count: 0, exitCycles: 0, roundTripCycles: 0 });
      t.count += n;
      t.exitCycles += cycles;
      t.roundTripCycles += cycles;
      // An exit the handler's one-instruction run made is handled next: it opens once the handler is done.
      if (this.held !== null) this.held.next = key;
      else d.open = key;
    } else if (this.held !== null) {
      const t = d.exits[String(this.held.key)];
      if (t !== undefined) t.roundTripCycles += cycles;
      if (c.kind === 'vm-entry' || c.kind === 'vmrun') this.held.entered = true;
    } else if (d.open !== null) {
      const t = d.exits[String(d.open)];
      if (t !== undefined) t.roundTripCycles += cycles;
      if (c.kind === 'vm-entry' || c.kind === 'vmrun') d.open = null;
    }
    return cycles;
  }

  /** An exit's handler starts: see `held`. Nothing to hold outside an exit. */
  hold(): void {
    this.held = this.d.open === null ? null : { key: this.d.open, entered: false, next: null };
  }

  /** The handler is done: the exit stays open (the guest is entered later), or is closed by the entry the handler made, or gives way to the exit that entry ended in. */
  release(): void {
    const h = this.held;
    this.held = null;
    if (h === null) return;
    this.d.open = h.next ?? (h.entered ? null : h.key);
  }

  chargeAll(charges: readonly Charge[]): number {
    let sum = 0;
    for (const c of charges) sum += this.charge(c);
    return sum;
  }

  get cycles(): number {
    return this.d.cycles;
  }

  /** The ledger as plain data, a copy (safe to post, store or compare). */
  data(): LedgerData {
    return copy(this.d);
  }

  reset(): void {
    this.d = emptyData(this.preset);
    this.held = null;
  }

  /** Continues from `data` (made by `data()` of a ledger of the same preset), in place: a checkpoint restored. */
  restore(data: LedgerData): void {
    this.d = Ledger.from(data, this.preset).d;
    this.held = null;
  }
}

function copyTallies<K extends string>(rec: Partial<Record<K, Tally>>): Partial<Record<K, Tally>> {
  const out: Partial<Record<K, Tally>> = {};
  for (const k of Object.keys(rec) as K[]) {
    const t = rec[k];
    if (t !== undefined) out[k] = { count: t.count, cycles: t.cycles };
  }
  return out;
}

function copy(d: LedgerData): LedgerData {
  const exits: Record<string, ExitTally> = {};
  for (const [k, t] of Object.entries(d.exits)) exits[k] = { count: t.count, exitCycles: t.exitCycles, roundTripCycles: t.roundTripCycles };
  return { format: d.format, preset: d.preset, vendor: d.vendor, cycles: d.cycles, byKind: copyTallies(d.byKind), byWork: copyTallies(d.byWork), exits, open: d.open };
}
