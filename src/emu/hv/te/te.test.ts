/**
 * Trap-and-emulate (backend.ts): what the monitor emulates so that the guest cannot tell, and the
 * places where classic x86 lets it tell (the lesson), each shown by running the same program bare
 * and under the monitor and comparing exactly.
 */
import { describe, expect, it } from 'vitest';
import { runUnder } from '../exec.ts';
import { MONITOR_LINEAR, MONITOR_TR } from './backend.ts';
import { LOAD, TSS_DESC, gdt, runAll } from './guest-kit.ts';

function both(src: string) {
  const { bare, te, teMem } = runAll(src);
  return { bare, te, mem: teMem };
}

/** The traps other than the hidden page faults of shadow paging (their number depends on the pages touched). */
function noPf(t: Record<string, number> | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(t ?? {}).filter(([k]) => k !== '#PF'));
}

/** The registers whose values differ, as [name, bare, trap-and-emulate]. */
function differing(a: Record<string, unknown>, b: Record<string, unknown>): [string, unknown, unknown][] {
  return Object.keys(a).filter((k) => a[k] !== b[k]).map((k) => [k, a[k], b[k]]);
}

/** A flat GDT (null, ring-0 code 0x08, ring-0 data 0x10, TSS 0x18 at 0x3000) at 0x2000, loaded with LGDT. */
const GDT = gdt([TSS_DESC]);

describe('what the monitor emulates, invisibly', () => {
  it('CLI and STI trap and change the guest’s IF, which PUSHF then shows as bare', () => {
    const { bare, te } = both('sti\npushf\npop eax\ncli\npushf\npop ebx\nhlt');
    expect(differing(bare.regs, te.regs)).toEqual([]);
    expect(bare.regs.rax).toBe(0x202);
    expect(bare.regs.rbx).toBe(0x2);
    expect(noPf(te.hv.traps)).toEqual({ cli: 1, sti: 1, hlt: 1 });
    // Every trap is a fault into the monitor and an IRET back, priced as such.
    expect(te.hv.cost.byKind.trap!.count).toBe(te.hv.exitTotal);
  });

  it('IN, OUT and REP OUTSB reach the same ports with the same values', () => {
    const { bare, te } = both('mov al, 0x41\nout 0x80, al\nmov dx, 0x3f8\nin al, dx\nmov esi, 0x3000\nmov dword [esi], 0x64636261\nmov ecx, 4\nrep outsb\nhlt');
    expect(te.exits).toEqual(bare.exits);
    expect(differing(bare.regs, te.regs)).toEqual([]);
    expect(te.hv.traps!.out).toBe(1);
    expect(te.hv.traps!.in).toBe(1);
    expect(te.hv.traps!.outsb).toBe(1);
  });

  it('LGDT, MOV SS and a far jump of the guest kernel: loaded with ring compression, the guest none the wiser', () => {
    const { bare, te } = both(`${GDT}\n  mov ax, 0x10\n  mov ss, ax\n  mov ds, ax\n  jmp 0x08:.next\n.next:\n  mov eax, 7\n  hlt`);
    expect(differing(bare.regs, te.regs)).toEqual([]);
    expect(te.hv.traps!.lgdt).toBe(1);
    expect(te.hv.traps!['mov ss']).toBe(1);
  });

  it('IRETD to the guest kernel’s own CS (RPL 0) is emulated: it would #GP in ring 1, and IF comes back from the frame', () => {
    const { bare, te } = both(`${GDT}\n  push dword 0x202\n  push dword 0x08\n  push dword .back\n  iretd\n.back:\n  pushf\n  pop ebx\n  hlt`);
    expect(differing(bare.regs, te.regs)).toEqual([]);
    expect(bare.regs.rbx).toBe(0x202);
    expect(te.hv.traps!.iretd).toBe(1);
  });

  it('LTR marks the guest’s TSS busy in its own GDT, as the processor does', () => {
    const src = `${GDT}\n  mov ax, 0x18\n  ltr ax\n  mov eax, [0x201c]\n  hlt`;
    const { bare, te } = both(src);
    expect(bare.regs.rax).toBe(0x00008b00);
    expect(te.regs.rax).toBe(0x00008b00);
    expect(te.hv.traps!.ltr).toBe(1);
  });

  it('a system call (INT n to a DPL-0 gate) goes through the shadow IDT straight to the guest’s handler, without a trap', () => {
    const src = `${GDT}
  mov dword [0x4000 + 0x30*8], .handler
  mov word [0x4000 + 0x30*8 + 2], 0x08
  mov word [0x4000 + 0x30*8 + 4], 0x8e00
  mov word [0x4000 + 0x30*8 + 6], 0x10
  mov word [0x2200], 0x30*8+7
  mov dword [0x2202], 0x4000
  lidt [0x2200]
  mov eax, 1
  int 0x30
  hlt
.handler:
  add eax, 41
  iretd`;
    const { bare, te } = both(src);
    expect(bare.regs.rax).toBe(42);
    expect(differing(bare.regs, te.regs)).toEqual([]);
    // The two stores of the IDTR image land in the GDT's page, which the monitor watches since LGDT.
    expect(noPf(te.hv.traps)).toEqual({ hlt: 1, lgdt: 1, lidt: 1, 'descriptor-table write': 2 });
  });
});

describe('where classic x86 gives the monitor away (Robin and Irvine, 2000)', () => {
  it('POPF in ring 1 leaves IF unchanged, silently: no trap, and the guest’s interrupts stay off', () => {
    const { bare, te } = both('pushf\npop eax\nor eax, 0x200\npush eax\npopf\npushf\npop ebx\nhlt');
    expect(differing(bare.regs, te.regs)).toEqual([['rbx', 0x202, 0x2], ['rflags', 0x202, 0x2]]);
    expect(noPf(te.hv.traps)).toEqual({ hlt: 1 });
  });

  it('POPF cannot change IOPL outside ring 0 either', () => {
    const { bare, te } = both('push dword 0x3002\npopf\npushf\npop ecx\nhlt');
    expect(differing(bare.regs, te.regs)).toEqual([['rcx', 0x3002, 0x2], ['rflags', 0x3002, 0x2]]);
  });

  it('SGDT, SIDT, STR and SMSW are unprivileged and read the monitor’s values', () => {
    const { bare, te } = both('sgdt [0x3000]\nsidt [0x3010]\nmov eax, [0x3002]\nmov ebx, [0x3012]\nxor ecx, ecx\nstr cx\nsmsw edx\nxor esi, esi\nsldt si\nhlt');
    expect(differing(bare.regs, te.regs)).toEqual([
      ['rax', 0, MONITOR_LINEAR],
      ['rbx', 0, MONITOR_LINEAR + 0x10000],
      ['rcx', 0, MONITOR_TR],
      // CR0 with PG and WP: the monitor's shadow paging, under a guest whose paging is off.
      ['rdx', 0x60000011, 0xe0010011],
    ]);
    expect(noPf(te.hv.traps)).toEqual({ hlt: 1 });
  });

  it('MOV r, CS and PUSH CS show RPL 1', () => {
    const { bare, te } = both('mov eax, cs\npush cs\npop ebx\nmov ecx, ss\nhlt');
    expect(differing(bare.regs, te.regs)).toEqual([['rax', 8, 9], ['rbx', 8, 9], ['rcx', 16, 17]]);
  });

  it('LAR and LSL read the shadow GDT: DPL 1, and a limit cut below the monitor', () => {
    const { bare, te } = both(`${GDT}\n  mov cx, 0x08\n  lar eax, cx\n  lsl ebx, cx\n  hlt`);
    expect(differing(bare.regs, te.regs)).toEqual([['rax', 0x00c09b00, 0x00c0bb00], ['rbx', 0xffffffff, MONITOR_LINEAR - 1]]);
  });

  it('the top 4 MiB belong to the monitor: a guest access there is a #GP of the truncated segment, not the MMIO it is bare', () => {
    const { bare, te } = both(`mov eax, [${MONITOR_LINEAR}]\nhlt`);
    expect(bare.exits).toEqual([{ kind: 'mmio', dir: 'read', gpa: MONITOR_LINEAR, size: 4, value: 0 }]);
    expect(te.exits).toEqual([]);
    // No IDT in this guest: delivering the #GP finds an empty gate (a second #GP), so #DF, then a triple fault.
    expect(te.end).toBe('shutdown');
    expect(te.hv.traps!['#GP']).toBe(2);
  });
});

describe('what this monitor refuses, with the reason', () => {
  it('a 64-bit guest', () => {
    expect(() => runUnder('trap-emulate', { mode: 'long64', load: LOAD, code: new Uint8Array([0xf4]) })).toThrow(/32-bit guest.*ring 3/);
  });

  it('nested paging', () => {
    expect(() => runUnder('trap-emulate', { mode: 'prot32', load: LOAD, code: new Uint8Array([0xf4]), paging: 'nested' })).toThrow(/no nested paging/);
  });

  it('LLDT of a non-null selector ends the run naming it', () => {
    const { te } = both(`${GDT}\n  mov ax, 0x10\n  lldt ax\n  hlt`);
    expect(te.end).toBe('error');
    expect(te.error).toMatch(/lldt 0x10: a local descriptor table is not emulated/);
  });
});
