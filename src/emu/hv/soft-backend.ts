/**
 * What the software monitors share (te/backend.ts trap-and-emulate and bt/ after it, pv/backend.ts
 * paravirtualization): the guest lives in the processor itself, its kernel deprivileged to ring 1,
 * so the backend reads and writes the guest's registers in the CPU directly, and there is no control
 * structure to log, no nested paging, no tagged TLB.
 */
import type { Cpu } from '../cpu/cpu.ts';
import { GuestExit } from '../cpu/guest.ts';
import type { Ledger } from '../cost/ledger.ts';
import type { BackendRun, FieldAccess, HvExit } from './types.ts';

export abstract class SoftwareBackend {
  readonly nested = false;
  readonly tlbTags = false;
  inHandler = false;
  /** Entries into the monitor by cause (trap-and-emulate: cli, out, mov cr3, #PF; binary translation: its callouts too; paravirtualization: hypercalls, reflected exceptions, upcalls). */
  readonly traps = new Map<string, number>();
  /** The first cause counted since `takeCounted` last ran. */
  private firstCounted: string | null = null;

  constructor(readonly cpu: Cpu) {}

  protected count(name: string): void {
    this.traps.set(name, (this.traps.get(name) ?? 0) + 1);
    this.firstCounted ??= name;
  }

  /** The first cause counted since the last call (null if none). */
  protected takeCounted(): string | null {
    const c = this.firstCounted;
    this.firstCounted = null;
    return c;
  }

  /**
   * The exit `read` makes of an intercept, with the cause it counted for it (HvExit.cause). The
   * machine labels each exit's record with it: an exit can be read while another is handled (a
   * fault of an instruction the monitor runs once), so "the count that grew since the last record"
   * would name the wrong one.
   */
  protected withCause<E extends HvExit | null>(read: () => E): E {
    this.takeCounted();
    const exit = read();
    const cause = this.takeCounted();
    if (exit !== null && cause !== null) exit.cause = cause;
    return exit;
  }

  /**
   * Runs the guest in the processor for at most `budget` instructions (unless an exit is already
   * recorded), and charges what it ran natively and the walk references it made. Returns how the
   * run ended ('exit' when the monitor took an intercept) and the instructions it retired.
   */
  protected runGuest(budget: number, ledger: Ledger): { end: string; native: number } {
    const cpu = this.cpu;
    let end = 'exit';
    const before = cpu.state.steps;
    const refsBefore = cpu.mmu.refs;
    if (cpu.exit === null) {
      try {
        end = cpu.run(budget);
      } catch (e) {
        if (e !== GuestExit.signal) throw e;
        end = 'exit';
      }
    }
    const native = cpu.state.steps - before;
    if (native > 0) ledger.charge({ kind: 'guest-insn', count: native });
    const refs = cpu.mmu.refs - refsBefore;
    if (refs > 0) ledger.charge({ kind: 'page-walk-ref', count: refs });
    return { end, native };
  }

  gpr(n: number): bigint {
    const st = this.cpu.state;
    return (BigInt(st.regHi[n]! >>> 0) << 32n) | BigInt(st.regLo[n]! >>> 0);
  }

  /** Writes like the guest's own instruction of that size: 1 and 2 bytes merge, 4 and 8 replace. */
  setGpr(n: number, v: bigint, size: 1 | 2 | 4 | 8): void {
    const st = this.cpu.state;
    const old = this.gpr(n);
    const mask = size === 8 ? 0xffffffffffffffffn : (1n << BigInt(size * 8)) - 1n;
    const nv = size === 8 || size === 4 ? v & mask : (old & ~mask) | (v & mask);
    st.regLo[n] = Number(nv & 0xffffffffn);
    st.regHi[n] = Number(nv >> 32n);
  }

  rip(): bigint {
    const st = this.cpu.state;
    return (BigInt(st.ripHi >>> 0) << 32n) | BigInt(st.ripLo >>> 0);
  }

  /** The guest's privilege level: ring 1 is its kernel's ring 0. */
  cpl(): number {
    const c = this.cpu.cpl();
    return c === 1 ? 0 : c;
  }

  long64(): boolean {
    return false;
  }

  rflags(): number {
    this.cpu.syncFlags();
    return this.cpu.state.rflags >>> 0;
  }

  /** The guest reads the processor's own TSC (no offset without VT-x or AMD-V). */
  guestTsc(): bigint {
    return BigInt(this.cpu.state.tsc);
  }

  /** No control structure: nothing of the monitor's is a field access. */
  takeAccesses(): FieldAccess[] {
    return [];
  }

  passThroughMmio(): BackendRun {
    throw new Error(`passThroughMmio: no nested paging under a software monitor (${this.constructor.name})`);
  }

  mapMmio(): void {
    throw new Error(`mapMmio: no nested paging under a software monitor (${this.constructor.name})`);
  }
}
