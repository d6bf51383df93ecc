/**
 * OS-level partitioning (issue 9, item 4): one small 32-bit kernel that runs several containers,
 * the contrast to virtual machines. Every container is a process (or several) of the same kernel:
 * they share the kernel's code, its data and its one UART driver, and are kept apart only by what
 * the kernel does for them:
 * - each process has its own page directory, so its private pages (data and stack, at the same
 *   linear addresses in every process) are its own frames; another process's frames are mapped in
 *   its address space only as the kernel's supervisor pages, so reading them faults (#PF) and the
 *   kernel kills the reader, and only it;
 * - each process lives in a namespace (its container): `getpid` answers the pid inside the
 *   container (the first process of every container sees pid 1), `gethostname` the container's
 *   name, and `write` tags each line with that name;
 * - what the one kernel owns stays shared: its version string (`uname`) and its tick counter
 *   (`ticks`, one per scheduler pass), which every container sees advance with the others' work.
 * And because they share the kernel, a kernel bug reachable from one container stops all of them:
 * `uname` copies to the pointer the caller gives without checking it (the bug), so `uname(NULL)`
 * makes the kernel write to the unmapped page 0 in ring 0; the #PF handler sees ring 0 and panics,
 * and every container stops with it.
 *
 * The system-call ABI (the lab's own numbers, not Linux's): INT 0x80 from ring 3, EAX the number,
 * EBX, ECX, EDX the arguments, the result in EAX (a negative value is −errno, with Linux's errno
 * numbers, include/uapi/asm-generic/errno-base.h and errno.h: EFAULT 14, EINVAL 22, ENOSYS 38).
 *
 * | EAX | call | arguments | result |
 * | --- | --- | --- | --- |
 * | 1 | write | EBX buffer, ECX length | ECX, or −EFAULT when the buffer is not the process's private memory; the kernel tags each line with the container's name |
 * | 2 | exit | EBX code | does not return |
 * | 3 | yield | | 0, once the round robin comes back to the process |
 * | 4 | getpid | | the pid inside the container |
 * | 5 | gethostname | EBX buffer, ECX length | 0 (16 bytes copied: the name, NUL-padded), −EINVAL when ECX < 16, −EFAULT for a bad buffer |
 * | 6 | uname | EBX buffer | 0; copies the kernel's version string to EBX WITHOUT checking the pointer (the bug) |
 * | 7 | ticks | | the kernel's tick counter |
 * | other | | | −ENOSYS |
 *
 * Memory. The kernel is linked and loaded at 0x100000 and maps the first 4 MiB one to one for
 * itself (supervisor only, page 0 left unmapped so that a NULL pointer faults), from one page table
 * every process shares (page-directory entry 0). The programs' code (`user_text`, a page of the
 * kernel's image) is mapped there too, user-accessible and read-only: one copy of the text for every
 * process, as an OS shares a program's text. Each process's private pages are the linear range
 * [U_DATA, U_TOP) = [0x400000, 0x402000) (data, then stack), mapped by its own page table
 * (page-directory entry 1) to frames the kernel takes in order from FRAMES (0x200000) and zeroes.
 * The kernel's writes go to COM1 (polling LSR.THRE, then THR: PC16550D datasheet) and into its log
 * buffer `log_buf` in memory (as printk's buffer), so that a run can be compared where ports cannot
 * be observed.
 *
 * Scheduling: round robin among the runnable processes, cooperative (`yield`, `exit`, or being
 * killed give the CPU away). The kernel has no timer, so no preemption: its clock, `ticks`, counts
 * the scheduler's passes. One kernel stack serves all, since the kernel never blocks inside a
 * system call: entering the kernel pushes the user's registers (a 56-byte frame), `yield` copies that
 * frame into the process's record, and resuming a process copies its record back onto the empty
 * kernel stack and returns with IRETD.
 *
 * Not in it, on purpose: freeing memory, more than eight processes, interrupts (IF stays 0), and
 * any exception other than #GP and #PF (another one from any ring panics: this kernel's programs
 * cause none).
 */

import { COMMAND_NUMBER, CT, ERRNO, FRAME_DWORDS, FRAMES, KERNEL_VERSION, KSTATE, LOG_SIZE, MAX_PROCS, PROC, PROC_STATE, SYSCALLS, U_DATA, U_TOP, type Command } from './layout.ts';

export { KERNEL_LOAD, FRAMES, U_DATA, U_TOP, KERNEL_VERSION, type Command } from './layout.ts';

export interface ContainerSpec {
  /** Its hostname, 1 to 15 letters, digits or '-'. */
  name: string;
  command: Command;
}

const NAME_RE = /^[a-z0-9-]{1,15}$/;

/** The `SYS_NAME equ N` lines of the system calls. */
function syscallEqus(): string {
  return Object.entries(SYSCALLS).map(([n, name]) => `SYS_${name.toUpperCase()} equ ${n}`).join('\n');
}

/** The container table at the end of the image: one record per container. */
function containerTable(cs: readonly ContainerSpec[]): string {
  return cs
    .map((c, i) => `ct${i}: db "${c.name}"                 ; its name (the hostname)
    times 16 - ($ - ct${i}) db 0
    dd CMD_${c.command.toUpperCase()}
    dd 0                            ; the last pid given inside it`)
    .join('\n');
}

/**
 * The kernel's assembly source, configured with its containers (one process each, started in the
 * table's order). The code is the same for every configuration; only the container table at the
 * end of the image differs.
 */
export function kernelSource(containers: readonly ContainerSpec[]): string {
  if (containers.length < 1 || containers.length > MAX_PROCS) throw new RangeError(`${containers.length} containers: from 1 to ${MAX_PROCS}`);
  for (const c of containers) if (!NAME_RE.test(c.name)) throw new RangeError(`container name '${c.name}': 1 to 15 of a-z, 0-9 and '-'`);
  if (new Set(containers.map((c) => c.name)).size !== containers.length) throw new RangeError('container names must differ');
  return `; ringos: one kernel, isolated user spaces (containers). Source: src/emu/hv/containers/kernel.ts
bits 32
org 0x100000

SEL_KCODE equ 0x08
SEL_KDATA equ 0x10
SEL_UCODE equ 0x1b              ; GDT entry 3, RPL 3
SEL_UDATA equ 0x23              ; GDT entry 4, RPL 3
SEL_TSS equ 0x28

COM1 equ 0x3f8                  ; the UART: THR to write, LSR at COM1 + 5
LSR_THRE equ 0x20               ; LSR bit 5: the transmit holding register is empty

FRAMES equ 0x${FRAMES.toString(16)}             ; frames the kernel hands out, in order
U_DATA equ 0x${U_DATA.toString(16)}             ; every process: its private data page here,
U_TOP equ 0x${U_TOP.toString(16)}              ; its stack page below this
PTE_P equ 1
PTE_W equ 2
PTE_U equ 4

${syscallEqus()}
NSYSCALLS equ ${Object.keys(SYSCALLS).length + 1}
EFAULT equ ${ERRNO.EFAULT}
EINVAL equ ${ERRNO.EINVAL}
ENOSYS equ ${ERRNO.ENOSYS}
CMD_RUN equ ${COMMAND_NUMBER.run}
CMD_PEEK equ ${COMMAND_NUMBER.peek}
CMD_CRASH equ ${COMMAND_NUMBER.crash}

; struct proc
P_STATE equ ${PROC.STATE}                   ; FREE, RUNNABLE, EXITED, KILLED
P_PID equ ${PROC.PID}                     ; the kernel's pid
P_NSPID equ ${PROC.NSPID}                   ; the pid inside its container
P_CT equ ${PROC.CT}                     ; its container's record
P_CR3 equ ${PROC.CR3}                    ; its page directory
P_EXIT equ ${PROC.EXIT}                   ; its exit code
P_SYSCALLS equ ${PROC.SYSCALLS}               ; system calls it made
P_FRAME equ ${PROC.FRAME}                  ; its saved user registers (the frame below)
PROC_SIZE equ ${PROC.SIZE}
MAX_PROCS equ ${MAX_PROCS}
RUNNABLE equ ${PROC_STATE.RUNNABLE}
EXITED equ ${PROC_STATE.EXITED}
KILLED equ ${PROC_STATE.KILLED}
; struct container
CT_NAME equ ${CT.NAME}
CT_CMD equ ${CT.CMD}
CT_NEXT_PID equ ${CT.NEXT_PID}
CT_SIZE equ ${CT.SIZE}
; kstate
K_RUNNING equ ${KSTATE.RUNNING}
K_IDLE equ ${KSTATE.IDLE}
K_PANIC equ ${KSTATE.PANIC}

; The frame a system call leaves on the kernel stack: what INT pushed (SS, ESP, EFLAGS, CS, EIP),
; then the user's registers the entry pushes (EAX ... EDI, DS, ES); ES is on top.
F_ES equ 0
F_DS equ 4
F_EBX equ 20
F_EDX equ 24
F_ECX equ 28
F_EAX equ 32
F_EIP equ 36
F_CS equ 40
F_EFLAGS equ 44
F_ESP equ 48
F_SS equ 52
FRAME_DWORDS equ ${FRAME_DWORDS}

start:
    cli
    mov eax, tss                  ; the TSS descriptor's base
    mov [gdt+0x2a], ax
    shr eax, 16
    mov [gdt+0x2c], al
    mov [gdt+0x2f], ah
    lgdt [gdt_desc]
    mov ax, SEL_KDATA
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov esp, kstack_top
    mov dword [tss+4], kstack_top ; TSS.ESP0: the one kernel stack
    mov word [tss+8], SEL_KDATA   ; TSS.SS0
    mov ax, SEL_TSS
    ltr ax
    call idt_init
    call uart_init
    mov esi, msg_boot
    call kputs

    ; the kernel's page table, shared by every process: 4 KiB .. 4 MiB one to one, supervisor only
    call alloc_frame
    mov [kernel_pt], eax
    mov edi, eax
    mov eax, 0x1000 | PTE_P | PTE_W   ; entry 0 stays 0: NULL is not mapped
    mov ecx, 1023
.map:
    add edi, 4
    mov [edi], eax
    add eax, 0x1000
    loop .map
    mov eax, user_text            ; the programs' text: user-accessible, read-only
    mov edi, [kernel_pt]
.text:
    mov edx, eax
    shr edx, 12
    mov ebx, eax
    or ebx, PTE_P | PTE_U
    mov [edi+edx*4], ebx
    add eax, 0x1000
    cmp eax, user_text_end
    jb .text

    ; one process per container
    mov esi, containers
    mov ecx, [ncontainers]
.spawn:
    push ecx
    call spawn
    pop ecx
    add esi, CT_SIZE
    loop .spawn

    mov eax, [procs+P_CR3]        ; paging on, in the first process's address space
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80010000            ; PG, and WP: read-only pages bind the kernel too
.paging_on:
    mov cr0, eax
    mov dword [kstate], K_RUNNING
    mov dword [cur_index], -1
    jmp schedule

; spawn: the first process of the container at ESI (its pid there is 1)
spawn:
    mov edi, [nprocs]
    imul edi, edi, PROC_SIZE
    add edi, procs
    inc dword [nprocs]
    mov eax, [nprocs]
    mov [edi+P_PID], eax          ; the kernel's pid: 1, 2, ...
    inc dword [esi+CT_NEXT_PID]
    mov eax, [esi+CT_NEXT_PID]
    mov [edi+P_NSPID], eax        ; its pid inside the container: 1 for the first
    mov [edi+P_CT], esi
    mov dword [edi+P_STATE], RUNNABLE
    ; its address space: a page directory of its own
    call alloc_frame
    mov [edi+P_CR3], eax
    mov ebx, eax
    mov eax, [kernel_pt]
    or eax, PTE_P | PTE_W | PTE_U ; entry 0: the kernel's table (its entries decide who may use a page)
    mov [ebx], eax
    call alloc_frame              ; entry 1: a page table of its own
    mov edx, eax
    or eax, PTE_P | PTE_W | PTE_U
    mov [ebx+4], eax
    call alloc_frame              ; U_DATA: its private data page
    or eax, PTE_P | PTE_W | PTE_U
    mov [edx], eax
    call alloc_frame              ; U_DATA + 4 KiB: its stack page
    or eax, PTE_P | PTE_W | PTE_U
    mov [edx+4], eax
    ; the user registers it starts with (IRETD to user_main in ring 3)
    mov dword [edi+P_FRAME+F_ES], SEL_UDATA
    mov dword [edi+P_FRAME+F_DS], SEL_UDATA
    mov eax, [esi+CT_CMD]
    mov [edi+P_FRAME+F_EBX], eax  ; EBX: the container's command
    mov dword [edi+P_FRAME+F_EIP], user_main
    mov dword [edi+P_FRAME+F_CS], SEL_UCODE
    mov dword [edi+P_FRAME+F_EFLAGS], 0x2
    mov dword [edi+P_FRAME+F_ESP], U_TOP
    mov dword [edi+P_FRAME+F_SS], SEL_UDATA
    push esi
    mov esi, msg_started
    call kputs
    call kput_proc
    mov esi, msg_nl
    call kputs
    pop esi
    ret

; alloc_frame: EAX = the next free frame, zeroed
alloc_frame:
    push edi
    push ecx
    mov eax, [next_frame]
    add dword [next_frame], 0x1000
    mov edi, eax
    push eax
    xor eax, eax
    mov ecx, 1024
    rep stosd
    pop eax
    pop ecx
    pop edi
    ret

; schedule: the next runnable process after the current one, round robin; never returns
schedule:
    mov esp, kstack_top           ; nothing of the previous process stays on the kernel stack
    mov ebx, [cur_index]
    mov ecx, [nprocs]
.next:
    inc ebx
    cmp ebx, [nprocs]
    jb .check
    xor ebx, ebx
.check:
    imul edi, ebx, PROC_SIZE
    add edi, procs
    cmp dword [edi+P_STATE], RUNNABLE
    je .run
    loop .next
    mov dword [kstate], K_IDLE    ; every process has ended
    mov esi, msg_idle
    call kputs
    jmp halt
.run:
    mov [cur_index], ebx
    mov [cur], edi
    inc dword [ticks]             ; the kernel's clock: one tick per pass
    mov eax, [edi+P_CR3]          ; its address space
    mov cr3, eax
    lea esi, [edi+P_FRAME]        ; its registers onto the kernel stack, and back to ring 3
    sub esp, FRAME_DWORDS * 4
    mov edi, esp
    mov ecx, FRAME_DWORDS
    rep movsd
    jmp resume

; INT 0x80: EAX the number, EBX ECX EDX the arguments; the result goes back in EAX
sys_entry:
    push eax
    push ecx
    push edx
    push ebx
    push ebp
    push esi
    push edi
    push ds
    push es
    mov ax, SEL_KDATA
    mov ds, ax
    mov es, ax
    mov edi, [cur]
    inc dword [edi+P_SYSCALLS]
    mov eax, [esp+F_EAX]
    cmp eax, NSYSCALLS
    jae sys_nosys
    jmp [sys_table+eax*4]
sys_nosys:
    mov eax, -ENOSYS
    jmp sys_return

sys_return:                       ; EAX: the result
    mov [esp+F_EAX], eax
resume:                           ; back to ring 3 with the registers on the kernel stack
    pop es
    pop ds
    pop edi
    pop esi
    pop ebp
    pop ebx
    pop edx
    pop ecx
    pop eax
    iretd

sys_write:                        ; write(EBX buffer, ECX length)
    mov esi, [esp+F_EBX]
    mov ecx, [esp+F_ECX]
    call access_ok
    jc .fault
    cmp byte [line_start], 0      ; a new line: tag it with the container's name
    je .text
    push esi
    mov esi, msg_open
    call kputs
    mov esi, [edi+P_CT]
    call kputs                    ; (CT_NAME is at offset 0)
    mov esi, msg_close
    call kputs
    pop esi
.text:
    jecxz .done
.byte:
    lodsb
    call putc
    loop .byte
.done:
    mov eax, [esp+F_ECX]
    jmp sys_return
.fault:
    mov eax, -EFAULT
    jmp sys_return

sys_exit:                         ; exit(EBX code)
    mov eax, [esp+F_EBX]
    mov [edi+P_EXIT], eax
    mov dword [edi+P_STATE], EXITED
    mov esi, msg_kernel
    call kputs
    call kput_proc
    mov esi, msg_exited
    call kputs
    mov eax, [edi+P_EXIT]
    call kput_dec
    mov esi, msg_nl
    call kputs
    jmp schedule

sys_yield:                        ; keep its registers (EAX = 0 when it resumes), run the next one
    mov dword [esp+F_EAX], 0
    mov esi, esp
    lea edi, [edi+P_FRAME]
    mov ecx, FRAME_DWORDS
    rep movsd
    jmp schedule

sys_getpid:                       ; the pid inside its container
    mov eax, [edi+P_NSPID]
    jmp sys_return

sys_gethostname:                  ; gethostname(EBX buffer, ECX length): the container's name
    mov eax, -EINVAL
    cmp dword [esp+F_ECX], 16
    jb sys_return
    mov esi, [esp+F_EBX]
    mov ecx, 16
    call access_ok
    mov eax, -EFAULT
    jc sys_return
    mov edi, [edi+P_CT]           ; CT_NAME is at offset 0
    xchg esi, edi
    rep movsb
    xor eax, eax
    jmp sys_return

sys_uname:                        ; uname(EBX buffer): THE BUG, the pointer is never checked
    mov edi, [esp+F_EBX]
    mov esi, version
    mov ecx, version_len
    rep movsb                     ; a ring-0 write wherever EBX points
    xor eax, eax
    jmp sys_return

sys_ticks:                        ; shared by every container: one kernel, one clock
    mov eax, [ticks]
    jmp sys_return

; access_ok: is [ESI, ESI + ECX) inside the caller's private pages? CF = 1 if not
access_ok:
    cmp esi, U_DATA
    jb .bad
    mov eax, U_TOP
    sub eax, esi                  ; bytes from ESI to U_TOP
    jbe .bad
    cmp ecx, eax
    ja .bad
    clc
    ret
.bad:
    stc
    ret

; #PF and #GP: the error code on the stack; the CS below EIP says which ring was interrupted
page_fault:
    mov ax, SEL_KDATA
    mov ds, ax
    mov es, ax
    mov dword [fault_vector], 14
    mov eax, cr2                  ; the address it could not reach
    mov [fault_addr], eax
    mov esi, msg_pf
    jmp fault
gp_fault:
    mov ax, SEL_KDATA
    mov ds, ax
    mov es, ax
    mov dword [fault_vector], 13
    mov esi, msg_gp
fault:                            ; ESI: what happened
    test dword [esp+8], 3         ; the interrupted CS's RPL: the ring it ran in
    jz panic
    mov edi, [cur]                ; ring 3: kill that process, and only it
    mov dword [edi+P_STATE], KILLED
    push esi
    mov esi, msg_kernel
    call kputs
    call kput_proc
    mov esi, msg_killed
    call kputs
    pop esi
    call kputs
    call kput_fault
    mov esi, msg_nl
    call kputs
    jmp schedule

panic:                            ; ring 0: the kernel itself faulted; every container stops
    mov dword [kstate], K_PANIC
    push esi
    mov esi, msg_panic
    call kputs
    pop esi
    call kputs
    mov esi, msg_ring0
    call kputs
    mov eax, [esp+4]              ; the kernel's EIP
    call kput_hex
    call kput_fault
    mov edi, [cur]
    test edi, edi
    jnz .serving
    mov esi, msg_at_boot
    call kputs
    jmp .stop
.serving:
    mov esi, msg_during
    call kputs
    call kput_proc
.stop:
    mov esi, msg_stop
    call kputs
halt:
    cli
    hlt
    jmp halt

unexpected:                       ; any other exception
    mov ax, SEL_KDATA
    mov ds, ax
    mov es, ax
    mov dword [kstate], K_PANIC
    mov esi, msg_unexpected
    call kputs
    jmp halt

kput_fault:                       ; ", address A" for a #PF, then ", error E" (the error code is on the faulting frame)
    cmp dword [fault_vector], 14
    jne .code
    mov esi, msg_addr
    call kputs
    mov eax, [fault_addr]
    call kput_hex
.code:
    mov esi, msg_error
    call kputs
    mov eax, [esp+4]              ; the error code, above this call's return address
    call kput_hex
    ret

; ---- the console: COM1 and the kernel log ----
uart_init:
    mov dx, COM1 + 1              ; IER: no UART interrupts
    xor al, al
    out dx, al
    mov dx, COM1 + 3              ; LCR: 8 data bits, no parity, 1 stop bit
    mov al, 3
    out dx, al
    mov byte [line_start], 1
    ret

putc:                             ; AL: one byte to COM1 and the log
    push edx
    push eax
    mov dx, COM1 + 5
.busy:
    in al, dx                     ; LSR
    test al, LSR_THRE
    jz .busy
    pop eax
    mov dx, COM1
    out dx, al                    ; THR
    mov edx, [log_len]
    cmp edx, LOG_SIZE
    jae .logged
    mov [log_buf+edx], al
    inc dword [log_len]
.logged:
    cmp al, 10
    sete [line_start]
    pop edx
    ret

kputs:                            ; ESI: a NUL-terminated string
    push eax
.next:
    lodsb
    test al, al
    jz .end
    call putc
    jmp .next
.end:
    pop eax
    ret

kput_hex:                         ; EAX as 0x and eight hex digits
    push ecx
    push esi
    mov esi, msg_0x
    call kputs
    mov ecx, 8
.digit:
    rol eax, 4
    push eax
    and al, 0xf
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 'a' - '9' - 1
.out:
    call putc
    pop eax
    loop .digit
    pop esi
    pop ecx
    ret

kput_dec:                         ; EAX as a decimal number
    push ebx
    push ecx
    push edx
    mov ebx, 10
    xor ecx, ecx
.div:
    xor edx, edx
    div ebx
    push edx
    inc ecx
    test eax, eax
    jnz .div
.put:
    pop eax
    add al, '0'
    call putc
    loop .put
    pop edx
    pop ecx
    pop ebx
    ret

kput_proc:                        ; EDI: a process, as "pid P (NAME, pid N inside)"
    push esi
    mov esi, msg_pid
    call kputs
    mov eax, [edi+P_PID]
    call kput_dec
    mov esi, msg_in
    call kputs
    mov esi, [edi+P_CT]
    call kputs
    mov esi, msg_inside
    call kputs
    mov eax, [edi+P_NSPID]
    call kput_dec
    mov esi, msg_inside_end
    call kputs
    pop esi
    ret

; ---- the IDT: #GP, #PF, INT 0x80 from ring 3; every other exception panics ----
idt_init:
    xor ecx, ecx
    mov eax, unexpected
    mov dx, 0x8e00                ; interrupt gate, DPL 0
.fill:
    call set_gate
    inc ecx
    cmp ecx, 32
    jb .fill
    mov ecx, 13
    mov eax, gp_fault
    call set_gate
    mov ecx, 14
    mov eax, page_fault
    call set_gate
    mov ecx, 0x80
    mov eax, sys_entry
    mov dx, 0xee00                ; interrupt gate, DPL 3: INT 0x80 allowed from ring 3
    call set_gate
    lidt [idt_desc]
    ret

set_gate:                         ; vector ECX → handler EAX, type and DPL in DX
    mov [idt+ecx*8], ax
    mov word [idt+ecx*8+2], SEL_KCODE
    mov [idt+ecx*8+4], dx
    push eax
    shr eax, 16
    mov [idt+ecx*8+6], ax
    pop eax
    ret

; ---- the programs (ring 3): one text, mapped read-only into every process ----
align 4096
user_text:
U_CMD equ U_DATA                  ; its private data page: the command,
U_ROUND equ U_DATA + 4            ; the round,
U_HOST equ U_DATA + 16            ; gethostname's buffer (16 bytes),
U_UNAME equ U_DATA + 32           ; uname's buffer (32 bytes),
U_LINE equ U_DATA + 64            ; the line it writes
PEEK_AT equ FRAMES + 0x3000       ; the first process's data page in physical memory (frames go in order)
ROUNDS equ 3

user_main:                        ; EBX: the container's command
    mov [U_CMD], ebx
    mov eax, SYS_GETPID
    int 0x80
    mov esi, s_pid
    call u_line_num               ; "pid N"
    mov eax, SYS_GETHOSTNAME
    mov ebx, U_HOST
    mov ecx, 16
    int 0x80
    mov esi, s_host
    mov edx, U_HOST
    call u_line_str               ; "hostname NAME"
    mov eax, SYS_UNAME
    mov ebx, U_UNAME
    int 0x80
    mov esi, s_kernel
    mov edx, U_UNAME
    call u_line_str               ; "kernel VERSION"
    mov dword [U_ROUND], 1
.round:
    mov eax, SYS_TICKS
    int 0x80
    mov esi, s_tick
    call u_line_num               ; "tick T"
    cmp dword [U_ROUND], 2
    jne .yield
    cmp dword [U_CMD], CMD_PEEK
    jne .crash
    mov esi, s_peek
    mov eax, PEEK_AT
    call u_line_hex
    mov eax, [PEEK_AT]            ; another process's page: here the kernel's, supervisor only
.crash:
    cmp dword [U_CMD], CMD_CRASH
    jne .yield
    mov esi, s_crash
    mov edx, s_empty
    call u_line_str
    mov eax, SYS_UNAME
    xor ebx, ebx                  ; NULL
    int 0x80
.yield:
    mov eax, SYS_YIELD
    int 0x80
    inc dword [U_ROUND]
    cmp dword [U_ROUND], ROUNDS
    jbe .round
    mov eax, SYS_EXIT
    xor ebx, ebx
    int 0x80

u_line_num:                       ; writes the label at ESI, then EAX in decimal
    mov edi, U_LINE
    push eax
    call u_copy
    pop eax
    mov ebx, 10
    xor ecx, ecx
.div:
    xor edx, edx
    div ebx
    add dl, '0'
    push edx
    inc ecx
    test eax, eax
    jnz .div
.put:
    pop eax
    stosb
    loop .put
    jmp u_write

u_line_hex:                       ; writes the label at ESI, then EAX as 0x and eight hex digits
    mov edi, U_LINE
    push eax
    call u_copy
    pop eax
    mov byte [edi], '0'
    mov byte [edi+1], 'x'
    add edi, 2
    mov ecx, 8
.digit:
    rol eax, 4
    mov edx, eax
    and edx, 0xf
    mov dl, [hex_digits+edx]
    mov [edi], dl
    inc edi
    loop .digit
    jmp u_write

u_line_str:                       ; writes the label at ESI, then the string at EDX
    mov edi, U_LINE
    call u_copy
    mov esi, edx
    call u_copy
u_write:                          ; ends the line at EDI and writes it
    mov byte [edi], 10
    inc edi
    mov eax, SYS_WRITE
    mov ebx, U_LINE
    mov ecx, edi
    sub ecx, ebx
    int 0x80
    ret

u_copy:                           ; copies the string at ESI to EDI, without its NUL
    lodsb
    test al, al
    jz .end
    stosb
    jmp u_copy
.end:
    ret

s_pid: db "pid ", 0
s_host: db "hostname ", 0
s_kernel: db "kernel ", 0
s_tick: db "tick ", 0
s_peek: db "reading the first process's page at ", 0
s_crash: db "uname(NULL)", 0
s_empty: db 0
hex_digits: db "0123456789abcdef"
align 4096
user_text_end:

; ---- the kernel's data ----
kdata:
version: db "${KERNEL_VERSION}", 0
version_len equ $ - version
msg_boot: db "kernel: ${KERNEL_VERSION} booting", 10, 0
msg_started: db "kernel: started ", 0
msg_kernel: db "kernel: ", 0
msg_pid: db "pid ", 0
msg_in: db " (", 0
msg_inside: db ", pid ", 0
msg_inside_end: db " inside)", 0
msg_exited: db " exited with code ", 0
msg_killed: db " killed: ", 0
msg_pf: db "page fault", 0
msg_gp: db "general protection fault", 0
msg_addr: db ", address ", 0
msg_error: db ", error ", 0
msg_0x: db "0x", 0
msg_panic: db "kernel panic: ", 0
msg_ring0: db " in ring 0 at ", 0
msg_during: db ", serving ", 0
msg_at_boot: db ", while booting", 0
msg_stop: db 10, "kernel: halted; every container stops", 10, 0
msg_idle: db "kernel: no process left; halted", 10, 0
msg_unexpected: db "kernel panic: unexpected exception; halted", 10, 0
msg_open: db "[", 0
msg_close: db "] ", 0
msg_nl: db 10, 0

sys_table:
    dd sys_nosys, sys_write, sys_exit, sys_yield, sys_getpid, sys_gethostname, sys_uname, sys_ticks

ncontainers: dd ${containers.length}               ; entries in the container table (at the image's end)
kstate: dd 0                      ; BOOTING, RUNNING, IDLE, PANIC
ticks: dd 0
nprocs: dd 0
cur: dd 0                         ; the current process's record
cur_index: dd 0
next_frame: dd FRAMES
kernel_pt: dd 0
fault_vector: dd 0
fault_addr: dd 0
line_start: db 0
align 4
log_len: dd 0
procs: times MAX_PROCS * PROC_SIZE db 0

LOG_SIZE equ ${LOG_SIZE}
log_buf: times LOG_SIZE db 0
kdata_end:

align 8
gdt: dq 0
    dq 0x00cf9a000000ffff         ; 0x08 kernel code
    dq 0x00cf92000000ffff         ; 0x10 kernel data
    dq 0x00cffa000000ffff         ; 0x18 user code (DPL 3)
    dq 0x00cff2000000ffff         ; 0x20 user data (DPL 3)
    dq 0x0000890000000067         ; 0x28 the TSS (its base set at boot)
gdt_desc: dw 47
    dd gdt
idt: times 0x81 * 8 db 0
idt_desc: dw 0x81 * 8 - 1
    dd idt
tss: times 104 db 0
align 16
kstack: times 4096 db 0
kstack_top:

containers:                       ; the container table, last: the only part that differs between configurations
${containerTable(containers)}
containers_end:
`;
}
