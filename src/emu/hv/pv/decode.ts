/**
 * A hypercall's arguments decoded from the guest's memory, for views: what mmu_update was asked
 * to write (each request's PTE or PDE address, the new value, and what it maps), set_trap_table's
 * entries, mmuext_op's operations, console_io's text. Read right after the hypervisor handled the
 * call (hv-machine.ts), through the domain's own page tables, from buffers the hypervisor does not
 * write (only `success_count`, read here too), so they are what the guest passed. Plain data.
 */
import { HC, MMU_UPDATE_SIZE, MMUEXT, MMUEXT_OP_SIZE, TRAP_INFO_SIZE } from './abi.ts';
import type { PvHypercallRecord } from './backend.ts';

/** One page-table write: the entry's machine address, its new value, and what the entry maps. */
export interface PvPteWrite {
  ptr: number;
  val: number;
  /** The entry's table as the hypervisor types it (pinned L1 or L2), or null (not a pinned table: the request was refused). */
  table: 'l1' | 'l2' | null;
  /** L1: the virtual address the PTE maps (through the pinned directory slot pointing to its table), or null if none does; L2: the first address of its 4 MiB. */
  va: number | null;
  /** The frame the value points to (an L2 entry: the L1 table's). */
  frame: number;
  present: boolean;
  writable: boolean;
  user: boolean;
}

export type PvDetail =
  | { kind: 'mmu_update'; count: number; done: number; first: PvPteWrite[]; last: PvPteWrite | null }
  | { kind: 'set_trap_table'; entries: { vector: number; dpl: number; maskEvents: boolean; cs: number; address: number }[] }
  | { kind: 'mmuext_op'; ops: { cmd: string; arg: number }[] }
  | { kind: 'console_io'; text: string }
  | { kind: 'update_va_mapping'; write: PvPteWrite; flush: 'none' | 'invlpg' | 'all' }
  | { kind: 'stack_switch'; ss: number; esp: number }
  | { kind: 'sched_op'; cmd: string; reason: string | null }
  | { kind: 'other' };

/** How many of mmu_update's requests the view decodes. */
export const PV_FIRST_REQUESTS = 4;

const MMUEXT_NAMES = new Map<number, string>(Object.entries(MMUEXT).map(([k, v]) => [v, k]));
const SHUTDOWN_REASONS = ['poweroff', 'reboot', 'suspend', 'crash'];

export interface PvMemory {
  /** A 32-bit word at a guest virtual address through the domain's tables, or null. */
  read32(va: number): number | null;
  read8(va: number): number | null;
  /** A 32-bit word at a machine address. */
  phys32(pa: number): number;
  /** The pinned page-table frames and their level. */
  tables: ReadonlyMap<number, 'l1' | 'l2'>;
}

/** Which directory slot (in a pinned L2 table) points to L1 table `frame`, or null. */
function slotOf(mem: PvMemory, frame: number): number | null {
  for (const [t, type] of mem.tables) {
    if (type !== 'l2') continue;
    for (let i = 0; i < 1023; i++) {
      const e = mem.phys32(t * 4096 + i * 4);
      if ((e & 1) !== 0 && e >>> 12 === frame) return i;
    }
  }
  return null;
}

export function pteWrite(mem: PvMemory, ptr: number, val: number): PvPteWrite {
  const ma = ptr & ~3;
  const table = mem.tables.get(ma >>> 12) ?? null;
  const index = (ma & 0xfff) >>> 2;
  let va: number | null = null;
  if (table === 'l2') va = (index << 22) >>> 0;
  else if (table === 'l1') {
    const slot = slotOf(mem, ma >>> 12);
    va = slot === null ? null : ((slot << 22) | (index << 12)) >>> 0;
  }
  return { ptr: ma >>> 0, val: val >>> 0, table, va, frame: val >>> 12, present: (val & 1) !== 0, writable: (val & 2) !== 0, user: (val & 4) !== 0 };
}

const num = (v: number | string | undefined): number => (typeof v === 'number' ? v >>> 0 : 0);

/** The hypercall's arguments decoded (right after it was handled: see the module comment). */
export function decodeHypercall(rec: PvHypercallRecord, mem: PvMemory): PvDetail {
  const a = rec.args;
  switch (rec.nr) {
    case HC.mmu_update: {
      const count = num(a.count);
      const first: PvPteWrite[] = [];
      for (let i = 0; i < Math.min(count, PV_FIRST_REQUESTS); i++) {
        const at = num(a.req) + i * MMU_UPDATE_SIZE;
        const ptr = mem.read32(at);
        const val = mem.read32(at + 8);
        if (ptr === null || val === null) break;
        first.push(pteWrite(mem, ptr, val));
      }
      const pdone = num(a.success_count);
      const done = pdone === 0 ? (rec.result === 0 ? count : 0) : (mem.read32(pdone) ?? 0);
      // The last request too, when the first do not reach it (the kernel's is the directory entry).
      let last: PvPteWrite | null = null;
      if (count > PV_FIRST_REQUESTS) {
        const at = num(a.req) + (count - 1) * MMU_UPDATE_SIZE;
        const ptr = mem.read32(at);
        const val = mem.read32(at + 8);
        if (ptr !== null && val !== null) last = pteWrite(mem, ptr, val);
      }
      return { kind: 'mmu_update', count, done, first, last };
    }
    case HC.set_trap_table: {
      const entries: Extract<PvDetail, { kind: 'set_trap_table' }>['entries'] = [];
      const table = num(a.table);
      for (let n = 0; table !== 0 && n < 256; n++) {
        const w0 = mem.read32(table + n * TRAP_INFO_SIZE);
        const address = mem.read32(table + n * TRAP_INFO_SIZE + 4);
        if (w0 === null || address === null || address === 0) break;
        const flags = (w0 >>> 8) & 0xff;
        entries.push({ vector: w0 & 0xff, dpl: flags & 3, maskEvents: (flags & 4) !== 0, cs: w0 >>> 16, address });
      }
      return { kind: 'set_trap_table', entries };
    }
    case HC.mmuext_op: {
      const ops: { cmd: string; arg: number }[] = [];
      for (let i = 0; i < Math.min(num(a.count), 16); i++) {
        const cmd = mem.read32(num(a.ops) + i * MMUEXT_OP_SIZE);
        const arg = mem.read32(num(a.ops) + i * MMUEXT_OP_SIZE + 4);
        if (cmd === null || arg === null) break;
        ops.push({ cmd: MMUEXT_NAMES.get(cmd) ?? String(cmd), arg });
      }
      return { kind: 'mmuext_op', ops };
    }
    case HC.console_io: {
      let text = '';
      for (let i = 0; i < Math.min(num(a.count), 256); i++) {
        const c = mem.read8(num(a.buffer) + i);
        if (c === null) break;
        text += String.fromCharCode(c);
      }
      return { kind: 'console_io', text };
    }
    case HC.update_va_mapping: {
      const f = num(a.flags) & 3;
      // The PTE that maps `va` through the current directory (the write already made: the table's entry now holds `val`).
      const va = num(a.va);
      let ptr = 0;
      for (const [t, type] of mem.tables) {
        if (type !== 'l2') continue;
        const pde = mem.phys32(t * 4096 + (va >>> 22) * 4);
        if ((pde & 1) !== 0 && mem.phys32((pde & ~0xfff) + ((va >>> 12) & 0x3ff) * 4) === num(a.val)) {
          ptr = (pde & ~0xfff) + ((va >>> 12) & 0x3ff) * 4;
          break;
        }
      }
      const w = pteWrite(mem, ptr, num(a.val));
      return { kind: 'update_va_mapping', write: { ...w, va }, flush: f === 2 ? 'invlpg' : f === 1 ? 'all' : 'none' };
    }
    case HC.stack_switch:
      return { kind: 'stack_switch', ss: num(a.ss), esp: num(a.esp) };
    case HC.sched_op:
      return { kind: 'sched_op', cmd: String(a.cmd), reason: a.reason === undefined ? null : (SHUTDOWN_REASONS[num(a.reason)] ?? String(a.reason)) };
    default:
      return { kind: 'other' };
  }
}
