/**
 * Compares two `exec` results field by field and says, in words, where they differ. Flags the
 * SDM leaves undefined are masked out by the caller's `flagsMask`; RFLAGS.RF after a shutdown is
 * ignored (KVM leaves it set as a trace of its delivery attempt).
 */
import type { ExecResult } from './exec-types.ts';
import { EXEC_REG_NAMES } from './exec-types.ts';

export function diffExec(lab: ExecResult, oracle: ExecResult, opts: { flagsMask?: number; compareDump?: boolean } = {}): string[] {
  const out: string[] = [];
  if (lab.end !== oracle.end) out.push(`end: lab ${lab.end}, oracle ${oracle.end}${oracle.error ? ` (${oracle.error})` : ''}`);
  for (const name of EXEC_REG_NAMES) {
    const a = lab.regs[name];
    const b = oracle.regs[name];
    if (a === undefined || b === undefined) {
      if (a !== b) out.push(`${name}: lab ${a}, oracle ${b}`);
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
    if (x !== y) out.push(`${name}: lab 0x${x.toString(16)}, oracle 0x${y.toString(16)}`);
  }
  const n = Math.max(lab.exits.length, oracle.exits.length);
  for (let i = 0; i < n; i++) {
    const a = JSON.stringify(lab.exits[i]);
    const b = JSON.stringify(oracle.exits[i]);
    if (a !== b) {
      out.push(`exit ${i}: lab ${a}, oracle ${b}`);
      break;
    }
  }
  if (lab.exits.length !== oracle.exits.length) out.push(`exits: lab ${lab.exits.length}, oracle ${oracle.exits.length}`);
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
