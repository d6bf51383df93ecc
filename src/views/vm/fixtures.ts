/**
 * Realistic `VmView`s for the VM views' tests and previews, built from the lab's own VT-x and
 * AMD-V tables (field encodings and titles, VMCB offsets, control bits, exit-reason and EXITCODE
 * names, the exit-qualification and EXITINFO1 layouts) rather than numbers typed by hand. Values
 * that come from a run (RIPs, counts, cycles) are those of a small guest that prints through COM1:
 * `cpuid` at 0x1000 (2 bytes), then `out dx, al` at 0x1010 (1 byte) with DX = 0x3f8.
 */
import type { VmBitsView, VmControlView, VmExitInfoView, VmExitView, VmFieldView, VmView } from '../../worker/vm-types.ts';
import { CONTROL_BITS, Primary, type ControlField } from '../../emu/vmx/controls.ts';
import { exitReasonInfo, ExitReason } from '../../emu/vmx/exit-reasons.ts';
import { VMCS_FIELDS, enc } from '../../emu/vmx/fields.ts';
import { bitLabel, decodeLayout, encodeIo, IO_LAYOUT, type Layout } from '../../emu/vmx/qualification.ts';
import { SVM_EXIT, exitCodeName } from '../../emu/svm/exit-codes.ts';
import { encodeIoioInfo } from '../../emu/svm/exitinfo.ts';
import { INTERCEPT, INTERCEPT_WORD_OFFSET, type InterceptName } from '../../emu/svm/intercepts.ts';
import { VMCB_FIELDS } from '../../emu/svm/vmcb.ts';

const hex = (v: bigint | number, digits: number): string => `0x${BigInt(v).toString(16).padStart(digits, '0')}`;
const digitsOf = (width: string): number => (width === '16' ? 4 : width === '32' ? 8 : 16);

/** A layout's ranges with their values, as the worker reports them. */
export function bitsOf(layout: Layout, value: number): VmBitsView[] {
  const parts = decodeLayout(layout, value);
  return layout.map((r) => ({ name: bitLabel(r), lo: r.lo, hi: r.hi, value: parts[r.name] ?? 0 }));
}

const vmxName = (reason: number): string => `EXIT_REASON_${exitReasonInfo(reason)?.name ?? 'UNKNOWN'}`;

/** Every VMCS field the lab knows, zero unless given; `changed` names those written in the step. */
function vmcsFields(values: Record<string, bigint>, changed: readonly string[]): VmFieldView[] {
  return VMCS_FIELDS.filter((f) => f.feature === 'base' || values[f.name] !== undefined).map((f) => ({
    name: f.name,
    title: f.title,
    area: f.type,
    key: f.encoding,
    width: f.width,
    value: hex(values[f.name] ?? 0n, digitsOf(f.width)),
    changed: changed.includes(f.name),
  }));
}

function vmxControls(values: Record<ControlField, number>): VmControlView[] {
  const locked: Record<string, VmControlView['locked']> = {
    ACTIVATE_SECONDARY_CONTROLS: 'hypervisor',
    UNCONDITIONAL_IO_EXITING: 'hypervisor',
    HOST_ADDRESS_SPACE_SIZE: 'hypervisor',
    PROCESS_POSTED_INTERRUPTS: 'unsupported',
    ACTIVATE_TERTIARY_CONTROLS: 'unsupported',
  };
  const options: Record<string, string> = { HLT_EXITING: 'hypervisor.exits.hlt', RDTSC_EXITING: 'hypervisor.exits.rdtsc', CR3_LOAD_EXITING: 'hypervisor.exits.cr3', CR3_STORE_EXITING: 'hypervisor.exits.cr3', INVLPG_EXITING: 'hypervisor.exits.invlpg' };
  return (Object.keys(CONTROL_BITS) as ControlField[]).flatMap((field) =>
    CONTROL_BITS[field].map((b) => ({
      field,
      bit: b.bit,
      name: b.title,
      set: (values[field] & (1 << b.bit)) !== 0,
      locked: locked[b.name] ?? (options[b.name] === undefined ? 'fixed-0' : null),
      option: options[b.name] ?? null,
    })),
  );
}

const CPUID_RIP = 0x1000n;
const OUT_RIP = 0x1010n;

function vtxCpuidExit(): VmExitView {
  const code = ExitReason['CPUID']!;
  return {
    n: 0,
    vm: 0,
    step: 3,
    code,
    name: vmxName(code),
    entryFailure: false,
    rip: hex(CPUID_RIP, 16),
    info: [
      { field: 'EXIT_QUALIFICATION', key: enc('EXIT_QUALIFICATION'), value: hex(0, 16), bits: [] },
      { field: 'VM_EXIT_INSTRUCTION_LEN', key: enc('VM_EXIT_INSTRUCTION_LEN'), value: hex(2, 8), bits: [] },
    ],
    accesses: [
      { op: 'read', field: 'VM_EXIT_REASON', key: enc('VM_EXIT_REASON'), value: hex(code, 8) },
      { op: 'read', field: 'GUEST_RIP', key: enc('GUEST_RIP'), value: hex(CPUID_RIP, 16) },
      { op: 'read', field: 'VM_EXIT_INSTRUCTION_LEN', key: enc('VM_EXIT_INSTRUCTION_LEN'), value: hex(2, 8) },
      { op: 'write', field: 'gpr.rax', key: null, value: hex(0x000306d4, 16) },
      { op: 'write', field: 'GUEST_RIP', key: enc('GUEST_RIP'), value: hex(CPUID_RIP + 2n, 16) },
    ],
    action: 'emulated',
    note: 'leaf 0x1',
    guestSteps: 3,
    entry: 'VMRESUME',
    cycles: 1420,
  };
}

function vtxIoExit(): VmExitView {
  const code = ExitReason['IO_INSTRUCTION']!;
  const q = encodeIo({ size: 1, direction: 'out', string: false, rep: false, immediate: false, port: 0x3f8 });
  return {
    n: 1,
    vm: 0,
    step: 9,
    code,
    name: vmxName(code),
    entryFailure: false,
    rip: hex(OUT_RIP, 16),
    info: [
      { field: 'EXIT_QUALIFICATION', key: enc('EXIT_QUALIFICATION'), value: hex(q, 16), bits: bitsOf(IO_LAYOUT, q) },
      { field: 'VM_EXIT_INSTRUCTION_LEN', key: enc('VM_EXIT_INSTRUCTION_LEN'), value: hex(1, 8), bits: [] },
    ],
    accesses: [
      { op: 'read', field: 'VM_EXIT_REASON', key: enc('VM_EXIT_REASON'), value: hex(code, 8) },
      { op: 'read', field: 'EXIT_QUALIFICATION', key: enc('EXIT_QUALIFICATION'), value: hex(q, 16) },
      { op: 'read', field: 'GUEST_RIP', key: enc('GUEST_RIP'), value: hex(OUT_RIP, 16) },
      { op: 'read', field: 'VM_EXIT_INSTRUCTION_LEN', key: enc('VM_EXIT_INSTRUCTION_LEN'), value: hex(1, 8) },
      { op: 'write', field: 'GUEST_RIP', key: enc('GUEST_RIP'), value: hex(OUT_RIP + 1n, 16) },
    ],
    action: 'emulated',
    note: 'port 0x3f8 out 1 byte',
    guestSteps: 5,
    entry: 'VMRESUME',
    cycles: 1510,
  };
}

/** VT-x, at the step after the I/O exit (the second exit; a CPUID exit came before it). */
export function vtxAfterIoExit(): VmView {
  const cpuid = vtxCpuidExit();
  const io = vtxIoExit();
  const primary = (Primary['HLT_EXITING']! | Primary['UNCONDITIONAL_IO_EXITING']! | Primary['ACTIVATE_SECONDARY_CONTROLS']!) >>> 0;
  const values: Record<string, bigint> = {
    VM_EXIT_REASON: BigInt(io.code),
    EXIT_QUALIFICATION: BigInt(io.info[0]!.value),
    VM_EXIT_INSTRUCTION_LEN: 1n,
    GUEST_RIP: OUT_RIP + 1n,
    GUEST_RSP: 0x8000n,
    GUEST_RFLAGS: 0x2n,
    GUEST_CR0: 0x80000031n,
    GUEST_CS_SELECTOR: 0x8n,
    GUEST_CS_AR_BYTES: 0xc09bn,
    HOST_RIP: 0x200400n,
    HOST_RSP: 0x207000n,
    PIN_BASED_VM_EXEC_CONTROL: 0x16n,
    CPU_BASED_VM_EXEC_CONTROL: BigInt(primary),
  };
  return {
    technique: 'vtx',
    vendor: 'intel',
    world: 'guest',
    vms: [{ id: 0, name: 'guest', mode: 'long64', state: 'running', end: null, exits: 2, steps: 8, console: 'H' }],
    current: 0,
    exits: [io],
    lastExit: io,
    fields: vmcsFields(values, ['VM_EXIT_REASON', 'EXIT_QUALIFICATION', 'VM_EXIT_INSTRUCTION_LEN', 'GUEST_RIP']),
    controls: vmxControls({ pin: 0x16, primary, secondary: 0, exit: 0x200, entry: 0x200 }),
    byReason: [
      { code: cpuid.code, name: cpuid.name, count: 1, cycles: cpuid.cycles },
      { code: io.code, name: io.name, count: 1, cycles: io.cycles },
    ],
    exitTotal: 2,
    cycles: {
      preset: { id: 'intel-broadwell', name: { en: 'Intel Broadwell (measured round trips)', 'zh-CN': 'Intel Broadwell（实测往返）' } },
      total: 8 + 2 * 880 + 10 * 40 + 780 + 2 * 4 * 10,
      guest: 8,
      transitions: 2 * 880,
      fieldAccess: 10 * 40,
      handlers: 780,
      // Two instruction-fetch misses (the untagged TLB is flushed at each exit), each a 4-level EPT walk of 4 references at 10 cycles.
      memory: 2 * 4 * 10,
    },
  };
}

/** VT-x, at the step after the CPUID exit (the first). */
export function vtxAfterCpuidExit(): VmView {
  const cpuid = vtxCpuidExit();
  const v = vtxAfterIoExit();
  const changed = ['VM_EXIT_REASON', 'VM_EXIT_INSTRUCTION_LEN', 'GUEST_RIP'];
  const fields = v.fields.map((f): VmFieldView => {
    const value = f.name === 'VM_EXIT_REASON' ? hex(cpuid.code, 8) : f.name === 'EXIT_QUALIFICATION' ? hex(0, 16) : f.name === 'VM_EXIT_INSTRUCTION_LEN' ? hex(2, 8) : f.name === 'GUEST_RIP' ? hex(CPUID_RIP + 2n, 16) : f.value;
    return { ...f, value, changed: changed.includes(f.name) };
  });
  return {
    ...v,
    vms: [{ ...v.vms[0]!, exits: 1, steps: 3, console: '' }],
    exits: [cpuid],
    lastExit: cpuid,
    fields,
    byReason: [{ code: cpuid.code, name: cpuid.name, count: 1, cycles: cpuid.cycles }],
    exitTotal: 1,
    cycles: { ...v.cycles, total: 3 + 880 + 5 * 40 + 320 + 4 * 10, guest: 3, transitions: 880, fieldAccess: 5 * 40, handlers: 320, memory: 4 * 10 },
  };
}

function vmcbFields(values: Record<string, bigint>, changed: readonly string[]): VmFieldView[] {
  return Object.entries(VMCB_FIELDS)
    .filter(([, d]) => d.kind === 'int')
    .map(([name, d]) => ({
      name,
      title: d.apm,
      area: d.area,
      key: d.offset,
      width: String(d.size),
      value: hex(values[name] ?? 0n, d.size * 2),
      changed: changed.includes(name),
    }));
}

function svmControls(words: readonly number[]): VmControlView[] {
  const options: Partial<Record<InterceptName, string>> = { HLT: 'hypervisor.exits.hlt', RDTSC: 'hypervisor.exits.rdtsc', INVLPG: 'hypervisor.exits.invlpg' };
  const wordName = ['INTERCEPT_CR', 'INTERCEPT_DR', 'INTERCEPT_EXCEPTIONS', 'INTERCEPT_MISC1', 'INTERCEPT_MISC2', 'INTERCEPT_MISC3'];
  const shown: InterceptName[] = ['INTR', 'NMI', 'CPUID', 'HLT', 'INVLPG', 'RDTSC', 'IOIO_PROT', 'MSR_PROT', 'SHUTDOWN', 'VMRUN', 'VMMCALL'];
  return shown.map((n) => {
    const b = INTERCEPT[n];
    const set = ((words[b.word] ?? 0) & (1 << b.bit)) !== 0;
    // The APM requires the VMRUN intercept (VMRUN fails without it); the hypervisor needs interrupts, CPUID, IOIO, SHUTDOWN and VMMCALL.
    const locked = n === 'VMRUN' ? 'fixed-1' : n === 'INTR' || n === 'NMI' || n === 'CPUID' || n === 'IOIO_PROT' || n === 'SHUTDOWN' || n === 'VMMCALL' ? 'hypervisor' : options[n] !== undefined ? null : 'unsupported';
    return { field: wordName[b.word]!, bit: b.bit, name: `INTERCEPT_${n}`, set, locked, option: options[n] ?? null };
  });
}

/** AMD-V, at the step after a #VMEXIT with VMEXIT_IOIO (an `out dx, al` to COM1). */
export function svmAfterIoioExit(): VmView {
  const code = SVM_EXIT['IOIO']!;
  const name = exitCodeName(code)!;
  const info1 = encodeIoioInfo({ in: false, string: false, rep: false, size: 1, addrSize: 64, seg: 0, port: 0x3f8 });
  const ioioBits: VmBitsView[] = [
    { name: 'TYPE', lo: 0, hi: 0, value: info1 & 1 },
    { name: 'STR', lo: 2, hi: 2, value: (info1 >>> 2) & 1 },
    { name: 'REP', lo: 3, hi: 3, value: (info1 >>> 3) & 1 },
    { name: 'SZ8', lo: 4, hi: 4, value: (info1 >>> 4) & 1 },
    { name: 'SZ16', lo: 5, hi: 5, value: (info1 >>> 5) & 1 },
    { name: 'SZ32', lo: 6, hi: 6, value: (info1 >>> 6) & 1 },
    { name: 'A16', lo: 7, hi: 7, value: (info1 >>> 7) & 1 },
    { name: 'A32', lo: 8, hi: 8, value: (info1 >>> 8) & 1 },
    { name: 'A64', lo: 9, hi: 9, value: (info1 >>> 9) & 1 },
    { name: 'SEG', lo: 10, hi: 12, value: (info1 >>> 10) & 7 },
    { name: 'PORT', lo: 16, hi: 31, value: info1 >>> 16 },
  ];
  const info: VmExitInfoView[] = [
    { field: 'exit_info_1', key: VMCB_FIELDS.exit_info_1.offset, value: hex(info1, 16), bits: ioioBits },
    { field: 'exit_info_2', key: VMCB_FIELDS.exit_info_2.offset, value: hex(OUT_RIP + 1n, 16), bits: [] },
    { field: 'next_rip', key: VMCB_FIELDS.next_rip.offset, value: hex(OUT_RIP + 1n, 16), bits: [] },
  ];
  const exit: VmExitView = {
    n: 0,
    vm: 0,
    step: 6,
    code,
    name,
    entryFailure: false,
    rip: hex(OUT_RIP, 16),
    info,
    accesses: [
      { op: 'read', field: 'exit_code', key: VMCB_FIELDS.exit_code.offset, value: hex(code, 16) },
      { op: 'read', field: 'exit_info_1', key: VMCB_FIELDS.exit_info_1.offset, value: hex(info1, 16) },
      { op: 'read', field: 'save.rax', key: VMCB_FIELDS['save.rax'].offset, value: hex(0x48, 16) },
      { op: 'read', field: 'next_rip', key: VMCB_FIELDS.next_rip.offset, value: hex(OUT_RIP + 1n, 16) },
      { op: 'write', field: 'save.rip', key: VMCB_FIELDS['save.rip'].offset, value: hex(OUT_RIP + 1n, 16) },
    ],
    action: 'emulated',
    note: 'port 0x3f8 out 1 byte',
    guestSteps: 6,
    entry: 'VMRUN',
    cycles: 1650,
  };
  const words = [0, 0, 0, 0, 0, 0];
  for (const n of ['INTR', 'NMI', 'CPUID', 'HLT', 'IOIO_PROT', 'SHUTDOWN', 'VMRUN', 'VMMCALL'] as const) {
    const b = INTERCEPT[n];
    words[b.word] = (words[b.word]! | (1 << b.bit)) >>> 0;
  }
  const values: Record<string, bigint> = {
    exit_code: BigInt(code),
    exit_info_1: BigInt(info1),
    exit_info_2: OUT_RIP + 1n,
    next_rip: OUT_RIP + 1n,
    'save.rip': OUT_RIP + 1n,
    'save.rax': 0x48n,
    'save.rsp': 0x8000n,
    'save.rflags': 0x2n,
    'save.cr0': 0x80000011n,
    'save.efer': 0x1d00n,
    asid: 1n,
    ...Object.fromEntries(INTERCEPT_WORD_OFFSET.map((off, i) => [Object.entries(VMCB_FIELDS).find(([, d]) => d.offset === off)![0], BigInt(words[i]!)])),
  };
  return {
    technique: 'svm',
    vendor: 'amd',
    world: 'guest',
    vms: [{ id: 0, name: 'guest', mode: 'long64', state: 'running', end: null, exits: 1, steps: 6, console: 'H' }],
    current: 0,
    exits: [exit],
    lastExit: exit,
    fields: vmcbFields(values, ['exit_code', 'exit_info_1', 'exit_info_2', 'next_rip', 'save.rip']),
    controls: svmControls(words),
    byReason: [{ code, name, count: 1, cycles: exit.cycles }],
    exitTotal: 1,
    cycles: {
      preset: { id: 'amd-zen2', name: { en: 'AMD Zen 2 (measured round trips)', 'zh-CN': 'AMD Zen 2（实测往返）' } },
      total: 6 + 1100 + 5 * 2 + 540 + 4 * 10,
      guest: 6,
      transitions: 1100,
      fieldAccess: 5 * 2,
      handlers: 540,
      // One instruction-fetch miss: a 4-level NPT walk of 4 references at 10 cycles.
      memory: 4 * 10,
    },
  };
}
