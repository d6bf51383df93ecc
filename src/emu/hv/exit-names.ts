/**
 * Names of an exit from its vendor and code alone (a timeline mark keeps only those).
 * - `vmExitName`: the identifier hypervisors use in their sources, as the backends and the reference
 *   tables name exits: Linux's `EXIT_REASON_CPUID` macros for VT-x, the APM's `VMEXIT_IOIO` for AMD-V.
 * - `vmExitTitle`: the name a student reads, as the manuals write it: the SDM's words for a basic
 *   exit reason (Appendix C: "I/O instruction", "RDMSR", "CPUID"; the SDM has no EXIT_REASON_
 *   names), the APM's EXITCODE name for AMD-V (Appendix C: VMEXIT_IOIO).
 */
import { exitCodeName } from '../svm/exit-codes.ts';
import { exitReasonInfo } from '../vmx/exit-reasons.ts';

function amdName(code: number): string {
  return exitCodeName(code) ?? (code === -1 ? 'VMEXIT_INVALID' : `VMEXIT_0x${(code >>> 0).toString(16)}`);
}

export function vmExitName(vendor: 'intel' | 'amd', code: number): string {
  if (vendor === 'amd') return amdName(code);
  const r = exitReasonInfo(code);
  return r === undefined ? `EXIT_REASON_${code}` : `EXIT_REASON_${r.name}`;
}

export function vmExitTitle(vendor: 'intel' | 'amd', code: number): string {
  if (vendor === 'amd') return amdName(code);
  return exitReasonInfo(code)?.title ?? `exit reason ${code}`;
}
