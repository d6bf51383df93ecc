/**
 * The hypervisor's machine under the Timeline: whatever mix of run, goto and back reaches a step,
 * the machine there is exactly the one a straight run to that step gives (registers, all of RAM
 * including the VMCS/VMCB, the exit log, the ledger, the console, the devices), under VT-x and
 * AMD-V, for a guest that exits often and in many ways (CPUID, OUT, RDMSR, a #UD reflected into
 * its own handler, a hypercall), with nested paging and with shadow paging (where the shadow
 * MMU's TypeScript-side state, its roots, leaves and reverse maps, must come back exactly too), and
 * with the 2D walk's caches on over 4-KByte nested pages (their entries and counters likewise).
 * Also: the vm/* events, in order with the CPU's own, and "run until the next VM exit".
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildScenario, loadScenario, type LoadedScenario } from '../scenario/index.ts';
import { ArraySink, TRACE_KINDS, type TraceEvent } from '../trace/events.ts';
import { Timeline } from '../trace/timeline.ts';
import { HvMachine } from './hv-machine.ts';

const GUEST = `
kernel_entry:
    xor eax, eax
    cpuid
    mov r12d, ebx
    mov r13d, 0
again:
    mov eax, 1
    cpuid
    mov dx, UART_PORT
    mov al, 'a'
    add al, r13b
    out dx, al
    mov ecx, 0xc0000080
    rdmsr
    ud2
    mov eax, 0
    mov ebx, '.'
    cmp r12d, 0x756e6547
    jne amd
    vmcall
    jmp next
amd:
    vmmcall
next:
    mov rax, r13
    mov [0x300000 + r13 * 8], rax
    inc r13d
    cmp r13d, 12
    jb again
    hlt

isr_6:
    add qword [rsp], 2
    iretq
`;

/** 'cached': nested paging over 4-KByte nested pages with the page-walk cache and the nested TLB on. */
export function hvScenario(technique: 'vtx' | 'svm', paging: 'nested' | 'shadow' | 'cached' = 'nested'): LoadedScenario {
  const hypervisor = paging === 'shadow' ? { hypervisor: { nestedPaging: false } }
    : paging === 'cached' ? { hypervisor: { nestedPageSize: '4k', walkCaches: { pwc: true, ntlb: true } } } : {};
  const r = loadScenario({
    version: 1, name: `hv ${technique}`, technique, cpu: { vendor: technique === 'svm' ? 'amd' : 'intel' }, mode: 'long64', paging: '4level',
    memory: { size: 4 * 1024 * 1024 }, kernel: { source: GUEST }, ...hypervisor,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.loaded;
}

const hv = (ls: LoadedScenario): HvMachine => buildScenario(ls) as unknown as HvMachine;

/** Everything observable of the machine, as plain data (RAM hashed page by page). */
function state(m: HvMachine): unknown {
  m.cpu.syncFlags();
  const s = m.cpu.state;
  const pages: string[] = [];
  for (let pa = 0; pa < m.mem.ramSize; pa += 4096) {
    let h = 0;
    for (let i = 0; i < 4096; i += 4) h = (Math.imul(h, 31) + m.mem.read(pa + i, 4)) | 0;
    pages.push(h.toString(16));
  }
  const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v);
  return JSON.parse(JSON.stringify({
    steps: s.steps, regLo: [...s.regLo], regHi: [...s.regHi], rip: [s.ripLo, s.ripHi], rflags: s.rflags, cr: [s.cr0, s.cr3Lo, s.cr4, s.efer],
    seg: s.seg, tsc: s.tsc, pages, log: m.hypervisor.log, counts: [...m.hypervisor.counts], ledger: m.ledger.data(), console: m.console,
    uart: m.devices.uartOut, ports: m.devices.portLog, ended: m.ended, loaded: m.guestLoaded, records: m.records.map((r) => [r.log.n, r.entry, r.cycles]),
    tlb: m.mmu.tlb.entries(),
    shadow: shadowState(m),
    caches: cacheState(m),
  }, big));
}

/** The walk caches' entries and counters, null when off. */
function cacheState(m: HvMachine): unknown {
  const c = m.mmu.walkCaches;
  if (c === null) return null;
  const plain = (x: object | null | undefined) => {
    if (x == null) return null;
    const o = x as unknown as { hits: number; misses: number; flushes: number; map: Map<number, unknown> };
    return { hits: o.hits, misses: o.misses, flushes: o.flushes, entries: [...o.map] };
  };
  return { pwc: plain(c.pwc), ntlb: plain(c.ntlb) };
}

/** The shadow MMU's own state (plain data), null under nested paging. */
function shadowState(m: HvMachine): unknown {
  const sh = m.hypervisor.opts.backend.shadow;
  if (sh == null) return null;
  return { stats: sh.stats, leaves: [...sh.leaves], byEntry: [...sh.byEntry], ptRefs: [...sh.ptRefs], rmap: [...sh.rmap], roots: sh.roots, free: sh.free, current: sh.current, format: sh.format };
}

function straight(ls: LoadedScenario, steps: number): unknown {
  const m = hv(ls);
  m.run(steps);
  return state(m);
}

type Op = { op: 'run'; n: number } | { op: 'goto'; at: number } | { op: 'back'; k: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('run' as const), n: fc.integer({ min: 0, max: 60 }) }),
  fc.record({ op: fc.constant('goto' as const), at: fc.integer({ min: 0, max: 320 }) }),
  fc.record({ op: fc.constant('back' as const), k: fc.integer({ min: 0, max: 80 }) }),
);

describe.each([['vtx', 'nested'], ['svm', 'nested'], ['vtx', 'shadow'], ['svm', 'shadow'], ['vtx', 'cached'], ['svm', 'cached']] as const)('the hypervisor machine under %s, %s paging', (technique, paging) => {
  const ls = hvScenario(technique, paging);

  it('runs the guest to its HLT with every kind of exit', () => {
    const m = hv(ls);
    expect(m.run(10_000)).toBe('hlt');
    const names = new Set(m.hypervisor.log.map((e) => e.kind));
    expect([...names].sort()).toEqual(['cpuid', 'exception', 'hlt', 'hypercall', 'io', 'msr']);
    expect(m.console).toBe('a.b.c.d.e.f.g.h.i.j.k.l.');
    // The #UDs are reflected (under shadow paging the #PF exits are the shadow MMU's: hidden faults, resumed).
    expect(m.hypervisor.log.filter((e) => e.kind === 'exception' && !/#PF/.test(e.note)).every((e) => e.action === 'reflected')).toBe(true);
    expect(m.hypervisor.log.filter((e) => e.kind === 'exception' && /#PF/.test(e.note)).every((e) => e.action === 'host')).toBe(true);
    expect(m.mem.read(0x300000 + 11 * 8, 4)).toBe(11);
    const sh = m.hypervisor.opts.backend.shadow;
    if (paging === 'shadow') {
      expect(sh!.stats.hiddenFaults).toBeGreaterThan(0);
      expect(m.hypervisor.log.some((e) => e.shadow?.some((r) => r.op === 'fill'))).toBe(true);
    } else expect(sh).toBeNull();
    const c = m.mmu.walkCaches;
    if (paging === 'cached') {
      // The caches are on and used: hits on both, emptied by the untagged world switches or INVEPT.
      expect(c!.pwc!.hits).toBeGreaterThan(0);
      expect(c!.ntlb!.hits).toBeGreaterThan(0);
    } else expect(c).toBeNull();
  });

  it('any sequence of run, goto and back gives the machine of a straight run', () => {
    const total = (() => {
      const m = hv(ls);
      m.run(10_000);
      return m.cpu.state.steps;
    })();
    expect(total).toBeGreaterThan(200);
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 8 }), fc.integer({ min: 3, max: 40 }), (ops, interval) => {
        const m = hv(ls);
        const tl = new Timeline(m, { interval, maxCheckpoints: 5 });
        for (const o of ops) {
          if (o.op === 'run') tl.step(o.n);
          else if (o.op === 'goto') tl.goto(o.at);
          else tl.back(o.k);
        }
        expect(state(m)).toEqual(straight(ls, tl.current));
      }),
      { numRuns: 25 },
    );
  });

  it('emits vm/* events in order with the CPU events, and runUntil stops at each exit', () => {
    const m = hv(ls);
    const sink = new ArraySink();
    m.setTrace(sink, TRACE_KINDS.filter((k) => !k.startsWith('tlb/') && k !== 'mmu/walk'));
    m.run(8);
    const kinds = sink.events.map((e) => e.kind);
    expect(kinds[0]).toBe('vm/entry');
    const exit = kinds.indexOf('vm/exit');
    // Under shadow paging the first exit is the hidden #PF of the first fetch: no instruction retired before it.
    expect(kinds.slice(exit - 1, exit + 1)).toEqual([paging === 'shadow' ? 'vm/entry' : 'cpu/insn', 'vm/exit']);
    const handle = kinds.indexOf('vm/handle');
    expect(kinds.slice(exit + 1, handle).every((k) => k === 'vm/field')).toBe(true);
    expect(kinds[handle + 1]).toBe('vm/entry');
    const fields = sink.events.filter((e): e is Extract<TraceEvent, { kind: 'vm/field' }> => e.kind === 'vm/field');
    expect(fields[0]!.field).toBe(technique === 'vtx' ? 'VM_EXIT_REASON' : 'exit_code');
    expect(fields[0]!.key).toBe(technique === 'vtx' ? 0x4402 : 0x70);
    const e = sink.events.find((x) => x.kind === 'vm/entry' && x.instruction !== 'VMLAUNCH' && x.step > 0);
    expect(e).toMatchObject({ instruction: technique === 'vtx' ? 'VMRESUME' : 'VMRUN' });

    const m2 = hv(ls);
    const tl = new Timeline(m2, { interval: 10 });
    const seen: number[] = [];
    for (;;) {
      const r = tl.runUntil('vm/exit', 10_000);
      if (r.event === null) break;
      seen.push(r.event.step);
      expect(r.step).toBe(r.event.step + 1);
    }
    const ref = hv(ls);
    ref.run(10_000);
    // runUntil stops once per step that has an exit (under shadow paging several exits share a
    // step: an exception and the hidden faults of its delivery).
    expect(seen).toEqual([...new Set(ref.hypervisor.log.map((x) => x.step))]);
  });
});

describe.each([['vtx', 'nested'], ['svm', 'nested'], ['vtx', 'shadow'], ['svm', 'shadow']] as const)('a handler that runs the instruction once in the guest, under %s, %s paging', (technique, paging) => {
  it('reports the exit, its handling, then that entry and the instruction, and counts the round trip', async () => {
    const json = structuredClone((await import(`../scenario/examples/nested-walk-${technique}.json`)).default as Record<string, unknown>);
    if (paging === 'shadow') json.hypervisor = { nestedPaging: false };
    const r = loadScenario(json);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const m = hv(r.loaded);
    const sink = new ArraySink();
    m.setTrace(sink, TRACE_KINDS.filter((k) => !k.startsWith('tlb/') && k !== 'mmu/walk' && k !== 'vm/field'));
    m.run(30);
    // The guest's read of DEV (MMIO): an EPT violation or NPF under nested paging, a #PF under shadow paging.
    const mmio = sink.events.findIndex((e) => e.kind === 'io/mmio');
    expect(mmio).toBeGreaterThan(0);
    const kinds = sink.events.slice(mmio - 4, mmio + 1).map((e) => e.kind);
    expect(kinds).toEqual(['vm/exit', 'vm/handle', 'vm/entry', 'cpu/insn', 'io/mmio']);
    const exit = sink.events[mmio - 4]!;
    const rec = m.records.find((x) => x.log.step === exit.step && x.log.note.startsWith('mmio read'));
    expect(rec?.entry).toBe(technique === 'vtx' ? 'VMRESUME' : 'VMRUN');
    expect(rec!.cycles).toBeGreaterThan(0);
    // Every exit the guest resumed from has its entry and its cycles.
    for (const x of m.records.slice(0, -1)) expect([x.log.n, x.entry !== null, x.cycles > 0]).toEqual([x.log.n, true, true]);
    // To the end, the exits' cycles are the ledger's round trips, every charge of every handler counted once
    // (the handler's work, charged after its one-instruction run, included).
    m.run(1000);
    expect(m.ended?.kind).toBe('hlt');
    const trips = Object.values(m.ledger.data().exits).reduce((a, t) => a + t.roundTripCycles, 0);
    expect(m.records.reduce((a, x) => a + x.cycles, 0)).toBe(trips);
    expect(rec!.cycles).toBeGreaterThan(m.records.find((x) => x.log.code === rec!.log.code && x !== rec && x.log.action === 'host')?.cycles ?? 0);
  });
});

describe.each(['vtx', 'svm'] as const)('under %s with shadow paging, a one-instruction run that itself exits', (technique) => {
  it('gives each exit its own field reads, in order, and the round trips still add up', () => {
    // OUTS from a page the shadow has not mapped yet: the I/O exit's handler runs OUTS once, which
    // takes a hidden #PF (its own exit), and OUTS exits again once the shadow is filled.
    const r = loadScenario({
      version: 1, name: 'outs', technique, cpu: { vendor: technique === 'svm' ? 'amd' : 'intel' }, mode: 'long64', paging: '4level',
      memory: { size: 8 * 1024 * 1024 }, hypervisor: { nestedPaging: false },
      kernel: { source: 'kernel_entry:\n    mov dx, UART_PORT\n    mov al, 0x42\n    out dx, al\n    mov rsi, 0x400000\n    outsb\n    hlt\n' },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const m = hv(r.loaded);
    const sink = new ArraySink();
    m.setTrace(sink, TRACE_KINDS.filter((k) => !k.startsWith('tlb/') && k !== 'mmu/walk'));
    m.run(100);
    expect(m.ended?.kind).toBe('hlt');
    const ev = sink.events;
    const reasonField = technique === 'vtx' ? 'VM_EXIT_REASON' : 'exit_code';
    const exits = ev.flatMap((e, i) => (e.kind === 'vm/exit' ? [i] : []));
    // The code page's hidden #PF, OUT, then OUTS: the hidden #PF of its one-instruction run, OUTS again; HLT.
    expect(exits.map((i) => (ev[i] as Extract<TraceEvent, { kind: 'vm/exit' }>).name)).toEqual(
      technique === 'vtx'
        ? ['EXIT_REASON_EXCEPTION_NMI', 'EXIT_REASON_IO_INSTRUCTION', 'EXIT_REASON_IO_INSTRUCTION', 'EXIT_REASON_EXCEPTION_NMI', 'EXIT_REASON_IO_INSTRUCTION', 'EXIT_REASON_HLT']
        : ['VMEXIT_EXCP14', 'VMEXIT_IOIO', 'VMEXIT_IOIO', 'VMEXIT_EXCP14', 'VMEXIT_IOIO', 'VMEXIT_HLT'],
    );
    expect(m.hypervisor.log[3]!.note).toMatch(/^hidden #PF at 0x400000/);
    for (const i of exits) {
      // Each exit's own reads first, and no exit's reads among another's.
      expect(ev[i + 1]).toMatchObject({ kind: 'vm/field', field: reasonField });
      const upTo = ev.findIndex((e, k) => k > i && e.kind === 'vm/handle');
      expect(ev.slice(i + 1, upTo).filter((e) => e.kind === 'vm/field' && e.field === reasonField)).toHaveLength(1);
    }
    expect(m.hypervisor.log.map((x) => x.accesses[0]?.field)).toEqual(m.hypervisor.log.map(() => reasonField));
    const trips = Object.values(m.ledger.data().exits).reduce((a, t) => a + t.roundTripCycles, 0);
    expect(m.records.reduce((a, x) => a + x.cycles, 0)).toBe(trips);
  });
});
