/**
 * Trap-and-emulate as a scenario's machine (hv-machine.ts over te/backend.ts): the monitor's state
 * (the guest's control registers and descriptor-table registers, its MSRs, the trap counts, the
 * event to reflect, the shadow MMU, the monitor installed in the CPU) round-trips through the
 * Timeline's checkpoints, so going back and forth gives the machine of a straight run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildScenario, loadScenario, type LoadedScenario } from '../../scenario/index.ts';
import { TE_MONITOR_LINEAR } from '../../scenario/validate.ts';
import { ArraySink, type TraceEvent } from '../../trace/events.ts';
import { Timeline } from '../../trace/timeline.ts';
import { HvMachine } from '../hv-machine.ts';
import { MONITOR_LINEAR, TeBackend } from './backend.ts';

/** A 32-bit guest kernel whose loop traps in most ways the monitor knows: CLI, STI, OUT, MOV CR3, a reflected #UD, shadow faults. */
const GUEST = `
kernel_entry:
    xor esi, esi
again:
    cli
    mov dx, UART_PORT
    mov al, 'a'
    add eax, esi
    out dx, al
    sti
    pushfd
    pop eax
    and eax, ~0x200
    push eax
    popfd
    ud2
    mov eax, cr3
    mov cr3, eax
    mov [0x300000 + esi * 4], esi
    inc esi
    cmp esi, 10
    jb again
    cli
    hlt

isr_6:
    add dword [esp], 2
    iretd
`;

function teScenario(vendor: 'intel' | 'amd' = 'intel'): LoadedScenario {
  const r = loadScenario({ version: 1, name: 'te', technique: 'trap-emulate', cpu: { vendor }, mode: 'prot32', paging: '32bit', memory: { size: 4 * 1024 * 1024 }, kernel: { source: GUEST } });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.loaded;
}

const hv = (ls: LoadedScenario): HvMachine => buildScenario(ls) as unknown as HvMachine;

/** Everything observable of the machine and its monitor, as plain data (RAM hashed page by page). */
function state(m: HvMachine): unknown {
  m.cpu.syncFlags();
  const s = m.cpu.state;
  const pages: string[] = [];
  for (let pa = 0; pa < m.mem.ramSize; pa += 4096) {
    let h = 0;
    for (let i = 0; i < 4096; i += 4) h = (Math.imul(h, 31) + m.mem.read(pa + i, 4)) | 0;
    pages.push(h.toString(16));
  }
  const b = m.backend as TeBackend;
  const sh = b.shadow;
  const own = Object.fromEntries(Object.entries(b).filter(([, v]) => typeof v !== 'object' || v === null || v instanceof Map || Object.getPrototypeOf(v) === Object.prototype));
  const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v instanceof Map ? [...v] : typeof v === 'function' ? 'fn' : v);
  return JSON.parse(JSON.stringify({
    steps: s.steps, regLo: [...s.regLo], rip: s.ripLo, rflags: s.rflags, cr: [s.cr0, s.cr3Lo, s.cr4, s.efer], gdtr: s.gdtr, idtr: s.idtr, tr: s.tr,
    seg: s.seg, tsc: s.tsc, pages, log: m.hypervisor.log, counts: [...m.hypervisor.counts], ledger: m.ledger.data(), console: m.console,
    uart: m.devices.uartOut, ended: m.ended, records: m.records.map((r) => [r.log.n, r.entry, r.cycles, r.info]),
    tlb: m.mmu.tlb.entries(), guest: m.cpu.guest === null ? null : Object.keys(m.cpu.guest),
    backend: own, report: b.report(),
    shadow: { stats: sh.stats, leaves: [...sh.leaves], byEntry: [...sh.byEntry], ptRefs: [...sh.ptRefs], rmap: [...sh.rmap], roots: sh.roots, free: sh.free, current: sh.current },
  }, big));
}

function straight(ls: LoadedScenario, steps: number): unknown {
  const m = hv(ls);
  m.run(steps);
  return state(m);
}

type Op = { op: 'run'; n: number } | { op: 'goto'; at: number } | { op: 'back'; k: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('run' as const), n: fc.integer({ min: 0, max: 60 }) }),
  fc.record({ op: fc.constant('goto' as const), at: fc.integer({ min: 0, max: 260 }) }),
  fc.record({ op: fc.constant('back' as const), k: fc.integer({ min: 0, max: 80 }) }),
);

describe('the trap-and-emulate machine', () => {
  it('places the monitor where the validator keeps the guest\u2019s mappings out', () => {
    expect(TE_MONITOR_LINEAR).toBe(MONITOR_LINEAR);
  });

  it.each(['intel', 'amd'] as const)('runs the guest to its HLT on an %s processor, each trap recorded with the IRET back', (vendor) => {
    const m = hv(teScenario(vendor));
    expect(m.backend).toBeInstanceOf(TeBackend);
    expect(m.run(10_000)).toBe('hlt');
    expect(m.console).toBe('abcdefghij');
    const b = m.backend as TeBackend;
    expect(Object.fromEntries(b.traps)).toMatchObject({ cli: 11, sti: 10, out: 10, 'mov from cr3': 10, 'mov cr3': 10, '#UD': 10, hlt: 1 });
    // The guest's own #UD is reflected into its handler; the privileged instructions are emulated; OUT forwarded.
    const by = (name: string) => m.records.filter((r) => r.log.note.startsWith(name));
    expect(by('cli').every((r) => r.log.action === 'emulated' && r.entry === 'IRET' && r.cycles > 0)).toBe(true);
    expect(m.records.filter((r) => r.log.name === '#UD').every((r) => r.log.action === 'reflected')).toBe(true);
    expect(m.records.filter((r) => r.log.kind === 'io').every((r) => r.log.action === 'forwarded')).toBe(true);
    expect(m.records.at(-1)!.entry).toBeNull();
    // Every trap's cycles add up to the monitor's side of the ledger.
    const d = m.ledger.data();
    const monitor = d.cycles - (d.byKind['guest-insn']?.cycles ?? 0) - (d.byKind['page-walk-ref']?.cycles ?? 0);
    expect(m.records.reduce((n, r) => n + r.cycles, 0)).toBe(monitor);
    expect(m.guestResult().hv.traps).toEqual(Object.fromEntries([...b.traps].sort(([a], [c]) => (a < c ? -1 : 1))));
    expect(m.guestResult().cpl).toBe(0);
  });

  it('any sequence of run, goto and back gives the machine of a straight run', () => {
    const ls = teScenario();
    const total = (() => {
      const m = hv(ls);
      m.run(10_000);
      return m.cpu.state.steps;
    })();
    expect(total).toBeGreaterThan(150);
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

  it('emits each trap as vm/exit (trap, vector), vm/handle and the IRET back, at the trapped instruction\u2019s step', () => {
    const m = hv(teScenario());
    const sink = new ArraySink();
    m.setTrace(sink);
    m.run(10_000);
    const vm = sink.events.filter((e) => e.kind.startsWith('vm/'));
    const exits = vm.filter((e): e is Extract<TraceEvent, { kind: 'vm/exit' }> => e.kind === 'vm/exit');
    expect(exits.length).toBe(m.records.length);
    expect(exits.every((e) => e.trap === true && (e.code === 13 || e.code === 14 || e.code === 6) && e.name === (e.code === 13 ? '#GP' : e.code === 14 ? '#PF' : '#UD'))).toBe(true);
    // exit, handle, then IRET (or the end, after HLT).
    for (let i = 0; i < exits.length; i++) {
      const at = vm.indexOf(exits[i]!);
      expect(vm[at + 1]!.kind).toBe('vm/handle');
      expect(vm[at + 2]!.kind).toBe(i === exits.length - 1 ? 'vm/end' : 'vm/entry');
      if (i < exits.length - 1) expect((vm[at + 2] as Extract<TraceEvent, { kind: 'vm/entry' }>).instruction).toBe('IRET');
    }
  });
});
