/**
 * The JSON shape of `npm run lab -- exec` (issue 2, item 4), shared by the lab's CLI and the oracles
 * (KVM in tests/oracle/kvm, QEMU TCG in tests/oracle/qemu) so their outputs compare directly.
 *
 * Numbers are unsigned: a JSON number up to 2^53−1, a decimal string above.
 */

export type U64Json = number | string;

export type IoExit = {
  kind: 'io';
  dir: 'out' | 'in';
  port: number;
  size: number;
  /** What was written; 0 for `in` (the guest sees all ones). */
  value: U64Json;
};

export type MmioExit = {
  kind: 'mmio';
  dir: 'write' | 'read';
  gpa: U64Json;
  size: number;
  /** What was written; 0 for reads (the guest sees all ones). */
  value: U64Json;
};

export type ExitRecord = IoExit | MmioExit;

export type ExecEnd = 'hlt' | 'shutdown' | 'limit' | 'error';

export type ExecMode = 'prot32' | 'long64';

export interface ExecResult {
  exits: ExitRecord[];
  end: ExecEnd;
  regs: Record<string, U64Json>;
  /** Hex of the requested memory range, when the oracle was asked for one. */
  dump?: string;
  /** Why the run ended in `error` (e.g. KVM_EXIT_INTERNAL_ERROR with its data). */
  error?: string;
  /** Free-form extra information from the lab; comparisons ignore it. */
  hv?: Record<string, unknown>;
  /** False where the oracle cannot see port I/O or MMIO (QEMU): `exits` is then empty, not evidence. */
  exitsObserved?: boolean;
}

/** Register keys of `regs`, in output order. */
export const EXEC_REG_NAMES = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
  'rip', 'rflags', 'cr0', 'cr3', 'cr4',
] as const;

export type ExecRegName = (typeof EXEC_REG_NAMES)[number];

/** RFLAGS.RF, bit 16 (SDM Vol. 3 2.3): KVM leaves it set after a shutdown. */
export const RFLAGS_RF = 1n << 16n;

export function u64FromJson(v: U64Json): bigint {
  return BigInt(v);
}

export function u64ToJson(v: bigint): U64Json {
  const u = BigInt.asUintN(64, v);
  return u <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(u) : u.toString();
}

/**
 * A copy of `r` ready for deep equality with another oracle's result: `hv` dropped, and RFLAGS.RF
 * cleared after a shutdown when `ignoreRfAfterShutdown` (the samples' README allows it).
 */
export function comparableExec(r: ExecResult, opts: { ignoreRfAfterShutdown?: boolean } = {}): ExecResult {
  const { hv: _hv, ...rest } = r;
  const regs = { ...r.regs };
  const rflags = regs['rflags'];
  if (opts.ignoreRfAfterShutdown && r.end === 'shutdown' && rflags !== undefined) {
    regs['rflags'] = u64ToJson(u64FromJson(rflags) & ~RFLAGS_RF);
  }
  return { ...rest, regs, exits: r.exits.map((e) => ({ ...e })) };
}
