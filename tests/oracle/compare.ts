/**
 * Compares two `exec` results field by field and says, in words, where they differ. Flags the
 * SDM leaves undefined are masked out by the caller's `flagsMask`; RFLAGS.RF after a shutdown is
 * ignored (KVM leaves it set as a trace of its delivery attempt).
 */
import type { ExecResult } from './exec-types.ts';
import { EXEC_REG_NAMES } from './exec-types.ts';

export interface DiffOptions {
  /** RFLAGS bits to compare (the defined ones). */
  flagsMask?: number;
  compareDump?: boolean;
  /** CR0 bits to ignore (QEMU keeps CR0.ET set where KVM's start state has it clear). */
  cr0Ignore?: number;
}

/** Registers the oracle did not report (QEMU in prot32 has no r8–r15) are not compared. */
export function diffExec(lab: ExecResult, oracle: ExecResult, opts: DiffOptions = {}): string[] {
  const out: string[] = [];
  if (lab.end !== oracle.end) out.push(`end: lab ${lab.end}, oracle ${oracle.end}${oracle.error ? ` (${oracle.error})` : ''}`);
  for (const name of EXEC_REG_NAMES) {
    const a = lab.regs[name];
    const b = oracle.regs[name];
    if (b === undefined) continue;
    if (a === undefined) {
      out.push(`${name}: missing from the lab's result`);
      continue;
    }
    let x = BigInt(a);
    let y = BigInt(b);
    if (name === 'rflags') {
      let mask = BigInt(opts.flagsMask ?? 0xffffffff);
      if (oracle.end === 'shutdown') mask &= ~(1n << 16n);
      x &= mask;
      y &= mask;
    }
    if (name === 'cr0' && opts.cr0Ignore) {
      x &= ~BigInt(opts.cr0Ignore);
      y &= ~BigInt(opts.cr0Ignore);
    }
    if (x !== y) out.push(`${name}: lab 0x${x.toString(16)}, oracle 0x${y.toString(16)}`);
  }
  const n = oracle.exitsObserved === false ? 0 : Math.max(lab.exits.length, oracle.exits.length);
  for (let i = 0; i < n; i++) {
    const a = JSON.stringify(lab.exits[i]);
    const b = JSON.stringify(oracle.exits[i]);
    if (a !== b) {
      out.push(`exit ${i}: lab ${a}, oracle ${b}`);
      break;
    }
  }
  if (oracle.exitsObserved !== false && lab.exits.length !== oracle.exits.length) out.push(`exits: lab ${lab.exits.length}, oracle ${oracle.exits.length}`);
  if (opts.compareDump !== false && lab.dump !== undefined && oracle.dump !== undefined && lab.dump !== oracle.dump) {
    for (let i = 0; i < lab.dump.length; i += 2) {
      if (lab.dump.slice(i, i + 2) !== oracle.dump.slice(i, i + 2)) {
        out.push(`memory differs first at dump byte ${i / 2}: lab ${lab.dump.slice(i, i + 16)}, oracle ${oracle.dump.slice(i, i + 16)}`);
        break;
      }
    }
  }
  return out;
}
