/**
 * The paravirtualization views' words for a hypercall (plain TS, tested): its decoded arguments as
 * lines, its result, and what the hypervisor did in one clause for the narration, from
 * `ViewState.vm.pv` (vm-types.ts VmPvHypercall) in the reader's language.
 */
import '../../i18n/parts/pv.ts';
import type { MessageKey } from '../../i18n/messages.ts';
import type { VmPvHypercall, VmPvPteWrite } from '../../worker/vm-types.ts';
import type { Tr } from '../cpu/text.ts';

function flags(t: Tr, w: VmPvPteWrite): string {
  if (!w.present) return t('pv.flag.np');
  return `${t(w.writable ? 'pv.flag.rw' : 'pv.flag.ro')}, ${t(w.user ? 'pv.flag.user' : 'pv.flag.kernel')}`;
}

/** One page-table write: a PTE with what it maps, a PDE with its 4 MiB, or an entry outside any pinned table. */
export function pteLine(t: Tr, w: VmPvPteWrite): string {
  if (w.table === 'l2') return t('pv.d.pde', { ptr: w.ptr, val: w.val, va: w.va ?? '?', frame: w.frame });
  if (w.table === 'l1' && w.va !== null) return t('pv.d.pte', { ptr: w.ptr, val: w.val, va: w.va, frame: w.frame, flags: flags(t, w) });
  return t('pv.d.entry', { ptr: w.ptr, val: w.val });
}

const EXT = new Set(['PIN_L1_TABLE', 'PIN_L2_TABLE', 'UNPIN_TABLE', 'NEW_BASEPTR', 'TLB_FLUSH_LOCAL', 'INVLPG_LOCAL']);

function extLine(t: Tr, op: { cmd: string; arg: string }): string {
  return EXT.has(op.cmd) ? t(`pv.d.ext.${op.cmd}` as MessageKey, { arg: op.arg }) : t('pv.d.ext.other', { cmd: op.cmd, arg: op.arg });
}

/** The arguments decoded, a line each (mmu_update: the count, the first requests, the last). */
export function detailLines(t: Tr, h: VmPvHypercall): string[] {
  const d = h.detail;
  switch (d.kind) {
    case 'mmu_update': {
      const lines = [t('pv.d.mmu', { count: d.count, done: d.done }), ...d.first.map((w) => pteLine(t, w))];
      if (d.last !== null) {
        const more = d.count - d.first.length - 1;
        if (more > 0) lines.push(t('pv.d.more', { n: more }));
        lines.push(pteLine(t, d.last));
      }
      return lines;
    }
    case 'set_trap_table':
      return d.entries.length === 0 ? [t('pv.d.trapNone')] : d.entries.map((e) => t(e.maskEvents ? 'pv.d.trapMask' : 'pv.d.trap', { vector: e.vector, cs: e.cs, address: e.address, dpl: e.dpl }));
    case 'mmuext_op':
      return d.ops.map((o) => extLine(t, o));
    case 'console_io':
      return [t('pv.d.console', { text: d.text.replace(/\n/g, '\u21b5') })];
    case 'update_va_mapping': {
      const vars = { va: d.write.va ?? '?', val: d.write.val, flags: flags(t, d.write) };
      return [t(d.flush === 'invlpg' ? 'pv.d.uvmInvlpg' : d.flush === 'all' ? 'pv.d.uvmFlush' : 'pv.d.uvm', vars)];
    }
    case 'stack_switch':
      return [t('pv.d.stack', { ss: d.ss, esp: d.esp })];
    case 'sched_op':
      return [d.cmd === 'SCHEDOP_shutdown' ? t('pv.d.shutdown', { reason: d.reason ?? '?' }) : t('pv.d.sched', { cmd: d.cmd })];
    default:
      return [t('pv.d.args', { args: h.args.map((a) => `${a.name}=${a.value}`).join(', ') })];
  }
}

/** The result: 0 or a count, or −errno with the call refused. */
export function resultText(t: Tr, h: VmPvHypercall): string {
  return h.errno === null ? t('pv.result.ok', { result: h.result }) : t('pv.result.refused', { result: h.result, errno: h.errno });
}

/** What the hypervisor did, as a clause of the narration. */
export function didClause(t: Tr, h: VmPvHypercall): string {
  const d = h.detail;
  switch (d.kind) {
    case 'mmu_update': return t('pv.narr.mmu', { done: d.done, count: d.count });
    case 'set_trap_table': return t('pv.narr.trap', { n: d.entries.length });
    case 'mmuext_op': return t('pv.narr.ext', { ops: d.ops.map((o) => extLine(t, o)).join(t('pv.narr.sep')) });
    case 'console_io': return t('pv.narr.console', { text: d.text.replace(/\n/g, '\u21b5') });
    case 'update_va_mapping': return t('pv.narr.uvm', { va: d.write.va ?? '?', val: d.write.val });
    case 'stack_switch': return t('pv.narr.stack', { ss: d.ss, esp: d.esp });
    case 'sched_op': return d.cmd === 'SCHEDOP_shutdown' ? t('pv.narr.shutdown') : t('pv.narr.other');
    default: return t('pv.narr.other');
  }
}
