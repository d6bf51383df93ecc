/** Runs a program on the lab's bare machine and returns the `exec` result, with a memory dump like the oracles'. */
import { bareResult, createBareMachine } from '../../src/emu/machine/bare.ts';
import type { CpuFeatures } from '../../src/emu/cpu/core.ts';
import type { ExecMode, ExecResult } from './exec-types.ts';

export interface LabExecRequest {
  mode: ExecMode;
  load: number;
  code: Uint8Array;
  maxSteps: number;
  dump?: { addr: number; len: number };
  /** CPU features (default: the KVM harness's, i.e. no 1-GByte pages, no LA57); QEMU's `-cpu max` has them all. */
  features?: CpuFeatures;
}

export function labExec(req: LabExecRequest): ExecResult {
  const m = createBareMachine({ mode: req.mode, load: req.load, code: req.code, ...(req.features ? { features: req.features } : {}) });
  const end = m.cpu.run(req.maxSteps);
  const r: ExecResult = bareResult(m, end);
  if (req.dump) {
    const bytes = new Uint8Array(req.dump.len);
    for (let i = 0; i < req.dump.len; i++) bytes[i] = m.mem.read8(req.dump.addr + i);
    r.dump = Buffer.from(bytes).toString('hex');
  }
  return r;
}
