/**
 * Guest assembly shared by tests that run real long-mode code with rings (test support, not used
 * by the app). The GDT at 0x500 holds 0x08 ring-0 code (64-bit), 0x10 ring-0 data, 0x18 ring-3
 * code (64-bit), 0x20 ring-3 data and 0x28 a 64-bit TSS at 0xc00 whose RSP0 is 0x90000 (no I/O
 * bitmap); LGDT loads it from the program's `gdtr` label and LTR loads the TSS.
 */
export const GDT_TSS_SETUP = `
  mov dword [0x500], 0
  mov dword [0x504], 0
  mov dword [0x508], 0xffff
  mov dword [0x50c], 0x00af9a00
  mov dword [0x510], 0xffff
  mov dword [0x514], 0x00cf9200
  mov dword [0x518], 0xffff
  mov dword [0x51c], 0x00affa00
  mov dword [0x520], 0xffff
  mov dword [0x524], 0x00cff200
  mov dword [0x528], 0x0c000067
  mov dword [0x52c], 0x00008900
  mov dword [0x530], 0
  mov dword [0x534], 0
  lgdt [gdtr]
  mov dword [0xc04], 0x90000
  mov word [0xc66], 104
  mov ax, 0x28
  ltr ax`;

/** Stores a 64-bit interrupt gate (type 0xE, P, DPL 0, selector 0x08) to `label` in the IDT at 0x800. */
export const idtGate64 = (vector: number, label: string): string => `
  mov eax, ${label}
  mov word [0x800 + ${vector}*16], ax
  mov word [0x800 + ${vector}*16 + 2], 0x08
  mov word [0x800 + ${vector}*16 + 4], 0x8e00
  shr eax, 16
  mov word [0x800 + ${vector}*16 + 6], ax
  mov dword [0x800 + ${vector}*16 + 8], 0`;
