import { describe, expect, test } from 'vitest';
import pageFault from '../emu/scenario/examples/page-fault.json' with { type: 'json' };
import syscalls from '../emu/scenario/examples/syscalls.json' with { type: 'json' };
import { buildScenario, loadScenario } from '../emu/scenario/index.ts';
import type { TraceEvent } from '../emu/trace/events.ts';
import { InThreadClient } from './in-thread.ts';
import type { Json, ViewState } from './protocol.ts';
import { MAX_STEP_TRANSLATIONS, translationsOf, type StepWalks, type TranslationView } from './walks.ts';

/** The user page the example's process writes first: USER_BASE + 0x80000, not present until the kernel maps it. */
const DATA = '0x0000000040080000';

async function open(scenario: unknown, interval?: number): Promise<{ c: InThreadClient; v: ViewState }> {
  const c = new InThreadClient(interval === undefined ? {} : { interval });
  const r = await c.load(scenario as Json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return { c, v: r.view };
}

function paged(w: StepWalks): Exclude<StepWalks, { paging: 'none' }> {
  if (w.paging === 'none') throw new Error('expected paging on');
  return w;
}

const faulting = (w: StepWalks): TranslationView | undefined => paged(w).translations.find((t) => !t.outcome.ok);

describe('the walks of a step (page-fault example, 32-bit paging)', () => {
  test('the user write to the unmapped page: the PTE not present, #PF error code 6, CR2, at the step after the fault', async () => {
    const { c } = await open(pageFault);
    const r = await c.runUntil(['cpu/exception'], 1000);
    expect(r.event).toMatchObject({ kind: 'cpu/exception', vector: 14, errorCode: 6 });
    const v = r.view;
    expect(v.step).toBe(r.event!.step + 1);
    const w = paged(v.walks);
    expect(w.paging).toBe('32bit');
    expect(w.pageFault).toEqual({ errorCode: 6, cr2: DATA });
    const f = faulting(w)!;
    expect(f).toMatchObject({ linear: DATA, access: 'write', user: true, source: 'walk', outcome: { ok: false, errorCode: 6, level: 'PTE' } });
    expect(f.entries.map((e) => [e.level, e.index])).toEqual([
      ['PDE', 0x40080000 >>> 22],
      ['PTE', (0x40080000 >>> 12) & 0x3ff],
    ]);
    const [pde, pte] = f.entries;
    // The PDE: at CR3 + 256 × 4, present, user, writable, pointing at the user page table.
    expect(BigInt(pde!.entryPa!)).toBe((BigInt(w.controls.cr3) & ~0xfffn) + 256n * 4n);
    expect(BigInt(pde!.value) & 7n).toBe(7n);
    // The PTE: at the table the PDE points to + 128 × 4, all zero.
    expect(BigInt(pte!.entryPa!)).toBe((BigInt(pde!.value) & 0xfffff000n) + 128n * 4n);
    expect(pte!.value).toBe('0x0000000000000000');
    // Then the delivery's walks: IDT, GDT, TSS (ESP0), the kernel stack, the handler's fetch: supervisor accesses.
    const rest = w.translations.slice(w.translations.indexOf(f) + 1);
    expect(rest.length).toBeGreaterThanOrEqual(4);
    expect(rest.every((t) => !t.user && t.outcome.ok)).toBe(true);
    expect(rest.at(-1)).toMatchObject({ access: 'fetch', source: 'walk' });
    // The step before shows no fault.
    const before = await c.back(1);
    expect(paged(before.walks).pageFault).toBeNull();
    expect(faulting(before.walks)).toBeUndefined();
  });

  test('after the handler maps the page, the retried write walks to a present PTE and succeeds', async () => {
    const { c } = await open(pageFault);
    await c.runUntil(['cpu/exception'], 1000);
    const iret = await c.runUntil(['ring/change'], 1000);
    expect(iret.event).toMatchObject({ kind: 'ring/change', cause: 'iret', to: 3 });
    const retry = await c.step(1);
    const t = paged(retry.walks).translations.find((x) => x.linear === DATA)!;
    expect(t).toMatchObject({ access: 'write', user: true, source: 'walk', outcome: { ok: true, pageSize: 4096 } });
    expect(BigInt(t.entries[1]!.value) & 7n).toBe(7n);
    expect(paged(retry.walks).pageFault).toBeNull();
  });

  test('a step the TLB answers: its translations are probes of the tables, with the entries a miss would read', async () => {
    const { c } = await open(pageFault);
    const first = await c.step(1);
    const walked = paged(first.walks).translations[0]!;
    expect(walked).toMatchObject({ source: 'walk', access: 'fetch', user: true, linear: '0x0000000040000000' });
    const second = await c.step(1);
    const hit = paged(second.walks).translations[0]!;
    expect(hit).toMatchObject({ source: 'tlb', access: 'fetch', user: true, linear: '0x0000000040000005' });
    expect(hit.entries.map((e) => e.entryPa)).toEqual(walked.entries.map((e) => e.entryPa));
    // The first walk set A (bit 5) in both entries: the probe reads them as they are now.
    expect(hit.entries.map((e) => BigInt(e.value) & ~0x20n)).toEqual(walked.entries.map((e) => BigInt(e.value) & ~0x20n));
    expect(hit.entries.every((e) => (BigInt(e.value) & 0x20n) !== 0n)).toBe(true);
  });

  test('at the first step: the walk the next instruction fetch will make', async () => {
    const { v } = await open(pageFault);
    const w = paged(v.walks);
    expect(w.translations).toHaveLength(1);
    expect(w.translations[0]).toMatchObject({ source: 'next', access: 'fetch', user: true, linear: '0x0000000040000000', outcome: { ok: true, pa: '0x0000000000200000' } });
  });

  test('the kernel identity map uses 4-MByte pages: one PDE, a leaf, bit 21 reserved', async () => {
    const { c } = await open(pageFault);
    const r = await c.runUntil(['cpu/exception'], 1000);
    const idt = paged(r.view.walks).translations.find((t) => t.linear === '0x0000000000002070')!;
    expect(idt.entries).toHaveLength(1);
    expect(idt.entries[0]).toMatchObject({ level: 'PDE', index: 0, leaf: true, reserved: '0x0000000000200000' });
    expect(idt.outcome).toEqual({ ok: true, pa: '0x0000000000002070', pageSize: 4 * 1024 * 1024 });
  });
});

describe('the walks are a function of the step', () => {
  test('identical reached step by step, by back, by goto and by runUntil; the narration events unchanged', async () => {
    const { c } = await open(pageFault, 7);
    const forward: ViewState[] = [];
    for (let i = 0; i < 60; i++) forward.push(await c.step(1));
    // None of the TLB-path kinds crowd the narration's events.
    for (const v of forward) expect(v.events.some((e) => e.kind === 'tlb/lookup' || e.kind === 'mmu/walk')).toBe(false);
    const fault = forward.find((v) => paged(v.walks).pageFault !== null)!;
    expect(fault).toBeDefined();
    const back = await c.back(60 - fault.step);
    expect(back.walks).toEqual(fault.walks);
    for (const k of [1, fault.step, 33, 59, 2, 60]) expect((await c.goto(k)).walks, `goto ${k}`).toEqual(forward[k - 1]!.walks);
    const { c: fresh } = await open(pageFault, 7);
    const r = await fresh.runUntil(['cpu/exception'], 1000);
    expect(r.view.walks).toEqual(fault.walks);
    expect(r.view.step).toBe(fault.step);
    const many = await fresh.step(60 - fault.step);
    expect(many.walks).toEqual(forward[59]!.walks);
  });

  test('tracing the TLB path for the narration changes neither the walks nor the machine', async () => {
    const { c: plain } = await open(pageFault);
    const { c: traced } = await open(pageFault);
    await traced.setTraceKinds(['cpu/insn', 'tlb/lookup', 'mmu/walk', 'tlb/fill', 'cpu/exception']);
    for (let i = 0; i < 25; i++) {
      const a = await plain.step(1);
      const b = await traced.step(1);
      expect(b.walks).toEqual(a.walks);
      expect(b.machine).toEqual(a.machine);
    }
  });

  test('4-level paging (syscalls example): four levels, PML4E to PTE or a large-page leaf, with the entry addresses chained', async () => {
    const { c } = await open(syscalls);
    let seen = 0;
    for (let i = 0; i < 40; i++) {
      const w = paged((await c.step(1)).walks);
      expect(w.paging).toBe('4level');
      for (const t of w.translations) {
        expect(t.entries[0]!.level).toBe('PML4E');
        expect(BigInt(t.entries[0]!.entryPa!)).toBe((BigInt(w.controls.cr3) & ~0xfffn) + BigInt(t.entries[0]!.index) * 8n);
        for (let k = 1; k < t.entries.length; k++) {
          const up = BigInt(t.entries[k - 1]!.value) & 0x000ffffffffff000n;
          expect(BigInt(t.entries[k]!.entryPa!)).toBe(up + BigInt(t.entries[k]!.index) * 8n);
        }
        expect(t.entries.at(-1)!.leaf).toBe(t.outcome.ok);
        seen++;
      }
    }
    expect(seen).toBeGreaterThan(40);
  });
});

describe('paging modes and bounds', () => {
  test('paging off: said plainly, no walks', async () => {
    const { c, v } = await open({ version: 1, name: 'flat', cpu: { vendor: 'intel' }, mode: 'prot32', paging: 'none', memory: { size: 4 * 1024 * 1024 }, kernel: { source: 'kernel_entry:\n nop\n nop\n hlt\n' } });
    expect(v.walks).toEqual({ paging: 'none' });
    expect((await c.step(1)).walks).toEqual({ paging: 'none' });
  });

  test('PAE: the PDPTE comes from its register (no address), then PDE and PTE', async () => {
    const sc = { ...(pageFault as object), paging: 'pae' };
    const { c } = await open(sc);
    const r = await c.runUntil(['cpu/exception'], 1000);
    const f = faulting(r.view.walks)!;
    expect(f.entries.map((e) => e.level)).toEqual(['PDPTE', 'PDE', 'PTE']);
    expect(f.entries[0]!.entryPa).toBeNull();
    // Table 4-8: bits 2:1, 8:5 and 63:MAXPHYADDR (48 here).
    expect(f.entries[0]!.reserved).toBe('0xffff0000000001e6');
    expect(f.outcome).toEqual({ ok: false, errorCode: 6, level: 'PTE' });
  });

  test(`at most ${MAX_STEP_TRANSLATIONS} translations a step, the rest counted; repeated hits on a page listed once`, () => {
    const r = loadScenario(pageFault as Json);
    if (!r.ok) throw new Error('load');
    const m = buildScenario(r.loaded);
    const ctl = { ...m.cpu.pctl, cr3Lo: m.cpu.state.cr3Lo, cr3Hi: m.cpu.state.cr3Hi };
    const events: TraceEvent[] = [];
    for (let i = 0; i < 20; i++) {
      const linear = BigInt(0x100000 + i * 0x1000);
      events.push({ kind: 'tlb/lookup', step: 0, linear, access: 'read', user: false, pcid: 0, hit: true });
      events.push({ kind: 'tlb/lookup', step: 0, linear: linear + 8n, access: 'read', user: false, pcid: 0, hit: true });
    }
    const w = translationsOf(m, ctl, '32bit', events);
    if (w.paging === 'none') throw new Error('paging');
    expect(w.translations).toHaveLength(MAX_STEP_TRANSLATIONS);
    expect(w.dropped).toBe(20 - MAX_STEP_TRANSLATIONS);
    expect(w.translations.every((t) => t.source === 'tlb' && t.outcome.ok)).toBe(true);
  });
});
