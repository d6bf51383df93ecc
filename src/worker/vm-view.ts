/**
 * ViewState.vm (vm-types.ts) from the hypervisor's machine at the current step: the VMCS or VMCB
 * as it is in memory (read from the region, never through VMREAD: nothing logged or charged), the
 * exits of the step that led here and the last one before, the controls or intercept bits, exits
 * by reason and the cycles from the ledger. Everything is a function of the scenario and the step:
 * the exit records are the machine's (restored with it), and "changed" compares the fields with
 * the step before (the session goes there and back, as it does for the walks).
 */
import { HvMachine, SVM_EXIT_INFO_FIELDS, VMX_EXIT_INFO_FIELDS, type HvExitRecord } from '../emu/hv/hv-machine.ts';
import { TeBackend } from '../emu/hv/te/backend.ts';
import { BtBackend } from '../emu/hv/bt/backend.ts';
import { btBefore, btView } from './bt-view.ts';
import { PvBackend, SHARED_INFO_PA, TIMER_PORT, SELF_PORT } from '../emu/hv/pv/backend.ts';
import { SHARED } from '../emu/hv/pv/abi.ts';
import { kernelDiff } from '../emu/hv/pv/kernel.ts';
import type { PvDetail, PvPteWrite } from '../emu/hv/pv/decode.ts';
import { decode } from '../emu/cpu/decode.ts';
import { formatInsn } from '../emu/asm/disasm.ts';
import { Flag, SegAttr } from '../emu/cpu/state.ts';
import { HostMachine, type HvUnitView } from '../emu/hv/host-machine.ts';
import type { LedgerData } from '../emu/cost/ledger.ts';
import { EXIT_OPTIONS as VMX_OPTIONS, REQUIRED_CONTROLS as VMX_REQUIRED, VmxBackend } from '../emu/hv/vmx-backend.ts';
import { EXIT_OPTIONS as SVM_OPTIONS, REQUIRED_CONTROLS as SVM_REQUIRED } from '../emu/hv/svm-backend.ts';
import type { ExitOptionControl, RequiredControl } from '../emu/hv/types.ts';
import { vmExitTitle } from '../emu/hv/exit-names.ts';
import { CONTROL_BITS, Entry, Primary, TRUE_ALLOWED, SUPPORTED_FEATURES, type ControlField } from '../emu/vmx/controls.ts';
import { ExitReason } from '../emu/vmx/exit-reasons.ts';
import { VMCS_FIELDS } from '../emu/vmx/fields.ts';
import { bitLabel, CR_ACCESS_LAYOUT, EPT_VIOLATION_LAYOUT, IDT_VECTORING_INFO_LAYOUT, INTERRUPTION_INFO_LAYOUT, IO_LAYOUT, type Layout } from '../emu/vmx/qualification.ts';
import { SVM_EXIT } from '../emu/svm/exit-codes.ts';
import { INTERCEPT, readInterceptWords } from '../emu/svm/intercepts.ts';
import { VMCB_FIELDS, type VmcbField } from '../emu/svm/vmcb.ts';
import { MEMORY_COST_KINDS, type CostKind } from '../emu/cost/kinds.ts';
import { hopsOf, type ExitPath } from '../emu/hv/hosting.ts';
import type {
  PvBecomes, VmAccessView, VmBitsView, VmControlView, VmExitInfoView, VmExitView, VmFieldView, VmGuestView, VmHostingView, VmHostPath, VmPvDetail, VmPvDiffHunk, VmPvHypercall, VmPvPteWrite, VmPvView,
  VmReasonCount, VmTeView, VmView,
} from './vm-types.ts';
import { TE_RECENT } from './vm-types.ts';

const hexW = (v: bigint, digits: number): string => `0x${BigInt.asUintN(digits * 4, v).toString(16).padStart(digits, '0')}`;

/** The field's value in memory now (VT-x: from the VMCS region; AMD-V: the VMCB bytes, little-endian). */
function fieldValues(m: HvUnitView | HvMachine): { name: string; title: string; area: string; key: number; width: string; value: string }[] {
  const b = m.backend;
  // Trap-and-emulate has no control structure: the monitor keeps the guest's state in software.
  if (b instanceof TeBackend || b instanceof PvBackend) return [];
  if (b instanceof VmxBackend) {
    const read = b.vmx.currentReader();
    if (read === undefined) return [];
    return VMCS_FIELDS.filter((f) => SUPPORTED_FEATURES.has(f.feature)).map((f) => ({
      name: f.name, title: f.title, area: f.type, key: f.encoding, width: f.width, value: hexW(read(f.name), f.bits / 4),
    }));
  }
  const pa = b.vmcb.pa;
  return (Object.entries(VMCB_FIELDS) as [VmcbField, (typeof VMCB_FIELDS)[VmcbField]][]).map(([name, f]) => {
    let v = 0n;
    for (let i = f.size - 1; i >= 0; i--) v = (v << 8n) | BigInt(m.mem.read8(pa + f.offset + i));
    return { name, title: f.apm, area: f.area, key: f.offset, width: String(f.size), value: hexW(v, f.size * 2) };
  });
}

/** The key under which `vmFieldValues` keeps how many exit paths the host had logged (a name no field has). */
const PATHS_BEFORE = '#hosting.paths';
/** The key prefix under which `vmFieldValues` keeps how many exits each VM had recorded (several VMs). */
const RECORDS_BEFORE = '#records.';

/** The fields as a map name → value, for "changed" (the session reads them at the step before). */
export function vmFieldValues(m: HvMachine | HostMachine): Map<string, string> {
  if (m instanceof HvMachine && m.backend instanceof TeBackend) {
    const out = teBefore(m, m.backend);
    // Binary translation: the cache's figures, for what the next step did to it.
    if (m.backend instanceof BtBackend) for (const [k, v] of btBefore(m.backend)) out.set(k, v);
    return out;
  }
  // Paravirtualization has no control structure, and nothing of the step before to compare.
  if (m instanceof HvMachine && m.backend instanceof PvBackend) return new Map([['mask', String(m.mem.read8(SHARED_INFO_PA + SHARED.upcallMask))]]);
  const out = new Map(fieldValues(m instanceof HostMachine ? m.unit(m.currentVm) : m).map((f) => [f.name, f.value]));
  if (m instanceof HostMachine) {
    // Each VM's exit records so far, and where the hypervisor lives the exit paths: so the next
    // view knows the exits its step handled.
    m.guests.forEach((_, vm) => out.set(`${RECORDS_BEFORE}${vm}`, String(m.records(vm).length)));
    if (m.host.hosting !== null) out.set(PATHS_BEFORE, String(m.host.paths.length));
  }
  return out;
}

function bits(layout: Layout, v: number): VmBitsView[] {
  return layout.map((f) => {
    const w = f.hi - f.lo + 1;
    return { name: bitLabel(f), lo: f.lo, hi: f.hi, value: w >= 32 ? v >>> 0 : ((v >>> f.lo) & ((1 << w) - 1)) >>> 0 };
  });
}

/** Named single bits and ranges of a 64-bit SVM value, as VmBitsView (the APM's names). */
function svmBits(v: bigint, spec: readonly [string, number, number][]): VmBitsView[] {
  return spec.map(([name, lo, hi]) => ({ name, lo, hi, value: Number((v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n)) }));
}

/** APM Figure 15-2: EXITINFO1 of an IOIO intercept. */
const IOIO_BITS: readonly [string, number, number][] = [
  ['TYPE', 0, 0], ['STR', 2, 2], ['REP', 3, 3], ['SZ8', 4, 4], ['SZ16', 5, 5], ['SZ32', 6, 6], ['A16', 7, 7], ['A32', 8, 8], ['A64', 9, 9], ['SEG', 10, 12], ['PORT', 16, 31],
];
/** APM 15.25.6: EXITINFO1 of a nested page fault (the #PF error code's bits, then 32 and 33). */
const NPF_BITS: readonly [string, number, number][] = [['P', 0, 0], ['RW', 1, 1], ['US', 2, 2], ['RSV', 3, 3], ['ID', 4, 4], ['GUEST_FINAL', 32, 32], ['GUEST_PAGE_TABLES', 33, 33]];
/** APM 15.7.2 / 15.20: EXITINTINFO and EVENTINJ. */
const EVENT_BITS: readonly [string, number, number][] = [['VECTOR', 0, 7], ['TYPE', 8, 10], ['EV', 11, 11], ['V', 31, 31], ['ERRORCODE', 32, 63]];

function vmxInfo(code: number, info: Record<string, bigint>): VmExitInfoView[] {
  const out: VmExitInfoView[] = [];
  for (const name of VMX_EXIT_INFO_FIELDS) {
    const v = info[name];
    if (v === undefined) continue;
    let b: VmBitsView[] = [];
    const n = Number(v & 0xffffffffn);
    if (name === 'VM_EXIT_REASON') b = [{ name: 'Basic exit reason', lo: 0, hi: 15, value: n & 0xffff }, { name: 'VM-entry failure', lo: 31, hi: 31, value: n >>> 31 }];
    else if (name === 'EXIT_QUALIFICATION') {
      if (code === ExitReason.CR_ACCESS) b = bits(CR_ACCESS_LAYOUT, n);
      else if (code === ExitReason.IO_INSTRUCTION) b = bits(IO_LAYOUT, n);
      else if (code === ExitReason.EPT_VIOLATION) b = bits(EPT_VIOLATION_LAYOUT, n);
    } else if (name === 'VM_EXIT_INTR_INFO') b = bits(INTERRUPTION_INFO_LAYOUT, n);
    else if (name === 'IDT_VECTORING_INFO_FIELD') b = bits(IDT_VECTORING_INFO_LAYOUT, n);
    out.push({ field: name, key: VMCS_FIELDS.find((f) => f.name === name)!.encoding, value: hexW(v, 16), bits: b });
  }
  return out;
}

function svmInfo(code: number, info: Record<string, bigint>): VmExitInfoView[] {
  const out: VmExitInfoView[] = [];
  for (const name of SVM_EXIT_INFO_FIELDS) {
    const v = info[name];
    if (v === undefined) continue;
    let b: VmBitsView[] = [];
    if (name === 'exit_info_1' && code === SVM_EXIT.IOIO) b = svmBits(v, IOIO_BITS);
    else if (name === 'exit_info_1' && code === SVM_EXIT.NPF) b = svmBits(v, NPF_BITS);
    else if (name === 'exit_int_info') b = svmBits(v, EVENT_BITS);
    out.push({ field: name, key: VMCB_FIELDS[name].offset, value: hexW(v, 16), bits: b });
  }
  return out;
}

/**
 * Trap-and-emulate: the processor at the step before, as the next view needs it to tell a POPF
 * that asked in vain (the instruction about to run, the CPL, IF, and IF in the EFLAGS image on
 * top of the stack, which POPF would pop).
 */
function teBefore(m: HvMachine, b: TeBackend): Map<string, string> {
  const st = m.cpu.state;
  m.cpu.syncFlags();
  const cs = st.seg[1]!;
  const r = decode((i) => b.readGuest((cs.baseLo + st.ripLo + i) >>> 0, 1) ?? -1, (cs.attr & SegAttr.DB) !== 0 ? 32 : 16);
  const out = new Map<string, string>([['cpl', String(m.cpu.cpl())], ['if', String((st.rflags >>> 9) & 1)], ['iopl', String((st.rflags >>> 12) & 3)]]);
  if (r.kind !== 'ok') return out;
  out.set('mnemonic', r.insn.mnemonic);
  out.set('insn', formatInsn(r.insn, st.ripLo));
  const top = b.readGuest((st.seg[2]!.baseLo + st.regLo[4]!) >>> 0, 4);
  if (top !== null) out.set('poppedIf', String((top >>> 9) & 1));
  return out;
}

function teView(m: HvMachine, before: Map<string, string> | null, stepExits: readonly HvExitRecord[], upTo: number): VmTeView {
  const st = m.cpu.state;
  m.cpu.syncFlags();
  const now = ((st.rflags & Flag.IF) !== 0);
  let popfIgnored: VmTeView['popfIgnored'] = null;
  const mn = before?.get('mnemonic');
  if (before !== null && (mn === 'popf' || mn === 'popfd' || mn === 'popfw') && stepExits.length === 0) {
    const was = before.get('if') === '1';
    const asked = before.get('poppedIf') === '1';
    const cpl = Number(before.get('cpl'));
    // POPF changes IF only when CPL <= IOPL (SDM Vol. 2B, POPF): in ring 1 with IOPL 0 it is silently kept.
    if (cpl > Number(before.get('iopl')) && asked !== was && now === was) popfIgnored = { asked, kept: now, insn: before.get('insn') ?? mn, cpl };
  }
  const recent = m.records.slice(Math.max(0, upTo - TE_RECENT), upTo).map((r) => exitView(m, r));
  const b = m.backend as TeBackend;
  const regs: VmTeView['regs'] = {
    guest: { cpl: b.cpl(), cr0: hex(Number(b.cr(0))), cr3: hex(Number(b.cr(3))) },
    processor: { cpl: m.cpu.cpl(), cr0: hex(st.cr0), cr3: hex(st.cr3Lo) },
  };
  return { cpl: m.cpu.cpl(), interruptsOn: now, popfIgnored, recent, regs };
}

const hex = (v: number): string => `0x${(v >>> 0).toString(16)}`;

/** What each removed line of the unmodified kernel became in the port (the lines that only move data around: null). */
export function becomesOf(line: string): PvBecomes | null {
  const code = line.split(';')[0]!.trim();
  if (/^(KERNEL|USER)_(CS|DS) equ /.test(code)) return 'selectors';
  if (/^PT_SELF equ /.test(code) || code === '' && /build the page table/.test(line)) return 'pagetable';
  if (/^CONSOLE_PORT equ /.test(code) || /^out CONSOLE_PORT/.test(code)) return 'out';
  if (code === 'cli') return 'cli';
  if (code === 'sti') return 'sti';
  if (code === 'hlt') return 'hlt';
  if (/^lgdt\b/.test(code)) return 'lgdt';
  if (/^lidt\b/.test(code)) return 'lidt';
  if (/^ltr\b/.test(code)) return 'ltr';
  if (/^mov cr3,/.test(code)) return 'cr3';
  if (/^mov cr0,/.test(code)) return 'cr0';
  if (/^mov \[page_table\+ecx\*4\]/.test(code)) return 'pte-store';
  if (/^(gdt|idt|tss):/.test(code)) return 'tables';
  return null;
}

let diffCache: VmPvDiffHunk[] | null = null;

/** The kernel diff with each removed line's fate (computed once: the sources are constants). */
export function pvDiff(): VmPvDiffHunk[] {
  diffCache ??= kernelDiff().map((h) => ({ fromLine: h.fromLine, toLine: h.toLine, removed: h.removed.map((text) => ({ text, becomes: becomesOf(text) })), added: h.added }));
  return diffCache;
}

function pteView(w: PvPteWrite): VmPvPteWrite {
  return { ptr: hex(w.ptr), val: hex(w.val), table: w.table, va: w.va === null ? null : hex(w.va), frame: hex(w.frame * 4096), present: w.present, writable: w.writable, user: w.user };
}

function detailView(d: PvDetail | undefined): VmPvDetail {
  if (d === undefined) return { kind: 'other' };
  switch (d.kind) {
    case 'mmu_update': return { kind: 'mmu_update', count: d.count, done: d.done, first: d.first.map(pteView), last: d.last === null ? null : pteView(d.last) };
    case 'set_trap_table': return { kind: 'set_trap_table', entries: d.entries.map((e) => ({ vector: hex(e.vector), dpl: e.dpl, maskEvents: e.maskEvents, cs: hex(e.cs), address: hex(e.address) })) };
    case 'mmuext_op': return { kind: 'mmuext_op', ops: d.ops.map((o) => ({ cmd: o.cmd, arg: hex(o.arg) })) };
    case 'update_va_mapping': return { kind: 'update_va_mapping', write: pteView(d.write), flush: d.flush };
    case 'stack_switch': return { kind: 'stack_switch', ss: hex(d.ss), esp: hex(d.esp) };
    default: return d;
  }
}

const ERRNO_NAMES = new Map([[1, 'EPERM'], [14, 'EFAULT'], [22, 'EINVAL'], [38, 'ENOSYS']]);

/** Paravirtualization at the machine's step: the hypercalls so far decoded, the event state of the shared info page, the pinned tables. */
function pvView(m: HvMachine, before: Map<string, string> | null, stepExits: readonly HvExitRecord[], upTo: number): VmPvView {
  const b = m.backend as PvBackend;
  const mem = b.memory();
  const hypercalls: VmPvHypercall[] = [];
  for (let i = 0; i < upTo; i++) {
    const r = m.records[i]!;
    const h = r.hypercall;
    if (h === undefined) continue;
    hypercalls.push({
      n: h.n, step: r.log.step ?? 0, eip: hex(h.eip), nr: h.nr, name: h.name,
      args: Object.entries(h.args).map(([name, v]) => ({ name, value: typeof v === 'number' ? hex(v) : v })),
      detail: detailView(r.pvDetail), result: h.result, errno: h.result < 0 ? (ERRNO_NAMES.get(-h.result) ?? String(-h.result)) : null, did: h.did, cycles: r.cycles,
    });
  }
  const lastRec = upTo > 0 ? m.records[upTo - 1]! : null;
  const label = lastRec?.trap?.label ?? '';
  const failure = m.ended?.kind === 'error' && upTo === m.records.length && label.startsWith('not paravirtualized: ')
    ? { mnemonic: label.slice('not paravirtualized: '.length), insn: lastRec!.trap!.insn, eip: hex(Number(lastRec!.log.rip & 0xffffffffn)) }
    : null;
  const rd8 = (off: number): number => m.mem.read8(SHARED_INFO_PA + off);
  const rd32 = (off: number): number => m.mem.read(SHARED_INFO_PA + off, 4) >>> 0;
  const bit = (off: number, port: number): boolean => ((rd32(off + (port >>> 5) * 4) >>> (port & 31)) & 1) === 1;
  const cr3 = m.cpu.state.cr3Lo >>> 0;
  const tables: VmPvView['tables'] = [...b.tables].sort(([a], [c]) => a - c).map(([frame, level]) => {
    // How the current tables map the table's own page (the kernel maps its RAM one-to-one).
    const va = frame * 4096;
    const pde = mem.phys32((cr3 & ~0xfff) + (va >>> 22) * 4);
    const pte = (pde & 1) === 0 ? 0 : mem.phys32((pde & ~0xfff) + ((va >>> 12) & 0x3ff) * 4);
    const mapping: VmPvView['tables'][number]['mapping'] = (pte & 1) === 0 || pte >>> 12 !== frame ? 'unmapped' : (pte & 2) !== 0 ? 'writable' : 'read-only';
    return { frame: hex(va), level, mapping, base: frame === cr3 >>> 12 };
  });
  return {
    kernel: m.pvKernel ?? 'paravirtualized',
    cpl: m.cpu.cpl(),
    hypercalls,
    inStep: stepExits.filter((r) => r.hypercall !== undefined).map((r) => r.hypercall!.n),
    failure,
    maskChanged: before !== null && before.has('mask') && before.get('mask') !== String(rd8(SHARED.upcallMask)),
    events: {
      sharedInfo: hex(SHARED_INFO_PA),
      upcallMask: rd8(SHARED.upcallMask) !== 0,
      upcallPending: rd8(SHARED.upcallPending) !== 0,
      pendingSel: hex(rd32(SHARED.pendingSel)),
      ports: [
        { port: TIMER_PORT, bound: 'timer', pending: bit(SHARED.evtchnPending, TIMER_PORT), masked: bit(SHARED.evtchnMask, TIMER_PORT) },
        { port: SELF_PORT, bound: 'self', pending: bit(SHARED.evtchnPending, SELF_PORT), masked: bit(SHARED.evtchnMask, SELF_PORT) },
      ],
      callback: b.hasCallback(),
      upcalls: b.upcalls,
    },
    tables,
    cr3: hex(cr3),
    diff: pvDiff(),
  };
}

/** Trap-and-emulate: traps so far by what trapped (the monitor's names), with their round trips. */
function trapCounts(records: readonly HvExitRecord[], upTo: number): VmReasonCount[] {
  const by = new Map<string, VmReasonCount>();
  for (let i = 0; i < upTo; i++) {
    const r = records[i]!;
    const name = r.trap?.label ?? r.log.name;
    const c = by.get(name) ?? { code: r.log.code, name, count: 0, cycles: 0 };
    c.count++;
    c.cycles += r.cycles;
    by.set(name, c);
  }
  return [...by.values()].sort((a, b) => a.code - b.code || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function exitView(m: HvUnitView | HvMachine, r: HvExitRecord, vm = 0): VmExitView {
  if (r.trap !== undefined) {
    const l = r.log;
    return {
      n: l.n, vm, step: l.step ?? 0, code: l.code, name: l.name, entryFailure: false, rip: hexW(l.rip, 16),
      // What the fault pushed: the vector and its error code.
      info: [],
      accesses: [], action: l.action, note: l.note, guestSteps: l.guestSteps, entry: r.entry, cycles: r.cycles,
      trap: { label: r.trap.label, insn: r.trap.insn, from: r.trap.from },
    };
  }
  const l = r.log;
  const intel = m.vendor === 'intel';
  const accesses: VmAccessView[] = l.accesses.map((a) => {
    const key = a.field.startsWith('gpr.') ? null : m.fieldKey(a.field);
    return { op: a.op, field: a.field, key, value: hexW(a.value, 16) };
  });
  return {
    n: l.n, vm, step: l.step ?? 0, code: l.code, name: l.name,
    entryFailure: intel && ((r.info.VM_EXIT_REASON ?? 0n) & 0x80000000n) !== 0n,
    rip: hexW(l.rip, 16),
    info: intel ? vmxInfo(l.code, r.info) : svmInfo(l.code, r.info),
    accesses, action: l.action, note: l.note, guestSteps: l.guestSteps, entry: r.entry, cycles: r.cycles,
  };
}

/**
 * Where a control bit's lock and option come from: the backend's own tables (REQUIRED_CONTROLS:
 * the bits the hypervisor sets itself, with when; EXIT_OPTIONS: the bits a scenario's
 * `hypervisor.exits` turns on and off), keyed by control-structure field and bit. A bit the
 * hypervisor needs only with or only without nested paging is the scenario's `nestedPaging` to change.
 */
function hvTables(required: readonly RequiredControl[], options: readonly ExitOptionControl[], nested: boolean, isSet: (field: string, bit: number) => boolean): {
  locked: Set<string>; option: Map<string, string>;
} {
  const locked = new Set<string>();
  const option = new Map<string, string>();
  for (const o of options) for (const bit of o.bits) option.set(`${o.field}:${bit}`, `hypervisor.exits.${o.option}`);
  for (const r of required) {
    const key = `${r.field}:${r.bit}`;
    // Always needed, or fixed by the guest's mode (IA-32e mode guest): the hypervisor's.
    if (r.when === 'always' || r.when === 'long-guest') locked.add(key);
    // Needed only without nested paging (CR3 exits while the guest runs on the identity map): the
    // hypervisor's while it has set it.
    else if (r.when === 'no-nested' && !nested) {
      if (isSet(r.field, r.bit)) locked.add(key);
    }
    // Needed only with tagged TLBs ("enable VPID"): tlbTags turns it on and off.
    else if (r.when === 'tlb-tags') option.set(key, 'hypervisor.tlbTags');
    // Needed only with nested paging (EPT, unrestricted guest, NP_ENABLE): nestedPaging turns it on and off.
    else if (r.when === 'nested' || !option.has(key)) option.set(key, 'hypervisor.nestedPaging');
  }
  for (const k of locked) option.delete(k);
  return { locked, option };
}

/** VT-x: every named bit of the five control fields, with what locks it. */
function vmxControls(m: HvUnitView): VmControlView[] {
  const b = m.backend as VmxBackend;
  const read = b.vmx.currentReader();
  if (read === undefined) return [];
  const fieldOf: Record<ControlField, string> = {
    pin: 'PIN_BASED_VM_EXEC_CONTROL', primary: 'CPU_BASED_VM_EXEC_CONTROL', secondary: 'SECONDARY_VM_EXEC_CONTROL', exit: 'VM_EXIT_CONTROLS', entry: 'VM_ENTRY_CONTROLS',
  };
  const value = (f: ControlField): number => Number(read(fieldOf[f]) & 0xffffffffn);
  const primary = value('primary');
  const byVmcsField = new Map(Object.entries(fieldOf).map(([f, name]) => [name, f as ControlField]));
  const t = hvTables(VMX_REQUIRED, VMX_OPTIONS, b.nested, (field, bit) => {
    const f = byVmcsField.get(field);
    return f !== undefined && ((value(f) >>> bit) & 1) === 1;
  });
  const out: VmControlView[] = [];
  for (const field of ['pin', 'primary', 'secondary', 'exit', 'entry'] as const) {
    const v = field === 'secondary' && (primary & Primary.ACTIVATE_SECONDARY_CONTROLS!) === 0 ? 0 : value(field);
    const allowed = TRUE_ALLOWED[field];
    for (const c of CONTROL_BITS[field]) {
      const mask = (1 << c.bit) >>> 0;
      const key = `${fieldOf[field]}:${c.bit}`;
      const locked: VmControlView['locked'] =
        (allowed.must1 & mask) !== 0 ? 'fixed-1'
        : (allowed.may1 & mask) === 0 ? 'fixed-0'
        : t.locked.has(key) ? 'hypervisor'
        : null;
      out.push({ field, bit: c.bit, name: c.title, set: (v & mask) !== 0, locked, option: locked === null ? t.option.get(key) ?? null : null });
    }
  }
  return out;
}

const WORD_NAMES = ['INTERCEPT_CR', 'INTERCEPT_DR', 'INTERCEPT_EXCEPTIONS', 'INTERCEPT_MISC1', 'INTERCEPT_MISC2', 'INTERCEPT_MISC3'] as const;
/** The VMCB field of each intercept word, as the backend's tables name them. */
const WORD_FIELDS = ['intercept_cr', 'intercept_dr', 'intercept_exceptions', 'intercept_word3', 'intercept_word4', 'intercept_word5'] as const;

/** AMD-V: every intercept bit of the six words, by the APM's names. */
function svmControls(m: HvUnitView): VmControlView[] {
  const b = m.backend;
  if (b instanceof VmxBackend) return [];
  const words = readInterceptWords(m.mem, b.vmcb.pa);
  const t = hvTables(SVM_REQUIRED, SVM_OPTIONS, b.nested, (field, bit) => {
    const w = (WORD_FIELDS as readonly string[]).indexOf(field);
    return w >= 0 && ((words[w]! >>> bit) & 1) === 1;
  });
  const out: VmControlView[] = [];
  const set = (w: number, bit: number): boolean => ((words[w]! >>> bit) & 1) === 1;
  const push = (w: number, bit: number, name: string, unsupported = false): void => {
    const key = `${WORD_FIELDS[w]}:${bit}`;
    const locked: VmControlView['locked'] = unsupported ? 'unsupported' : t.locked.has(key) ? 'hypervisor' : null;
    out.push({ field: WORD_NAMES[w]!, bit, name, set: set(w, bit), locked, option: locked === null ? t.option.get(key) ?? null : null });
  };
  for (let bit = 0; bit < 32; bit++) push(0, bit, `INTERCEPT_CR${bit & 15}_${bit < 16 ? 'READ' : 'WRITE'}`);
  // The lab's processor has no debug registers (vmx/run.ts, svm/guest-run.ts).
  for (let bit = 0; bit < 32; bit++) push(1, bit, `INTERCEPT_DR${bit & 15}_${bit < 16 ? 'READ' : 'WRITE'}`, true);
  for (let bit = 0; bit < 32; bit++) push(2, bit, `INTERCEPT_EXCEPTION_${bit}`);
  for (const [name, ib] of Object.entries(INTERCEPT)) push(ib.word, ib.bit, `INTERCEPT_${name}`);
  return out;
}

const TRANSITIONS: readonly CostKind[] = ['vm-entry', 'vm-exit', 'vmrun', 'vmexit', 'trap', 'bt-callout'];
const FIELD_ACCESS: readonly CostKind[] = ['vmread', 'vmwrite', 'vmcb-read', 'vmcb-write'];
// Translating a block (bt-step) is the monitor's work, as a handler's is.
const HANDLERS: readonly CostKind[] = ['hv-dispatch', 'handler', 'bt-step'];
const MEMORY = MEMORY_COST_KINDS;
/** A hosted hypervisor's hops (hv/hosting.ts): the host OS's part of the paths, a group of its own. */
const HOST_OS: readonly CostKind[] = ['world-switch', 'host-user', 'host-syscall'];

/** The index of the first record with a step ≥ `step`. */
function firstAt(records: readonly HvExitRecord[], step: number): number {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((records[mid]!.log.step ?? 0) < step) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The view at the machine's current step. `before`: the fields' values at the step before (null at
 * the start), for `changed` (with the hypervisor's writes during that step).
 */
export function vmView(m: HvMachine, name: string, mode: 'prot32' | 'long64', before: Map<string, string> | null): VmView {
  const step = m.cpu.state.steps;
  const records = m.records;
  // Exits of the step that led here happened at step − 1 (an exit belongs to its instruction's step).
  // Under paravirtualization, once the domain has ended every record is in (the unmodified kernel is stopped before an instruction retires: its record belongs to the step it stopped at).
  const atEnd = m.backend instanceof PvBackend && m.ended !== null && m.endStep !== null && step >= m.endStep;
  const from = firstAt(records, step - 1);
  const upTo = atEnd ? records.length : firstAt(records, step);
  const stepExits = step > 0 || atEnd ? records.slice(from, upTo) : [];
  const last = upTo > 0 ? records[upTo - 1]! : null;
  const written = new Set<string>();
  for (const r of stepExits) for (const a of r.log.accesses) if (a.op === 'write') written.add(a.field);
  const fields: VmFieldView[] = fieldValues(m).map((f) => ({ ...f, changed: before !== null && (before.get(f.name) !== f.value || written.has(f.name)) }));
  const data = m.ledger.data();
  const sum = (kinds: readonly CostKind[]): number => kinds.reduce((a, k) => a + (data.byKind[k]?.cycles ?? 0), 0);
  const pv = m.backend instanceof PvBackend;
  const te = m.backend instanceof TeBackend || pv;
  const byReason: VmReasonCount[] = te ? trapCounts(records, upTo) : Object.entries(data.exits)
    .map(([k, t]) => ({ code: Number(k), name: vmExitTitle(m.vendor, Number(k)), count: t.count, cycles: t.roundTripCycles }))
    .sort((a, b) => a.code - b.code);
  const end = m.ended;
  const guest: VmGuestView = {
    id: 0, name, mode,
    state: end !== null ? 'ended' : m.guestLoaded ? 'running' : 'ready',
    end: end === null ? null : end.kind === 'error' ? `error: ${end.why}` : end.kind,
    exits: m.hypervisor.exitCount, steps: step, console: m.console,
  };
  return {
    technique: m.technique,
    ...(te && !pv ? { te: teView(m, before, stepExits, upTo) } : {}),
    ...(m.backend instanceof BtBackend ? { bt: btView(m, m.backend, before, stepExits) } : {}),
    ...(pv ? { pv: pvView(m, before, stepExits, upTo) } : {}),
    vendor: m.vendor,
    world: m.guestLoaded ? 'guest' : 'host',
    vms: [guest],
    current: 0,
    exits: stepExits.map((r) => exitView(m, r)),
    lastExit: last === null ? null : exitView(m, last),
    fields,
    controls: te ? [] : m.backend instanceof VmxBackend ? vmxControls(m as HvUnitView) : svmControls(m as HvUnitView),
    byReason,
    exitTotal: m.hypervisor.exitCount,
    cycles: {
      preset: { id: m.preset.id, name: { en: m.preset.name.en, 'zh-CN': m.preset.name['zh-CN'] } },
      total: data.cycles,
      guest: data.byKind['guest-insn']?.cycles ?? 0,
      transitions: sum(TRANSITIONS),
      fieldAccess: sum(FIELD_ACCESS),
      handlers: sum(HANDLERS),
      memory: sum(MEMORY),
    },
  };
}

/** Exits by reason and the cycles by what they paid for, over the ledgers of every VM (`hosted`: with the host OS's group). */
function totals(vendor: 'intel' | 'amd', ledgers: readonly LedgerData[], hosting: boolean): { byReason: VmReasonCount[]; cycles: Omit<VmView['cycles'], 'preset'> } {
  const reasons = new Map<number, VmReasonCount>();
  let total = 0;
  const kinds = new Map<string, number>();
  for (const d of ledgers) {
    total += d.cycles;
    for (const [k, t] of Object.entries(d.exits)) {
      const code = Number(k);
      const r = reasons.get(code) ?? { code, name: vmExitTitle(vendor, code), count: 0, cycles: 0 };
      r.count += t.count;
      r.cycles += t.roundTripCycles;
      reasons.set(code, r);
    }
    for (const [k, t] of Object.entries(d.byKind)) if (t !== undefined) kinds.set(k, (kinds.get(k) ?? 0) + t.cycles);
  }
  const sum = (ks: readonly CostKind[]): number => ks.reduce((a, k) => a + (kinds.get(k) ?? 0), 0);
  return {
    byReason: [...reasons.values()].sort((a, b) => a.code - b.code),
    cycles: {
      total, guest: kinds.get('guest-insn') ?? 0, transitions: sum(TRANSITIONS), fieldAccess: sum(FIELD_ACCESS), handlers: sum(HANDLERS), memory: sum(MEMORY),
      ...(hosting ? { hostOs: sum(HOST_OS) } : {}),
    },
  };
}

/** The record of path `p` in its VM's exit records (same step and exit number), for its code and note. */
function recordOf(m: HostMachine, p: ExitPath): HvExitRecord | null {
  const records = m.records(p.vm);
  for (let i = firstAt(records, p.step); i < records.length && (records[i]!.log.step ?? 0) === p.step; i++) {
    if (records[i]!.log.n === p.exit) return records[i]!;
  }
  return null;
}

function pathView(m: HostMachine, p: ExitPath): VmHostPath {
  const r = recordOf(m, p);
  const other = m.host.hosting === 'hosted' ? 'bare-metal' : 'hosted';
  return {
    step: p.step, vm: p.vm, n: p.exit, name: p.name, code: r?.log.code ?? -1, note: r?.log.note ?? '',
    where: p.where, output: p.output, preempt: p.preempt, hops: [...p.hops],
    other: hopsOf(other, p.where, p.output, p.preempt, p.final),
  };
}

/**
 * Where the hypervisor lives, at the machine's step (a host with `hosting`): the paths of the exits
 * handled during the step that led here (those logged since the step before: `pathsBefore`, so
 * they are the step's `host/path` events, an exit taken between two instructions included), the
 * last one, the host process that has the CPU now, and the totals so far from the host's own logs
 * (paths, host runs, restored with the machine) and the VMs' ledgers.
 */
export function hostingView(m: HostMachine, pathsBefore: number | null): VmHostingView | null {
  const h = m.host;
  if (h.hosting === null) return null;
  const step = m.cpu.state.steps;
  const upTo = h.paths.length;
  const from = pathsBefore === null ? upTo : Math.min(pathsBefore, upTo);
  const { output, ...byWhere } = h.pathCounts;
  const count = (k: CostKind): number => m.guests.reduce((n, _g, i) => n + (h.vm(i).ledger.data().byKind[k]?.count ?? 0), 0);
  // The turn the host's scheduler gave last, if the CPU is still its own: its steps from `step` on.
  const run = h.hostRuns.at(-1);
  const running = run !== undefined && run.step <= step && step < run.step + run.steps ? { proc: run.proc, from: run.step, steps: run.steps, done: step - run.step, left: run.step + run.steps - step } : null;
  return {
    hosting: h.hosting,
    hostProcesses: h.hostProcesses,
    paths: h.paths.slice(from, upTo).map((p) => pathView(m, p)),
    last: upTo > 0 ? pathView(m, h.paths[upTo - 1]!) : null,
    running,
    worldSwitches: count('world-switch'),
    userCrossings: count('host-user'),
    syscalls: count('host-syscall'),
    byWhere,
    output,
    hostSteps: h.hostSteps,
    hostTurns: h.hostRuns.length,
  };
}

/**
 * The view of the multi-VM host (host-machine.ts) at its current step: every VM with its state,
 * exits, steps and console; the VM on the CPU (or that ran last) as `current`, with its vCPU's
 * VMCS or VMCB, controls and last exit; the exits of the step that led here, whichever VM they
 * belong to; exits by reason and cycles over all VMs. `before`: the current vCPU's fields at the
 * step before (null at the start).
 */
export function hostVmView(m: HostMachine, before: Map<string, string> | null): VmView {
  const step = m.cpu.state.steps;
  const current = m.currentVm;
  const unit = m.unit(current);
  const stepExits: VmExitView[] = [];
  const written = new Set<string>();
  let last: VmExitView | null = null;
  m.guests.forEach((_, vm) => {
    const records = m.records(vm);
    // The exits handled during the step that led here: those recorded since the step before (an
    // exit taken as the step ended, before the next instruction, has the next step's number but
    // belongs here, with its events); without the count, those of the step before by number.
    const had = before?.get(`${RECORDS_BEFORE}${vm}`);
    const upTo = had === undefined ? firstAt(records, step) : records.length;
    if (step > 0) {
      for (const r of records.slice(had === undefined ? firstAt(records, step - 1) : Math.min(Number(had), upTo), upTo)) {
        stepExits.push(exitView(m.unit(vm), r, vm));
        if (vm === current) for (const a of r.log.accesses) if (a.op === 'write') written.add(a.field);
      }
    }
    if (vm === current && upTo > 0) last = exitView(unit, records[upTo - 1]!, vm);
  });
  stepExits.sort((a, b) => a.step - b.step);
  const fields: VmFieldView[] = fieldValues(unit).map((f) => ({ ...f, changed: before !== null && (before.get(f.name) !== f.value || written.has(f.name)) }));
  const report = m.host.report();
  const vms: VmGuestView[] = report.map((r, id) => {
    const states = r.vcpus.map((v) => v.state);
    const state: VmGuestView['state'] =
      states.every((x) => x === 'ended') ? 'ended'
      : states.includes('running') && id === m.host.currentVm ? 'running'
      : states.some((x) => x === 'ready' || x === 'running') ? 'ready'
      : 'idle';
    return { id, name: r.name, mode: r.mode, state, end: m.vmEnd(id), exits: r.exitTotal, steps: r.steps, console: m.console(id) };
  });
  const t = totals(m.vendor, m.guests.map((_, i) => m.host.vm(i).ledger.data()), m.host.hosting === 'hosted');
  const before0 = before?.get(PATHS_BEFORE);
  const hosting = hostingView(m, before0 === undefined ? null : Number(before0));
  return {
    technique: m.technique,
    vendor: m.vendor,
    world: m.guestLoaded ? 'guest' : 'host',
    vms,
    ...(hosting !== null ? { hosting } : {}),
    iommu: m.host.iommu?.kind ?? null,
    current,
    exits: stepExits,
    lastExit: last,
    fields,
    controls: unit.backend instanceof VmxBackend ? vmxControls(unit) : svmControls(unit),
    byReason: t.byReason,
    exitTotal: report.reduce((n, r) => n + r.exitTotal, 0),
    cycles: { preset: { id: m.preset.id, name: { en: m.preset.name.en, 'zh-CN': m.preset.name['zh-CN'] } }, ...t.cycles },
  };
}
