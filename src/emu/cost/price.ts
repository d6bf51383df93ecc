/**
 * Pricing a charge under a preset, and the charges of one exit handled from start to finish.
 */
import type { Figure } from './figure.ts';
import { COST_KINDS, type Charge, type CostKindInfo, type HandlerWork } from './kinds.ts';
import type { Preset } from './presets.ts';

/** A charge the preset has no figure for: a kind of the other vendor, or one no layer has priced yet. */
export class UnpricedCharge extends Error {
  constructor(
    readonly presetId: string,
    readonly charge: Charge,
  ) {
    const info: CostKindInfo = COST_KINDS[charge.kind];
    const why = info.vendor !== 'any' ? ` (an ${info.vendor === 'intel' ? 'Intel VT-x' : 'AMD-V'} kind)` : info.pendingIssue !== undefined ? ` (priced by the layer of issue ${info.pendingIssue})` : '';
    super(`preset ${presetId} does not price ${describeCharge(charge)}${why}`);
    this.name = 'UnpricedCharge';
  }
}

export function describeCharge(c: Charge): string {
  if (c.kind === 'vm-exit') return `vm-exit reason ${c.reason}`;
  if (c.kind === 'vmexit') return `vmexit code ${c.code}`;
  if (c.kind === 'handler') return `handler ${c.work}`;
  return c.kind;
}

/** The figure a preset charges for one occurrence of this charge; throws UnpricedCharge if it has none. */
export function figureFor(p: Preset, c: Charge): Figure {
  let f: Figure | undefined;
  if (c.kind === 'handler') f = p.handlers[c.work];
  else {
    if (c.kind === 'vm-exit' || c.kind === 'vmexit') {
      const key = c.kind === 'vm-exit' ? c.reason : c.code;
      const vendorOk = (c.kind === 'vm-exit') === (p.vendor === 'intel');
      if (vendorOk) f = p.exitBy[key];
    }
    f ??= p.figures[c.kind];
  }
  if (f === undefined) throw new UnpricedCharge(p.id, c);
  return f;
}

/** Cycles for a charge (its figure times its count). */
export function price(p: Preset, c: Charge): number {
  const n = c.count ?? 1;
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`charge count ${n} is not a whole number`);
  return figureFor(p, c).cycles * n;
}

export function cyclesOf(p: Preset, charges: readonly Charge[]): number {
  let sum = 0;
  for (const c of charges) sum += price(p, c);
  return sum;
}

/** One exit handled by the hypervisor: why the guest left, what the handler does, its VMCS/VMCB accesses. */
export interface ExitPlan {
  /** The basic exit reason (Intel) or exit code (AMD). */
  exit: number;
  /** The handler's work, if it does any beyond the dispatch. */
  work?: HandlerWork;
  /** VMREADs (Intel) or VMCB field reads (AMD). */
  reads: number;
  /** VMWRITEs or VMCB field writes. */
  writes: number;
}

/**
 * The charges of one exit's round trip in the order a hypervisor incurs them: the exit, the
 * software path, the field reads, the handler's work, the field writes, and the entry back.
 */
export function roundTrip(p: Preset, plan: ExitPlan): Charge[] {
  const intel = p.vendor === 'intel';
  const out: Charge[] = [intel ? { kind: 'vm-exit', reason: plan.exit } : { kind: 'vmexit', code: plan.exit }, { kind: 'hv-dispatch' }];
  if (plan.reads > 0) out.push({ kind: intel ? 'vmread' : 'vmcb-read', count: plan.reads });
  if (plan.work !== undefined) out.push({ kind: 'handler', work: plan.work });
  if (plan.writes > 0) out.push({ kind: intel ? 'vmwrite' : 'vmcb-write', count: plan.writes });
  out.push({ kind: intel ? 'vm-entry' : 'vmrun' });
  return out;
}
