/**
 * One small 32-bit guest kernel in two versions from one template (issue 9, item 3): `unmodified`,
 * a kernel for the bare processor that runs in ring 0 and uses the privileged instructions directly,
 * and `paravirtualized`, the same kernel ported to the Xen interface (pv/abi.ts) as Linux and the
 * BSDs were ported to Xen: every privileged operation replaced by its hypercall or by a write to
 * the shared info page. `kernelDiff` gives the lines that changed, the "kernel diff" of the port.
 *
 * What the kernel does, in both versions:
 * 1. masks interrupts (CLI | vcpu_info.evtchn_upcall_mask = 1);
 * 2. sets up its segments (LGDT of its own GDT | Xen's flat ring-1 and ring-3 selectors) and its
 *    system-call entry, INT 0x80 from ring 3 (an IDT gate and LIDT | set_trap_table) with its
 *    kernel stack for traps from ring 3 (TSS ESP0 and LTR | stack_switch);
 * 3. prints through the console (OUT to port 0xE9, a byte at a time | console_io, one hypercall);
 * 4. builds a page table mapping the first 4 MiB one-to-one, the user program's two pages user-
 *    accessible, and loads it (plain stores into the table, MOV CR3 and CR0.PG | the tables made
 *    read-only with update_va_mapping, pinned with mmuext_op, all 1025 entries written by ONE
 *    mmu_update of 1025 requests, and MMUEXT_NEW_BASEPTR);
 * 5. enables interrupts (STI | clears the upcall mask, and if an event is pending makes a
 *    hypercall so that it is delivered) and enters its user program in ring 3 with IRET;
 * 6. serves two system calls: write (prints the user's buffer) and exit (records the code), then
 *    stops (CLI; HLT | sched_op SCHEDOP_shutdown).
 * Its visible results: the console text, and the words `syscalls` and `exit_code` in its data.
 */

export type KernelVersion = 'unmodified' | 'paravirtualized';

/** Where the kernel is loaded and linked (its `org`). */
export const KERNEL_LOAD = 0x100000;

/** A run of lines both versions share, or a place where they differ. */
type Part = string | { unmodified: string; paravirtualized: string };

const TEMPLATE: Part[] = [
  `; A small kernel: paging, a ring-3 program, two system calls, a console.
bits 32
org 0x100000
`,
  {
    unmodified: `KERNEL_CS equ 0x08
KERNEL_DS equ 0x10
USER_CS equ 0x1b
USER_DS equ 0x23
PT_SELF equ 2                   ; its page tables mapped writable
CONSOLE_PORT equ 0xe9`,
    paravirtualized: `KERNEL_CS equ 0xe019              ; FLAT_RING1_CS: the kernel runs in ring 1
KERNEL_DS equ 0xe021              ; FLAT_RING1_DS
USER_CS equ 0xe02b                ; FLAT_RING3_CS
USER_DS equ 0xe033                ; FLAT_RING3_DS
PT_SELF equ 0                   ; page tables mapped read-only (the hypervisor's rule)
HYPERVISOR_set_trap_table equ 0
HYPERVISOR_mmu_update equ 1
HYPERVISOR_stack_switch equ 3
HYPERVISOR_update_va_mapping equ 14
HYPERVISOR_xen_version equ 17
HYPERVISOR_console_io equ 18
HYPERVISOR_mmuext_op equ 26
HYPERVISOR_sched_op equ 29
MMUEXT_PIN_L1_TABLE equ 0
MMUEXT_PIN_L2_TABLE equ 1
MMUEXT_NEW_BASEPTR equ 5
UVMF_INVLPG equ 2
CONSOLEIO_write equ 0
SCHEDOP_shutdown equ 2
DOMID_SELF equ 0x7ff0`,
  },
  `SYS_WRITE equ 1
SYS_EXIT equ 2

start:`,
  {
    unmodified: `    cli`,
    paravirtualized: `    mov eax, [esi+36]             ; start_info.shared_info
    mov [shared_info], eax
    mov byte [eax+1], 1           ; vcpu_info[0].evtchn_upcall_mask: events off`,
  },
  {
    unmodified: `    mov eax, tss                  ; the TSS descriptor's base
    mov [gdt+0x2a], ax
    shr eax, 16
    mov [gdt+0x2c], al
    mov [gdt+0x2f], ah
    lgdt [gdt_desc]`,
    paravirtualized: `    ; (the hypervisor's GDT holds the flat segments: no LGDT)`,
  },
  `    mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, kstack_top`,
  {
    unmodified: `    mov eax, syscall_entry        ; IDT[0x80]: a trap gate of DPL 3
    mov [idt+0x400], ax
    mov word [idt+0x402], KERNEL_CS
    mov word [idt+0x404], 0xef00
    shr eax, 16
    mov [idt+0x406], ax
    lidt [idt_desc]
    mov dword [tss+4], kstack_top ; TSS.ESP0
    mov word [tss+8], KERNEL_DS   ; TSS.SS0
    mov ax, 0x28
    ltr ax`,
    paravirtualized: `    mov eax, HYPERVISOR_set_trap_table
    mov ebx, trap_table
    int 0x82
    mov eax, HYPERVISOR_stack_switch
    mov ebx, KERNEL_DS
    mov ecx, kstack_top
    int 0x82`,
  },
  `    mov esi, msg_boot
    mov ecx, msg_boot_len
    call print
`,
  {
    unmodified: `    ; build the page table`,
    paravirtualized: `    ; make the two table pages read-only, then pin them
    mov eax, HYPERVISOR_update_va_mapping
    mov ebx, page_dir
    mov ecx, page_dir + 1
    mov edx, UVMF_INVLPG
    int 0x82
    mov eax, HYPERVISOR_update_va_mapping
    mov ebx, page_table
    mov ecx, page_table + 1
    mov edx, UVMF_INVLPG
    int 0x82
    mov eax, HYPERVISOR_mmuext_op
    mov ebx, pin_ops
    mov ecx, 2
    xor edx, edx
    mov esi, DOMID_SELF
    int 0x82
    ; queue the page table's entries`,
  },
  `    xor ecx, ecx                  ; frame number
.pte:
    mov eax, ecx
    shl eax, 12
    mov edx, eax
    or edx, 3                     ; present, writable
    cmp eax, user_code
    je .user
    cmp eax, user_stack
    jne .kernel
.user:
    or edx, 4                     ; user
.kernel:
    cmp eax, page_dir
    je .table
    cmp eax, page_table
    jne .store
.table:
    and edx, 0xfffffffd
    or edx, PT_SELF
.store:`,
  {
    unmodified: `    mov [page_table+ecx*4], edx`,
    paravirtualized: `    mov edi, ecx
    shl edi, 4
    lea eax, [page_table+ecx*4]
    mov [mmu_reqs+edi], eax       ; ptr: the entry's machine address
    mov [mmu_reqs+edi+8], edx     ; val`,
  },
  `    inc ecx
    cmp ecx, 1024
    jb .pte`,
  {
    unmodified: `    mov dword [page_dir], page_table + 7
    mov eax, page_dir
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80010000            ; PG, WP
    mov cr0, eax`,
    paravirtualized: `    mov dword [mmu_reqs+0x4000], page_dir
    mov dword [mmu_reqs+0x4008], page_table + 7
    mov eax, HYPERVISOR_mmu_update
    mov ebx, mmu_reqs
    mov ecx, 1025                 ; all of them in one hypercall
    mov edx, mmu_done
    mov esi, DOMID_SELF
    int 0x82
    mov eax, HYPERVISOR_mmuext_op
    mov ebx, baseptr_op
    mov ecx, 1
    xor edx, edx
    mov esi, DOMID_SELF
    int 0x82`,
  },
  `    mov esi, msg_paging
    mov ecx, msg_paging_len
    call print`,
  {
    unmodified: `    sti`,
    paravirtualized: `    mov eax, [shared_info]
    mov byte [eax+1], 0           ; events on
    cmp byte [eax], 0             ; evtchn_upcall_pending?
    je .quiet
    mov eax, HYPERVISOR_xen_version ; any hypercall delivers it
    xor ebx, ebx
    int 0x82
.quiet:`,
  },
  `    push USER_DS                  ; enter the user program in ring 3
    push user_stack + 4096
    push 0x202
    push USER_CS
    push user_code
    iretd

syscall_entry:                    ; INT 0x80: EAX number, EBX and ECX arguments
    push ds
    push es
    push eax
    mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
    pop eax
    inc dword [syscalls]
    cmp eax, SYS_WRITE
    jne .not_write
    mov esi, ebx
    call print
    xor eax, eax
    jmp .done
.not_write:
    cmp eax, SYS_EXIT
    jne .unknown
    mov [exit_code], ebx
    mov esi, msg_exit
    mov ecx, msg_exit_len
    call print
    jmp stop
.unknown:
    mov eax, 0xffffffff
.done:
    pop es
    pop ds
    iretd

stop:`,
  {
    unmodified: `    cli
    hlt`,
    paravirtualized: `    mov eax, [shared_info]
    mov byte [eax+1], 1
    mov eax, HYPERVISOR_sched_op
    mov ebx, SCHEDOP_shutdown
    mov ecx, shutdown_reason
    int 0x82`,
  },
  `
print:                            ; ESI the text, ECX its length`,
  {
    unmodified: `.next:
    test ecx, ecx
    jz .out
    mov al, [esi]
    out CONSOLE_PORT, al
    inc esi
    dec ecx
    jmp .next
.out:
    ret`,
    paravirtualized: `    push ebx
    mov eax, HYPERVISOR_console_io
    mov ebx, CONSOLEIO_write
    mov edx, esi
    int 0x82
    pop ebx
    ret`,
  },
  `
msg_boot: db "kernel: up", 10
msg_boot_len equ $ - msg_boot
msg_paging: db "kernel: paging on", 10
msg_paging_len equ $ - msg_paging
msg_exit: db "kernel: the program exited", 10
msg_exit_len equ $ - msg_exit
syscalls: dd 0
exit_code: dd 0`,
  {
    unmodified: `align 8
gdt: dq 0
    dq 0x00cf9a000000ffff         ; 0x08 kernel code
    dq 0x00cf92000000ffff         ; 0x10 kernel data
    dq 0x00cffa000000ffff         ; 0x18 user code
    dq 0x00cff2000000ffff         ; 0x20 user data
    dq 0x0000890000000067         ; 0x28 the TSS (base set at boot)
gdt_desc: dw 47
    dd gdt
idt: times 2048 db 0
idt_desc: dw 2047
    dd idt
tss: times 104 db 0`,
    paravirtualized: `shared_info: dd 0
trap_table:
    db 0x80, 3                    ; vector 0x80, INT allowed from ring 3
    dw KERNEL_CS
    dd syscall_entry
    times 8 db 0                  ; the end (address 0)
pin_ops: dd MMUEXT_PIN_L1_TABLE, ((page_table - $$) >> 12) + 0x100, 0
    dd MMUEXT_PIN_L2_TABLE, ((page_dir - $$) >> 12) + 0x100, 0
baseptr_op: dd MMUEXT_NEW_BASEPTR, ((page_dir - $$) >> 12) + 0x100, 0
mmu_done: dd 0
shutdown_reason: dd 0             ; SHUTDOWN_poweroff
align 16
mmu_reqs: times 1025*16 db 0`,
  },
  `align 16
kstack: times 4096 db 0
kstack_top:

align 4096
page_dir: times 4096 db 0
page_table: times 4096 db 0

user_code:                        ; ring 3: sum 1..10, write, exit(sum)
    xor eax, eax
    mov ecx, 10
.sum:
    add eax, ecx
    loop .sum
    mov edi, eax
    mov eax, SYS_WRITE
    mov ebx, msg_user
    mov ecx, msg_user_len
    int 0x80
    mov eax, SYS_EXIT
    mov ebx, edi
    int 0x80
.hang:
    jmp .hang
msg_user: db "user: hello from ring 3", 10
msg_user_len equ $ - msg_user
align 4096
user_stack: times 4096 db 0
`,
];

/** The kernel's assembly source in one version. */
export function kernelSource(version: KernelVersion): string {
  return TEMPLATE.map((p) => (typeof p === 'string' ? p : p[version])).join('\n');
}

/** One hunk of the kernel diff: lines of the unmodified kernel removed and of the PV kernel added, with their 1-based line numbers. */
export interface DiffHunk {
  /** Line of the first removed line in the unmodified source (or where the additions go). */
  fromLine: number;
  /** Line of the first added line in the PV source. */
  toLine: number;
  removed: string[];
  added: string[];
}

/** The lines that changed between two sources (a longest-common-subsequence line diff), as hunks. */
export function lineDiff(a: string, b: string): DiffHunk[] {
  const x = a.split('\n');
  const y = b.split('\n');
  const n = x.length;
  const m = y.length;
  // lcs[i][j]: the common subsequence length of x[i..] and y[j..].
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const hunks: DiffHunk[] = [];
  let cur: DiffHunk | null = null;
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      cur = null;
      i++;
      j++;
      continue;
    }
    if (cur === null) {
      cur = { fromLine: i + 1, toLine: j + 1, removed: [], added: [] };
      hunks.push(cur);
    }
    if (j < m && (i >= n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) cur.added.push(y[j++]!);
    else cur.removed.push(x[i++]!);
  }
  return hunks;
}

/** The kernel diff: what the port to the paravirtual interface changed. */
export function kernelDiff(): DiffHunk[] {
  return lineDiff(kernelSource('unmodified'), kernelSource('paravirtualized'));
}
