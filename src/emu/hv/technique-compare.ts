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

export type Workload = 'syscall' | 'in' | 'pgfault' | 'ptemod' | 'compute';
export const WORKLOADS: readonly Workload[] = ['syscall', 'in', 'pgfault', 'ptemod', 'compute'];

export type TechniqueId = 'native' | 'trap-emulate' | 'bt' | 'vtx-shadow' | 'vtx-nested' | 'svm-shadow' | 'svm-nested';
export const TECHNIQUE_IDS: readonly TechniqueId[] = ['native', 'trap-emulate', 'bt', 'vtx-shadow', 'vtx-nested', 'svm-shadow', 'svm-nested'];

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

/** Runs workload `w` with `n` iterations under `t` (priced by `preset`; ignored natively). */
export function runWorkload(w: Workload, n: number, t: TechniqueId, preset?: string): RunFigures {
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

/** Per-iteration figures of every technique on every workload (2N minus N, divided by N). */
export function compareTechniques(n = 16, intelPreset = 'vtx-prescott', workloads: readonly Workload[] = WORKLOADS, techniques: readonly TechniqueId[] = TECHNIQUE_IDS): CompareRow[] {
  const rows: CompareRow[] = [];
  for (const w of workloads) {
    for (const t of techniques) {
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
