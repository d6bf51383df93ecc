/**
 * Guest code for the PCI device tests (dma-engine.test.ts, nic.test.ts): the pieces every driver
 * there starts with, written once. 32-bit flat code for the lab's assembler; configuration space is
 * reached through mechanism #1 (0xCF8 / 0xCFC).
 */
import { CFG, CMD } from './pci.ts';

/**
 * Guest code: a flat GDT at 0x500 (code 0x08, data 0x10), `lgdt [gdtr]`, and an interrupt gate at
 * `vector` of the IDT at 0x800 to the label `on_msi`, `lidt [idtr]` (the program defines the labels).
 */
export function gdtAndMsiGate(vector: number): string {
  return `  ; flat GDT at 0x500 and an interrupt gate for the MSI vector in the IDT at 0x800
  mov dword [0x500], 0
  mov dword [0x504], 0
  mov dword [0x508], 0x0000ffff
  mov dword [0x50c], 0x00cf9a00
  mov dword [0x510], 0x0000ffff
  mov dword [0x514], 0x00cf9200
  lgdt [gdtr]
  mov eax, on_msi
  mov word [0x800 + ${vector}*8], ax
  mov word [0x800 + ${vector}*8 + 2], 0x08
  mov word [0x800 + ${vector}*8 + 4], 0x8e00
  shr eax, 16
  mov word [0x800 + ${vector}*8 + 6], ax
  lidt [idtr]
`;
}

/** The GDTR and IDTR images `gdtAndMsiGate` loads (labels `gdtr`, `idtr`): the GDT at 0x500 (3 entries), a full IDT at 0x800. */
export const DESCRIPTOR_POINTERS = `gdtr:
  dw 23
  dd 0x500
idtr:
  dw 0x100*8-1
  dd 0x800
`;

/**
 * Finds function 0 of the device with `vendor` and `device` on bus 0, storing its device number at
 * `result` (all ones and HLT if absent); leaves ESI = its CONFIG_ADDRESS (enable bit set); sizes
 * BAR0 (its size at `result + 4`) and places it at `barBase`. `io`: BAR0 is an I/O BAR, whose
 * address bits start at bit 2 (a memory BAR's at bit 4).
 */
export function findAndPlaceBar0(vendor: number, device: number, result: number, barBase: number, io = false): string {
  return `  ; scan bus 0, function 0 of devices 0..31, for the vendor and device ID
  xor ebx, ebx
scan:
  mov eax, ebx
  shl eax, 11
  or eax, 0x80000000
  mov dx, 0xcf8
  out dx, eax
  mov dx, 0xcfc
  in eax, dx
  cmp eax, ${((device << 16) | vendor) >>> 0}
  je found
  inc ebx
  cmp ebx, 32
  jb scan
  mov dword [${result}], 0xffffffff
  hlt
found:
  mov [${result}], ebx
  mov esi, ebx
  shl esi, 11
  or esi, 0x80000000
  ; size BAR0: write all ones, read back the mask, size = -(mask & ~${io ? '0x3' : '0xF'})
  mov eax, esi
  or eax, ${CFG.BAR0}
  mov dx, 0xcf8
  out dx, eax
  mov dx, 0xcfc
  mov eax, 0xffffffff
  out dx, eax
  in eax, dx
  and eax, ${io ? '0xfffffffc' : '0xfffffff0'}
  neg eax
  mov [${result + 4}], eax
  ; place it (the base is aligned to the BAR's size)
  mov eax, ${barBase}
  out dx, eax
`;
}

/**
 * Guest code (32-bit, after findAndPlaceBar0: ESI = the function's CONFIG_ADDRESS with enable)
 * that walks the capabilities list from 0x34 to ID 5, stores the capability's offset at `found`
 * (all ones and HLT if there is none) and programs the MSI capability: address 0xFEE00000, upper 0,
 * data `vector` (fixed, edge), enable.
 */
export function msiSetup(vector: number, found: number): string {
  return `  ; capabilities pointer
  mov eax, esi
  or eax, ${CFG.CAP_PTR}
  mov dx, 0xcf8
  out dx, eax
  mov dx, 0xcfc
  in al, dx
  movzx ecx, al
cap_next:
  test ecx, ecx
  jz no_msi
  mov eax, esi
  or eax, ecx
  mov dx, 0xcf8
  out dx, eax
  mov dx, 0xcfc
  in eax, dx
  cmp al, 0x05
  je cap_msi
  movzx ecx, ah
  jmp cap_next
no_msi:
  mov dword [${found}], 0xffffffff
  hlt
cap_msi:
  mov [${found}], ecx
  ; message address 0xFEE00000: destination APIC ID 0, physical, no redirection hint
  mov eax, esi
  or eax, ecx
  add eax, 4
  mov dx, 0xcf8
  out dx, eax
  mov dx, 0xcfc
  mov eax, 0xfee00000
  out dx, eax
  ; upper address 0
  mov eax, esi
  or eax, ecx
  add eax, 8
  mov dx, 0xcf8
  out dx, eax
  mov dx, 0xcfc
  xor eax, eax
  out dx, eax
  ; data: the vector, fixed delivery, edge
  mov eax, esi
  or eax, ecx
  add eax, 12
  mov dx, 0xcf8
  out dx, eax
  mov dx, 0xcfc
  mov ax, ${vector}
  out dx, ax
  ; message control (the word at +2): set MSI enable
  mov eax, esi
  or eax, ecx
  mov dx, 0xcf8
  out dx, eax
  mov dx, 0xcfe
  in ax, dx
  or ax, 1
  out dx, ax`;
}

/** Guest code (ESI as findAndPlaceBar0 leaves it): sets `bits` in the command register (a word at 0x04). */
export function setCommand(bits: number): string {
  return `  ; the command register (a word at 0x04): ${[bits & CMD.IO ? 'I/O space' : '', bits & CMD.MEMORY ? 'memory space' : '', bits & CMD.BUS_MASTER ? 'bus master' : ''].filter((x) => x !== '').join(' and ')}
  mov eax, esi
  or eax, ${CFG.COMMAND}
  mov dx, 0xcf8
  out dx, eax
  mov dx, 0xcfc
  in ax, dx
  or ax, ${bits}
  out dx, ax
`;
}

/**
 * Guest code of an NVMe driver (nvme.ts): `clear_cmd` zeroes the 64-byte command at `cmdbuf`, and
 * `submit` copies it into the submission queue of the queue pair whose record EBP points at (SQ
 * base, SQ tail, SQ size, CQ base, CQ head, CQ size, expected phase, SQ tail doorbell address, CQ
 * head doorbell address: 9 dwords), rings the SQ tail doorbell, waits for the completion at the CQ
 * head whose phase tag is the expected one (flipping the expectation at each wrap), releases it
 * with the CQ head doorbell and returns its DW3 (command ID, phase, status) in EAX.
 */
export function nvmeSubmit(cmdbuf: number): string {
  return `clear_cmd:
  push edi
  push ecx
  push eax
  mov edi, ${cmdbuf}
  mov ecx, 16
  xor eax, eax
  rep stosd
  pop eax
  pop ecx
  pop edi
  ret

; submits the command at CMDBUF on the queue pair whose record EBP points at and waits for its
; completion (the phase tag): EAX = the completion's DW3 (command ID, phase, status)
submit:
  push esi
  push edi
  push ecx
  push edx
  mov edi, [ebp + 4]
  shl edi, 6
  add edi, [ebp]
  mov esi, ${cmdbuf}
  mov ecx, 16
  rep movsd
  mov eax, [ebp + 4]
  inc eax
  cmp eax, [ebp + 8]
  jb sq_nowrap
  xor eax, eax
sq_nowrap:
  mov [ebp + 4], eax
  mov edx, [ebp + 28]
  mov [edx], eax
  mov edx, [ebp + 16]
  shl edx, 4
  add edx, [ebp + 12]
wait_cqe:
  mov eax, [edx + 12]
  shr eax, 16
  and eax, 1
  cmp eax, [ebp + 24]
  jne wait_cqe
  mov eax, [edx + 12]
  mov ecx, [ebp + 16]
  inc ecx
  cmp ecx, [ebp + 20]
  jb cq_nowrap
  xor ecx, ecx
  xor dword [ebp + 24], 1
cq_nowrap:
  mov [ebp + 16], ecx
  mov edx, [ebp + 32]
  mov [edx], ecx
  pop edx
  pop ecx
  pop edi
  pop esi
  ret
`;
}
