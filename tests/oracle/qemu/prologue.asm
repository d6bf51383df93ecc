; Multiboot prologue for the QEMU TCG oracle. QEMU's `-kernel` loads this flat image (the multiboot
; "a.out kludge", header flag bit 16) at BASE and enters `start` in 32-bit protected mode with flat
; segments. The prologue puts the machine as close as it can to the start state of `lab exec`
; (issue 2, item 4) and jumps to the program:
;   - RAM zeroed except 0xA0000-0xFFFFF (VGA hole and BIOS ROM) and this prologue's own code
;   - the program (appended to this image at `payload`) copied to its load address
;   - CS selector 8, the other segment registers 16, flat; then GDTR and IDTR base 0 limit 0xffff
;     over zeroed memory
;   - prot32: CR0 = 0x60000011; long64: the exec page tables at 0x1000-0x3fff, CR4.PAE, EFER.LME,
;     CR3 = 0x1000, CR0 = 0x80010001, CS.L = 1
;   - ESP = 0x80000, EFLAGS = 2, the other general registers 0
; Before the jump it writes MARKER to the debug console port so the client knows the program runs.
; The client patches the parameter block (mode, load, len) at offset 32 and appends the program.

bits 32
BASE        equ 0x3ff0000
RAM_END     equ 0x4000000
DEBUGCON    equ 0x4e9
MARKER      equ 'S'

org BASE
mb_header:
  dd 0x1BADB002                    ; multiboot magic
  dd 0x00010000                    ; flags: bit 16, the address fields below are valid
  dd -(0x1BADB002 + 0x00010000)    ; checksum
  dd mb_header                     ; header_addr
  dd BASE                          ; load_addr
  dd 0                             ; load_end_addr: 0 = the whole file
  dd 0                             ; bss_end_addr: none
  dd start                         ; entry_addr
params:
p_mode: dd 0                       ; 0 = prot32, 1 = long64
p_load: dd 0x100000
p_len:  dd 0
        dd 0

align 8
gdt:
  dq 0
  dq 0x00cf9b000000ffff            ; 8: code, execute/read accessed, D = 1, G = 1, base 0, limit 4 GiB
  dq 0x00cf93000000ffff            ; 16: data, read/write accessed, B = 1, G = 1
gdt_end:
CODE64      equ 0x00af9b000000ffff ; code with L = 1, D = 0 (SDM Vol. 3 3.4.5)
gdtr:
  dw gdt_end - gdt - 1
  dd gdt
exec_gdtr:
  dw 0xffff
  dd 0
far64:
  dd start64
  dw 8

start:
  cli
  cld
  lgdt [gdtr]
  jmp 8:reload
reload:
  mov ax, 16
  mov ds, ax
  mov es, ax
  mov fs, ax
  mov gs, ax
  mov ss, ax
  mov esp, BASE

  ; zero RAM below the VGA hole and from 1 MiB up to this image
  xor eax, eax
  xor edi, edi
  mov ecx, 0xA0000 / 4
  rep stosd
  mov edi, 0x100000
  mov ecx, (BASE - 0x100000) / 4
  rep stosd

  ; copy the program, then zero the copy source and everything above it
  mov esi, payload
  mov edi, [p_load]
  mov ecx, [p_len]
  rep movsb
  mov edi, payload
  mov ecx, RAM_END
  sub ecx, edi
  rep stosb

  lidt [exec_gdtr]
  cmp dword [p_mode], 1
  je long64

  ; prot32: CR0 = CD | NW | ET | PE
  mov eax, 0x60000011
  mov cr0, eax
  lgdt [exec_gdtr]
  mov dx, DEBUGCON
  mov al, MARKER
  out dx, al
  xor eax, eax
  xor ebx, ebx
  xor ecx, ecx
  xor edx, edx
  xor esi, esi
  xor edi, edi
  xor ebp, ebp
  ; EFLAGS = 2 last (the XORs above set ZF and PF); MOV leaves the flags alone
  mov esp, 0x80000 - 4
  mov dword [esp], 2
  popfd
  mov dword [0x80000 - 4], 0
  jmp dword [p_load]

long64:
  mov eax, [p_load]
  mov [p_load64], eax
  ; the exec page tables: PML4[0] -> PDPT, PDPT[0] -> PD, PD identity-maps 1 GiB with 2 MiB pages
  mov dword [0x1000], 0x2003
  mov dword [0x2000], 0x3003
  mov edi, 0x3000
  mov eax, 0x83                    ; P, R/W, PS
.pd:
  mov [edi], eax
  add eax, 0x200000
  add edi, 8
  cmp edi, 0x4000
  jb .pd
  mov eax, 0x20                    ; CR4.PAE
  mov cr4, eax
  mov eax, 0x1000
  mov cr3, eax
  mov ecx, 0xC0000080              ; IA32_EFER
  rdmsr
  or eax, 0x100                    ; LME
  wrmsr
  ; make descriptor 8 a 64-bit code segment; CS keeps its cached 32-bit descriptor until the far jump
  mov dword [gdt + 8], CODE64 & 0xffffffff
  mov dword [gdt + 12], CODE64 >> 32
  ; EFLAGS = 2 while paging is off (so the stack store sets no dirty bit); from here on only
  ; instructions that leave the flags alone (MOV, LGDT, OUT, JMP)
  mov esp, 0x80000 - 4
  mov dword [esp], 2
  popfd
  mov dword [0x80000 - 4], 0
  mov eax, 0x80010001              ; PG | WP | PE
  mov cr0, eax
  jmp far [far64]

bits 64
start64:
  lgdt [exec_gdtr]
  mov dx, DEBUGCON
  mov al, MARKER
  out dx, al
  mov eax, 0
  mov ebx, 0
  mov ecx, 0
  mov edx, 0
  mov esi, 0
  mov edi, 0
  mov ebp, 0
  mov r8d, 0
  mov r9d, 0
  mov r10d, 0
  mov r11d, 0
  mov r12d, 0
  mov r13d, 0
  mov r14d, 0
  mov r15d, 0
  mov esp, 0x80000
  jmp [rel p_load64]

align 8
p_load64: dq 0                     ; p_load, for the 64-bit indirect jump

align 16
payload:
