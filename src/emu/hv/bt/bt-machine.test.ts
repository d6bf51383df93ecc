/**
 * Binary translation as a scenario's machine (hv-machine.ts over bt/backend.ts): besides what
 * trap-and-emulate keeps (te-machine.test.ts), the translation cache's state round-trips through
 * the Timeline's checkpoints: the blocks by guest address, every block since the last flush, the
 * callout and exit sites, the chains between blocks (which point at each other), the statistics,
 * the stores made callouts by adaptive translation and the guest's CS. Going back and forth gives
 * the machine of a straight run, with the blocks still one graph (a block in `blocks` is the same
 * object as in `all`, so invalidating it marks both).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildScenario, loadScenario, type LoadedScenario } from '../../scenario/index.ts';
import { Timeline } from '../../trace/timeline.ts';
import { MARK_KINDS, MarkIndex } from '../../trace/marks.ts';
import { HvMachine } from '../hv-machine.ts';
import { BtBackend, type BtBlock } from './backend.ts';
import redPill from '../../scenario/examples/red-pill.json';
import btAdaptive from '../../scenario/examples/bt-adaptive.json';

/** A guest kernel that chains a loop, rewrites its own code, keeps writing a page-table entry, and runs POPF. */
const GUEST = `
ENTRY equ USER_PT + 16 * 4
PAGE equ USER_BASE + 0x10000
kernel_entry:
    mov dword [FREE_BASE], 0x5a5a5a5a
    mov edx, FREE_BASE | 3
    mov [ENTRY], edx
    mov ecx, 6
    xor ebx, ebx
again:
    mov [patch + 1], ecx
patch:
    mov eax, 0x11111111
    add ebx, eax
    xor edx, 4
    mov [ENTRY], edx
    mov esi, [PAGE]
    pushfd
    pop eax
    or eax, 0x200
    push eax
    popfd
    call bump
    dec ecx
    jnz again
    cli
    hlt
bump:
    add edi, ebx
    ret
`;

function btScenario(): LoadedScenario {
  const r = loadScenario({ version: 1, name: 'bt', technique: 'bt', cpu: { vendor: 'intel' }, mode: 'prot32', paging: '32bit', memory: { size: 4 * 1024 * 1024 }, kernel: { source: GUEST } });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.loaded;
}

const hv = (ls: LoadedScenario): HvMachine => buildScenario(ls) as unknown as HvMachine;

/** A block as plain data: the blocks it is chained to and chained from named by id. */
const blockData = (b: BtBlock) => ({
  id: b.id, guestStart: b.guestStart, guestEnd: b.guestEnd, tc: b.tc, gfn: b.gfn, valid: b.valid, code: [...b.code],
  insns: b.insns.map((i) => [i.guest, i.how, i.tc, i.tcLen]), exitSites: b.exitSites,
  chainedTo: b.chainedTo.map((t) => (t === null ? null : t.id)), incoming: b.incoming.map(([f, i]) => [f.id, i]),
});

/** Everything observable of the machine and its translation cache, as plain data (RAM hashed page by page). */
function state(m: HvMachine): unknown {
  m.cpu.syncFlags();
  const s = m.cpu.state;
  const pages: string[] = [];
  for (let pa = 0; pa < m.mem.ramSize; pa += 4096) {
    let h = 0;
    for (let i = 0; i < 4096; i += 4) h = (Math.imul(h, 31) + m.mem.read(pa + i, 4)) | 0;
    pages.push(h.toString(16));
  }
  const b = m.backend as BtBackend;
  const own = b as unknown as { sites: { block: BtBlock; kind: string }[]; ptWrites: Map<number, number>; tcUsed: number; nextId: number };
  // The graph: each valid block by guest address, each site's block, each chain's target are the very objects of `all`.
  const inAll = (x: BtBlock): boolean => b.all.includes(x);
  const graph = {
    blocks: [...b.blocks].map(([k, x]) => [k, x.id, inAll(x)]),
    sites: own.sites.map((x) => [x.kind, x.block.id, inAll(x.block)]),
    chains: b.all.flatMap((x) => x.chainedTo.map((t) => (t === null ? null : inAll(t)))),
  };
  const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v instanceof Map || v instanceof Set ? [...v] : v);
  return JSON.parse(JSON.stringify({
    steps: s.steps, regLo: [...s.regLo], rip: s.ripLo, rflags: s.rflags, cr: [s.cr0, s.cr3Lo, s.cr4], seg: s.seg, pages,
    log: m.hypervisor.log, ledger: m.ledger.data(), records: m.records.map((r) => [r.log.n, r.entry, r.cycles, r.trap]),
    tlb: m.mmu.tlb.entries(), report: b.report(), traps: [...b.traps],
    bt: { stats: b.stats, all: b.all.map(blockData), graph, adaptive: [...b.adaptive], ptWrites: [...own.ptWrites], tcUsed: own.tcUsed, nextId: own.nextId, vcs: b.vcs, viopl: b.viopl },
    shadow: { stats: b.shadow.stats, codePages: [...b.shadow.codePages], ptRefs: [...b.shadow.ptRefs] },
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
  fc.record({ op: fc.constant('goto' as const), at: fc.integer({ min: 0, max: 200 }) }),
  fc.record({ op: fc.constant('back' as const), k: fc.integer({ min: 0, max: 80 }) }),
);

describe('the binary-translation machine', () => {
  it('runs the guest to its HLT as bare, with chains, code writes, an adaptive rewrite and sensitive callouts', () => {
    const ls = btScenario();
    const m = hv(ls);
    expect(m.backend).toBeInstanceOf(BtBackend);
    expect(m.run(10_000)).toBe('hlt');
    const bare = (() => {
      const r = loadScenario({ ...JSON.parse(JSON.stringify(ls.scenario)), technique: undefined });
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      const x = buildScenario(r.loaded);
      x.run(10_000);
      return x;
    })();
    const g = m.guestResult();
    expect(g.regs.rbx).toBe(6 + 5 + 4 + 3 + 2 + 1);
    for (const r of ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp']) expect(g.regs[r], r).toEqual(bare.cpu.state.regLo[['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi'].indexOf(r)]);
    const s = g.hv.bt!;
    expect(s.codeWrites).toBe(6);
    expect(s.adaptive).toBe(1);
    expect(s.chains).toBeGreaterThan(0);
    expect(s.callouts.sensitive).toBeGreaterThanOrEqual(12);
    expect(s.callouts['page-table-write']).toBeGreaterThan(0);
  });

  it('any sequence of run, goto and back gives the machine of a straight run, the blocks still one graph', () => {
    const ls = btScenario();
    const total = (() => {
      const m = hv(ls);
      m.run(10_000);
      return m.cpu.state.steps;
    })();
    expect(total).toBeGreaterThan(120);
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 8 }), fc.integer({ min: 3, max: 40 }), fc.boolean(), (ops, interval, frontier) => {
        const m = hv(ls);
        const tl = new Timeline(m, { interval, maxCheckpoints: 5 });
        // As the lab's session does: new steps traced into the index of marks (attaching and
        // detaching that sink drops the CPU's decoded code while the cache's pages are shared with checkpoints).
        if (frontier) tl.setFrontier(new MarkIndex(), MARK_KINDS);
        for (const o of ops) {
          if (o.op === 'run') tl.step(o.n);
          else if (o.op === 'goto') tl.goto(o.at);
          else tl.back(o.k);
        }
        expect(state(m)).toEqual(straight(ls, tl.current));
        // And it goes on as the straight run does: the restored cache keeps chaining and invalidating the same blocks.
        tl.step(total);
        expect(state(m)).toEqual(straight(ls, tl.current));
      }),
      { numRuns: 40 },
    );
  });

  it('stepping one at a time with the index of marks, going back a step and forth each time (as the lab\u2019s screen does), stays on the straight run', () => {
    const ls = btScenario();
    const m = hv(ls);
    const tl = new Timeline(m, { interval: 4 });
    tl.setFrontier(new MarkIndex(), MARK_KINDS);
    for (let i = 0; i < 60; i++) {
      tl.step(1);
      const at = tl.current;
      tl.goto(at - 1);
      tl.goto(at);
    }
    expect(state(m)).toEqual(straight(ls, tl.current));
  });

  it('labels each record with the cause the monitor counted for its own exit, the same after going back', () => {
    const labels = (json: object, interval: number | null): string[] => {
      const r = loadScenario({ ...json, technique: 'bt' });
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      const m = hv(r.loaded);
      if (interval === null) m.run(10_000);
      else {
        // Forward, back to the start, then forward again through checkpoints.
        const tl = new Timeline(m, { interval });
        tl.step(10_000);
        const end = tl.current;
        tl.goto(0);
        for (let at = 0; at < end; at += 5) tl.goto(Math.min(end, at + 5));
      }
      return m.records.map((x) => `${x.log.note.split(' ')[0]}:${x.trap!.label}`);
    };
    // The red pill's SIDT and SGDT store beside their code: each store is a code write, read while
    // its callout was being handled and recorded after it; it is labelled as one.
    const red = labels(redPill, null);
    expect(red.filter((x) => x.startsWith('code:'))).toEqual(['code:code write', 'code:code write']);
    expect(red.filter((x) => x.endsWith(':code write'))).toHaveLength(2);
    // The page-table store's emulation takes a fault while the monitor runs it once: counted, but no record's label.
    const adaptive = labels(btAdaptive, null);
    expect(adaptive.filter((x) => x.endsWith(':page-table write'))).toHaveLength(7);
    for (const [json, straightRun] of [[redPill, red], [btAdaptive, adaptive]] as const) {
      for (const interval of [2, 3, 7]) expect(labels(json, interval)).toEqual(straightRun);
    }
  });
});
