/**
 * ViewState.vm under trap-and-emulate, through the session: no control structure (no fields, no
 * controls), the ring the guest runs in, each trap with its instruction disassembled, vector, ring
 * and action, traps by what trapped, and the POPF that asked in vain (popf-trap.json) told at its
 * step; a function of the step only.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import popf from '../emu/scenario/examples/popf-trap.json' with { type: 'json' };
import redPill from '../emu/scenario/examples/red-pill.json' with { type: 'json' };
import { LabSession, prepareLoad } from './session.ts';
import type { Json, ViewState } from './protocol.ts';
import type { VmView } from './vm-types.ts';
import { narrateVm } from '../views/vm/narrate-vm.ts';

beforeAll(() => prepareLoad(popf));

function session(scenario: unknown, interval = 4): LabSession {
  const s = new LabSession({ interval });
  const r = s.load(scenario as Json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return s;
}

/** Steps one at a time to the end, each view kept. */
function all(s: LabSession): ViewState[] {
  const out: ViewState[] = [];
  let v: ViewState;
  do {
    v = s.step(1);
    out.push(v);
  } while (v.end === 'limit');
  return out;
}

const text = (segs: { text: string }[] | null): string => (segs ?? []).map((x) => x.text).join('');

describe('ViewState.vm under trap-and-emulate', () => {
  it('shows what the guest kernel believes against what the processor holds: CPL 0 vs 1, its CR0 and CR3 vs the monitor\'s', () => {
    for (const [scenario, paging] of [[popf, true], [redPill, false]] as const) {
      const s = session(scenario);
      const views = all(s).filter((v) => v.vm!.vms[0]!.state !== 'ended');
      expect(views.length).toBeGreaterThan(0);
      for (const v of views) {
        const r = v.vm!.te!.regs;
        // The guest's CPL is the processor's with ring 1 read as 0.
        expect(r.processor.cpl).toBe(v.machine.cpl);
        expect(r.guest.cpl).toBe(r.processor.cpl === 1 ? 0 : r.processor.cpl);
        // The processor's values are the registers view's.
        expect(BigInt(r.processor.cr0)).toBe(BigInt(v.machine.regs.cr0));
        expect(BigInt(r.processor.cr3)).toBe(BigInt(v.machine.regs.cr3));
        // The monitor forces PG and WP; the guest's CR0 is its own (PG only once it turned paging on).
        expect((Number(r.processor.cr0) & 0x80010001) >>> 0).toBe(0x80010001);
        expect(Number(r.guest.cr0) & 1).toBe(1);
        if (!paging) expect(Number(r.guest.cr0) & 0x80000000).toBe(0);
        // The processor runs on the shadow tables, never on the guest's page directory.
        expect(r.processor.cr3).not.toBe(r.guest.cr3);
      }
    }
  });

  it('popf-trap: the traps of each step, the ring, and the POPF ignored without a trap', () => {
    const s = session(popf);
    const views = all(s);
    const vms = views.map((v) => v.vm!);
    expect(vms.every((vm) => vm.technique === 'trap-emulate' && vm.fields.length === 0 && vm.controls.length === 0 && vm.te !== undefined)).toBe(true);
    // The first trap is STI, in ring 1 (the guest kernel), emulated, and the guest resumed by IRET.
    const sti = views.find((v) => v.vm!.exits.some((e) => e.trap?.label === 'sti'))!;
    const e = sti.vm!.exits.find((x) => x.trap?.label === 'sti')!;
    expect(e).toMatchObject({ code: 13, name: '#GP', action: 'emulated', entry: 'IRET', trap: { insn: 'sti', from: 1, label: 'sti' } });
    expect(sti.vm!.te!.cpl).toBe(1);
    expect(sti.vm!.te!.interruptsOn).toBe(true);
    // OUT to the UART: forwarded, the instruction disassembled as written.
    const out = vms.flatMap((vm) => vm.exits).find((x) => x.trap?.label === 'out')!;
    expect(out).toMatchObject({ action: 'forwarded', trap: { insn: 'out dx, al', from: 1 } });
    // Exactly one step shows the ignored POPF: IF asked 1, kept 0, and no trap in that step.
    const ignored = views.filter((v) => v.vm!.te!.popfIgnored !== null);
    expect(ignored.length).toBe(1);
    const p = ignored[0]!;
    expect(p.vm!.exits).toEqual([]);
    expect(p.vm!.te!.popfIgnored).toEqual({ asked: true, kept: false, insn: 'popfd', cpl: 1 });
    // The narration says so in both languages; a trap's narration names the instruction and the ring.
    expect(text(narrateVm('en', p.events, [], p.vm!.te!))).toContain('asked for IF = 1, but with IOPL 0 the processor left IF = 0 and raised no fault: no trap');
    expect(text(narrateVm('zh-CN', p.events, [], p.vm!.te!))).toContain('要求 IF = 1，但在 IOPL 为 0 时处理器保持 IF = 0');
    const cli = views.find((v) => v.vm!.exits.some((x) => x.trap?.label === 'cli'))!;
    expect(text(narrateVm('en', cli.events, [], cli.vm!.te!))).toBe('The guest kernel’s cli faulted in ring 1 (#GP) into the monitor, which cleared the guest’s IF and resumed it with IRET.');
    expect(text(narrateVm('zh-CN', cli.events, [], cli.vm!.te!))).toBe('客户机内核的 cli 在特权级 1 产生故障（#GP），陷入虚拟机监控器；虚拟机监控器清除了客户机的 IF，再用 IRET 让它继续运行。');
    // Traps by what trapped, at the end: as the monitor counts them.
    const end = vms.at(-1)!;
    expect(Object.fromEntries(end.byReason.map((r) => [r.name, r.count]))).toEqual({ '#PF': 2, cli: 1, hlt: 1, out: 6, sti: 1 });
    expect(end.exitTotal).toBe(11);
    expect(end.cycles.transitions).toBeGreaterThan(0);
    expect(end.cycles.fieldAccess).toBe(0);
    expect(end.vms[0]!.state).toBe('ended');
    // The trap list: the last eight, oldest first (the HLT that ended the guest last, with no IRET).
    expect(end.te!.recent.map((x) => x.trap!.label)).toEqual(['out', 'out', 'out', 'cli', 'out', 'out', 'out', 'hlt']);
    expect(end.te!.recent.at(-1)!.entry).toBeNull();
    // A function of the step: goto gives what stepping gave.
    for (let k = views.length; k >= 1; k -= 3) expect(s.goto(k).vm, `goto ${k}`).toEqual(vms[k - 1]);
  });

  it('red-pill: no trap for SIDT, SGDT, SMSW or STR; the UART\u2019s OUTs trap', () => {
    const s = session(redPill);
    const views = all(s);
    const labels = new Set(views.flatMap((v) => v.vm!.exits.map((e) => e.trap!.label)));
    expect([...labels].sort()).toEqual(['#PF', 'hlt', 'out']);
    expect(views.every((v) => v.vm!.te!.popfIgnored === null)).toBe(true);
    const vm: VmView = views.at(-1)!.vm!;
    expect(vm.vms[0]!.console).toBe('inside a monitor\n');
  });
});
