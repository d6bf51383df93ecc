/**
 * Binary translation (backend.ts, translate.ts): the translator's output on real code, and the
 * monitor running it: transparent where trap-and-emulate is not, chaining, self-modifying code and
 * adaptive translation, each against the bare run.
 */
import { describe, expect, it } from 'vitest';
import { runUnder } from '../exec.ts';
import { MAX_BLOCK_INSNS, calloutReason, translateBlock } from './translate.ts';
import { decode } from '../../cpu/decode.ts';
import { LOAD, gdt, guestBytes, runAll } from '../te/guest-kit.ts';

const bytes = guestBytes;

function reader(code: Uint8Array, org = LOAD): (a: number) => number {
  return (a) => (a >= org && a < org + code.length ? code[a - org]! : -1);
}

const hex = (b: Uint8Array | number[]): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

describe('the translator', () => {
  it('copies innocuous instructions byte for byte and ends the block at a direct jump, as JMP rel32 to an exit', () => {
    const code = bytes('mov eax, 5\nadd eax, [ebx+4]\npush ecx\njmp there\nnop\nthere:\nhlt');
    const t = translateBlock(reader(code), LOAD);
    expect(t.insns.map((i) => i.how)).toEqual(['copied', 'copied', 'copied', 'branch']);
    const copied = t.insns.slice(0, 3).reduce((n, i) => n + i.len, 0);
    expect(hex(t.code.slice(0, copied))).toBe(hex(code.slice(0, copied)));
    expect(t.code[copied]).toBe(0xe9);
    expect(t.exits).toEqual([{ rel: copied + 1, end: copied + 5, target: LOAD + code.length - 1 }]);
    expect(t.guestEnd).toBe(LOAD + copied + 2);
  });

  it('rewrites Jcc into Jcc rel32 (taken exit) and JMP rel32 (fall-through exit), and CALL into PUSH of the guest return address', () => {
    const jcc = bytes('cmp eax, 1\njne far_away\nnop\nfar_away:\nhlt');
    const t = translateBlock(reader(jcc), LOAD);
    const at = t.insns[1]!.tc;
    expect([t.code[at], t.code[at + 1]]).toEqual([0x0f, 0x85]);
    expect(t.code[at + 6]).toBe(0xe9);
    expect(t.exits.map((e) => e.target)).toEqual([LOAD + jcc.length - 1, LOAD + 3 + 2]);
    const call = bytes('call f\nhlt\nf:\nret');
    const c = translateBlock(reader(call), LOAD);
    expect(hex(c.code.slice(0, 5))).toBe(hex([0x68, 0x05, 0x00, 0x10, 0x00]));
    expect(c.code[5]).toBe(0xe9);
    expect(c.exits[0]!.target).toBe(LOAD + 6);
  });

  it('makes callouts of privileged, sensitive, interrupt and indirect instructions, and of CS-override accesses', () => {
    const cases: [string, string][] = [
      ['cli', 'privileged'], ['hlt', 'privileged'], ['mov cr3, eax', 'privileged'], ['out dx, al', 'privileged'], ['lgdt [eax]', 'privileged'], ['iretd', 'privileged'], ['mov ss, ax', 'privileged'],
      ['popfd', 'sensitive'], ['pushfd', 'sensitive'], ['sgdt [eax]', 'sensitive'], ['sidt [eax]', 'sensitive'], ['smsw eax', 'sensitive'], ['str ax', 'sensitive'], ['sldt ax', 'sensitive'], ['lar eax, cx', 'sensitive'], ['lsl eax, cx', 'sensitive'], ['verr ax', 'sensitive'], ['push cs', 'sensitive'], ['mov eax, cs', 'sensitive'],
      ['int 0x80', 'interrupt'], ['int3', 'interrupt'], ['ret', 'indirect'], ['jmp eax', 'indirect'], ['call [eax]', 'indirect'], ['retf', 'indirect'],
      ['mov eax, [cs:ebx]', 'cs-override'],
    ];
    for (const [src, want] of cases) {
      const b = bytes(src);
      const r = decode((i) => b[i] ?? -1, 32);
      if (r.kind !== 'ok') throw new Error(src);
      expect([src, calloutReason(r.insn)]).toEqual([src, want]);
    }
    for (const src of ['mov eax, [ebx]', 'mov ds, ax', 'push eax', 'cpuid', 'rdtsc', 'lea eax, [ebx+ecx*4]', 'xchg eax, ebx', 'rep movsd', 'loop $', 'jecxz $']) {
      const b = bytes(src);
      const r = decode((i) => b[i] ?? -1, 32);
      if (r.kind !== 'ok') throw new Error(src);
      expect([src, calloutReason(r.insn)]).toEqual([src, null]);
    }
  });

  it('rewrites LOOP (rel8 only) as the same LOOP over a JMP to the fall-through exit onto a JMP to the taken exit', () => {
    const code = bytes('top:\nloop top\nhlt');
    const t = translateBlock(reader(code), LOAD);
    expect(hex(t.code.slice(0, 4))).toBe('e2 02 eb 05');
    expect(t.code[4]).toBe(0xe9);
    expect(t.code[9]).toBe(0xe9);
    expect(t.exits.map((e) => e.target)).toEqual([LOAD, LOAD + 2]);
    const { bare, bt } = both('mov ecx, 5\nxor eax, eax\n.l:\nadd eax, ecx\nloop .l\nhlt');
    expect(bt.regs).toEqual(bare.regs);
    expect(bt.hv.bt!.callouts).toEqual({ privileged: 1 });
  });

  it('puts an instruction that crosses into the next page in a block of its own', () => {
    const org = LOAD + 0xffc;
    const code = bytes('inc eax\nmov ebx, 0x11111111\nhlt', org);
    const first = translateBlock(reader(code, org), org);
    expect(first.insns.length).toBe(1);
    expect(first.exits[0]!.target).toBe(org + 1);
    const second = translateBlock(reader(code, org), org + 1);
    expect(second.insns.map((i) => i.text)).toEqual(['mov ebx, 0x11111111']);
    expect(second.guestEnd).toBe(LOAD + 0x1002);
  });

  it('caps a block at MAX_BLOCK_INSNS instructions and at the end of the guest page', () => {
    const many = bytes(Array.from({ length: 20 }, () => 'inc eax').join('\n'));
    const t = translateBlock(reader(many), LOAD);
    expect(t.insns.length).toBe(MAX_BLOCK_INSNS);
    expect(t.exits[0]!.target).toBe(LOAD + MAX_BLOCK_INSNS);
    const org = LOAD + 0xffe;
    const edge = bytes('inc eax\ninc eax\ninc eax\nhlt', org);
    const e = translateBlock(reader(edge, org), org);
    expect(e.insns.length).toBe(2);
    expect(e.exits[0]!.target).toBe(LOAD + 0x1000);
  });
});

function both(src: string) {
  const { bare, bt } = runAll(src);
  return { bare, bt };
}

const GDT = gdt();

describe('transparent where trap-and-emulate is not (te.test.ts shows those same programs diverging)', () => {
  it.each([
    ['POPF sets IF and IOPL', 'pushf\npop eax\nor eax, 0x3200\npush eax\npopf\npushf\npop ebx\nhlt'],
    ['SGDT, SIDT, STR, SMSW and SLDT read the guest’s own values', 'sgdt [0x3000]\nsidt [0x3010]\nmov eax, [0x3002]\nmov ebx, [0x3012]\nxor ecx, ecx\nstr cx\nsmsw edx\nxor esi, esi\nsldt si\nhlt'],
    ['MOV r, CS, PUSH CS and MOV r, SS read RPL 0', 'mov eax, cs\npush cs\npop ebx\nmov ecx, ss\nhlt'],
    ['LAR and LSL read the guest’s DPL and limit', `${GDT}\n  mov cx, 0x08\n  lar eax, cx\n  lsl ebx, cx\n  hlt`],
    ['CLI, STI and IRETD to the kernel', `${GDT}\n  sti\n  pushf\n  pop esi\n  cli\n  push dword 0x202\n  push dword 0x08\n  push dword .back\n  iretd\n.back:\n  pushf\n  pop ebx\n  hlt`],
  ])('%s', (_n, src) => {
    const { bare, bt } = both(src);
    expect(bt.error).toBeUndefined();
    expect(bt.regs).toEqual(bare.regs);
    expect(bt.exits).toEqual(bare.exits);
  });

  it('a system call from the kernel goes through the monitor with the guest’s frame (CS of RPL 0, the guest’s return address)', () => {
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
  mov ebx, [esp]
  mov ecx, [esp+4]
  add eax, 41
  iretd`;
    const { bare, bt } = both(src);
    expect(bare.regs.rax).toBe(42);
    expect(bare.regs.rcx).toBe(8);
    expect(bt.regs).toEqual(bare.regs);
    // Twice: the first delivery touched the stack page below ESP for the first time (a hidden #PF
    // during delivery), and an INT whose delivery faulted runs again from its instruction.
    expect(bt.hv.traps!['int 0x30']).toBe(2);
    expect(bt.hv.traps!.iretd).toBe(1);
  });
});

describe('the translation cache at work', () => {
  it('chains a hot loop: after the first iteration no block exit goes through the monitor', () => {
    const { bare, bt } = both('mov ecx, 1000\nxor eax, eax\n.l:\nadd eax, ecx\nxor edx, eax\ndec ecx\njnz .l\nhlt');
    expect(bt.regs).toEqual(bare.regs);
    const s = bt.hv.bt!;
    // Blocks: the start, the loop body, the fall-through after it (with HLT's callout).
    expect(s.blocks).toBe(3);
    expect(s.chains).toBe(3);
    expect(s.exitsThroughMonitor).toBe(3);
    expect(s.callouts).toEqual({ privileged: 1 });
    // The only exit is HLT's callout: the code is fetched from the translation cache, which every shadow maps.
    expect(bt.hv.exits).toEqual({ callout: { code: 0, count: 1 } });
  });

  it('self-modifying code: a write to a translated instruction later in the same block takes effect', () => {
    const src = 'mov ecx, 3\nxor ebx, ebx\nagain:\nmov dword [patch+1], ecx\npatch:\nmov eax, 0x11111111\nadd ebx, eax\ndec ecx\njnz again\nhlt';
    const { bare, bt } = both(src);
    expect(bare.regs.rbx).toBe(3 + 2 + 1);
    expect(bt.regs).toEqual(bare.regs);
    expect(bt.hv.bt!.codeWrites).toBe(3);
    expect(bt.hv.traps!['code write']).toBe(3);
  });

  it('a sensitive instruction whose store lands in translated code still gets its fix-up (SIDT and SGDT into a buffer beside the code)', () => {
    // The red pill's pattern (examples/red-pill.json): the buffers share the code's page, so the store is a code write, run where it stands.
    const src = 'sidt [idt_copy]\nmov eax, [idt_copy+2]\nsgdt [gdt_copy]\nmov ebx, [gdt_copy+2]\nhlt\nidt_copy: dw 0\ndd 0\ngdt_copy: dw 0\ndd 0';
    const { bare, bt } = both(src);
    expect(bt.regs).toEqual(bare.regs);
    expect(bt.hv.traps!['code write']).toBeGreaterThanOrEqual(2);
    // Not the monitor's tables at 0xffc00000.
    expect(Number(bt.regs.rax)).toBeLessThan(0xffc00000);
    expect(Number(bt.regs.rbx)).toBeLessThan(0xffc00000);
  });

  it('adaptive translation: a store that keeps writing a page table becomes a callout, and the page faults stop', () => {
    const src = `
  mov edi, 0x11000
  mov eax, 0x003
  mov ecx, 1024
.fill:
  mov [edi], eax
  add eax, 0x1000
  add edi, 4
  loop .fill
  mov dword [0x10000], 0x11003
  mov eax, 0x10000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  mov ecx, 20
  mov edx, 0x300003
.poke:
  xor edx, 4
  mov [0x11000 + 0x300*4], edx
  mov eax, [0x300000]
  dec ecx
  jnz .poke
  hlt`;
    const { bare, bt } = both(src);
    expect(bt.regs).toEqual(bare.regs);
    const s = bt.hv.bt!;
    expect(s.adaptive).toBe(1);
    // Write 1's fault is the first touch of the page table's own page, which makes it a page-table page
    // then; writes 2 and 3 fault as page-table writes (ADAPT_AFTER = 2), and the other 17 are callouts
    // that write without a fault.
    expect(bt.hv.traps!['page-table write']).toBe(17);
    expect(bt.hv.shadow!.emulatedWrites).toBe(20);
    const te = runUnder('trap-emulate', { mode: 'prot32', load: LOAD, code: bytes(src), maxSteps: 400_000 }).result;
    expect(te.regs).toEqual(bare.regs);
    expect(te.hv.shadow!.emulatedWrites).toBe(20);
    expect(te.hv.traps!['#PF']! - bt.hv.traps!['#PF']!).toBeGreaterThanOrEqual(17);
  });
});
