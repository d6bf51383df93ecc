/**
 * The field accesses a backend logs while the hypervisor handles an exit (VMREAD/VMWRITE by name,
 * VMCB accesses, the `gpr.*` registers), taken into the exit's log entry when its handler is done.
 * A handler may enter the guest for one instruction (string I/O, MMIO, a shadow page-table write);
 * if that run ends in an exit of its own, what the backend logs for that exit is set aside
 * (`aside`) and becomes the start of the next `take`, the record of the exit handled next.
 */
import type { BackendRun, FieldAccess } from './types.ts';

export class FieldLog {
  private list: FieldAccess[] = [];
  private carried: FieldAccess[] = [];

  push(a: FieldAccess): void {
    this.list.push(a);
  }

  /** The accesses of the exit just handled; what a one-instruction run's exit logged begins the next. */
  take(): FieldAccess[] {
    const a = this.list;
    this.list = this.carried;
    this.carried = [];
    return a;
  }

  /** Runs `enter` (a one-instruction run inside a handler), keeping what it logs apart for the exit it may end in. */
  aside(enter: () => BackendRun): BackendRun {
    const mine = this.list;
    this.list = [];
    try {
      return enter();
    } finally {
      this.carried.push(...this.list);
      this.list = mine;
    }
  }

  clear(): void {
    this.list = [];
    this.carried = [];
  }
}
