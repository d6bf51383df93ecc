import { describe, expect, it } from 'vitest';
import * as abi from './abi.ts';
import { BOOT_PT, SHARED_INFO_PA } from './backend.ts';
import { buildKernel, runBareKernel, runPv } from './exec.ts';
import { kernelDiff, kernelSource, lineDiff } from './kernel.ts';

/** A small PV program at the kernel's load address: `body` runs in ring 1 from Xen's start of day, then shuts down with reason EBX. */
function program(body: string, data = ''): { source: string } {
  return {
    source: `bits 32
org 0x100000
start:
    mov eax, [esi+36]
    mov [shared], eax
${body}
    mov [reason], ebx
    mov eax, 29
    mov ebx, 2
    mov ecx, reason
    int 0x82
    jmp $
shared: dd 0
reason: dd 0
r1: dd 0
r2: dd 0
r3: dd 0
done: dd 0
${data}
`,
  };
}

const word = (run: ReturnType<typeof runPv>, label: string, src: { source: string }): number => {
  const at = buildKernel(src).labels.get(label);
  if (at === undefined) throw new Error(label);
  return run.backend.cpu.mem.read(at, 4) >>> 0;
};

describe('the PV interface numbers are Xen\u2019s', () => {
  // xen/include/public/xen.h, "#define __HYPERVISOR_<name> <n>" lines; arch-x86/xen-x86_32.h TRAP_INSTR and FLAT_RING*_*.
  const XEN_H: [keyof typeof abi.HC, number, string][] = [
    ['set_trap_table', 0, '#define __HYPERVISOR_set_trap_table        0'],
    ['mmu_update', 1, '#define __HYPERVISOR_mmu_update            1'],
    ['stack_switch', 3, '#define __HYPERVISOR_stack_switch          3'],
    ['set_callbacks', 4, '#define __HYPERVISOR_set_callbacks         4'],
    ['update_va_mapping', 14, '#define __HYPERVISOR_update_va_mapping    14'],
    ['xen_version', 17, '#define __HYPERVISOR_xen_version          17'],
    ['console_io', 18, '#define __HYPERVISOR_console_io           18'],
    ['mmuext_op', 26, '#define __HYPERVISOR_mmuext_op            26'],
    ['sched_op', 29, '#define __HYPERVISOR_sched_op             29'],
    ['event_channel_op', 32, '#define __HYPERVISOR_event_channel_op     32'],
  ];
  it.each(XEN_H)('%s = %i (%s)', (name, n) => {
    expect(abi.HC[name]).toBe(n);
  });
  it('the MMUEXT commands, sched_op, the vector and the selectors', () => {
    // xen.h: MMUEXT_PIN_L1_TABLE 0, MMUEXT_PIN_L2_TABLE 1, MMUEXT_UNPIN_TABLE 4, MMUEXT_NEW_BASEPTR 5, MMUEXT_TLB_FLUSH_LOCAL 6, MMUEXT_INVLPG_LOCAL 7.
    expect(abi.MMUEXT).toEqual({ PIN_L1_TABLE: 0, PIN_L2_TABLE: 1, UNPIN_TABLE: 4, NEW_BASEPTR: 5, TLB_FLUSH_LOCAL: 6, INVLPG_LOCAL: 7 });
    // sched.h: SCHEDOP_yield 0, SCHEDOP_block 1, SCHEDOP_shutdown 2; event_channel.h: EVTCHNOP_send 4; xen.h: CONSOLEIO_write 0.
    expect(abi.SCHEDOP).toEqual({ yield: 0, block: 1, shutdown: 2 });
    expect(abi.EVTCHNOP_send).toBe(4);
    expect(abi.CONSOLEIO_write).toBe(0);
    // xen-x86_32.h: TRAP_INSTR "int $0x82"; FLAT_RING1_CS 0xe019, FLAT_RING1_DS 0xe021, FLAT_RING3_CS 0xe02b, FLAT_RING3_DS 0xe033.
    expect(abi.HYPERCALL_VECTOR).toBe(0x82);
    expect([abi.FLAT_RING1_CS, abi.FLAT_RING1_DS, abi.FLAT_RING3_CS, abi.FLAT_RING3_DS]).toEqual([0xe019, 0xe021, 0xe02b, 0xe033]);
    // xen.h shared_info on x86_32: 32 vcpu_info of 64 bytes, then evtchn_pending[32] and evtchn_mask[32].
    expect(abi.SHARED.evtchnPending).toBe(0x800);
    expect(abi.SHARED.evtchnMask).toBe(0x880);
  });
});

describe('the kernel, bare and paravirtualized', () => {
  it('the PV kernel under the hypervisor prints and ends as the unmodified kernel on the bare processor', () => {
    const bare = runBareKernel('unmodified');
    expect(bare.end).toBe('hlt');
    expect(bare.console).toBe('kernel: up\nkernel: paging on\nuser: hello from ring 3\nkernel: the program exited\n');
    expect(bare.results).toEqual({ syscalls: 2, exit_code: 55 });
    const pv = runPv('paravirtualized');
    expect(pv.error).toBeUndefined();
    expect(pv.end).toBe('hypercall-exit');
    expect(pv.hv.exitCode).toBe(0);
    expect(pv.console).toBe(bare.console);
    expect(pv.results).toEqual(bare.results);
    // The user program's registers at its exit system call are the same (EBX = the code, EDI = the sum).
    expect(pv.regs.rdi).toBe(bare.regs.rdi);
  });

  it('counts the hypercalls by name; every exit is an INT 0x82 priced as a trap round trip plus a hypercall handler', () => {
    const pv = runPv('paravirtualized');
    expect(pv.hv.hypercalls.counts).toEqual({ set_trap_table: 1, stack_switch: 1, console_io: 4, update_va_mapping: 2, mmuext_op: 2, mmu_update: 1, sched_op: 1 });
    expect(pv.hv.exits).toEqual({ 'int 0x82': { code: 0x82, count: 12 } });
    expect(pv.hv.cost.byKind.trap?.count).toBe(12);
    expect(pv.hv.cost.byWork.hypercall?.count).toBe(12);
    // The system calls went from ring 3 to the kernel through the IDT the trap table built, not through the hypervisor.
    expect(pv.hv.traps).toEqual({});
  });

  it('batching: the page table is 1025 validated updates in one mmu_update', () => {
    const pv = runPv('paravirtualized');
    const calls = pv.hv.hypercalls.log.filter((h) => h.name === 'mmu_update');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args.count).toBe(1025);
    expect(calls[0]!.result).toBe(0);
    const img = buildKernel('paravirtualized');
    expect(pv.backend.cpu.mem.read(img.labels.get('mmu_done')!, 4)).toBe(1025);
    // CR3 is the kernel's own page directory (direct paging), which holds the hypervisor's entry in slot 1023.
    const pd = img.labels.get('page_dir')!;
    expect(pv.regs.cr3).toBe(pd);
    expect(pv.backend.cpu.mem.read(pd + 1023 * 4, 4) & 1).toBe(1);
    expect(pv.backend.tables.get(pd >>> 12)).toBe('l2');
    // The unmodified kernel made 1024 plain stores plus one PDE store instead.
    expect(kernelSource('unmodified')).toContain('mov [page_table+ecx*4], edx');
  });

  it('the unmodified kernel under the PV hypervisor stops at its first privileged instruction, located', () => {
    const r = runPv('unmodified');
    expect(r.end).toBe('error');
    const start = buildKernel('unmodified').labels.get('start')!;
    expect(r.error).toContain(`CLI at 0x${start.toString(16)}: not paravirtualized`);
    expect(r.hv.traps).toEqual({ 'not paravirtualized: cli': 1 });
  });

  it('a privileged instruction a PV kernel should not use is an error naming it (MOV to CR3)', () => {
    const src = program('    mov eax, 0x400000\n    mov cr3, eax');
    const r = runPv(src);
    expect(r.end).toBe('error');
    expect(r.error).toMatch(/MOV to or from a control register at 0x1000..: not paravirtualized/);
  });

  it('the kernel diff shows each privileged operation replaced', () => {
    const d = kernelDiff();
    const removed = d.flatMap((h) => h.removed).join('\n');
    const added = d.flatMap((h) => h.added).join('\n');
    for (const op of ['cli', 'sti', 'lidt [idt_desc]', 'ltr ax', 'mov cr3, eax', 'out CONSOLE_PORT, al', 'mov [page_table+ecx*4], edx', 'hlt', 'lgdt [gdt_desc]']) expect(removed).toContain(op);
    for (const op of ['HYPERVISOR_set_trap_table', 'HYPERVISOR_stack_switch', 'HYPERVISOR_mmu_update', 'HYPERVISOR_mmuext_op', 'HYPERVISOR_console_io', 'HYPERVISOR_sched_op', 'int 0x82']) expect(added).toContain(op);
    // The shared lines (the page-table loop, the system-call handler, the user program) are not in the diff.
    expect(removed).not.toContain('syscall_entry:');
    expect(added).not.toContain('user_code:');
    expect(lineDiff('a\nb\nc', 'a\nx\nc')).toEqual([{ fromLine: 2, toLine: 2, removed: ['b'], added: ['x'] }]);
  });
});

describe('direct paging: the hypervisor validates every page-table update', () => {
  // Entries of the builder's pinned bootstrap L1 (BOOT_PT), which maps the first 4 MiB.
  const pte = (va: number) => BOOT_PT + (va >>> 12) * 4;

  it('mmu_update refuses a PTE that maps a frame outside the domain\u2019s RAM, with -EINVAL and the count done', () => {
    const src = program(
      `    mov eax, 1
    mov ebx, reqs
    mov ecx, 3
    mov edx, done
    mov esi, 0x7ff0
    int 0x82
    mov [r1], eax
    xor ebx, ebx`,
      `reqs: dd ${pte(0x3f0000)}, 0, 0x3f0003, 0
    dd ${pte(0x3f1000)}, 0, 0x4000003, 0
    dd ${pte(0x3f2000)}, 0, 0x3f2003, 0`,
    );
    const r = runPv(src);
    expect(r.end).toBe('hypercall-exit');
    expect(word(r, 'r1', src)).toBe((-abi.ERRNO.EINVAL) >>> 0);
    expect(word(r, 'done', src)).toBe(1);
    const log = r.hv.hypercalls.log.find((h) => h.name === 'mmu_update')!;
    expect(log.did).toContain('outside the domain');
    // The first request was written, the third never reached.
    expect(r.backend.cpu.mem.read(pte(0x3f0000), 4)).toBe(0x3f0003);
    expect(r.backend.cpu.mem.read(pte(0x3f2000), 4)).toBe(0x3f2003);
  });

  it('mmu_update refuses a writable mapping of a page table and accepts a read-only one', () => {
    const src = program(
      `    mov eax, 1
    mov ebx, bad
    mov ecx, 1
    mov edx, done
    mov esi, 0x7ff0
    int 0x82
    mov [r1], eax
    mov eax, 1
    mov ebx, good
    mov ecx, 1
    xor edx, edx
    mov esi, 0x7ff0
    int 0x82
    mov [r2], eax
    xor ebx, ebx`,
      `bad: dd ${pte(0x3f0000)}, 0, ${BOOT_PT | 3}, 0
good: dd ${pte(0x3f0000)}, 0, ${BOOT_PT | 1}, 0`,
    );
    const r = runPv(src);
    expect(word(r, 'r1', src)).toBe((-abi.ERRNO.EINVAL) >>> 0);
    expect(word(r, 'done', src)).toBe(0);
    expect(r.hv.hypercalls.log[0]!.did).toContain('writable');
    expect(word(r, 'r2', src)).toBe(0);
    expect(r.backend.cpu.mem.read(pte(0x3f0000), 4)).toBe(BOOT_PT | 1);
  });

  it('pinning a page the guest still maps writable fails; after update_va_mapping makes it read-only it succeeds', () => {
    const src = program(
      `    mov eax, 26
    mov ebx, pin
    mov ecx, 1
    xor edx, edx
    mov esi, 0x7ff0
    int 0x82
    mov [r1], eax
    mov eax, 14
    mov ebx, 0x3f0000
    mov ecx, 0x3f0001
    mov edx, 2
    int 0x82
    mov [r2], eax
    mov eax, 26
    mov ebx, pin
    mov ecx, 1
    xor edx, edx
    mov esi, 0x7ff0
    int 0x82
    mov [r3], eax
    xor ebx, ebx`,
      'pin: dd 0, 0x3f0, 0',
    );
    const r = runPv(src);
    expect(word(r, 'r1', src)).toBe((-abi.ERRNO.EINVAL) >>> 0);
    expect(r.hv.hypercalls.log[0]!.did).toContain('maps it writable');
    expect(word(r, 'r2', src)).toBe(0);
    expect(word(r, 'r3', src)).toBe(0);
    expect(r.backend.tables.get(0x3f0)).toBe('l1');
  });

  it('a direct write to a page table faults (#PF, read-only) and is reflected to the kernel\u2019s handler with CR2 in vcpu_info', () => {
    const pin = `    mov eax, 14
    mov ebx, 0x3f0000
    mov ecx, 0x3f0001
    mov edx, 2
    int 0x82
    mov eax, 26
    mov ebx, pin
    mov ecx, 1
    xor edx, edx
    mov esi, 0x7ff0
    int 0x82`;
    // Without a #PF handler the hypervisor crashes the domain, saying why.
    const bare = program(`${pin}\n    mov dword [0x3f0010], 0x1234\n    xor ebx, ebx`, 'pin: dd 0, 0x3f0, 0');
    const r1 = runPv(bare);
    expect(r1.end).toBe('error');
    expect(r1.error).toContain('#PF');
    expect(r1.error).toContain('0x3f0010');
    expect(r1.error).toContain('no handler for it in its trap table');
    expect(r1.hv.traps).toEqual({ '#PF (write to a page table)': 1 });
    // With one, the kernel's handler runs in ring 1 with the error code on its stack and reads CR2 from the shared info page.
    const handled = program(
      `    mov eax, 0
    mov ebx, traps
    int 0x82
${pin}
    mov dword [0x3f0010], 0x1234
    mov ebx, 7
    jmp $`,
      `pin: dd 0, 0x3f0, 0
traps: db 14, 0
    dw 0xe019
    dd on_pf
    times 8 db 0
on_pf:
    pop eax
    mov [r1], eax
    mov eax, [shared]
    mov eax, [eax+8]
    mov [r2], eax
    mov ebx, 3
    mov [reason], ebx
    mov eax, 29
    mov ebx, 2
    mov ecx, reason
    int 0x82`,
    );
    const r2 = runPv(handled);
    expect(r2.end).toBe('hypercall-exit');
    expect(r2.hv.exitCode).toBe(abi.SHUTDOWN.crash);
    expect(word(r2, 'r1', handled)).toBe(3); // present, write, supervisor (ring 1)
    expect(word(r2, 'r2', handled)).toBe(0x3f0010);
    expect(r2.backend.cpu.mem.read(0x3f0010, 4)).toBe(0);
    expect(r2.backend.cpu.mem.read(SHARED_INFO_PA + abi.SHARED.cr2, 4)).toBe(0x3f0010);
  });
});

describe('mmuext_op', () => {
  it('unpinning the current base or a referenced L1 is refused; the local flushes and yield succeed', () => {
    const src = program(
      `    mov eax, 26
    mov ebx, ops
    mov ecx, 4
    mov edx, done
    mov esi, 0x7ff0
    int 0x82
    mov [r1], eax
    mov eax, 26
    mov ebx, unpin_base
    mov ecx, 1
    xor edx, edx
    mov esi, 0x7ff0
    int 0x82
    mov [r2], eax
    mov eax, 29
    mov ebx, 0
    xor ecx, ecx
    int 0x82
    mov [r3], eax
    xor ebx, ebx`,
      `ops: dd 6, 0, 0
    dd 7, 0x100000, 0
    dd 4, ${BOOT_PT >>> 12}, 0
    dd 6, 0, 0
unpin_base: dd 4, ${0x400}, 0`,
    );
    const r = runPv(src);
    expect(r.end).toBe('hypercall-exit');
    // TLB_FLUSH_LOCAL and INVLPG_LOCAL done; UNPIN of the bootstrap L1, which the bootstrap L2 references, refused.
    expect(word(r, 'r1', src)).toBe((-abi.ERRNO.EINVAL) >>> 0);
    expect(word(r, 'done', src)).toBe(2);
    expect(r.hv.hypercalls.log[0]!.did).toContain('still referenced by L2 table 0x400000');
    expect(word(r, 'r2', src)).toBe((-abi.ERRNO.EINVAL) >>> 0);
    expect(r.hv.hypercalls.log[1]!.did).toContain('the current base table');
    expect(word(r, 'r3', src)).toBe(0);
    expect(r.backend.tables.get(BOOT_PT >>> 12)).toBe('l1');
  });
});

describe('events', () => {
  it('the virtual timer on SCHEDOP_block and EVTCHNOP_send upcall the registered callback through the shared info page', () => {
    const src = program(
      `    mov eax, 4
    mov ebx, 0xe019
    mov ecx, callback
    xor edx, edx
    xor esi, esi
    int 0x82
    mov eax, 29
    mov ebx, 1
    xor ecx, ecx
    int 0x82
    mov eax, [shared]
    mov byte [eax+1], 1
    mov eax, 32
    mov ebx, 4
    mov ecx, port
    int 0x82
    mov [r2], eax
    mov eax, [r1]
    mov [r3], eax
    mov eax, [shared]
    mov byte [eax+1], 0
    mov eax, 17
    xor ebx, ebx
    int 0x82
    xor ebx, ebx`,
      `port: dd 2
callback:
    push eax
    push ebx
    inc dword [r1]
    mov ebx, [shared]
    mov byte [ebx], 0
    mov eax, [ebx+0x800]
    or [done], eax
    mov dword [ebx+0x800], 0
    mov byte [ebx+1], 0
    pop ebx
    pop eax
    iretd`,
    );
    const r = runPv(src);
    expect(r.error).toBeUndefined();
    expect(r.end).toBe('hypercall-exit');
    expect(r.backend.upcalls).toBe(2);
    expect(word(r, 'r1', src)).toBe(2);
    // The send happened with events masked: no upcall until the kernel unmasked and made a hypercall.
    expect(word(r, 'r2', src)).toBe(0);
    expect(word(r, 'r3', src)).toBe(1);
    // Ports 1 (the timer) and 2 (sent to itself) were seen pending by the callback.
    expect(word(r, 'done', src)).toBe(0b110);
    expect(r.hv.upcalls).toBe(2);
  });

  it('INT 0x82 from ring 3 is a #GP (the hypercall gate admits ring 1 only), reflected to the kernel', () => {
    const src = program(
      `    mov eax, 0
    mov ebx, traps
    int 0x82
    push 0xe033
    push 0x3f0000
    push 0x202
    push 0xe02b
    push user
    iretd`,
      `traps: db 13, 0
    dw 0xe019
    dd on_gp
    times 8 db 0
on_gp:
    pop eax
    mov bx, 0xe021                ; DS was made null by the IRET to ring 3
    mov ds, bx
    mov [r1], eax
    xor ebx, ebx
    mov [reason], ebx
    mov eax, 29
    mov ebx, 2
    mov ecx, reason
    int 0x82
user:
    mov eax, 18
    int 0x82
    jmp $`,
    );
    // The user's code and stack must be user-accessible: the builder's map is supervisor-only, so the kernel makes them so first.
    const withUser = { source: src.source.replace('    push 0xe033', `    mov eax, 14
    mov ebx, user
    and ebx, 0xfffff000
    mov ecx, ebx
    or ecx, 7
    mov edx, 2
    int 0x82
    mov eax, 14
    mov ebx, 0x3ef000
    mov ecx, 0x3ef007
    mov edx, 2
    int 0x82
    mov eax, 3
    mov ebx, 0xe021
    mov ecx, 0x90000
    int 0x82
    push 0xe033`) };
    const r = runPv(withUser);
    expect(r.error).toBeUndefined();
    expect(r.hv.exitCode).toBe(0);
    expect(word(r, 'r1', withUser)).toBe((0x82 << 3) | 2);
    expect(r.hv.hypercalls.counts.console_io).toBeUndefined();
  });
});
