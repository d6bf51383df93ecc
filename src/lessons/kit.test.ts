import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { isRight, lessonMachine, matches, parseNumber, phaseOf, type StepDef } from './kit.ts';
import { reportOf, seenEvents } from './report.ts';

const steps: StepDef[] = [
  { id: 'q', kind: 'choice', choices: ['a', 'b'], answer: 'b', points: 2 },
  { id: 'w', kind: 'wait', until: { kind: 'ring/change', cause: 'syscall', to: 0 } },
  { id: 'n', kind: 'number', answer: 128, points: 1 },
  { id: 't', kind: 'target', among: 'reg-', answer: 'reg-rcx', points: 1 },
  { id: 'end', kind: 'read' },
];
const start = (at = 0) => createActor(lessonMachine('99-test', steps), { input: { lessonId: '99-test', steps, start: at } }).start();

describe('lesson kit', () => {
  it('locks the first answer: a second one changes neither the answer nor the score', () => {
    const a = start();
    expect(phaseOf(a.getSnapshot())).toBe('predict');
    a.send({ type: 'lesson.next' });
    expect(a.getSnapshot().context.step).toBe(0);
    a.send({ type: 'lesson.answer', value: 'a' });
    expect(phaseOf(a.getSnapshot())).toBe('revealed');
    a.send({ type: 'lesson.answer', value: 'b' });
    expect(a.getSnapshot().context.answers).toEqual({ q: 'a' });
    expect(reportOf(a.getSnapshot()).score).toBe(0);
  });

  it('ignores an answer that is not one of the choices', () => {
    const a = start();
    a.send({ type: 'lesson.answer', value: 'zzz' });
    expect(phaseOf(a.getSnapshot())).toBe('predict');
  });

  it('waits for the lab event, not for any ring change, and keeps it met when the student comes back', () => {
    const a = start(1);
    a.send({ type: 'lesson.next' });
    expect(a.getSnapshot().context.step).toBe(1);
    a.send({ type: 'lab.events', events: [{ kind: 'ring/change', cause: 'iret', from: 0, to: 3 }] });
    expect(phaseOf(a.getSnapshot())).toBe('waiting');
    a.send({ type: 'lab.events', events: [{ kind: 'cpu/insn' }, { kind: 'ring/change', cause: 'syscall', from: 3, to: 0 }] });
    expect(phaseOf(a.getSnapshot())).toBe('met');
    a.send({ type: 'lesson.next' });
    a.send({ type: 'lesson.back' });
    expect(a.getSnapshot().context.step).toBe(1);
    expect(phaseOf(a.getSnapshot())).toBe('met');
  });

  it('a wait step entered after the lab already showed its event is met at once', () => {
    const a = start(0);
    a.send({ type: 'lab.events', events: [{ kind: 'ring/change', cause: 'syscall', from: 3, to: 0 }] });
    a.send({ type: 'lesson.answer', value: 'b' });
    a.send({ type: 'lesson.next' });
    expect(phaseOf(a.getSnapshot())).toBe('met');
  });

  it('scores a target only when hit at the first try; other views\' targets are ignored', () => {
    const a = start(3);
    a.send({ type: 'lab.target', id: 'ring' });
    expect(a.getSnapshot().context.misses).toEqual({});
    a.send({ type: 'lab.target', id: 'reg-rsp' });
    expect(a.getSnapshot().context.lastMiss).toBe('reg-rsp');
    a.send({ type: 'lab.target', id: 'reg-rcx' });
    expect(phaseOf(a.getSnapshot())).toBe('met');
    expect(a.getSnapshot().context.points).toEqual({ t: 0 });
  });

  it('counts hints up to three per step', () => {
    const a = start();
    for (let i = 0; i < 5; i++) a.send({ type: 'lesson.hint' });
    expect(a.getSnapshot().context.hints).toEqual({ q: 3 });
  });

  it('finishes from the last step and reports completion; goto clamps nothing out of range', () => {
    const a = start(4);
    a.send({ type: 'lesson.goto', step: 99 });
    expect(a.getSnapshot().context.step).toBe(4);
    a.send({ type: 'lesson.next' });
    expect(phaseOf(a.getSnapshot())).toBe('finished');
    expect(reportOf(a.getSnapshot())).toMatchObject({ completed: true, step: 4, reached: 4, steps: 5, maxScore: 4 });
    a.send({ type: 'lesson.goto', step: 2 });
    expect(a.getSnapshot().context.step).toBe(2);
    expect(reportOf(a.getSnapshot()).completed).toBe(true);
  });

  it('rejects duplicate step ids', () => {
    expect(() => lessonMachine('99-x', [{ id: 'a', kind: 'read' }, { id: 'a', kind: 'read' }])).toThrow(/unique/);
  });

  it('reads numbers as students type them', () => {
    expect(parseNumber('0x80')).toBe(128);
    expect(parseNumber(' 128 ')).toBe(128);
    expect(parseNumber('0X1_0000')).toBe(0x10000);
    expect(parseNumber('12a')).toBeNull();
    expect(parseNumber('')).toBeNull();
    expect(isRight({ id: 'n', kind: 'number', answer: 128, points: 1 }, 0x80)).toBe(true);
  });

  it('matches events on the fields a step names only', () => {
    expect(matches({ kind: 'ring/change', to: 3 }, { kind: 'ring/change', cause: 'iret', from: 0, to: 3 })).toBe(true);
    expect(matches({ kind: 'ring/change', vector: 0x80 }, { kind: 'ring/change', cause: 'syscall', from: 3, to: 0 })).toBe(false);
    expect(seenEvents([{ kind: 'ring/change', step: 1, from: 3, to: 0, cause: 'software-interrupt', vector: 128, rip: 1n }, { kind: 'cpu/insn', step: 1, rip: 0n, length: 2, cpl: 3 }])).toEqual([
      { kind: 'ring/change', cause: 'software-interrupt', from: 3, to: 0, vector: 128 },
    ]);
  });

  it('sees a DMA request by its address and whether it was blocked, so a step can wait for the blocked one', () => {
    const base = { kind: 'iommu/dma', step: 4, vm: 0, bus: 'host', seq: 3, rid: 64, device: 'nic', access: 'read', what: 'data', length: 355, iotlbHit: false, domainId: null } as const;
    const seen = seenEvents([
      { ...base, iova: 0x210000n, hpa: 0x210000n, fault: null },
      { ...base, iova: 0xb00000n, hpa: null, fault: { vendor: 'vtd', reason: 6, recorded: true } },
    ]);
    expect(seen).toEqual([{ kind: 'iommu/dma', iova: 0x210000, blocked: false }, { kind: 'iommu/dma', iova: 0xb00000, blocked: true }]);
    expect(matches({ kind: 'iommu/dma', blocked: true }, seen[0]!)).toBe(false);
    expect(matches({ kind: 'iommu/dma', blocked: true }, seen[1]!)).toBe(true);
  });

  it('sees VM exits by reason or EXITCODE and name, VM entries by instruction (a failed entry by none)', () => {
    const seen = seenEvents([
      { kind: 'vm/exit', step: 1, vm: 0, vendor: 'intel', code: 30, name: 'EXIT_REASON_IO_INSTRUCTION', rip: 0x100014n, info: { EXIT_QUALIFICATION: 0x3f80000n } },
      { kind: 'vm/field', step: 1, vm: 0, op: 'read', field: 'EXIT_QUALIFICATION', key: 0x6400, value: 0x3f80000n },
      { kind: 'vm/entry', step: 1, vm: 0, vendor: 'intel', instruction: 'VMRESUME', rip: 0x100015n },
      { kind: 'vm/entry', step: 2, vm: 0, vendor: 'amd', instruction: 'VMRUN', rip: 0n, failed: ['EFER.SVME'] },
    ]);
    expect(seen).toEqual([
      { kind: 'vm/exit', code: 30, name: 'EXIT_REASON_IO_INSTRUCTION' },
      { kind: 'vm/field' },
      { kind: 'vm/entry', instruction: 'VMRESUME' },
      { kind: 'vm/entry' },
    ]);
    expect(seen.some((e) => matches({ kind: 'vm/exit', code: 30 }, e))).toBe(true);
    expect(seen.some((e) => matches({ kind: 'vm/exit', code: 10 }, e))).toBe(false);
    expect(seen.some((e) => matches({ kind: 'vm/exit', code: 30, name: 'VMEXIT_IOIO' }, e))).toBe(false);
    expect(seen.some((e) => matches({ kind: 'vm/entry', instruction: 'VMRESUME' }, e))).toBe(true);
    expect(seen.some((e) => matches({ kind: 'vm/entry', instruction: 'VMRUN' }, e))).toBe(false);
  });

  it('sees a step\'s translations: a miss as a lookup and the walk, a hit as a lookup alone', () => {
    const entries = [{ level: 'PTE' as const, entryPa: '0x0000000000013000', index: 0, value: '0x0000000000300005', leaf: true, reserved: '0x0000000000000000' }];
    const seen = seenEvents([{ kind: 'tlb/flush', step: 3, cause: 'mov-cr3', scope: 'non-global' }], {
      paging: '4level',
      controls: { mode: '4level', cr3: '0x0000000000010000', nxe: false, pse: false, wp: false, maxPhysAddr: 36 },
      translations: [
        { linear: '0x0000000040080000', access: 'read', user: true, source: 'walk', entries, outcome: { ok: true, pa: '0x0000000000300000', pageSize: 4096 } },
        { linear: '0x0000000040000010', access: 'fetch', user: true, source: 'tlb', entries, outcome: { ok: true, pa: '0x0000000000200010', pageSize: 4096 } },
        { linear: '0x0000000040000020', access: 'fetch', user: true, source: 'next', entries, outcome: { ok: true, pa: '0x0000000000200020', pageSize: 4096 } },
      ],
      dropped: 0,
      pageFault: null,
    });
    expect(seen).toEqual([
      { kind: 'tlb/flush', cause: 'mov-cr3' },
      { kind: 'tlb/lookup', access: 'read', user: true, hit: false },
      { kind: 'mmu/walk', access: 'read', user: true },
      { kind: 'tlb/lookup', access: 'fetch', user: true, hit: true },
    ]);
    expect(seen.some((e) => matches({ kind: 'tlb/lookup', access: 'read', hit: true }, e))).toBe(false);
    expect(seen.some((e) => matches({ kind: 'tlb/lookup', access: 'fetch', user: true, hit: true }, e))).toBe(true);
    expect(seen.some((e) => matches({ kind: 'tlb/flush', cause: 'mov-cr3' }, e))).toBe(true);
  });

  it('remembers only the events some wait step waits for', () => {
    const two: StepDef[] = [
      { id: 'r', kind: 'read' },
      { id: 'w', kind: 'wait', until: { kind: 'mmu/walk', access: 'read', user: true } },
    ];
    const a = createActor(lessonMachine('99-test', two), { input: { lessonId: '99-test', steps: two } }).start();
    const many = Array.from({ length: 100 }, () => ({ kind: 'tlb/lookup' as const, access: 'fetch' as const, user: true, hit: true }));
    a.send({ type: 'lab.events', events: [{ kind: 'mmu/walk', access: 'read', user: true }, ...many] });
    expect(a.getSnapshot().context.recent).toEqual([{ kind: 'mmu/walk', access: 'read', user: true }]);
    a.send({ type: 'lesson.next' });
    expect(a.getSnapshot().context.met.w).toBe(true);
  });
});
