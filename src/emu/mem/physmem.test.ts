/**
 * Copy-on-write RAM: a snapshot shares the page objects, the first write after it copies only the
 * written page, the snapshot never changes, and a restore brings the old pages back (shared).
 */
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE, PhysMem, WATCH_CODE, WATCH_SHARED } from './physmem.ts';

function mem(): PhysMem {
  const m = new PhysMem(64 * PAGE_SIZE);
  for (let n = 0; n < 8; n++) m.write(n * PAGE_SIZE, 4, 0x1000 + n);
  return m;
}

describe('copy-on-write pages', () => {
  it('a snapshot copies no page: it holds the live page objects', () => {
    const m = mem();
    const before = m.cowCopies;
    const s = m.snapshot();
    expect(m.cowCopies).toBe(before);
    expect([...s.index]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (let i = 0; i < 8; i++) expect(s.pages[i]).toBe(m.pages[i]);
  });

  it('the first write after a snapshot copies that page only, once; the snapshot keeps the old bytes', () => {
    const m = mem();
    const s = m.snapshot();
    m.write(3 * PAGE_SIZE + 8, 4, 0xdeadbeef);
    m.write8(3 * PAGE_SIZE + 9, 0x11);
    m.writeWide(3 * PAGE_SIZE + 16, 8, 1, 2);
    expect(m.cowCopies).toBe(1);
    expect(m.pages[3]).not.toBe(s.pages[3]);
    for (const n of [0, 1, 2, 4, 5, 6, 7]) expect(m.pages[n]).toBe(s.pages[n]);
    expect(m.read(3 * PAGE_SIZE + 8, 4)).toBe(0xdead11ef);
    expect(new DataView(s.pages[3]!.buffer).getUint32(8, true)).toBe(0);
    expect(new DataView(s.pages[3]!.buffer).getUint32(0, true)).toBe(0x1003);
  });

  it('the CPU fast path (noteWrite, then pages[n]) also copies before writing', () => {
    const m = mem();
    const s = m.snapshot();
    const n = 5;
    if (m.watch[n] !== 0) m.noteWrite(n);
    m.pages[n]![0] = 0x77;
    expect(s.pages[5]![0]).toBe(0x05);
    expect(m.read8(5 * PAGE_SIZE)).toBe(0x77);
  });

  it('a code watch set over the shared mark (Cpu.buildBlock writes 1) still copies, and calls onWatchedWrite', () => {
    const m = mem();
    const seen: number[] = [];
    m.onWatchedWrite = (p) => {
      seen.push(p);
      m.watch[p] = 0;
    };
    const s = m.snapshot();
    m.watch[2] = WATCH_CODE;
    m.write8(2 * PAGE_SIZE, 0x99);
    expect(seen).toEqual([2]);
    expect(s.pages[2]![0]).toBe(0x02);
    // Shared without code: no callback.
    m.write8(4 * PAGE_SIZE, 0x99);
    expect(seen).toEqual([2]);
  });

  it('unwatchCode keeps the shared marks', () => {
    const m = mem();
    const s = m.snapshot();
    m.watch[1] = WATCH_CODE | WATCH_SHARED;
    m.unwatchCode();
    expect(m.watch[1]).toBe(WATCH_SHARED);
    m.write8(PAGE_SIZE, 0xaa);
    expect(s.pages[1]![0]).toBe(0x01);
  });

  it('restore brings back the pages (shared: the next write copies), and forgets pages allocated since', () => {
    const m = mem();
    const s = m.snapshot();
    m.write(2 * PAGE_SIZE, 4, 0xffff);
    m.write(20 * PAGE_SIZE, 4, 0x1234);
    expect(m.allocatedPages()).toBe(9);
    m.restore(s);
    expect(m.allocatedPages()).toBe(8);
    expect(m.pages[20]).toBeUndefined();
    expect(m.read(20 * PAGE_SIZE, 4)).toBe(0);
    expect(m.read(2 * PAGE_SIZE, 4)).toBe(0x1002);
    expect(m.pages[2]).toBe(s.pages[2]);
    m.write(2 * PAGE_SIZE, 4, 0xabcd);
    expect(m.pages[2]).not.toBe(s.pages[2]);
    expect(s.pages[2]![0]).toBe(0x02);
    // A second restore of the same snapshot still sees the original bytes.
    m.restore(s);
    expect(m.read(2 * PAGE_SIZE, 4)).toBe(0x1002);
  });

  it('two snapshots in a row share every page not written in between', () => {
    const m = mem();
    const a = m.snapshot();
    m.write(6 * PAGE_SIZE, 1, 1);
    const b = m.snapshot();
    for (let i = 0; i < 8; i++) {
      if (i === 6) expect(b.pages[i]).not.toBe(a.pages[i]);
      else expect(b.pages[i]).toBe(a.pages[i]);
    }
  });
});
