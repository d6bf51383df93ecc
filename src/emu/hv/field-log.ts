/**
 * The field accesses a backend logs while the hypervisor handles an exit (VMREAD/VMWRITE by name,
 * VMCB accesses, the `gpr.*` registers), taken into the exit's log entry when its handler is done.
 * A handler may enter the guest for one instruction (string I/O, MMIO, a shadow page-table write);
 * if that run ends in an exit of its own, what the backend logs for that exit is set aside
 * (`aside`) and becomes the start of the next `take`, the record of the exit handled next.
 *
 * Plain data (a backend's checkpoint copies it with its other plain fields, capture.ts): accesses
 * logged between steps, such as the host's VMX-preemption timer write before an entry, belong to
 * the exit whose record takes them, and must come back with a restored checkpoint.
 */
import type { BackendRun, FieldAccess } from './types.ts';

export interface FieldLog {
  list: FieldAccess[];
  carried: FieldAccess[];
}

export const fieldLog = (): FieldLog => ({ list: [], carried: [] });

/** The accesses of the exit just handled; what a one-instruction run's exit logged begins the next. */
export function takeFields(log: FieldLog): FieldAccess[] {
  const a = log.list;
  log.list = log.carried;
  log.carried = [];
  return a;
}

/** Runs `enter` (a one-instruction run inside a handler), keeping what it logs apart for the exit it may end in. */
export function enterAside(log: FieldLog, enter: () => BackendRun): BackendRun {
  const mine = log.list;
  log.list = [];
  try {
    return enter();
  } finally {
    log.carried.push(...log.list);
    log.list = mine;
  }
}
