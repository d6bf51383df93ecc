/**
 * Guest-side setup shared by the generated oracle programs (nasm syntax): a GDT with ring-0 and
 * ring-3 code and data segments and a TSS, loaded with LGDT and LTR, and an IDT whose 32
 * exception vectors lead to 9-byte entry sequences that push a dummy error code where the CPU pushes none,
 * then the vector, then jump to a handler the program supplies.
 *
 * Selectors: 0x08 ring-0 code, 0x10 ring-0 data, 0x1b ring-3 code, 0x23 ring-3 data, 0x28 TSS.
 * The ring-0 stack pointer in the TSS is 0x90000.
 */

export const GDT = 0x500;
export const IDT = 0x800;
export const TSS = 0xc00;

export const hex = (n: number | bigint): string => '0x' + n.toString(16);

/** Stores of the GDT's 14 dwords (64-bit code segments when `long`), as `mov dword` lines. */
export function gdtStores(long: boolean): string[] {
  const code0 = long ? 0x00af9a00 : 0x00cf9a00;
  const code3 = long ? 0x00affa00 : 0x00cffa00;
  const gdt = [0, 0, 0xffff, code0, 0xffff, 0x00cf9200, 0xffff, code3, 0xffff, 0x00cff200, (TSS << 16) | 0x67, 0x8900, 0, 0];
  return gdt.map((v, i) => `  mov dword [${hex(GDT + i * 4)}], ${hex(v >>> 0)}`);
}

/** Instructions that build and load the GDT, TSS and IDT. Clobbers eax, ebx, ecx, edx. */
export function descriptorSetup(long: boolean): string[] {
  const out: string[] = [];
  const A = (s: string) => out.push('  ' + s);
  out.push(...gdtStores(long));
  A('lgdt [gdtr]');
  A(`mov dword [${hex(TSS + 4)}], 0x90000`); // ESP0 (32-bit TSS) or the low half of RSP0 (64-bit TSS)
  if (!long) A(`mov dword [${hex(TSS + 8)}], 0x10`); // SS0
  A(`mov word [${hex(TSS + 102)}], 104`); // I/O map base past the limit: no bitmap
  A('mov ax, 0x28');
  A('ltr ax');
  // 32 interrupt gates (type 0xE, P, DPL 0), 8 bytes each in protected mode and 16 in long mode.
  A('xor ecx, ecx');
  out.push('.idt_fill:');
  A('lea eax, [ecx*8+ecx+exception_entries]');
  A('mov edx, eax');
  A('and eax, 0xffff');
  A('or eax, 0x80000');
  if (long) {
    A('mov ebx, ecx');
    A('shl ebx, 4');
    A(`mov [rbx+${hex(IDT)}], eax`);
    A('and edx, 0xffff0000');
    A('or edx, 0x8e00');
    A(`mov [rbx+${hex(IDT + 4)}], edx`);
    A(`mov qword [rbx+${hex(IDT + 8)}], 0`);
  } else {
    A(`mov [ecx*8+${hex(IDT)}], eax`);
    A('and edx, 0xffff0000');
    A('or edx, 0x8e00');
    A(`mov [ecx*8+${hex(IDT + 4)}], edx`);
  }
  A('inc ecx');
  A('cmp ecx, 32');
  A('jne .idt_fill');
  A('lidt [idtr]');
  return out;
}

/** The entry sequences and the GDTR/IDTR images; `handler` is the label they jump to. */
export function descriptorData(long: boolean, handler: string): string[] {
  const out = ['align 16', 'exception_entries:'];
  const withError = new Set([8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);
  for (let v = 0; v < 32; v++) {
    out.push(withError.has(v) ? '  nop\n  nop' : '  push byte 0');
    out.push(`  push byte ${v}`, `  jmp near ${handler}`);
  }
  out.push('align 8', 'gdtr:', `  dw ${7 * 8 - 1}`, long ? `  dq ${hex(GDT)}` : `  dd ${hex(GDT)}`);
  out.push('align 8', 'idtr:', `  dw ${32 * (long ? 16 : 8) - 1}`, long ? `  dq ${hex(IDT)}` : `  dd ${hex(IDT)}`);
  return out;
}
