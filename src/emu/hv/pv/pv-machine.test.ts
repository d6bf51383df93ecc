/**
 * Paravirtualization as a scenario's machine (scenario technique 'pv', hv-machine.ts over
 * pv/backend.ts): the scenario's validation, the run equal to runPv's, each hypercall's record on
 * the exit that made it, and the hypervisor's state (pinned tables, trap table, shared info page in
 * RAM, the hypercall log) round-tripping through the Timeline's checkpoints.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildScenario, loadScenario, type LoadedScenario } from '../../scenario/index.ts';
import { PV_MIN_MEMORY } from '../../scenario/validate.ts';
import { ArraySink, type TraceEvent } from '../../trace/events.ts';
import { Timeline } from '../../trace/timeline.ts';
import { HvMachine } from '../hv-machine.ts';
import { BOOT_PT, PvBackend } from './backend.ts';
import { runPv } from './exec.ts';
import { KERNEL_LOAD, kernelSource, type KernelVersion } from './kernel.ts';

const MEM = 8 * 1024 * 1024;

function pvScenario(kernel: KernelVersion = 'paravirtualized', extra: Record<string, unknown> = {}): LoadedScenario {
  const r = loadScenario({ version: 1, name: 'pv', technique: 'pv', pv: { kernel }, cpu: { vendor: 'intel' }, mode: 'prot32', paging: 'none', memory: { size: MEM }, ...extra });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.loaded;
}

function errorsOf(input: Record<string, unknown>): string[] {
  const r = loadScenario({ version: 1, name: 'pv', technique: 'pv', pv: { kernel: 'paravirtualized' }, cpu: { vendor: 'intel' }, mode: 'prot32', paging: 'none', memory: { size: MEM }, ...input });
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
}

const hv = (ls: LoadedScenario): HvMachine => buildScenario(ls) as unknown as HvMachine;

/** Everything observable of the machine and its hypervisor, as plain data (RAM hashed page by page). */
function state(m: HvMachine): unknown {
  m.cpu.syncFlags();
  const s = m.cpu.state;
  const pages: string[] = [];
  for (let pa = 0; pa < m.mem.ramSize; pa += 4096) {
    let h = 0;
    for (let i = 0; i < 4096; i += 4) h = (Math.imul(h, 31) + m.mem.read(pa + i, 4)) | 0;
    pages.push(h.toString(16));
  }
  const b = m.backend as PvBackend;
  const own = Object.fromEntries(Object.entries(b).filter(([, v]) => typeof v !== 'object' || v === null || v instanceof Map || Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype));
  const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v instanceof Map ? [...v] : typeof v === 'function' ? 'fn' : v);
  return JSON.parse(JSON.stringify({
    steps: s.steps, regLo: [...s.regLo], rip: s.ripLo, rflags: s.rflags, cr: [s.cr0, s.cr3Lo, s.cr4, s.efer], gdtr: s.gdtr, idtr: s.idtr, tr: s.tr,
    seg: s.seg, tsc: s.tsc, pages, log: m.hypervisor.log, counts: [...m.hypervisor.counts], ledger: m.ledger.data(), console: m.console,
    ended: m.ended, records: m.records.map((r) => [r.log.n, r.entry, r.cycles, r.info, r.trap, r.hypercall]),
    tlb: m.mmu.tlb.entries(), guest: m.cpu.guest === null ? null : Object.keys(m.cpu.guest), backend: own, report: b.report(),
  }, big));
}

function straight(ls: LoadedScenario, steps: number): unknown {
  const m = hv(ls);
  m.run(steps);
  return state(m);
}

type Op = { op: 'run'; n: number } | { op: 'goto'; at: number } | { op: 'back'; k: number };

describe('the scenario technique pv', () => {
  it('fills the kernel with the version\u2019s source and starts it bare; refuses what a PV domain cannot have', () => {
    const ls = pvScenario();
    expect(ls.scenario.kernel).toEqual({ source: kernelSource('paravirtualized'), origin: KERNEL_LOAD });
    expect(ls.scenario.boot).toBe('bare');
    expect(ls.scenario.pv).toEqual({ kernel: 'paravirtualized' });
    // The normalized scenario validates again (share links, replays).
    const again = loadScenario(JSON.parse(JSON.stringify(ls.scenario)));
    expect(again.ok).toBe(true);
    expect(PV_MIN_MEMORY).toBe(BOOT_PT + 0x1000);
    expect(errorsOf({ pv: undefined })).toEqual([expect.stringMatching(/^pv: required with technique 'pv'/)]);
    expect(errorsOf({ pv: { kernel: 'linux' } })[0]).toMatch(/^pv\.kernel: /);
    expect(errorsOf({ kernel: { source: 'hlt' } })).toEqual([expect.stringMatching(/^kernel: under pv the guest is the lab's kernel/)]);
    expect(errorsOf({ kernel: { source: kernelSource('unmodified') } })).toEqual([expect.stringMatching(/^kernel: under pv/)]);
    expect(errorsOf({ boot: 'kernel' })).toContainEqual(expect.stringMatching(/^boot: under pv/));
    expect(errorsOf({ mode: 'long64', paging: '4level' })).toContainEqual(expect.stringMatching(/^mode: the PV kernel is 32-bit/));
    expect(errorsOf({ paging: '32bit' })).toContainEqual(expect.stringMatching(/^paging: boot 'bare'/));
    expect(errorsOf({ memory: { size: 0x400000 } })).toEqual([expect.stringMatching(/^memory\.size: under pv .* at least 0x402000/)]);
    expect(errorsOf({ hypervisor: { nestedPaging: true } })).toEqual([expect.stringMatching(/^hypervisor\.nestedPaging: pv has no nested paging/)]);
    expect(errorsOf({ hypervisor: { exits: { hlt: true } } })).toEqual([expect.stringMatching(/^hypervisor\.exits: pv has no exit controls/)]);
    expect(errorsOf({ hypervisor: { costPreset: 'core2-merom' } })).toEqual([]);
    expect(errorsOf({ user: { source: 'hlt' } })).toContainEqual(expect.stringMatching(/^user: /));
    const noPv = loadScenario({ version: 1, name: 'x', cpu: { vendor: 'intel' }, mode: 'prot32', paging: 'none', memory: { size: MEM }, kernel: { source: 'hlt' }, pv: { kernel: 'unmodified' } });
    expect(noPv.ok ? [] : noPv.errors.map((e) => `${e.path}: ${e.message}`)).toEqual(["pv: only with technique 'pv'"]);
  });

  it('runs the paravirtualized kernel as runPv does: the console, the results, the hypercalls, each on its exit\u2019s record', () => {
    const m = hv(pvScenario());
    expect(m.backend).toBeInstanceOf(PvBackend);
    const ref = runPv('paravirtualized');
    expect(m.run(100_000)).toBe('hlt');
    expect(m.ended).toEqual({ kind: 'hypercall-exit', code: 0 });
    expect(m.console).toBe(ref.console);
    expect(m.cpu.state.steps).toBe(ref.hv.steps);
    const b = m.backend as PvBackend;
    expect(b.hypercallLog).toEqual(ref.hv.hypercalls.log);
    const hc = m.records.filter((r) => r.hypercall !== undefined);
    expect(hc.map((r) => r.hypercall!.n)).toEqual(ref.hv.hypercalls.log.map((h) => h.n));
    expect(hc.every((r) => r.trap?.label === r.hypercall!.name && r.trap.insn === 'int 0x82')).toBe(true);
    expect(m.records.at(-1)!.entry).toBeNull();
    expect(m.records.slice(0, -1).every((r) => r.entry === 'IRET')).toBe(true);
    const mmu = hc.find((r) => r.hypercall!.name === 'mmu_update')!.hypercall!;
    expect(mmu.args.count).toBe(1025);
    const g = m.guestResult();
    expect(g.hv.paging).toBe('direct');
    expect(g.cpl).toBe(0);
  });

  it('stops the unmodified kernel at its first privileged instruction, located', () => {
    const m = hv(pvScenario('unmodified'));
    expect(m.run(100_000)).toBe('shutdown');
    expect(m.ended?.kind).toBe('error');
    expect(m.ended?.kind === 'error' ? m.ended.why : '').toMatch(/CLI at 0x100000: not paravirtualized/);
    expect(m.records.length).toBe(1);
    expect(m.records[0]!.trap?.label).toBe('not paravirtualized: cli');
    expect(m.records[0]!.trap?.insn).toBe('cli');
  });

  it('any sequence of run, goto and back gives the machine of a straight run', () => {
    const ls = pvScenario();
    const total = (() => {
      const m = hv(ls);
      m.run(100_000);
      return m.cpu.state.steps;
    })();
    expect(total).toBeGreaterThan(20_000);
    // The steps around the hypercalls, where the hypervisor's state changes, and anywhere else.
    const ref = hv(ls);
    ref.run(100_000);
    const hot = ref.records.map((r) => r.log.step ?? 0);
    const at = fc.oneof(fc.constantFrom(...hot).chain((s) => fc.integer({ min: Math.max(0, s - 2), max: s + 2 })), fc.integer({ min: 0, max: total + 5 }));
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant('run' as const), n: fc.integer({ min: 0, max: 3000 }) }),
      fc.record({ op: fc.constant('goto' as const), at }),
      fc.record({ op: fc.constant('back' as const), k: fc.integer({ min: 0, max: 2000 }) }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 6 }), fc.integer({ min: 500, max: 8000 }), (ops, interval) => {
        const m = hv(ls);
        const tl = new Timeline(m, { interval, maxCheckpoints: 5 });
        for (const o of ops) {
          if (o.op === 'run') tl.step(o.n);
          else if (o.op === 'goto') tl.goto(o.at);
          else tl.back(o.k);
        }
        expect(state(m)).toEqual(straight(ls, tl.current));
      }),
      { numRuns: 15 },
    );
  });

  it('emits each hypercall as vm/exit (trap, labelled with its name), vm/handle and the IRET back', () => {
    const m = hv(pvScenario());
    const sink = new ArraySink();
    m.setTrace(sink, ['vm/exit', 'vm/handle', 'vm/entry', 'vm/end']);
    m.run(100_000);
    const exits = sink.events.filter((e): e is Extract<TraceEvent, { kind: 'vm/exit' }> => e.kind === 'vm/exit');
    expect(exits.length).toBe(m.records.length);
    expect(exits.map((e) => e.label)).toEqual(m.records.map((r) => r.hypercall!.name));
    expect(exits.every((e) => e.trap === true && e.code === 0x82)).toBe(true);
    expect(sink.events.at(-1)!.kind).toBe('vm/end');
  });
});
