/**
 * The vendor's name of an exit from its vendor and code alone (a timeline mark keeps only those):
 * the basic exit reason's name as the SDM and the reference tables write it (EXIT_REASON_CPUID), or
 * AMD's EXITCODE name (VMEXIT_IOIO). The backends name the exits they report the same way.
 */
import { exitCodeName } from '../svm/exit-codes.ts';
import { exitReasonInfo } from '../vmx/exit-reasons.ts';

export function vmExitName(vendor: 'intel' | 'amd', code: number): string {
  if (vendor === 'amd') return exitCodeName(code) ?? (code === -1 ? 'VMEXIT_INVALID' : `VMEXIT_0x${(code >>> 0).toString(16)}`);
  const r = exitReasonInfo(code);
  return r === undefined ? `EXIT_REASON_${code}` : `EXIT_REASON_${r.name}`;
}
