/**
 * Checkpoints of a whole machine for time travel: everything that decides what the machine does
 * next. The CPU's architectural state is deep-copied (it is small); RAM is shared page by page with
 * the live machine and copied on write (PhysMem.snapshot); the TLB keeps its valid entries, LRU
 * clock and counters; the CPU's fast translation cache is kept too, because it decides which
 * accesses reach the TLB (its counters and LRU order). Decoded code is not kept: it is a pure
 * cache, dropped on restore and rebuilt from memory.
 */
import type { Cpu, FastTlbSnapshot } from '../cpu/cpu.ts';
import type { CpuState } from '../cpu/state.ts';
import type { MemSnapshot, PhysMem } from '../mem/physmem.ts';
import type { Mmu } from '../mmu/mmu.ts';
import type { TlbSnapshot } from '../mmu/tlb.ts';

/** A deep copy of plain data: objects, arrays, typed arrays, Maps and Sets; other values as they are. */
export function deepCopy<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (ArrayBuffer.isView(v)) return (v as unknown as Uint8Array).slice() as unknown as T;
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [deepCopy(k), deepCopy(x)])) as unknown as T;
  if (v instanceof Set) return new Set([...v].map(deepCopy)) as unknown as T;
  if (Array.isArray(v)) return v.map(deepCopy) as unknown as T;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) out[k] = deepCopy((v as Record<string, unknown>)[k]);
  return out as T;
}

/** A deep copy of the CPU state (every field, including ones later issues add). */
export function cloneCpuState(s: CpuState): CpuState {
  return deepCopy(s);
}

/**
 * Makes `dst` equal to `src` in place. Typed arrays are filled in place (the Cpu and its paging
 * control alias `regLo`, `regHi` and `pdpte`); every other field gets a fresh deep copy.
 */
export function assignCpuState(dst: CpuState, src: CpuState): void {
  const d = dst as unknown as Record<string, unknown>;
  const s = src as unknown as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!(k in s)) delete d[k];
  for (const k of Object.keys(s)) {
    const from = s[k];
    const to = d[k];
    if (ArrayBuffer.isView(from) && ArrayBuffer.isView(to) && from.constructor === to.constructor && (to as Uint8Array).length === (from as Uint8Array).length) {
      (to as Uint8Array).set(from as Uint8Array);
    } else {
      d[k] = deepCopy(from);
    }
  }
}

/** The parts of a machine a checkpoint covers. */
export interface MachineParts {
  cpu: Cpu;
  mem: PhysMem;
  mmu: Mmu;
}

/** The CPU, memory and MMU at one step (devices are added by the Machine). */
export interface CoreSnapshot {
  /** CpuState.steps when taken. */
  readonly step: number;
  readonly cpu: CpuState;
  readonly mem: MemSnapshot;
  readonly tlb: TlbSnapshot;
  readonly mmuWalks: number;
  /** Mmu.refs: the walks' memory references so far (the comparison and the pair read them at any step). */
  readonly mmuRefs: number;
  readonly fastTlb: FastTlbSnapshot;
}

/** Takes a checkpoint of CPU, memory and MMU. Call it between runs (never inside Cpu.run). */
export function snapshotCore(p: MachineParts): CoreSnapshot {
  p.cpu.syncFlags();
  return {
    step: p.cpu.state.steps,
    cpu: cloneCpuState(p.cpu.state),
    mem: p.mem.snapshot(),
    tlb: p.mmu.tlb.snapshot(),
    mmuWalks: p.mmu.walks,
    mmuRefs: p.mmu.refs,
    fastTlb: p.cpu.fastTlbSnapshot(),
  };
}

/** Puts CPU, memory and MMU back to `snap`, and drops the CPU's decoded code. */
export function restoreCore(p: MachineParts, snap: CoreSnapshot): void {
  p.cpu.syncFlags();
  assignCpuState(p.cpu.state, snap.cpu);
  p.mem.restore(snap.mem);
  p.mmu.tlb.restore(snap.tlb);
  p.mmu.walks = snap.mmuWalks;
  p.mmu.refs = snap.mmuRefs;
  p.mmu.lastFault = null;
  p.cpu.dropCaches(snap.fastTlb);
}

function typedBytes(v: unknown): number {
  if (v === null || typeof v !== 'object') return 8;
  if (ArrayBuffer.isView(v)) return v.byteLength;
  if (v instanceof Map) {
    let n = 0;
    for (const [k, x] of v) n += typedBytes(k) + typedBytes(x);
    return n;
  }
  let n = 0;
  for (const x of Object.values(v)) n += typedBytes(x);
  return n;
}

/**
 * Bytes a checkpoint holds of its own, not counting page contents: the page-reference table
 * (a 4-byte page number and an 8-byte reference per allocated page), the TLB and fast-TLB
 * entries, and the CPU state (8 bytes per scalar, typed arrays by size). Pages copied on write
 * after it are counted separately (PhysMem.cowCopies).
 */
export function snapshotBytes(snap: CoreSnapshot): number {
  return snap.mem.index.byteLength + 8 * snap.mem.pages.length + typedBytes(snap.tlb) + typedBytes(snap.fastTlb) + typedBytes(snap.cpu);
}
