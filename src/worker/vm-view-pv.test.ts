/**
 * ViewState.vm under paravirtualization, through the session: no control structure, every
 * hypercall so far with its arguments decoded (mmu_update's 1025 requests with what the first ones
 * map, the trap table, console_io's text), the step's hypercall marked, the event state of the
 * shared info page, the pinned tables read-only, the kernel diff with each removed line's fate,
 * the unmodified kernel's located failure; the narration of each in both languages.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import pvKernel from '../emu/scenario/examples/pv-kernel.json' with { type: 'json' };
import pvUnmodified from '../emu/scenario/examples/pv-unmodified.json' with { type: 'json' };
import { LabSession, prepareLoad } from './session.ts';
import type { Json, ViewState } from './protocol.ts';
import { becomesOf, pvDiff } from './vm-view.ts';
import { narrateVm } from '../views/vm/narrate-vm.ts';
import { detailLines } from '../views/vm/pv-text.ts';
import { translator } from '../views/cpu/text.ts';

beforeAll(() => prepareLoad(pvKernel));

function session(scenario: unknown): LabSession {
  const s = new LabSession({ interval: 64 });
  const r = s.load(scenario as Json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return s;
}

const text = (segs: { text: string }[] | null): string => (segs ?? []).map((x) => x.text).join('');

/** The views of the steps where the view says something happened (a hypercall, a mask change), and the last. */
function walk(s: LabSession): ViewState[] {
  const out: ViewState[] = [];
  let v: ViewState;
  do {
    v = s.step(1);
    // (The last step is shown twice: reached with its events, then found ended.)
    if (out.at(-1)?.step === v.step) continue;
    if (v.vm!.pv!.inStep.length > 0 || v.vm!.pv!.maskChanged || v.end !== 'limit') out.push(v);
  } while (v.end === 'limit');
  return out;
}

describe('ViewState.vm under paravirtualization', () => {
  it('pv-kernel: each hypercall decoded at its step, the events and the pinned tables, narrated in both languages', () => {
    const s = session(pvKernel);
    const views = walk(s);
    const last = views.at(-1)!;
    const pv = last.vm!.pv!;
    expect(last.vm!.technique).toBe('pv');
    expect(last.vm!.fields).toEqual([]);
    expect(last.vm!.controls).toEqual([]);
    expect(pv.kernel).toBe('paravirtualized');
    expect(pv.hypercalls.map((h) => h.name)).toEqual(['set_trap_table', 'stack_switch', 'console_io', 'update_va_mapping', 'update_va_mapping', 'mmuext_op', 'mmu_update', 'mmuext_op', 'console_io', 'console_io', 'console_io', 'sched_op']);
    expect(pv.failure).toBeNull();
    // Each hypercall is "in step" at exactly one view, in order.
    const marked = views.flatMap((v) => v.vm!.pv!.inStep);
    expect(marked).toEqual(pv.hypercalls.map((h) => h.n));
    // mmu_update: one hypercall of 1025 requests, the first mapping page 0 writable, the last the directory entry.
    const mmu = pv.hypercalls.find((h) => h.name === 'mmu_update')!;
    expect(mmu.result).toBe(0);
    expect(mmu.errno).toBeNull();
    if (mmu.detail.kind !== 'mmu_update') throw new Error('detail');
    expect(mmu.detail.count).toBe(1025);
    expect(mmu.detail.done).toBe(1025);
    expect(mmu.detail.first[0]).toMatchObject({ table: 'l1', va: '0x0', frame: '0x0', present: true, writable: true, user: false });
    expect(mmu.detail.last).toMatchObject({ table: 'l2', va: '0x0' });
    const en = translator('en');
    const lines = detailLines(en, mmu);
    expect(lines[0]).toBe('1025 page-table writes in one hypercall; 1025 validated and written.');
    expect(lines[1]).toMatch(/^PTE at 0x[0-9a-f]+ = 0x3: maps 0x0 to 0x0, writable, kernel only$/);
    expect(lines).toContain('\u2026 1020 more requests \u2026');
    expect(lines.at(-1)).toMatch(/^PDE at 0x[0-9a-f]+ = 0x[0-9a-f]+: maps 0x0 and the 4 MiB after it through the L1 table at 0x[0-9a-f]+$/);
    const trap = pv.hypercalls[0]!;
    expect(detailLines(en, trap)).toEqual([expect.stringMatching(/^vector 0x80 \u2192 0xe019:0x[0-9a-f]+, INT allowed from ring 3$/)]);
    expect(detailLines(en, pv.hypercalls[2]!)).toEqual(['write \u201ckernel: up\u21b5\u201d to the console']);
    // The tables pinned at the end: the kernel's directory (CR3) and table, both mapped read-only, and the builder's.
    const mine = pv.tables.filter((x) => x.base || x.mapping === 'read-only');
    expect(mine.map((x) => [x.level, x.mapping, x.base])).toEqual([['l2', 'read-only', true], ['l1', 'read-only', false]]);
    // Events: masked at the end (the shutdown path masks them), the ports quiet, no callback.
    expect(pv.events).toMatchObject({ upcallMask: true, upcallPending: false, callback: false, upcalls: 0 });
    // The narration of the mmu_update step, and of the kernel's first store to the mask (its CLI).
    const atMmu = views.find((v) => v.vm!.pv!.inStep.includes(mmu.n))!;
    expect(text(narrateVm('en', atMmu.events, [], null, null, atMmu.vm!.pv!))).toBe('The kernel made the hypercall mmu_update with INT 0x82 from ring 1: the hypervisor validated and wrote 1025 of 1025 page-table entries in one call. The hypervisor returned 0 in EAX and went back with IRET.');
    expect(text(narrateVm('zh-CN', atMmu.events, [], null, null, atMmu.vm!.pv!))).toBe('内核在特权级 1 用 INT 0x82 发出超级调用 mmu_update：虚拟机监控器在一次调用中验证并写入了 1025 个页表项中的 1025 个。虚拟机监控器在 EAX 中返回 0，并用 IRET 返回。');
    const masks = views.filter((v) => v.vm!.pv!.maskChanged && v.vm!.pv!.inStep.length === 0);
    expect(masks.map((v) => v.vm!.pv!.events.upcallMask)).toEqual([false, true]);
    expect(text(narrateVm('en', masks[0]!.events, [], null, null, masks[0]!.vm!.pv!))).toContain('wrote 0 to vcpu_info.evtchn_upcall_mask in the shared info page: events are delivered again');
    const end = views.find((v) => v.vm!.pv!.inStep.includes(pv.hypercalls.at(-1)!.n))!;
    expect(text(narrateVm('en', end.events, [], null, null, end.vm!.pv!))).toContain('sched_op with INT 0x82 from ring 1: the hypervisor shuts the domain down. The domain ends here.');
  });

  it('pv-unmodified: the located failure at its CLI, in the view and the narration', () => {
    const s = session(pvUnmodified);
    const v = s.step(1);
    expect(v.vm!.pv!.failure).toEqual({ mnemonic: 'cli', insn: 'cli', eip: '0x100000' });
    expect(v.vm!.pv!.hypercalls).toEqual([]);
    expect(v.vm!.vms[0]!.state).toBe('ended');
    expect(text(narrateVm('en', v.events, [], null, null, v.vm!.pv!))).toContain('The unmodified kernel\u2019s cli at 0x100000 is a privileged instruction');
    expect(text(narrateVm('zh-CN', v.events, [], null, null, v.vm!.pv!))).toContain('未修改内核在 0x100000 的 cli 是特权指令');
  });

  it('the kernel diff: every changed place has a removed line that says what it became, each privileged instruction among them', () => {
    const d = pvDiff();
    expect(d.length).toBeGreaterThanOrEqual(10);
    for (const h of d) expect(h.removed.some((r) => r.becomes !== null), JSON.stringify(h.removed)).toBe(true);
    const all = new Set(d.flatMap((h) => h.removed.map((r) => r.becomes)));
    for (const b of ['cli', 'lgdt', 'lidt', 'ltr', 'cr3', 'cr0', 'sti', 'hlt', 'out', 'pte-store', 'pagetable', 'selectors', 'tables'] as const) expect(all.has(b), b).toBe(true);
    expect(becomesOf('    cli')).toBe('cli');
    expect(becomesOf('    mov eax, page_dir')).toBeNull();
  });
});
