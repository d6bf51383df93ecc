/**
 * The hypervisor with tagged and untagged TLBs (issue 7), on real guests under both vendors:
 * which world switches flush (the tlb/flush events and their causes), that with tags the guest's
 * translations survive an exit and the handlers invalidate what the guest asked (an intercepted
 * INVLPG, an emulated MOV to CR3), and the multi-VM host keeping each vCPU's entries apart.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { runBare } from '../machine/bare.ts';
import { ArraySink, type TraceEvent } from '../trace/events.ts';
import { createVm, runUnder, type HvBackendId, type HvExtra } from './exec.ts';
import { Host } from './host.ts';

const LOAD = 0x100000;
const bytes = (src: string, bits: 32 | 64 = 64, origin = LOAD): Uint8Array => {
  const r = assemble(src, { bits, origin });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.bytes;
};
const lines = (...l: string[]): string => l.join('\n');

type Flush = Extract<TraceEvent, { kind: 'tlb/flush' }>;

/** Runs `src` (long64) under the hypervisor with the trace of tlb/flush events; `patch` may change the backend first. */
function traced(under: HvBackendId, src: string, tlbTags: boolean, extra: HvExtra = {}, patch?: (b: ReturnType<typeof createVm>['backend']) => void) {
  const vm = createVm(under, { mode: 'long64', load: LOAD, code: bytes(src), maxSteps: 10_000, tlbTags }, extra);
  patch?.(vm.backend);
  const sink = new ArraySink();
  vm.machine.cpu.setTrace(sink, ['tlb/flush']);
  const end = vm.hypervisor.run(10_000);
  const flushes = sink.events.filter((e): e is Flush => e.kind === 'tlb/flush');
  return { vm, end, flushes, causes: (c: string) => flushes.filter((f) => f.cause === c).length, report: vm.backend.report() };
}

// Linear 0xA00000 through a page table at 0x20000: first to 0x400000 (0x1111), then to 0x401000 (0x2222).
const REMAP = [
  'mov dword [0x400000], 0x1111', 'mov dword [0x401000], 0x2222',
  'mov qword [0x20000], 0x400003', 'mov qword [0x3028], 0x20003', 'mov rax, cr3', 'mov cr3, rax',
  'mov eax, [0xa00000]', 'out 0x80, al', 'mov qword [0x20000], 0x401003',
];

describe.each(['vtx', 'svm'] as const)('tagged TLBs under %s', (under) => {
  it('flushes at world switches only untagged, and says why', () => {
    const src = lines('mov eax, [0x200000]', 'out 0x80, al', 'out 0x80, al', 'mov eax, [0x200000]', 'hlt');
    const on = traced(under, src, true);
    const off = traced(under, src, false);
    expect([on.end.kind, off.end.kind]).toEqual(['hlt', 'hlt']);
    expect(on.report.gpr).toEqual(off.report.gpr);
    // Three exits (two OUTs, HLT), so three entries' worth of world switches.
    if (under === 'vtx') {
      expect([on.causes('vm-entry'), on.causes('vm-exit')]).toEqual([0, 0]);
      expect([off.causes('vm-entry'), off.causes('vm-exit')]).toEqual([3, 3]);
      expect(off.flushes.filter((f) => f.cause === 'vm-entry').every((f) => f.scope === 'tag' && f.tag === 0)).toBe(true);
    } else {
      expect(on.causes('tlb-control')).toBe(0);
      expect(off.causes('tlb-control')).toBe(3);
      expect(off.flushes.filter((f) => f.cause === 'tlb-control').every((f) => f.scope === 'everything')).toBe(true);
    }
    // Each flush is charged (cost kind tlb-flush): none with tags; untagged two per round trip on VT-x, one per VMRUN on AMD-V.
    expect(on.vm.ledger.data().byKind['tlb-flush']).toBeUndefined();
    expect(off.vm.ledger.data().byKind['tlb-flush']?.count).toBe(under === 'vtx' ? 6 : 3);
    // With tags the guest's translations outlive the exits: the second read of 0x200000 hits.
    const tlb = on.vm.machine.cpu.mmu.tlb;
    expect(tlb.countTag(1)).toBeGreaterThan(0);
    expect(on.vm.machine.cpu.mmu.tlb.misses).toBeLessThan(off.vm.machine.cpu.mmu.tlb.misses);
    expect(on.vm.machine.cpu.mmu.tlb.hits).toBeGreaterThan(off.vm.machine.cpu.mmu.tlb.hits);
  });

  it('INVLPG exit: the handler invalidates the guest\u2019s page (INVVPID type 0 / INVLPGA), which the stale entry proves necessary', () => {
    const src = lines(...REMAP, 'invlpg [0xa00000]', 'mov ecx, [0xa00000]', 'hlt');
    const bare = runBare({ mode: 'long64', load: LOAD, code: bytes(src), maxSteps: 10_000 });
    expect(Number(bare.regs.rcx)).toBe(0x2222);
    for (const tags of [true, false]) {
      const r = traced(under, src, tags, { exits: { invlpg: true } });
      expect(r.report.gpr[1], `tags ${tags}`).toBe(0x2222n);
      const note = r.vm.hypervisor.log.find((e) => e.kind === 'invlpg')!.note;
      if (tags) {
        expect(note).toMatch(under === 'vtx' ? /INVVPID type 0 for VPID 1 at 0xa00000/ : /INVLPGA 0xa00000 for ASID 1/);
        expect(r.causes(under === 'vtx' ? 'invvpid' : 'invlpga')).toBe(1);
        expect(r.vm.ledger.data().byKind['tlb-flush']?.count).toBe(1);
      } else expect(note).toMatch(/nothing/);
    }
    // Without the handler's invalidation the guest, with tags, reads through its stale entry.
    const stale = traced(under, src, true, { exits: { invlpg: true } }, (b) => {
      b.invalidateGuest = () => 'skipped';
    });
    expect(stale.report.gpr[1]).toBe(0x1111n);
  });

  it('an emulated MOV to CR3 (CR3 exits) invalidates the guest\u2019s non-global entries', () => {
    const src = lines(...REMAP, 'mov rax, cr3', 'mov cr3, rax', 'mov ecx, [0xa00000]', 'hlt');
    for (const tags of [true, false]) {
      const r = traced(under, src, tags, { exits: { cr3: true } });
      expect(r.report.gpr[1], `tags ${tags}`).toBe(0x2222n);
    }
    const stale = traced(under, src, true, { exits: { cr3: true } }, (b) => {
      b.invalidateGuest = () => 'skipped';
    });
    expect(stale.report.gpr[1]).toBe(0x1111n);
  });

  it('MMIO pass-through leaves no translation of the window behind: every access exits', () => {
    const src = lines('mov eax, [0x8000000]', 'mov ebx, [0x8000000]', 'mov dword [0x8000004], 5', 'hlt');
    const on = runUnder(under, { mode: 'long64', load: LOAD, code: bytes(src), maxSteps: 1000, tlbTags: true });
    const bare = runBare({ mode: 'long64', load: LOAD, code: bytes(src), maxSteps: 1000 });
    expect(on.result.exits).toEqual(bare.exits);
    expect(on.result.hv.tlb.tags).toBe(true);
    expect(Object.values(on.result.hv.exits).reduce((a, e) => a + e.count, 0)).toBe(4);
  });
});

describe.each(['vtx', 'svm'] as const)('the multi-VM host under %s', (under) => {
  const spin = lines('mov ecx, 3000', 'l: mov eax, [0x200000]', 'dec ecx', 'jnz l', 'mov eax, 1', 'mov ebx, 0', under === 'vtx' ? 'vmcall' : 'vmmcall');
  const make = (tlbTags: boolean): Host =>
    new Host({ under, quantum: 500, tlbTags, guests: [{ name: 'a', mode: 'long64', load: LOAD, code: bytes(spin) }, { name: 'b', mode: 'long64', load: LOAD, code: bytes(spin) }] });

  it('keeps each vCPU\u2019s entries under its own tag across switches, and ends as untagged', () => {
    const on = make(true);
    const off = make(false);
    on.run(100_000);
    off.run(100_000);
    expect(on.switches.length).toBeGreaterThan(4);
    expect(on.switches.length).toBe(off.switches.length);
    expect(on.report().map((r) => r.steps)).toEqual(off.report().map((r) => r.steps));
    const t = on.cpu.mmu.tlb;
    expect(t.countTag(1)).toBeGreaterThan(0);
    expect(t.countTag(2)).toBeGreaterThan(0);
    expect(t.misses).toBeLessThan(off.cpu.mmu.tlb.misses);
  });
});
