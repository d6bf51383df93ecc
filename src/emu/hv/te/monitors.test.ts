/**
 * The software monitors (te/backend.ts, bt/backend.ts) against the bare machine on the cases a
 * review against the SDM found: where trap-and-emulate cannot hide the monitor the divergence is
 * exact, binary translation ends as bare, and neither lets the guest reach the monitor's memory.
 */
import { describe, expect, it } from 'vitest';
import { HV_AREA } from '../exec.ts';
import { TSS_DESC, USER_DESCS, gdt, idt, runAll } from './guest-kit.ts';

const all = runAll;

const pick = (regs: Record<string, unknown>, names: string[]) => Object.fromEntries(names.map((n) => [n, regs[n]]));

/** GDT (0x08/0x10 ring 0, 0x1b/0x23 ring 3, TSS 0x28 at 0x3000 with SS0:ESP0 0x10:0x90000), IDT at 0x4000 with 0x80 and 0x81 for ring 3. */
const SETUP = `${gdt([...USER_DESCS, TSS_DESC])}
  mov dword [0x3004], 0x90000
  mov dword [0x3008], 0x10
  mov ax, 0x28
  ltr ax
${idt([{ vector: 0x80, label: 'h80', user: true }, { vector: 0x81, label: 'h81', user: true }], 0x82)}`;

/** GDT 0x08/0x10 and an IDT with vector 0x30. */
const GDT30 = `${gdt()}${idt([{ vector: 0x30, label: 'h30' }], 0x31)}`;

/** GDT 0x08/0x10 and an IDT whose #GP handler logs its error code. */
const GDTGP = `${gdt()}${idt([{ vector: 13, label: 'hgp' }], 14)}  xor eax, eax\n`;
const GP_TAIL = `
  mov eax, 0x600d
  hlt
hgp:
  mov eax, 0xbad
  mov ebx, [esp]
  hlt`;

/** Paging on (identity 4 MiB), #PF and #GP handlers logging CR2 or the error code. */
const PRE_PF = `
  mov dword [0x2000], 0
  mov dword [0x2004], 0
  mov dword [0x2008], 0x0000ffff
  mov dword [0x200c], 0x00cf9b00
  mov dword [0x2010], 0x0000ffff
  mov dword [0x2014], 0x00cf9300
  mov word [0x2100], 0x17
  mov dword [0x2102], 0x2000
  lgdt [0x2100]
  mov eax, hpf
  mov word [0x4000 + 14*8], ax
  mov word [0x4000 + 14*8 + 2], 0x08
  mov word [0x4000 + 14*8 + 4], 0x8e00
  shr eax, 16
  mov word [0x4000 + 14*8 + 6], ax
  mov eax, hgp
  mov word [0x4000 + 13*8], ax
  mov word [0x4000 + 13*8 + 2], 0x08
  mov word [0x4000 + 13*8 + 4], 0x8e00
  shr eax, 16
  mov word [0x4000 + 13*8 + 6], ax
  mov word [0x2200], 15*8-1
  mov dword [0x2202], 0x4000
  lidt [0x2200]
  mov edi, 0x11000
  mov eax, 3
  mov ecx, 1024
fill:
  mov [edi], eax
  add eax, 0x1000
  add edi, 4
  loop fill
  mov dword [0x10000], 0x11003
  mov eax, 0x10000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  xor esi, esi
`;
const POST_PF = `
  mov esi, 0x600d
  hlt
hpf:
  mov esi, 0xbad0e
  mov edi, cr2
  hlt
hgp:
  mov esi, 0xbad0d
  mov edi, [esp]
  hlt
`;

describe('flags a ring-1 kernel cannot set', () => {
  it('IRETD to ring 3 with IF = 1 in the frame: ring 1 leaves IF (trap-and-emulate shows it), BT sets it', () => {
    const { bare, te, bt } = all(`${SETUP}
  push dword 0x23
  push dword 0x80000
  push dword 0x202
  push dword 0x1b
  push dword user
  iretd
user:
  pushf
  pop ebx
  int 0x80
  pushf
  pop ecx
  int 0x81
h80:
  iretd
h81:
  mov edx, [esp+8]
  mov esi, [esp+4]
  hlt
`);
    expect(pick(bare.regs, ['rbx', 'rcx', 'rdx'])).toEqual({ rbx: 0x202, rcx: 0x202, rdx: 0x202 });
    expect(pick(te.regs, ['rbx', 'rcx', 'rdx'])).toEqual({ rbx: 0x2, rcx: 0x2, rdx: 0x2 });
    expect(bt.regs).toEqual(bare.regs);
  });

  it('IOPL set by POPF survives an interrupt and its IRETD under BT (the frame carries the guest’s IOPL)', () => {
    const { bare, te, bt } = all(`${GDT30}
  push dword 0x3002
  popfd
  int 0x30
  pushfd
  pop ebx
  hlt
h30:
  mov ecx, [esp+8]
  mov edx, [esp+4]
  iretd
`);
    expect(pick(bare.regs, ['rbx', 'rcx', 'rdx'])).toEqual({ rbx: 0x3002, rcx: 0x3002, rdx: 8 });
    expect(pick(te.regs, ['rbx', 'rcx', 'rdx'])).toEqual({ rbx: 0x2, rcx: 0x2, rdx: 9 });
    expect(bt.regs).toEqual(bare.regs);
  });
});

describe('the monitor’s memory stays out of reach', () => {
  const seg = (desc: [number, number], off: number) => `
  mov dword [0x2000], 0
  mov dword [0x2004], 0
  mov dword [0x2008], 0x0000ffff
  mov dword [0x200c], 0x00cf9b00
  mov dword [0x2010], 0x0000ffff
  mov dword [0x2014], 0x00cf9300
  mov dword [0x2018], ${desc[0]}
  mov dword [0x201c], ${desc[1]}
  mov word [0x2100], 0x1f
  mov dword [0x2102], 0x2000
  lgdt [0x2100]
  mov ax, 0x18
  mov es, ax
  mov dword [es:${off}], 0xdeadbeef
  mov ebx, [es:${off}]
  hlt`;
  it.each([
    ['a data segment based at the monitor', [0x00000fff, 0xff4093c0] as [number, number], 0],
    ['an expand-down segment whose top is 4 GiB', [0x00000000, 0x00cf9700] as [number, number], 0xffc00000],
    ['a page-granular segment with an unaligned base', [0x08000000 | 0xffff, 0x00cf9300] as [number, number], 0xffbff800],
  ])('%s: the store never lands in the monitor (the segment faults instead)', (_n, desc, off) => {
    const { bare, te, bt, teMem, btMem } = all(seg(desc, off));
    expect(bare.exits.some((e) => e.kind === 'mmio' && e.dir === 'write')).toBe(true);
    for (const [r, mem] of [[te, teMem], [bt, btMem]] as const) {
      expect(r.exits).toEqual([]);
      expect(r.end).toBe('shutdown');
      expect(mem.read(HV_AREA, 4)).toBe(0);
    }
  });

  it('binary translation’s own code segment (0xfff1) is no selector of the guest’s: loading it faults as bare', () => {
    const { bare, te, bt } = all(`${GDTGP}
  mov ax, 0xfff1
  mov ds, ax
${GP_TAIL}`);
    expect(pick(bare.regs, ['rax', 'rbx'])).toEqual({ rax: 0xbad, rbx: 0xfff0 });
    expect(pick(te.regs, ['rax', 'rbx'])).toEqual({ rax: 0xbad, rbx: 0xfff0 });
    expect(pick(bt.regs, ['rax', 'rbx'])).toEqual({ rax: 0xbad, rbx: 0xfff0 });
  });
});

describe('emulated instructions as ring 0 runs them', () => {
  it('POP SS of the kernel’s data selector', () => {
    const { bare, te, bt } = all(`${GDTGP}
  push dword 0x10
  pop ss
${GP_TAIL}`);
    expect(bare.regs.rax).toBe(0x600d);
    expect(te.regs).toEqual(bare.regs);
    expect(bt.regs).toEqual(bare.regs);
  });

  it.each([['mov ss, [0x800000]'], ['lmsw [0x800000]'], ['lgdt [0x800000]']])('%s from an unmapped page: the guest’s #PF with CR2', (insn) => {
    const { bare, te, bt } = all(`${PRE_PF}\n  ${insn}\n${POST_PF}`);
    expect(pick(bare.regs, ['rsi', 'rdi'])).toEqual({ rsi: 0xbad0e, rdi: 0x800000 });
    expect(pick(te.regs, ['rsi', 'rdi'])).toEqual(pick(bare.regs, ['rsi', 'rdi']));
    expect(pick(bt.regs, ['rsi', 'rdi'])).toEqual(pick(bare.regs, ['rsi', 'rdi']));
  });

  it('SYSENTER from user code ends the run naming it (the monitor keeps SYSENTER_CS at 0)', () => {
    const { bare, te, bt } = all(`${SETUP}
  mov ecx, 0x174
  mov eax, 0x08
  xor edx, edx
  wrmsr
  mov ecx, 0x175
  mov eax, 0x90000
  wrmsr
  mov ecx, 0x176
  mov eax, kentry
  wrmsr
  mov eax, hgp
  mov word [0x4000 + 13*8], ax
  mov word [0x4000 + 13*8 + 2], 0x08
  mov word [0x4000 + 13*8 + 4], 0x8e00
  shr eax, 16
  mov word [0x4000 + 13*8 + 6], ax
  push dword 0x23
  push dword 0x80000
  push dword 0x2
  push dword 0x1b
  push dword user
  iretd
user:
  sysenter
kentry:
  mov esi, 0x600d
  hlt
hgp:
  mov esi, 0xbad
  hlt
h80:
  iretd
h81:
  hlt
`);
    expect(bare.regs.rsi).toBe(0x600d);
    for (const r of [te, bt]) expect(r.error).toMatch(/sysenter from the guest’s user code: not emulated/);
  });
});

describe('binary translation keeps up with the guest’s code and mappings', () => {
  it('an instruction spanning two pages whose second page is rewritten (bare, trap-and-emulate and BT agree)', () => {
    const { bare, te, bt } = all(`
  mov ecx, 2
  xor ebx, ebx
  jmp loop
  times 0xff0 - ($ - $$) db 0x90
loop:
  times 0xffd - ($ - $$) db 0x90
  mov eax, 0x11111111
  add ebx, eax
  mov word [0x101000], 0x2222
  dec ecx
  jnz loop
  hlt
`);
    expect(bare.regs.rax).toBe(0x22221111);
    expect(te.regs).toEqual(bare.regs);
    expect(bt.regs).toEqual(bare.regs);
  });

  it('a code page remapped by a PTE write and INVLPG behind a chained exit', () => {
    const { bare, te, bt } = all(`
  mov edi, 0x11000
  mov eax, 3
  mov ecx, 1024
fill:
  mov [edi], eax
  add eax, 0x1000
  add edi, 4
  loop fill
  mov dword [0x10000], 0x11003
  mov dword [0x10004], 0x12003
  mov dword [0x12000], v1 + 3
  mov eax, 0x10000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  xor esi, esi
  mov ebx, back
  jmp go
go:
  jmp 0x400000
back:
  add esi, eax
  cmp esi, 1
  jne done
  mov dword [0x12000], v2 + 3
  invlpg [0x400000]
  jmp go
done:
  hlt
  times 0x2000 - ($ - $$) db 0x90
v1:
  mov eax, 1
  jmp ebx
  times 0x3000 - ($ - $$) db 0x90
v2:
  mov eax, 2
  jmp ebx
`);
    expect(pick(bare.regs, ['rax', 'rsi'])).toEqual({ rax: 2, rsi: 3 });
    expect(te.regs).toEqual(bare.regs);
    expect(bt.regs).toEqual(bare.regs);
  });

  it('CALL in a code segment with a base pushes the offset, not the linear address', () => {
    const { bare, te, bt } = all(`
  mov dword [0x2000], 0
  mov dword [0x2004], 0
  mov dword [0x2008], 0x0000ffff
  mov dword [0x200c], 0x00cf9b00
  mov dword [0x2010], 0x0000ffff
  mov dword [0x2014], 0x00cf9300
  mov dword [0x2018], 0x0000ffff
  mov dword [0x201c], 0x00409b10
  mov word [0x2100], 0x1f
  mov dword [0x2102], 0x2000
  lgdt [0x2100]
  jmp 0x18:(part - 0x100000)
part:
  call f
  hlt
f:
  mov eax, [esp]
  hlt
`);
    expect(bare.regs.rax).toBe(0x76);
    expect(te.regs).toEqual(bare.regs);
    expect(bt.regs).toEqual(bare.regs);
  });
});

/** GDT 0x08/0x10 and a TSS descriptor 0x18 at 0x3000. */
const GDT_TSS = gdt([TSS_DESC]);

describe('sensitive instructions under binary translation end as bare', () => {
  it.each([
    ['LAR and LSL of the guest’s TSS selector (a system descriptor of DPL 0)', `${GDT_TSS}\n  mov ax, 0x18\n  ltr ax\n  xor eax, eax\n  xor ebx, ebx\n  mov cx, 0x18\n  lar eax, cx\n  pushfd\n  pop esi\n  lsl ebx, cx\n  pushfd\n  pop edi\n  hlt`],
    ['LAR and LSL of a selector past the guest’s GDT limit (ZF = 0)', `${GDT_TSS}\n  xor eax, eax\n  xor ebx, ebx\n  mov cx, 0xfff1\n  lar eax, cx\n  pushfd\n  pop esi\n  lsl ebx, cx\n  pushfd\n  pop edi\n  hlt`],
    ['SGDT with a 16-bit operand size stores the whole 32-bit base', `  mov dword [0x1002000], 0\n  mov dword [0x1002004], 0\n  mov dword [0x1002008], 0x0000ffff\n  mov dword [0x100200c], 0x00cf9b00\n  mov dword [0x1002010], 0x0000ffff\n  mov dword [0x1002014], 0x00cf9300\n  mov word [0x2100], 0x17\n  mov dword [0x2102], 0x1002000\n  lgdt [0x2100]\n  mov dword [0x5000], 0xffffffff\n  mov dword [0x5004], 0xffffffff\n  o16 sgdt [0x5000]\n  mov eax, [0x5002]\n  hlt`],
    ['a far CALL pushes CS with RPL 0, and its RETF returns', `${GDT_TSS}\n  call 0x08:f\n  hlt\nf:\n  mov eax, [esp+4]\n  mov ebx, [esp]\n  retf`],
  ])('%s', (_n, src) => {
    const { bare, bt } = all(src);
    expect(bt.error).toBeUndefined();
    expect(bt.regs).toEqual(bare.regs);
  });
});
