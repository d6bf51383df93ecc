import { describe, expect, it } from 'vitest';
import { PhysMem } from '../mem/physmem.ts';
import { walk } from '../mmu/walk.ts';
import type { EntryMemory, PagingControl } from '../mmu/types.ts';
import { formatShadowExercise, generateShadowExercise, SHADOW_MAX_COUNT, type ShadowExercise } from './shadow-exercise.ts';

/**
 * Replays an exercise from what it prints (the dump, the events and the key's guest-entry changes)
 * and checks every answer against the guest's own walk composed with GPA → HPA.
 */
function replay(ex: ShadowExercise, seen: Set<string>): void {
  const mem = new PhysMem(ex.ramSize);
  const size = ex.mode === '4level' ? 8 : 4;
  for (const p of ex.guestTables) for (const e of p.entries) {
    mem.write(p.address + e.index * size, 4, e.lo);
    if (size === 8) mem.write(p.address + e.index * size + 4, 4, e.hi);
  }
  const gmem: EntryMemory = { read: (a, n) => mem.read(a, n), write: (a, n, v) => mem.write(a, n, v) };
  const read = (a: number): { lo: number; hi: number } => ({ lo: mem.read(a, 4) >>> 0, hi: size === 8 ? mem.read(a + 4, 4) >>> 0 : 0 });
  let cr3 = ex.cr3;
  const ctl = (): PagingControl => ({
    mode: ex.mode, cr3Lo: cr3, cr3Hi: 0, wp: (ex.cr0 & 0x10000) !== 0, pse: (ex.cr4 & 0x10) !== 0, pge: false, pcide: false,
    nxe: (ex.efer & 0x800) !== 0, pdpte: new Uint32Array(8), maxPhysAddr: 48, page1gb: false,
  });
  const hpaOf = (gpa: number): number => ex.hpaBase + gpa;
  ex.events.forEach((ev, i) => {
    const a = ex.answers[i]!;
    const where = `seed ${ex.seed}, event ${i + 1} (${ev.kind})`;
    if (ev.kind === 'access' || ev.kind === 'pt-write') {
      const access = ev.kind === 'access' ? { write: ev.access === 'write', fetch: ev.access === 'fetch', user: ev.cpl === 3 } : { write: true, fetch: false, user: false };
      const ref = walk(gmem, ctl(), ev.gva % 2 ** 32, Math.floor(ev.gva / 2 ** 32), access, false);
      if (ref.ok) {
        expect(a.trueFault, where).toBeNull();
        expect(a.hpa, where).toBe(hpaOf(ref.pa));
        if (ev.kind === 'pt-write') expect(ref.pa, where).toBe(ev.entry);
        seen.add(a.exits ? (a.hidden.length > 0 ? 'hidden' : 'exit-no-fault') : 'no-exit');
      } else {
        expect(a.exits, where).toBe(true);
        expect(a.trueFault, where).toBe(ref.fault.errorCode);
        expect(a.hpa, where).toBeNull();
        seen.add('true');
      }
      if (!a.exits) expect(a.records, where).toEqual([]);
    } else {
      expect(a.exits, where).toBe(true);
      expect(a.hidden, where).toEqual([]);
      if (ev.kind === 'mov-cr3') cr3 = ev.cr3;
    }
    // The guest's entries: each change starts from the entry as it was; only A and D are set, except the store's own entry.
    for (const g of a.guest) {
      expect(read(g.gpa), where).toEqual(g.before);
      if (ev.kind === 'pt-write' && g.gpa === ev.entry) {
        expect(g.after, where).toEqual({ lo: ev.lo, hi: ev.hi });
        seen.add('store');
      } else {
        expect(g.after.hi, where).toBe(g.before.hi);
        expect((g.after.lo ^ g.before.lo) & ~0x60, where).toBe(0);
        expect(g.after.lo & g.before.lo, where).toBe(g.before.lo);
        seen.add('a/d');
      }
      mem.write(g.gpa, 4, g.after.lo);
      if (size === 8) mem.write(g.gpa + 4, 4, g.after.hi);
    }
    if (ev.kind === 'pt-write' && a.hpa !== null) expect(read(ev.entry), where).toEqual({ lo: ev.lo, hi: ev.hi });
    // Every fill maps the guest's translation of its page (after the event) to GPA → HPA, with the guest's rights at most.
    for (const r of a.records) {
      seen.add(r.op === 'zap' ? `zap-${r.why}` : r.op === 'cr3' ? `cr3-${r.hit ? 'hit' : 'miss'}` : r.op);
      if (r.op === 'fill') {
        expect(r.hpa, where).toBe(hpaOf(r.gpa));
        expect(r.spte - (r.spte % 0x1000), where).toBe(hpaOf(r.gpa));
        const g = walk(gmem, ctl(), r.gva % 2 ** 32, Math.floor(r.gva / 2 ** 32), { write: false, fetch: false, user: false }, false);
        expect(g.ok, where).toBe(true);
        if (g.ok) {
          expect(g.pa - (g.pa % 0x1000), where).toBe(r.gpa);
          if ((r.spte & 2) !== 0) expect(g.rights!.rw || (ex.cr0 & 0x10000) === 0, where).toBe(true);
          if ((r.spte & 4) !== 0) expect(g.rights!.us, where).toBe(true);
          // XD (bit 63) is the guest's, in a 4-level shadow; a 32-bit shadow has no upper half.
          expect(r.spteHi >>> 31, where).toBe(size === 8 && g.rights!.xd ? 1 : 0);
        }
      }
      if (r.op === 'true-fault') expect(r.errorCode, where).toBe(a.trueFault);
      if (r.op === 'zap' && r.why === 'invlpg') expect(ev.kind, where).toBe('invlpg');
      if (r.op === 'emulated-write') expect(ev.kind, where).toBe('pt-write');
    }
  });
}

describe('exercise shadow', () => {
  it('is deterministic per seed and plain data', () => {
    const a = generateShadowExercise({ seed: 12 });
    expect(generateShadowExercise({ seed: 12 })).toEqual(a);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
    expect(a.events.length).toBe(8);
    expect(a.answers.length).toBe(8);
    expect(generateShadowExercise({ seed: 13 })).not.toEqual(a);
    expect(formatShadowExercise(generateShadowExercise({ seed: 12 }), { answers: true })).toBe(formatShadowExercise(a, { answers: true }));
  });

  it('every answer is the guest walk composed with GPA → HPA, or its #PF; fills map that translation; the guest entries change only by A/D and the stores', () => {
    const seen = new Set<string>();
    const modes = new Set<string>();
    for (let seed = 0; seed < 80; seed++) {
      const ex = generateShadowExercise({ seed, count: 16 });
      modes.add(ex.mode);
      replay(ex, seen);
    }
    expect([...modes].sort()).toEqual(['32bit', '4level']);
    for (const k of ['no-exit', 'hidden', 'true', 'store', 'a/d', 'fill', 'zap-write', 'zap-invlpg', 'emulated-write', 'write-protect', 'cr3-hit', 'cr3-miss', 'true-fault', 'hidden-fault']) {
      expect(seen.has(k), k).toBe(true);
    }
  });

  it('rejects a bad seed or count', () => {
    expect(() => generateShadowExercise({ seed: -1 })).toThrow(/seed/);
    expect(() => generateShadowExercise({ seed: 1, count: 0 })).toThrow(/count/);
    expect(() => generateShadowExercise({ seed: 1, count: SHADOW_MAX_COUNT + 1 })).toThrow(/count/);
  });
});
