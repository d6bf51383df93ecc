import { describe, expect, it } from 'vitest';
import { walk } from '../mmu/walk.ts';
import type { PagingControl } from '../mmu/types.ts';
import { MSR } from '../cpu/sys-ctl.ts';
import type { Machine } from '../machine/machine.ts';
import { loadScenario } from './migrate.ts';
import { buildScenario, segmentDescriptor } from './build.ts';
import { GDT_BASE, IDT_BASE, KERNEL_STACK_TOP, TSS_BASE, USER_BASE_PAGED, USER_PHYS, USER_STACK_PHYS } from './layout.ts';
import type { LoadedScenario } from './validate.ts';

const KERNEL = `
kernel_entry:
  hlt
pf_handler:
  hlt
int80_handler:
  iret
timer_handler:
  iret
syscall_entry:
  hlt
`;

function load(over: Record<string, unknown>): LoadedScenario {
  const r = loadScenario({
    version: 1, name: 't', cpu: { vendor: 'intel' }, mode: 'long64', paging: '4level', memory: { size: 8 << 20 },
    kernel: { source: KERNEL }, user: { source: 'user_entry:\n  jmp user_entry\n' }, ...over,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.loaded;
}

function q(m: Machine, pa: number): bigint {
  return (BigInt(m.mem.read(pa + 4, 4)) << 32n) | BigInt(m.mem.read(pa, 4));
}

function ctl(m: Machine): PagingControl {
  const s = m.cpu.state;
  const mode = (s.cr4 & 0x20) === 0 ? '32bit' : (s.efer & 0x400) === 0 ? 'pae' : (s.cr4 & 0x1000) !== 0 ? '5level' : '4level';
  return {
    mode, cr3Lo: s.cr3Lo, cr3Hi: s.cr3Hi, wp: true, pse: (s.cr4 & 0x10) !== 0, pge: false, pcide: false,
    nxe: (s.efer & 0x800) !== 0, pdpte: s.pdpte, maxPhysAddr: 48, page1gb: false,
  };
}

describe('the GDT (SDM Vol. 3A, 3.4.5 and 8.2.3)', () => {
  it('encodes a flat 64-bit ring-0 code descriptor as 0x00af9b000000ffff', () => {
    const [lo, hi] = segmentDescriptor(0, 0xfffff, 0xb, true, 0, { g: true, l: true });
    expect([lo.toString(16), hi.toString(16)]).toEqual(['ffff', 'af9b00']);
  });

  it('holds null, kernel code/data, user code32/data/code64 and the TSS in long64', () => {
    const m = buildScenario(load({}));
    const d = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => q(m, GDT_BASE + i * 8));
    expect(d).toEqual([0n, 0x00af9b000000ffffn, 0x00cf93000000ffffn, 0x00cffb000000ffffn, 0x00cff3000000ffffn, 0x00affb000000ffffn, 0x00008b0030000067n, 0n]);
    expect(m.cpu.state.gdtr).toEqual({ baseLo: GDT_BASE, baseHi: 0, limit: 63 });
    expect(m.cpu.state.tr).toMatchObject({ selector: 0x30, baseLo: TSS_BASE, limit: 0x67, attr: 0x8b });
  });

  it('makes the kernel code segment 32-bit (D = 1) in prot32', () => {
    const m = buildScenario(load({ mode: 'prot32', paging: 'pae' }));
    expect(q(m, GDT_BASE + 8)).toBe(0x00cf9b000000ffffn);
    expect(m.cpu.state.gdtr.limit).toBe(55);
  });
});

describe('the IDT (SDM Vol. 3A, 6.11 and 6.14.1)', () => {
  it('sends #PF, the timer and INT 0x80 to the kernel labels; 0x80 with DPL 3; others to the default handler', () => {
    const ls = load({ devices: { timer: { vector: 0x30, period: 100 } } });
    const m = buildScenario(ls);
    const gate = (v: number) => [q(m, IDT_BASE + v * 16), q(m, IDT_BASE + v * 16 + 8)] as const;
    const L = (n: string) => BigInt(ls.kernel.labels.get(n)!);
    const expectGate = (v: number, target: bigint, typeByte: bigint) => {
      const want = ((target >> 16n) << 48n) | (typeByte << 40n) | (0x08n << 16n) | (target & 0xffffn);
      expect(gate(v)).toEqual([want, target >> 32n]);
    };
    expectGate(14, L('pf_handler'), 0x8en);
    expectGate(0x30, L('timer_handler'), 0x8en);
    expectGate(0x80, L('int80_handler'), 0xeen);
    expectGate(0, 0x4000n, 0x8en);
    expectGate(13, 0x4000n, 0x8en);
    expect(gate(0x31)).toEqual([0n, 0n]);
    expect(m.cpu.state.idtr).toEqual({ baseLo: IDT_BASE, baseHi: 0, limit: 0xfff });
  });

  it('uses 8-byte gates in prot32', () => {
    const ls = load({ mode: 'prot32', paging: '32bit' });
    const m = buildScenario(ls);
    const t = ls.kernel.labels.get('int80_handler')!;
    expect(q(m, IDT_BASE + 0x80 * 8)).toBe((BigInt(t >>> 16) << 48n) | (0xeen << 40n) | (0x08n << 16n) | BigInt(t & 0xffff));
    expect(m.cpu.state.idtr.limit).toBe(0x7ff);
  });
});

describe('the TSS (SDM Vol. 3A, 8.2.1 and 8.7)', () => {
  it('has RSP0 = the kernel stack and no I/O bitmap in long64', () => {
    const m = buildScenario(load({}));
    expect(q(m, TSS_BASE + 4)).toBe(BigInt(KERNEL_STACK_TOP));
    expect(m.mem.read(TSS_BASE + 0x66, 2)).toBe(0x68);
  });
  it('has ESP0 and SS0 = the kernel data selector in prot32', () => {
    const m = buildScenario(load({ mode: 'prot32', paging: 'none' }));
    expect(m.mem.read(TSS_BASE + 4, 4)).toBe(KERNEL_STACK_TOP);
    expect(m.mem.read(TSS_BASE + 8, 4)).toBe(0x10);
  });
});

describe('the fast system-call MSRs', () => {
  it('long64: EFER.SCE, STAR with kernel CS 0x08 and user base 0x1b, LSTAR = syscall_entry, FMASK', () => {
    const ls = load({});
    const s = buildScenario(ls).cpu.state;
    expect(s.efer).toBe(0xd01); // SCE | LME | LMA | NXE
    expect(s.msr.get(MSR.IA32_STAR)).toEqual([0, 0x001b0008]);
    expect(s.msr.get(MSR.IA32_LSTAR)).toEqual([ls.kernel.labels.get('syscall_entry'), 0]);
    expect(s.msr.get(MSR.IA32_FMASK)).toEqual([0x40700, 0]);
  });
  it('long64 without syscall_entry leaves EFER.SCE clear (SYSCALL is #UD)', () => {
    const s = buildScenario(load({ kernel: { source: 'kernel_entry:\n hlt' } })).cpu.state;
    expect(s.efer & 1).toBe(0);
  });
  it('prot32: the SYSENTER MSRs', () => {
    const ls = load({ mode: 'prot32', paging: 'pae' });
    const s = buildScenario(ls).cpu.state;
    expect(s.msr.get(MSR.IA32_SYSENTER_CS)).toEqual([0x08, 0]);
    expect(s.msr.get(MSR.IA32_SYSENTER_ESP)).toEqual([KERNEL_STACK_TOP, 0]);
    expect(s.msr.get(MSR.IA32_SYSENTER_EIP)).toEqual([ls.kernel.labels.get('syscall_entry'), 0]);
  });
});

describe('the start state', () => {
  it('starts at kernel_entry at CPL 0 on the kernel stack, interrupts off', () => {
    const ls = load({});
    const m = buildScenario(ls);
    const s = m.cpu.state;
    expect(m.cpu.cpl()).toBe(0);
    expect(s.ripLo).toBe(ls.kernel.labels.get('kernel_entry'));
    expect(s.regLo[4]).toBe(KERNEL_STACK_TOP);
    expect(s.rflags).toBe(2);
  });
  it('without kernel_entry starts at the user entry at CPL 3, user stack, IF = 1', () => {
    const m = buildScenario(load({ kernel: { source: 'int80_handler:\n hlt' }, user: { source: 'nop\nuser_entry:\n jmp user_entry' } }));
    const s = m.cpu.state;
    expect(m.cpu.cpl()).toBe(3);
    expect(s.seg[1]!.selector).toBe(0x2b);
    expect(s.seg[2]!.selector).toBe(0x23);
    expect(s.ripLo).toBe(USER_BASE_PAGED + 1);
    expect(s.regLo[4]).toBe(USER_BASE_PAGED + 0x100000);
    expect(s.rflags).toBe(0x202);
    expect(m.run(10)).toBe('limit');
    expect(m.cpu.cpl()).toBe(3);
  });
  it('programs the timer from devices.timer', () => {
    const s = buildScenario(load({ devices: { timer: { vector: 40, period: 77 } }, kernel: { source: 'isr_40:\n iretq\nkernel_entry:\n hlt' } })).cpu.state;
    expect(s.timer).toMatchObject({ enabled: true, vector: 40, period: 77, count: 77 });
  });
});

describe.each(['32bit', 'pae', '4level', '5level'] as const)('page tables, %s paging (SDM Vol. 3A, chapter 4)', (paging) => {
  const mode = paging === '4level' || paging === '5level' ? 'long64' : 'prot32';
  const mappings = [
    { linear: 0x80000000, physical: 0x500000, size: 0x2000, writable: false, user: true },
    ...(paging === '32bit' ? [] : [{ linear: 0x90000000, physical: 0x600000, size: 0x1000, user: true, nx: true }]),
    { linear: 0xa0000000, physical: 0x700000, size: 0x1000, present: false },
  ];
  const ls = load({ mode, paging, mappings, memory: { size: (8 << 20) + 0x3000 } });
  const m = buildScenario(ls);
  const c = ctl(m);
  const R = { write: false, fetch: false, user: true };
  const W = { write: true, fetch: false, user: true };
  const X = { write: false, fetch: true, user: true };
  const K = { write: true, fetch: false, user: false };

  it('maps the user image and stack with U/S = 1', () => {
    const img = walk(m.mem, c, USER_BASE_PAGED, 0, X, false);
    expect(img.ok && img.pa).toBe(USER_PHYS);
    const stack = walk(m.mem, c, USER_BASE_PAGED + 0xfffff, 0, W, false);
    expect(stack.ok && stack.pa).toBe(USER_STACK_PHYS + 0xfff);
  });
  it('identity-maps RAM supervisor-only, including the 4 KiB pages past the last large page', () => {
    for (const a of [0x1000, 0x123456, (8 << 20) + 0x2abc]) {
      const k = walk(m.mem, c, a, 0, K, false);
      expect(k.ok && k.pa).toBe(a);
      const u = walk(m.mem, c, a, 0, R, false);
      expect(u.ok ? 'ok' : u.fault.errorCode).toBe(5); // P | U/S: a protection violation
    }
    const past = walk(m.mem, c, (8 << 20) + 0x3000, 0, K, false);
    expect(past.ok).toBe(false);
  });
  it('leaves the rest of the user region not present, in the table named USER_PT', () => {
    const r = walk(m.mem, c, USER_BASE_PAGED + 0x80000, 0, W, false);
    expect(r.ok ? 'ok' : r.fault.errorCode).toBe(6); // W/R | U/S, P = 0
    const last = r.steps[r.steps.length - 1]!;
    expect(last.entryPa).toBe(ls.layout.userPt + 0x80 * ls.layout.pteSize);
  });
  it('applies the scenario mappings with their rights', () => {
    const ro = walk(m.mem, c, 0x80001008, 0, R, false);
    expect(ro.ok && ro.pa).toBe(0x501008);
    const w = walk(m.mem, c, 0x80000000, 0, W, false);
    expect(w.ok ? 'ok' : w.fault.errorCode).toBe(7);
    if (paging !== '32bit') {
      const nx = walk(m.mem, c, 0x90000000, 0, X, false);
      expect(nx.ok ? 'ok' : nx.fault.errorCode).toBe(0x15); // P | U/S | I/D
    }
    const np = walk(m.mem, c, 0xa0000000, 0, K, false);
    expect(np.ok ? 'ok' : np.fault.errorCode).toBe(2);
  });
  it('sets the control registers of the mode', () => {
    const s = m.cpu.state;
    expect(s.cr0 >>> 0).toBe(0x80010031);
    const cr4 = { '32bit': 0x10, pae: 0x20, '4level': 0x20, '5level': 0x1020 }[paging];
    expect(s.cr4).toBe(cr4);
  });
});

describe('the page-table pool', () => {
  it('holds the tables of the largest scenario validation allows (16 mappings of 16 MiB, each misaligned)', () => {
    for (const paging of ['32bit', '5level'] as const) {
      const mappings = Array.from({ length: 16 }, (_, i) => ({ linear: 0x80001000 + i * 0x4000000, physical: 0x1000, size: 16 << 20 }));
      const ls = load({ mode: paging === '32bit' ? 'prot32' : 'long64', paging, mappings, memory: { size: (1 << 30) - 0x1000 } });
      const m = buildScenario(ls);
      const r = walk(m.mem, ctl(m), 0x80001000 + 15 * 0x4000000 + (16 << 20) - 1, 0, { write: true, fetch: false, user: false }, false);
      expect(r.ok && r.pa).toBe(0x1000 + (16 << 20) - 1);
    }
  });
});

describe('the GDT order serves the fast system calls', () => {
  it('prot32: SYSENTER enters CPL 0 with CS 0x08/SS 0x10, SYSEXIT returns with CS 0x1b/SS 0x23', () => {
    const ls = load({
      mode: 'prot32',
      paging: 'pae',
      kernel: { source: 'syscall_entry:\n  mov [seen_cs], cs\n  mov [seen_ss], ss\n  sysexit\nint80_handler:\n  hlt\nseen_cs: dw 0\nseen_ss: dw 0\n' },
      user: { source: 'user_entry:\n  mov ecx, esp\n  mov edx, back\n  sysenter\nback:\n  mov ebx, cs\n  mov esi, ss\n  int 0x80\n' },
    });
    const m = buildScenario(ls);
    expect(m.run(100)).toBe('hlt');
    expect(m.mem.read(ls.kernel.labels.get('seen_cs')!, 2)).toBe(0x08);
    expect(m.mem.read(ls.kernel.labels.get('seen_ss')!, 2)).toBe(0x10);
    expect(m.cpu.state.regLo[3]).toBe(0x1b); // EBX = CS after SYSEXIT
    expect(m.cpu.state.regLo[6]).toBe(0x23); // ESI = SS after SYSEXIT
  });

  it('long64: SYSCALL enters CPL 0 with CS 0x08/SS 0x10, SYSRETQ returns with CS 0x2b/SS 0x23 (STAR[63:48] + 16, + 8)', () => {
    const ls = load({
      kernel: { source: 'syscall_entry:\n  mov [seen_cs], cs\n  mov [seen_ss], ss\n  o64 sysret\nint80_handler:\n  hlt\nseen_cs: dw 0\nseen_ss: dw 0\n' },
      user: { source: 'user_entry:\n  syscall\n  mov ebx, cs\n  mov esi, ss\n  int 0x80\n' },
    });
    const m = buildScenario(ls);
    expect(m.run(100)).toBe('hlt');
    expect(m.mem.read(ls.kernel.labels.get('seen_cs')!, 2)).toBe(0x08);
    expect(m.mem.read(ls.kernel.labels.get('seen_ss')!, 2)).toBe(0x10);
    expect(m.cpu.state.regLo[3]).toBe(0x2b); // EBX = CS after SYSRETQ: the 64-bit user code segment
    expect(m.cpu.state.regLo[6]).toBe(0x23); // ESI = SS after SYSRETQ: the user data segment
    expect(m.cpu.state.seg[1]!.attr & 0x2000).toBe(0x2000); // CS.L = 1: back in 64-bit code
  });
});
