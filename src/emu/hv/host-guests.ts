/**
 * Guest programs (assembly text) for the multi-VM host's tests (host.test.ts, the command line's
 * tests): PC-platform set-up, printing on COM1, a guest that halts between timer ticks, one that
 * spins with interrupts off half of the time, and a busy loop.
 */
/** Both 8259As initialised (master base 0x20, slave 0x28), only IRQ 0 unmasked; PIT counter 0 in mode 2 with `count`. */
export function pcInit(count: number): string[] {
  return [
    'mov al, 0x11', 'out 0x20, al', 'mov al, 0x20', 'out 0x21, al', 'mov al, 4', 'out 0x21, al', 'mov al, 1', 'out 0x21, al',
    'mov al, 0x11', 'out 0xa0, al', 'mov al, 0x28', 'out 0xa1, al', 'mov al, 2', 'out 0xa1, al', 'mov al, 1', 'out 0xa1, al',
    'mov al, 0xfe', 'out 0x21, al', 'mov al, 0xff', 'out 0xa1, al',
    'mov al, 0x34', 'out 0x43, al', `mov al, ${count & 0xff}`, 'out 0x40, al', `mov al, ${count >> 8}`, 'out 0x40, al',
  ];
}

/** Prints `s` on COM1 (THR at 0x3F8). */
export const uartPrint = (s: string): string[] => ['mov dx, 0x3f8', ...[...s].flatMap((c) => [`mov al, ${c.charCodeAt(0)}`, 'out dx, al'])];

/** A 32-bit guest: timer ticks (vector 0x20) counted at [0x500]; HLT between ticks until 5 ticks, then prints and ends with CLI; HLT. */
export const HALTER = [
  // GDT[1] flat 32-bit code (the start state's GDT is at 0); IDT gate 0x20 (IDT also at 0).
  'mov dword [0x8], 0x0000ffff', 'mov dword [0xc], 0x00cf9b00',
  'mov eax, tick', 'mov word [0x100], ax', 'mov word [0x102], 0x8', 'mov word [0x104], 0x8e00', 'shr eax, 16', 'mov word [0x106], ax',
  ...pcInit(1000),
  ...uartPrint('hi '),
  'sti',
  'wait: hlt', 'cmp dword [0x500], 5', 'jb wait',
  ...uartPrint('ticks'),
  'cli', 'hlt',
  'tick: inc dword [0x500]', 'push eax', 'mov al, 0x20', 'out 0x20, al', 'pop eax', 'iretd',
].join('\n');

/** The hypercall instruction of each vendor (VMCALL on VT-x, VMMCALL on AMD-V). */
export const hypercallInsn = (under: 'vtx' | 'svm'): string => (under === 'svm' ? 'vmmcall' : 'vmcall');

/** A 64-bit guest that never halts: ticks counted at [0x600] with IF = 0 half of the time (interrupt windows), "b" per 4 ticks, exit hypercall (`hc`) at 12 ticks. */
export const spinner = (hc = 'vmcall'): string => [
  // GDT[1] 64-bit code, GDT[2] data (IRETQ reloads SS); IDT at 0x5000 (16-byte gates).
  'mov dword [0x8], 0x0000ffff', 'mov dword [0xc], 0x00af9b00', 'mov dword [0x10], 0x0000ffff', 'mov dword [0x14], 0x00cf9300',
  'mov rax, tick', 'mov word [0x5200], ax', 'mov word [0x5202], 0x8', 'mov word [0x5204], 0x8e00', 'shr rax, 16', 'mov word [0x5206], ax',
  'shr rax, 16', 'mov dword [0x5208], eax', 'mov dword [0x520c], 0',
  'mov word [0x4f00], 0xfff', 'mov dword [0x4f02], 0x5000', 'mov dword [0x4f06], 0', 'lidt [0x4f00]',
  ...pcInit(700),
  'spin: cli', 'mov ecx, 40', 'a: dec ecx', 'jnz a', 'sti', 'mov ecx, 40', 'b: dec ecx', 'jnz b',
  'cmp dword [0x600], 12', 'jb spin',
  'mov eax, 1', 'mov ebx, 7', hc,
  'tick: push rax', 'push rdx', 'inc dword [0x600]', 'mov eax, [0x600]', 'test eax, 3', 'jnz t1', 'mov dx, 0x3f8', 'mov al, 0x62', 'out dx, al',
  't1: mov al, 0x20', 'out 0x20, al', 'pop rdx', 'pop rax', 'iretq',
].join('\n');
export const SPINNER = spinner();

/** Loops forever printing its letter through the print hypercall every 500 iterations. */
export const busy = (letter: string, hc = 'vmcall'): string => ['l: mov ecx, 500', 'w: dec ecx', 'jnz w', 'mov eax, 0', `mov ebx, ${letter.charCodeAt(0)}`, hc, 'jmp l'].join('\n');
