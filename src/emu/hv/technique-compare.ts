/**
 * The techniques compared on one workload (issue 9, item 5): the same guest programs bare (native),
 * under trap-and-emulate, binary translation, VT-x and AMD-V, each hardware assist with shadow
 * paging and with nested paging. The workload is Adams and Agesen's nanobenchmarks (ASPLOS 2006,
 * section 6) written as small 32-bit kernels for the lab's `exec` machine, each a loop of N
 * iterations of one thing:
 * - `syscall`: a user program's INT 0x80 into its kernel and IRETD back (the user program runs with
 *   IF = 0: under trap-and-emulate an IRETD from ring 1 could not set IF, te/monitors.test.ts shows that);
 * - `in`: IN from port 0x80;
 * - `pgfault`: a kernel read of an unmapped page, whose #PF handler maps it (a page-table write)
 *   and returns; the loop unmaps it again (a page-table write and INVLPG);
 * - `ptemod`: a page-table entry changed and INVLPG'd;
 * - `compute`: arithmetic only.
 * Paravirtualization (`pv`) cannot run these bare kernels: a PV kernel is written against the
 * hypervisor's interface. `pvWorkloadSource` gives each workload ported to the lab's Xen-style
 * 32-bit ABI (pv/abi.ts), doing the same work per iteration, and runs it with `runPv` (pv/exec.ts);
 * `in` has no PV version (PV_UNAVAILABLE says why), so its PV row is left out.
 * Per iteration = (the run of 2N iterations − the run of N) / N, so the setup and the first-touch
 * costs cancel out. Figures per technique: exits (VM exits, or the monitor's traps and callouts) by
 * kind, the translation cache's blocks and hit rate, and cycles under a cost preset (cost/presets.ts;
 * the native run is priced as its guest instructions, one cycle each, as every preset prices them).
 * The cost model prices transitions and handler work, not a real device or memory system, and the
 * figures say so where they are shown.
 */
import { assemble } from '../asm/assembler.ts';
import { runBare } from '../machine/bare.ts';
import { runUnder, type HvBackendId, type HvJson } from './exec.ts';
import { HC, SCHEDOP, UVMF_INVLPG, UVMF_NONE, FLAT_RING1_DS, FLAT_RING1_CS, FLAT_RING3_CS, FLAT_RING3_DS } from './pv/abi.ts';
import { BOOT_PT } from './pv/backend.ts';
import { buildKernel, runPv } from './pv/exec.ts';

export type Workload = 'syscall' | 'in' | 'pgfault' | 'ptemod' | 'compute';
export const WORKLOADS: readonly Workload[] = ['syscall', 'in', 'pgfault', 'ptemod', 'compute'];

export type TechniqueId = 'native' | 'trap-emulate' | 'bt' | 'pv' | 'vtx-shadow' | 'vtx-nested' | 'svm-shadow' | 'svm-nested';
export const TECHNIQUE_IDS: readonly TechniqueId[] = ['native', 'trap-emulate', 'bt', 'pv', 'vtx-shadow', 'vtx-nested', 'svm-shadow', 'svm-nested'];

/**
 * The workloads that have no paravirtualized version, and why (the CLI and the chart say it).
 * The lab's PV domain has no I/O privilege: the hypervisor's TSS has no I/O permission bitmap and
 * IOPL is 0, so IN in the ring-1 kernel is a #GP that ends the run as "not paravirtualized"
 * (pv/backend.ts). Xen can grant a domain ports (PHYSDEVOP_set_iopl, PHYSDEVOP_set_iobitmap in
 * physdev.h); the lab implements neither, and its PV kernel's only device is console_io.
 */
export const PV_UNAVAILABLE: Readonly<Partial<Record<Workload, string>>> = {
  in: 'the lab\u2019s PV domain has no I/O privilege (IOPL 0, no I/O bitmap; Xen\u2019s physdev_op grants are not implemented), so IN in its ring-1 kernel faults; its only device is console_io',
};

const LOAD = 0x100000;

/** The descriptor tables every workload kernel loads: GDT at 0x500 (0x08/0x10 ring 0, 0x1b/0x23 ring 3, TSS 0x28 at 0xC00), IDT at 0x1000. */
const SETUP = `
  mov dword [0x500], 0
  mov dword [0x504], 0
  mov dword [0x508], 0x0000ffff
  mov dword [0x50c], 0x00cf9a00
  mov dword [0x510], 0x0000ffff
  mov dword [0x514], 0x00cf9200
  mov dword [0x518], 0x0000ffff
  mov dword [0x51c], 0x00cffa00
  mov dword [0x520], 0x0000ffff
  mov dword [0x524], 0x00cff200
  mov dword [0x528], 0x0c000067
  mov dword [0x52c], 0x00008900
  mov word [0x5f0], 0x2f
  mov dword [0x5f2], 0x500
  lgdt [0x5f0]
  mov dword [0xc04], 0x90000
  mov dword [0xc08], 0x10
  mov word [0xc66], 104
  mov ax, 0x28
  ltr ax
  mov word [0x7f0], 0x81*8+7
  mov dword [0x7f2], 0x1000
  lidt [0x7f0]
`;

/** An interrupt gate for `vector` to `label` (DPL 0, or 3 for a system call). */
function gate(vector: number, label: string, dpl: 0 | 3): string {
  const at = 0x1000 + vector * 8;
  return `
  mov eax, ${label}
  mov [${at}], ax
  mov word [${at + 2}], 0x08
  mov word [${at + 4}], ${dpl === 3 ? '0xee00' : '0x8e00'}
  shr eax, 16
  mov [${at + 6}], ax`;
}

/** Identity-maps the first 4 MiB (page directory 0x10000, page table 0x11000, user-accessible) and turns paging on. */
const PAGING = `
  mov edi, 0x11000
  mov eax, 0x007
  mov ecx, 1024
.map:
  mov [edi], eax
  add eax, 0x1000
  add edi, 4
  loop .map
  mov dword [0x10000], 0x11007
  mov eax, 0x10000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
`;

/** The PTE of linear 0x300000 in the page table above. */
const PTE = 0x11000 + 0x300 * 4;

/** The workload's guest program (lab assembly) with `n` iterations. */
export function workloadSource(w: Workload, n: number): string {
  const head = `bits 32\norg ${LOAD}\n`;
  switch (w) {
    case 'compute':
      return `${head}  mov ecx, ${n}\n  xor eax, eax\n.l:\n  add eax, ecx\n  imul ebx, eax, 3\n  xor edx, ebx\n  dec ecx\n  jnz .l\n  hlt\n`;
    case 'in':
      return `${head}  mov ecx, ${n}\n.l:\n  in al, 0x80\n  dec ecx\n  jnz .l\n  hlt\n`;
    case 'syscall':
      return `${head}${SETUP}${gate(0x80, 'sys', 3)}${gate(0x81, 'done', 3)}
  mov ax, 0x23
  mov ds, ax
  mov es, ax
  mov ecx, ${n}
  push dword 0x23
  push dword 0x8f000
  push dword 0x2
  push dword 0x1b
  push dword user
  iretd
user:
  int 0x80
  dec ecx
  jnz user
  int 0x81
sys:
  iretd
done:
  hlt
`;
    case 'pgfault':
      return `${head}${SETUP}${gate(14, 'pf', 0)}${PAGING}
  mov dword [${PTE}], 0
  invlpg [0x300000]
  mov ecx, ${n}
.l:
  mov eax, [0x300000]
  mov dword [${PTE}], 0
  invlpg [0x300000]
  dec ecx
  jnz .l
  hlt
pf:
  mov dword [${PTE}], 0x300007
  add esp, 4
  iretd
`;
    case 'ptemod':
      return `${head}${SETUP}${PAGING}
  mov ecx, ${n}
  mov edx, 0x300007
.l:
  xor edx, 2
  mov [${PTE}], edx
  invlpg [0x300000]
  dec ecx
  jnz .l
  hlt
`;
  }
}

/** The PTE of linear 0x300000 in the PV domain's bootstrap page table (pv/backend.ts BOOT_PT, which the domain builder pinned). */
export const PV_PTE = BOOT_PT + 0x300 * 4;

/** Where a PV workload stores EAX, EBX, ECX, EDX before it shuts down (its label), so they can be compared with the bare run's registers. */
export const PV_OUT_LABEL = 'regs_out';

/**
 * The workload ported to the lab's Xen-style PV interface (pv/abi.ts; one 32-bit kernel started by
 * the domain builder in ring 1 with paging on over its bootstrap tables), or null when it has none
 * (PV_UNAVAILABLE). Per iteration it does what the bare workload does:
 * - `syscall`: the user program's INT 0x80 reaches the kernel's handler through the gate that
 *   set_trap_table had the hypervisor build (DPL 3, FLAT_RING1_CS): the processor delivers it to
 *   ring 1 with no hypervisor on the path, and the handler's IRETD returns to ring 3 without one
 *   either (as 32-bit Xen's "fast trap" for INT 0x80). Only hardware exceptions bounce through the
 *   hypervisor (see `pgfault`);
 * - `pgfault`: the kernel's read of an unmapped page is a #PF that enters the hypervisor, which
 *   writes CR2 to vcpu_info.arch.cr2 and reflects the fault through the trap table to the kernel's
 *   ring-1 handler (an exception frame with the error code on the kernel stack); the handler maps
 *   the page with update_va_mapping (the PTE write as a hypercall), and the loop unmaps it with
 *   update_va_mapping and UVMF_INVLPG (the write and the INVLPG in one hypercall);
 * - `ptemod`: the PTE change and its INVLPG as one update_va_mapping with UVMF_INVLPG;
 * - `compute`: the same arithmetic.
 * The hypercalls take EAX, EBX, ECX, EDX, so the loop saves its registers around them (PUSH/POP),
 * as compiled kernel code would around a call. Each ends with sched_op SCHEDOP_shutdown (HLT is
 * privileged) after storing EAX, EBX, ECX, EDX at `regs_out`.
 */
export function pvWorkloadSource(w: Workload, n: number): string | null {
  if (PV_UNAVAILABLE[w] !== undefined) return null;
  const head = `bits 32
org ${LOAD}
start:
  mov eax, [esi+36]               ; start_info.shared_info
  mov [shared_info], eax
`;
  const end = `finish:
  mov [${PV_OUT_LABEL}], eax
  mov [${PV_OUT_LABEL}+4], ebx
  mov [${PV_OUT_LABEL}+8], ecx
  mov [${PV_OUT_LABEL}+12], edx
  mov eax, ${HC.sched_op}             ; sched_op(SCHEDOP_shutdown, poweroff)
  mov ebx, ${SCHEDOP.shutdown}
  mov ecx, reason
  int 0x82
  jmp $
shared_info: dd 0
reason: dd 0
${PV_OUT_LABEL}: dd 0, 0, 0, 0
`;
  /** set_trap_table with the table at `traps`. */
  const trapTable = `  mov eax, ${HC.set_trap_table}
  mov ebx, traps
  int 0x82
`;
  /** update_va_mapping(va, val, flags). */
  const uvm = (va: string, val: string, flags: number) => `  mov eax, ${HC.update_va_mapping}
  mov ebx, ${va}
  mov ecx, ${val}
  mov edx, ${flags}
  int 0x82
`;
  const trap = (vector: number, dpl: 0 | 3, label: string) => `  db 0x${vector.toString(16)}, ${dpl}
  dw 0x${FLAT_RING1_CS.toString(16)}
  dd ${label}
`;
  switch (w) {
    case 'compute':
      return `${head}  mov ecx, ${n}
  xor eax, eax
.l:
  add eax, ecx
  imul ebx, eax, 3
  xor edx, ebx
  dec ecx
  jnz .l
${end}`;
    case 'syscall':
      return `${head}${trapTable}  mov eax, ${HC.stack_switch}             ; the kernel stack for traps from ring 3
  mov ebx, 0x${FLAT_RING1_DS.toString(16)}
  mov ecx, 0x90000
  int 0x82
  ; the user program's code pages and its stack page made user-accessible (the builder maps them supervisor)
${uvm('0x100000', '0x100007', UVMF_INVLPG)}${uvm('0x101000', '0x101007', UVMF_INVLPG)}${uvm('0x8e000', '0x8e007', UVMF_INVLPG)}  mov ax, 0x${FLAT_RING3_DS.toString(16)}
  mov ds, ax
  mov es, ax
  mov ecx, ${n}
  push dword 0x${FLAT_RING3_DS.toString(16)}
  push dword 0x8f000
  push dword 0x202                 ; (IF is the hypervisor's: a PV kernel masks events in vcpu_info instead)
  push dword 0x${FLAT_RING3_CS.toString(16)}
  push dword user
  iretd
user:
  int 0x80
  dec ecx
  jnz user
  int 0x81
sys:
  iretd
done:
  mov ax, 0x${FLAT_RING1_DS.toString(16)}
  mov ds, ax
  mov es, ax
  jmp finish
traps:
${trap(0x80, 3, 'sys')}${trap(0x81, 3, 'done')}  times 8 db 0
${end}`;
    case 'pgfault':
      return `${head}${trapTable}${uvm('0x300000', '0', UVMF_INVLPG)}  mov ecx, ${n}
.l:
  mov eax, [0x300000]
  push eax
  push ecx
${uvm('0x300000', '0', UVMF_INVLPG)}  pop ecx
  pop eax
  dec ecx
  jnz .l
  jmp finish
pf:                                ; reflected by the hypervisor: error code on the stack, the address in vcpu_info.arch.cr2
  push eax
  push ebx
  push ecx
  push edx
${uvm('0x300000', '0x300007', UVMF_NONE)}  pop edx
  pop ecx
  pop ebx
  pop eax
  add esp, 4
  iretd
traps:
${trap(14, 0, 'pf')}  times 8 db 0
${end}`;
    case 'ptemod':
      return `${head}  mov ecx, ${n}
  mov edx, 0x300007
.l:
  xor edx, 2
  push ecx
  push edx
${uvm('0x300000', 'edx', UVMF_INVLPG)}  pop edx
  pop ecx
  dec ecx
  jnz .l
  jmp finish
${end}`;
    case 'in':
      return null;
  }
}

/** One run's figures. */
export interface RunFigures {
  steps: number;
  exits: number;
  byKind: Record<string, number>;
  cycles: number;
  bt?: { blocks: number; hits: number; misses: number; callouts: number };
}

export interface CompareRow {
  workload: Workload;
  technique: TechniqueId;
  preset: string | null;
  /** Per iteration. */
  exits: number;
  byKind: Record<string, number>;
  cycles: number;
  /** Binary translation: over the whole run of 2N iterations. */
  bt?: { blocks: number; hitRate: number; callouts: number };
}

function code(w: Workload, n: number): Uint8Array {
  const r = assemble(workloadSource(w, n));
  if (!r.ok) throw new Error(`${w}: ${r.errors.map((e) => `${e.line}: ${e.message}`).join('; ')}`);
  return r.bytes;
}

/** The kinds an exit is counted by: VM exits by name, or the software monitor's traps and callouts by what caused them. */
function kindsOf(hv: HvJson): Record<string, number> {
  if (hv.traps !== undefined) return { ...hv.traps };
  return Object.fromEntries(Object.entries(hv.exits).map(([k, v]) => [k, v.count]));
}

/** The PV version of `w` as a paravirtualized domain (runPv, priced by `preset`): exits are its entries into the hypervisor, hypercalls and traps, by hypercall name or trap. */
export function runPvWorkload(w: Workload, n: number, preset?: string): RunFigures & { out: { eax: number; ebx: number; ecx: number; edx: number }; pte: number } {
  const source = pvWorkloadSource(w, n);
  if (source === null) throw new RangeError(`${w} under pv: not available under PV: ${PV_UNAVAILABLE[w]}`);
  const r = runPv({ source }, { maxSteps: 5_000_000, ...(preset !== undefined ? { preset } : {}) });
  if (r.end !== 'hypercall-exit' || r.hv.exitCode !== 0) throw new Error(`${w} under pv: ended ${r.end}${r.error !== undefined ? ` (${r.error})` : ''}`);
  const failed = r.hv.hypercalls.log.find((h) => h.result < 0);
  if (failed !== undefined) throw new Error(`${w} under pv: ${failed.name} failed: ${failed.did}`);
  const byKind: Record<string, number> = { ...r.hv.hypercalls.counts, ...(r.hv.traps ?? {}) };
  const at = buildKernel({ source }).labels.get(PV_OUT_LABEL)!;
  const mem = r.backend.cpu.mem;
  const out = { eax: mem.read(at, 4) >>> 0, ebx: mem.read(at + 4, 4) >>> 0, ecx: mem.read(at + 8, 4) >>> 0, edx: mem.read(at + 12, 4) >>> 0 };
  return { steps: r.hv.steps, exits: r.hv.exitTotal, byKind, cycles: r.hv.cost.cycles, out, pte: mem.read(PV_PTE, 4) >>> 0 };
}

/** Runs workload `w` with `n` iterations under `t` (priced by `preset`; ignored natively). */
export function runWorkload(w: Workload, n: number, t: TechniqueId, preset?: string): RunFigures {
  if (t === 'pv') return runPvWorkload(w, n, preset);
  const bytes = code(w, n);
  const maxSteps = 5_000_000;
  if (t === 'native') {
    const r = runBare({ mode: 'prot32', load: LOAD, code: bytes, maxSteps });
    if (r.end !== 'hlt') throw new Error(`${w} native: ended ${r.end}`);
    const steps = (r.hv as { steps: number }).steps;
    return { steps, exits: 0, byKind: {}, cycles: steps };
  }
  const [under, paging]: [HvBackendId, 'shadow' | 'nested'] = t === 'trap-emulate' || t === 'bt' ? [t, 'shadow'] : t === 'vtx-shadow' ? ['vtx', 'shadow'] : t === 'vtx-nested' ? ['vtx', 'nested'] : t === 'svm-shadow' ? ['svm', 'shadow'] : ['svm', 'nested'];
  const run = runUnder(under, { mode: 'prot32', load: LOAD, code: bytes, maxSteps, paging, ...(preset !== undefined ? { preset } : {}) });
  const r = run.result;
  if (r.end !== 'hlt') throw new Error(`${w} under ${t}: ended ${r.end}${r.error !== undefined ? ` (${r.error})` : ''}`);
  const out: RunFigures = { steps: r.hv.steps, exits: r.hv.exitTotal, byKind: kindsOf(r.hv), cycles: r.hv.cost.cycles };
  if (r.hv.bt !== undefined) {
    const b = r.hv.bt;
    out.bt = { blocks: b.blocks, hits: b.hits, misses: b.misses, callouts: Object.values(b.callouts).reduce((s, x) => s + (x ?? 0), 0) };
  }
  return out;
}

/** The default preset per technique for the comparison: the first generation for the software techniques and VT-x, AMD's only preset for AMD-V. */
export function comparePreset(t: TechniqueId, intel: string): string | null {
  if (t === 'native') return null;
  return t.startsWith('svm') ? 'amd-recent' : intel;
}

/** Per-iteration figures of every technique on every workload (2N minus N, divided by N); a workload with no PV version (PV_UNAVAILABLE) has no PV row. */
export function compareTechniques(n = 16, intelPreset = 'vtx-prescott', workloads: readonly Workload[] = WORKLOADS, techniques: readonly TechniqueId[] = TECHNIQUE_IDS): CompareRow[] {
  const rows: CompareRow[] = [];
  for (const w of workloads) {
    for (const t of techniques) {
      if (t === 'pv' && PV_UNAVAILABLE[w] !== undefined) continue;
      const preset = comparePreset(t, intelPreset);
      const a = runWorkload(w, n, t, preset ?? undefined);
      const b = runWorkload(w, 2 * n, t, preset ?? undefined);
      const byKind: Record<string, number> = {};
      for (const k of new Set([...Object.keys(a.byKind), ...Object.keys(b.byKind)])) {
        const d = ((b.byKind[k] ?? 0) - (a.byKind[k] ?? 0)) / n;
        if (d !== 0) byKind[k] = d;
      }
      const row: CompareRow = { workload: w, technique: t, preset, exits: (b.exits - a.exits) / n, byKind, cycles: (b.cycles - a.cycles) / n };
      if (b.bt !== undefined) row.bt = { blocks: b.bt.blocks, hitRate: b.bt.hits + b.bt.misses === 0 ? 0 : b.bt.hits / (b.bt.hits + b.bt.misses), callouts: b.bt.callouts };
      rows.push(row);
    }
  }
  return rows;
}
