/**
 * The hypervisor's handlers, each with a real guest program assembled by the lab's assembler and
 * run as the only guest under AMD-V (the bare `exec` machine, as `lab exec --under svm` runs it),
 * often beside the same program run bare.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { runBare, type ExecResult } from '../machine/bare.ts';
import { cpuid } from '../cpu/sys-ctl.ts';
import { SVM_EXIT } from '../svm/exit-codes.ts';
import { guestCpuid, HV_SIGNATURE, type HvInterrupts } from './hypervisor.ts';
import { runUnder, runUnderSvm, type HvExecRun } from './exec.ts';
import type { SvmBackend, SvmIntercepts } from './svm-backend.ts';

const LOAD = 0x100000;

function bytes(src: string, mode: 'prot32' | 'long64'): Uint8Array {
  const r = assemble(src, { bits: mode === 'prot32' ? 32 : 64, origin: LOAD });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.bytes;
}

function hv(src: string, mode: 'prot32' | 'long64' = 'prot32', extra: { intercepts?: SvmIntercepts; interrupts?: HvInterrupts } = {}): HvExecRun {
  return runUnderSvm({ mode, load: LOAD, code: bytes(src, mode), maxSteps: 10_000 }, extra);
}

function bare(src: string, mode: 'prot32' | 'long64' = 'prot32'): ExecResult {
  return runBare({ mode, load: LOAD, code: bytes(src, mode), maxSteps: 10_000 });
}

const str4 = (s: string, at: number): number =>
  (s.charCodeAt(at) | (s.charCodeAt(at + 1) << 8) | (s.charCodeAt(at + 2) << 16) | (s.charCodeAt(at + 3) << 24)) >>> 0;

/**
 * A flat 32-bit code descriptor at GDT[1] (the bare machine's GDT is at 0) and interrupt gates
 * (IDT also at 0) for `gates`: vector → label, so a guest can take an exception or interrupt.
 */
function idtSetup(gates: Record<number, string>): string {
  const lines = ['mov dword [0x8], 0x0000ffff', 'mov dword [0xc], 0x00cf9b00'];
  for (const [vec, label] of Object.entries(gates)) {
    const at = Number(vec) * 8;
    lines.push(`mov eax, ${label}`, `mov word [${at}], ax`, `mov word [${at + 2}], 0x8`, `mov word [${at + 4}], 0x8e00`, 'shr eax, 16', `mov word [${at + 6}], ax`);
  }
  return lines.join('\n');
}

describe('CPUID', () => {
  it('shows the hypervisor bit and answers leaf 0x40000000 with the max leaf and the signature', () => {
    const src = ['mov eax, 1', 'cpuid', 'mov esi, ecx', 'mov edi, edx', 'mov eax, 0x40000000', 'cpuid', 'hlt'].join('\n');
    const r = hv(src);
    const regs = r.result.regs;
    expect(r.result.end).toBe('hlt');
    expect((Number(regs.rsi) >>> 31) & 1).toBe(1);
    expect(regs.rax).toBe(0x40000001);
    expect([regs.rbx, regs.rcx, regs.rdx]).toEqual([str4(HV_SIGNATURE, 0), str4(HV_SIGNATURE, 4), str4(HV_SIGNATURE, 8)]);
    // Leaf 1 is the bare machine's but for bit 31; bare, that bit is clear.
    const b = bare(src);
    expect(Number(b.regs.rsi) >>> 31).toBe(0);
    expect(Number(regs.rsi)).toBe((Number(b.regs.rsi) | 0x80000000) >>> 0);
    expect(regs.rdi).toBe(b.regs.rdi);
    expect(r.result.hv.exits.VMEXIT_CPUID).toEqual({ code: SVM_EXIT.CPUID, count: 2 });
    const first = r.hypervisor.log[0]!;
    expect(first).toMatchObject({ name: 'VMEXIT_CPUID', kind: 'cpuid', action: 'emulated', rip: BigInt(LOAD + 5) });
    // The exit's reads, then RIP ← nRIP: the account a later view narrates.
    const fields = first.accesses.map((a) => `${a.op} ${a.field}`);
    expect(fields.slice(0, 3)).toEqual(['read exit_code', 'read save.rip', 'read exit_int_info']);
    expect(fields).toContain('write save.rax');
    expect(fields).toContain('read next_rip');
    expect(first.accesses.find((a) => a.field === 'save.rip' && a.op === 'write')?.value).toBe(BigInt(LOAD + 7));
  });

  it('passes the host values through for every other leaf', () => {
    const host = (l: number, s: number) => cpuid('amd', l, s);
    for (const leaf of [0, 7, 0x80000000, 0x80000001, 0x80000008]) expect(guestCpuid(host, leaf, 0)).toEqual(host(leaf, 0));
    expect(guestCpuid(host, 0x40000005, 0)).toEqual([0, 0, 0, 0]);
  });
});

describe('port I/O', () => {
  it('forwards OUT and IN to the attached port handler, with the same records as bare, RIP ← nRIP', () => {
    const src = ['mov al, 0x41', 'out 0xe9, al', 'mov dx, 0x3f8', 'mov ax, 0x1234', 'out dx, ax', 'in al, 0x61', 'mov ebx, eax', 'in eax, dx', 'hlt'].join('\n');
    const r = hv(src);
    const b = bare(src);
    expect(r.result.exits).toEqual(b.exits);
    expect(r.result.exits[0]).toEqual({ kind: 'io', dir: 'out', port: 0xe9, size: 1, value: 0x41 });
    expect(r.result.regs).toEqual(b.regs);
    expect(r.result.regs.rbx).toBe(0x12ff);
    expect(r.result.hv.exits.VMEXIT_IOIO!.count).toBe(4);
    expect(r.hypervisor.log.filter((e) => e.kind === 'io').every((e) => e.action === 'forwarded')).toBe(true);
    expect(r.result.hv.steps).toBe((b.hv as { steps: number }).steps);
  });

  it.each(['svm', 'vtx'] as const)('under %s, INS and OUTS (REP, DF, both modes) reach the port handler as bare, and a fault in one is the guest\u2019s', (under) => {
    const lines = [
      'mov edi, 0x20000', 'mov dword [edi], 0x44434241', 'mov esi, edi', 'mov dx, 0x80', 'outsb', 'mov ecx, 3', 'rep outsb',
      'std', 'mov esi, 0x20002', 'mov ecx, 2', 'rep outsb', 'cld', 'mov dx, 0x3f8', 'mov ecx, 2', 'rep outsw',
      'mov edi, 0x30000', 'mov ecx, 2', 'rep insd', 'mov ebx, [0x30004]', 'hlt',
    ];
    // (Data at 0x20000 and 0x30000: in long64 the bare machine's page tables are at 0x1000–0x3FFF.)
    for (const mode of ['prot32', 'long64'] as const) {
      const src = lines.join('\n');
      const r = runUnder(under, { mode, load: LOAD, code: bytes(src, mode), maxSteps: 10_000 });
      const b = bare(src, mode);
      expect(r.result.end).toBe('hlt');
      expect(r.result.exits).toEqual(b.exits);
      expect(r.result.regs).toEqual(b.regs);
      expect(r.result.hv.steps).toBe((b.hv as { steps: number }).steps);
      expect(r.result.exits.filter((e) => e.kind === 'io').length).toBe(10);
      expect(r.hypervisor.log.filter((e) => e.kind === 'io').every((e) => e.action === 'forwarded')).toBe(true);
    }
    // 64-bit: OUTS from an address the identity map of the first GiB does not cover: #PF, as bare.
    const f = ['mov rsi, 0x80000000', 'mov dx, 0x80', 'outsb', 'hlt'].join('\n');
    const r = runUnder(under, { mode: 'long64', load: LOAD, code: bytes(f, 'long64'), maxSteps: 1000 });
    const b = bare(f, 'long64');
    expect(b.end).toBe('shutdown');
    expect(r.result.end).toBe('shutdown');
    expect(r.result.regs).toEqual(b.regs);
    expect(r.result.exits).toEqual([]);
  });
});

describe('hypercalls (VMMCALL: RAX function, RBX argument)', () => {
  it('prints characters and exits with a code; an unknown function returns -1', () => {
    const src = [
      'mov eax, 0', 'mov ebx, 0x48', 'vmmcall', 'mov esi, eax',
      'mov eax, 0', 'mov ebx, 0x69', 'vmmcall',
      'mov eax, 7', 'vmmcall', 'mov edi, eax',
      'mov eax, 1', 'mov ebx, 42', 'vmmcall', 'mov ecx, 5', 'hlt',
    ].join('\n');
    const r = hv(src);
    expect(r.result.end).toBe('hypercall-exit');
    expect(r.result.hv.exitCode).toBe(42);
    expect(r.result.hv.console).toBe('Hi');
    expect(r.result.regs.rsi).toBe(0);
    expect(r.result.regs.rdi).toBe(0xffffffff);
    // The VM ended at the exit hypercall: the instructions after it never ran.
    expect(r.result.regs.rcx).toBe(0);
    expect(r.result.hv.exits.VMEXIT_VMMCALL!.count).toBe(4);
    expect(r.result.hv.cost.byWork.hypercall!.count).toBe(4);
  });

  it('in 64-bit mode returns -1 in all of RAX', () => {
    const r = hv(['mov rax, 9', 'vmmcall', 'hlt'].join('\n'), 'long64');
    expect(r.result.regs.rax).toBe('18446744073709551615');
  });
});

describe('HLT', () => {
  it('ends the VM when no interrupt can wake the guest', () => {
    const r = hv('mov eax, 3\nhlt\nmov eax, 4');
    expect(r.result.end).toBe('hlt');
    expect(r.result.regs.rax).toBe(3);
    expect(r.result.regs.rip).toBe(LOAD + 6);
    const last = r.hypervisor.log.at(-1)!;
    expect(last).toMatchObject({ kind: 'hlt', action: 'ended' });
  });

  it('idles until an interrupt can wake it, injects it, and resumes the guest', () => {
    let raised = false;
    const src = [idtSetup({ 0x20: 'handler' }), 'sti', 'hlt', 'mov ecx, 2', 'hlt', 'handler:', 'mov edi, 0x1234', 'iretd'].join('\n');
    const r = hv(src, 'prot32', {
      interrupts: { pending: () => (raised ? null : 0x20), acknowledge: (v) => { expect(v).toBe(0x20); raised = true; } },
    });
    expect(r.result.end).toBe('hlt');
    expect(r.result.regs.rdi).toBe(0x1234);
    expect(r.result.regs.rcx).toBe(2);
    const hlts = r.hypervisor.log.filter((e) => e.kind === 'hlt');
    expect(hlts.map((e) => e.action)).toEqual(['emulated', 'ended']);
    expect(hlts[0]!.accesses.some((a) => a.field === 'event_inj' && a.op === 'write')).toBe(true);
  });

  it('does not wake a guest that halted with IF = 0', () => {
    const r = hv('cli\nhlt\nmov ecx, 2', 'prot32', { interrupts: { pending: () => 0x20, acknowledge: () => {} } });
    expect(r.result.end).toBe('hlt');
    expect(r.result.regs.rcx).toBe(0);
  });
});

describe('exceptions and triple faults', () => {
  it('reflects an intercepted #UD into the guest\u2019s own handler by event injection', () => {
    const src = [idtSetup({ 6: 'ud' }), 'ud2', 'mov ecx, 9', 'hlt', 'ud:', 'mov esi, 0xbeef', 'add dword [esp], 2', 'iretd'].join('\n');
    const r = hv(src);
    const b = bare(src);
    expect(r.result.end).toBe('hlt');
    expect(r.result.regs.rsi).toBe(0xbeef);
    expect(r.result.regs.rcx).toBe(9);
    expect(r.result.regs).toEqual(b.regs);
    const e = r.hypervisor.log.find((x) => x.kind === 'exception')!;
    expect(e).toMatchObject({ name: 'VMEXIT_EXCP6', action: 'reflected' });
    const inj = e.accesses.find((a) => a.field === 'event_inj' && a.op === 'write')!;
    // EVENTINJ: vector 6, TYPE 3 (exception), V; no error code.
    expect(inj.value).toBe(BigInt((6 | (3 << 8) | (1 << 31)) >>> 0));
  });

  it('reflects #PF with CR2 set from EXITINFO2 (the intercept leaves CR2 unchanged) and the error code', () => {
    // 64-bit: GDT[1] a 64-bit code segment, GDT[2] data (IRETQ reloads SS); IDT[14] (16 bytes at 0xE0) a 64-bit interrupt gate.
    const src = [
      'mov dword [0x8], 0x0000ffff', 'mov dword [0xc], 0x00209a00', 'mov dword [0x10], 0x0000ffff', 'mov dword [0x14], 0x00cf9300',
      'mov rax, handler', 'mov word [0xe0], ax', 'mov word [0xe2], 0x8', 'mov word [0xe4], 0x8e00',
      'shr rax, 16', 'mov word [0xe6], ax', 'shr rax, 16', 'mov dword [0xe8], eax', 'mov dword [0xec], 0',
      'mov rbx, 0x80000000', 'mov ecx, [rbx]', 'mov r8, 7', 'hlt',
      'handler:', 'mov rsi, cr2', 'pop rdi', 'add qword [rsp], 2', 'iretq',
    ].join('\n');
    const r = hv(src, 'long64', { intercepts: { exceptions: [6, 14] } });
    const b = bare(src, 'long64');
    expect(r.result.end).toBe('hlt');
    expect(r.result.regs.rsi).toBe(0x80000000);
    expect(r.result.regs.rdi).toBe(0);
    expect(r.result.regs.r8).toBe(7);
    expect(r.result.regs).toEqual(b.regs);
    const e = r.hypervisor.log.find((x) => x.name === 'VMEXIT_EXCP14')!;
    expect(e.raw.exit_info_2).toBe(0x80000000n);
    expect(e.accesses.some((a) => a.field === 'save.cr2' && a.op === 'write' && a.value === 0x80000000n)).toBe(true);
  });

  it('reflects INT3 after RIP \u2190 nRIP, so the handler returns past it', () => {
    const src = [idtSetup({ 3: 'brk' }), 'int3', 'mov ecx, 1', 'hlt', 'brk:', 'inc esi', 'iretd'].join('\n');
    const r = hv(src, 'prot32', { intercepts: { exceptions: [3, 6] } });
    expect(r.result.regs.rsi).toBe(1);
    expect(r.result.regs.rcx).toBe(1);
    expect(r.result.regs).toEqual(bare(src).regs);
    expect(r.result.hv.steps).toBe((bare(src).hv as { steps: number }).steps);
  });

  it('reflects an exception raised while delivering a reflected one; a pair that makes #DF exits first, and the hypervisor injects the #DF', () => {
    // IDT entries 6 and 13 are zeros (not a gate type): #UD's delivery raises #GP(0x33) (intercepted,
    // EXITINTINFO = the #UD); the injected #GP's delivery raises #GP(0x6b), which is intercepted too
    // before it would become #DF (APM 15.7.2: EXITINTINFO = the injected #GP); the hypervisor
    // combines the pair into #DF (as KVM does) and injects it, delivered through gate 8.
    const src = [idtSetup({ 8: 'df' }), 'ud2', 'hlt', 'df:', 'mov esi, 0xdf', 'pop edi', 'hlt'].join('\n');
    const r = hv(src, 'prot32', { intercepts: { exceptions: [6, 13] } });
    const b = bare(src);
    expect(r.result.regs.rsi).toBe(0xdf);
    expect(r.result.regs).toEqual(b.regs);
    const ex = r.hypervisor.log.filter((e) => e.kind === 'exception');
    expect(ex.map((e) => e.name)).toEqual(['VMEXIT_EXCP6', 'VMEXIT_EXCP13', 'VMEXIT_EXCP13']);
    expect(ex.map((e) => e.raw.exit_info_1)).toEqual([0n, 0x33n, 0x6bn]);
    expect(ex[1]!.note).toMatch(/#13 \(error code 0x33\) injected/);
    expect(ex[2]!.note).toMatch(/#13 while delivering #13: #DF injected/);
    // EXITINTINFO of the #GP exit: the #UD being delivered (vector 6, TYPE 3, V).
    expect(ex[1]!.raw.exit_int_info).toBe(BigInt((6 | (3 << 8) | (1 << 31)) >>> 0));
  });

  it('ends the VM on a triple fault, reported as such, in the state the bare run ends in', () => {
    // #UD through an IDT of zeros: #NP, then #DF, then a fault delivering #DF.
    const r = hv('mov eax, 5\nud2');
    const b = bare('mov eax, 5\nud2');
    expect(b.end).toBe('shutdown');
    expect(r.result.end).toBe('shutdown');
    expect(r.result.regs).toEqual(b.regs);
    expect(r.result.hv.exits.VMEXIT_SHUTDOWN).toEqual({ code: SVM_EXIT.SHUTDOWN, count: 1 });
    expect(r.hypervisor.log.at(-1)).toMatchObject({ kind: 'triple-fault', action: 'ended' });
  });
});

describe('MSRs and control registers', () => {
  it('shadows EFER: the guest reads its EFER without SVME and writes it as bare', () => {
    const src = ['mov ecx, 0xc0000080', 'rdmsr', 'mov esi, eax', 'or eax, 0x800', 'wrmsr', 'rdmsr', 'mov edi, eax', 'hlt'].join('\n');
    const r = hv(src, 'long64');
    const b = bare(src, 'long64');
    expect(r.result.regs.rsi).toBe(0x500);
    expect(r.result.regs.rdi).toBe(0xd00);
    expect(r.result.regs).toEqual(b.regs);
    expect(r.result.hv.exits.VMEXIT_MSR!.count).toBe(3);
    // VMRUN still sees SVME in the guest's EFER.
    expect((r.vm.backend as SvmBackend).vmcb.read64('save.efer').lo).toBe(0x1d00);
  });

  it('refuses SVME and the SVM MSRs with #GP, as a processor without SVM', () => {
    const src = [idtSetup({ 13: 'gp' }), 'mov ecx, 0xc0010117', 'rdmsr', 'mov ecx, 0xc0000080', 'mov eax, 0x1000', 'xor edx, edx', 'wrmsr', 'hlt', 'gp:', 'inc esi', 'add dword [esp+4], 2', 'add esp, 4', 'iretd'].join('\n');
    const r = hv(src);
    const b = bare(src);
    expect(r.result.regs.rsi).toBe(2);
    expect(r.result.regs).toEqual(b.regs);
  });

  it('emulates intercepted CR reads and writes from the VMCB (MOV CRn with the decode assist)', () => {
    const src = ['mov eax, cr0', 'mov ecx, 0x5000', 'mov cr3, ecx', 'mov ebx, cr3', 'hlt'].join('\n');
    const r = hv(src, 'prot32', { intercepts: { crRead: [0], crWrite: [3] } });
    const b = bare(src);
    expect(r.result.regs).toEqual(b.regs);
    expect(r.result.regs.rax).toBe(0x60000011);
    expect(r.result.regs.cr3).toBe(0x5000);
    expect(r.result.hv.exits).toMatchObject({ VMEXIT_CR0_READ: { count: 1 }, VMEXIT_CR3_WRITE: { count: 1 } });
    const w = r.hypervisor.log.find((e) => e.name === 'VMEXIT_CR3_WRITE')!;
    expect(w.accesses.some((a) => a.field === 'save.cr3' && a.op === 'write' && a.value === 0x5000n)).toBe(true);
  });
});

describe('the hv JSON of exec --under svm', () => {
  it('counts exits by name, names the preset, and totals the ledger\u2019s cycles', () => {
    const r = hv(['mov ecx, 3', 'l:', 'out 0x80, al', 'loop l', 'hlt'].join('\n'));
    const j = r.result.hv;
    expect(j.under).toBe('svm');
    expect(j.exits).toEqual({ VMEXIT_IOIO: { code: SVM_EXIT.IOIO, count: 3 }, VMEXIT_HLT: { code: SVM_EXIT.HLT, count: 1 } });
    expect(j.exitTotal).toBe(4);
    expect(j.cost.preset).toBe('amd-recent');
    expect(j.cost.cycles).toBeGreaterThan(0);
    const sum = Object.values(j.cost.byKind).reduce((s, t) => s + t.cycles, 0);
    expect(sum).toBe(j.cost.cycles);
    expect(j.cost.byKind.vmrun!.count).toBe(4);
    expect(j.cost.byKind.vmexit!.count).toBe(4);
    expect(j.cost.byKind['guest-insn']!.count).toBe(j.steps - 4);
    expect(j.cost.byWork).toMatchObject({ io: { count: 3 }, hlt: { count: 1 } });
    // Every logged VMCB access was charged once.
    const logged = r.hypervisor.log.flatMap((e) => e.accesses).filter((a) => !a.field.startsWith('gpr.'));
    expect(j.cost.byKind['vmcb-read']!.count + j.cost.byKind['vmcb-write']!.count).toBe(logged.length);
  });

  it('refuses a VT-x preset', () => {
    expect(() => runUnderSvm({ mode: 'prot32', load: LOAD, code: new Uint8Array([0xf4]), preset: 'core2-merom' })).toThrow(/VT-x, not AMD-V/);
  });
});

describe('the same handlers under VT-x', () => {
  const vtx = (src: string, mode: 'prot32' | 'long64' = 'prot32', extra: { intercepts?: SvmIntercepts; interrupts?: HvInterrupts } = {}, nested = true): HvExecRun =>
    runUnder('vtx', { mode, load: LOAD, code: bytes(src, mode), maxSteps: 10_000, nested }, extra);

  it('CPUID: the hypervisor bit and leaf 0x40000000; the exit read by VMREAD, GUEST_RIP advanced by the instruction length', () => {
    const src = ['mov eax, 1', 'cpuid', 'mov esi, ecx', 'mov eax, 0x40000000', 'cpuid', 'hlt'].join('\n');
    const r = vtx(src);
    expect((Number(r.result.regs.rsi) >>> 31) & 1).toBe(1);
    expect([r.result.regs.rax, r.result.regs.rbx]).toEqual([0x40000001, str4(HV_SIGNATURE, 0)]);
    const first = r.hypervisor.log[0]!;
    expect(first).toMatchObject({ vendor: 'intel', name: 'EXIT_REASON_CPUID', code: 10, action: 'emulated' });
    const fields = first.accesses.map((a) => `${a.op} ${a.field}`);
    expect(fields.slice(0, 3)).toEqual(['read VM_EXIT_REASON', 'read GUEST_RIP', 'read IDT_VECTORING_INFO_FIELD']);
    expect(fields).toContain('read VM_EXIT_INSTRUCTION_LEN');
    expect(first.accesses.find((a) => a.op === 'write' && a.field === 'GUEST_RIP')?.value).toBe(BigInt(LOAD + 7));
    expect(r.result.hv.cost.byKind.vmread!.count).toBeGreaterThan(0);
    expect(r.result.hv.cost.byKind['vm-entry']!.count).toBe(3);
  });

  it('forwards port I/O as the bare run reports it, in both modes', () => {
    for (const mode of ['prot32', 'long64'] as const) {
      const src = ['mov al, 0x41', 'out 0xe9, al', 'mov dx, 0x3f8', 'in ax, dx', 'mov ebx, eax', 'hlt'].join('\n');
      const r = vtx(src, mode);
      const b = bare(src, mode);
      expect(r.result.exits).toEqual(b.exits);
      expect(r.result.regs).toEqual(b.regs);
      expect(r.result.hv.exits.EXIT_REASON_IO_INSTRUCTION!.count).toBe(2);
    }
  });

  it('hypercalls on VMCALL (VMMCALL is #UD on an Intel processor, reflected)', () => {
    const src = ['mov eax, 0', 'mov ebx, 0x4b', 'vmcall', 'mov eax, 1', 'mov ebx, 7', 'vmcall', 'hlt'].join('\n');
    const r = vtx(src);
    expect(r.result.end).toBe('hypercall-exit');
    expect(r.result.hv.exitCode).toBe(7);
    expect(r.result.hv.console).toBe('K');
    const u = vtx([idtSetup({ 6: 'ud' }), 'vmmcall', 'hlt', 'ud:', 'mov esi, 6', 'add dword [esp], 3', 'iretd'].join('\n'));
    expect(u.result.regs.rsi).toBe(6);
    expect(u.hypervisor.log.find((e) => e.kind === 'exception')).toMatchObject({ name: 'EXIT_REASON_EXCEPTION_NMI', action: 'reflected' });
  });

  it('reflects #UD through VM_ENTRY_INTR_INFO_FIELD, and ends on a triple fault as bare', () => {
    const src = [idtSetup({ 6: 'ud' }), 'ud2', 'mov ecx, 9', 'hlt', 'ud:', 'mov esi, 0xbeef', 'add dword [esp], 2', 'iretd'].join('\n');
    const r = vtx(src);
    expect(r.result.regs).toEqual(bare(src).regs);
    const e = r.hypervisor.log.find((x) => x.kind === 'exception')!;
    // Valid, type 3 (hardware exception), vector 6.
    expect(e.accesses.find((a) => a.field === 'VM_ENTRY_INTR_INFO_FIELD')?.value).toBe(BigInt((6 | (3 << 8) | (1 << 31)) >>> 0));
    const t = vtx('mov eax, 5\nud2');
    expect(t.result.end).toBe('shutdown');
    expect(t.result.regs).toEqual(bare('mov eax, 5\nud2').regs);
    expect(t.result.hv.exits.EXIT_REASON_TRIPLE_FAULT).toEqual({ code: 2, count: 1 });
  });

  it('HLT: ends with no wake-up; woken by an attached interrupt source otherwise', () => {
    let raised = false;
    const src = [idtSetup({ 0x20: 'handler' }), 'sti', 'hlt', 'mov ecx, 2', 'hlt', 'handler:', 'mov edi, 0x1234', 'iretd'].join('\n');
    const r = vtx(src, 'prot32', { interrupts: { pending: () => (raised ? null : 0x20), acknowledge: () => { raised = true; } } });
    expect(r.result.end).toBe('hlt');
    expect([r.result.regs.rdi, r.result.regs.rcx]).toEqual([0x1234, 2]);
  });

  it('shadows CR0 and CR4: the guest reads its own values (no NE, no VMXE, PG = 0 on the identity shadow) and CR3 as it wrote it', () => {
    const src = ['mov eax, cr0', 'mov ebx, cr4', 'mov ecx, 0x5000', 'mov cr3, ecx', 'mov edx, cr3', 'hlt'].join('\n');
    const b = bare(src);
    for (const nested of [false, true]) {
      const r = vtx(src, 'prot32', {}, nested);
      expect(r.result.regs).toEqual(b.regs);
      expect([r.result.regs.rax, r.result.regs.rbx, r.result.regs.rdx, r.result.regs.cr3]).toEqual([0x60000011, 0, 0x5000, 0x5000]);
      // Without EPT (shadow paging) CR3 accesses exit (CR3-load and CR3-store exiting: the
      // processor's CR3 is the shadow root); with EPT and unrestricted guest the guest runs with paging off itself.
      expect(r.result.hv.exits.EXIT_REASON_CR_ACCESS?.count ?? 0).toBe(nested ? 0 : 2);
      const l = vtx(['mov rax, cr0', 'mov rbx, cr4', 'hlt'].join('\n'), 'long64', {}, nested);
      expect([l.result.regs.rax, l.result.regs.rbx]).toEqual([0x80010001, 0x20]);
    }
  });

  it('lets a guest turn paging on: the identity shadow gives way to the shadow of the guest\u2019s own tables', () => {
    // A page directory at 0x10000 mapping the first 4 MiB (PSE) identity, then CR0.PG = 1.
    const src = [
      'mov dword [0x10000], 0x87', 'mov eax, cr4', 'or eax, 0x10', 'mov cr4, eax',
      'mov eax, 0x10000', 'mov cr3, eax', 'mov eax, cr0', 'or eax, 0x80000000', 'mov cr0, eax',
      'mov esi, cr0', 'mov edi, cr3', 'mov dword [0x2000], 0x1234', 'mov ebx, [0x2000]', 'hlt',
    ].join('\n');
    const b = bare(src);
    for (const nested of [false, true]) {
      const r = vtx(src, 'prot32', {}, nested);
      expect(r.result.end).toBe('hlt');
      expect(r.result.regs).toEqual(b.regs);
      expect([r.result.regs.rsi, r.result.regs.rdi, r.result.regs.rbx]).toEqual([0xe0000011, 0x10000, 0x1234]);
    }
  });

  it('keeps EFER and the SYSENTER MSRs where VT-x switches them (the VMCS)', () => {
    const src = ['mov ecx, 0xc0000080', 'rdmsr', 'mov esi, eax', 'mov ecx, 0x174', 'mov eax, 0x33', 'xor edx, edx', 'wrmsr', 'xor eax, eax', 'rdmsr', 'mov edi, eax', 'hlt'].join('\n');
    const r = vtx(src, 'long64');
    const b = bare(src, 'long64');
    expect(r.result.regs).toEqual(b.regs);
    expect([r.result.regs.rsi, r.result.regs.rdi]).toEqual([0x500, 0x33]);
    expect(r.result.hv.exits).toMatchObject({ EXIT_REASON_MSR_READ: { count: 2 }, EXIT_REASON_MSR_WRITE: { count: 1 } });
  });
});

describe('a run that ends on its step budget', () => {
  it.each(['svm', 'vtx'] as const)('under %s reports the guest as the bare run does at the same step, exits included', (under) => {
    const src = ['mov ecx, 1000', 'l:', 'inc eax', 'out 0x80, al', 'loop l', 'hlt'].join('\n');
    for (const mode of ['prot32', 'long64'] as const) {
      for (const maxSteps of [1, 2, 3, 50, 51]) {
        const code = bytes(src, mode);
        const r = runUnder(under, { mode, load: LOAD, code, maxSteps });
        const b = runBare({ mode, load: LOAD, code, maxSteps });
        expect(r.result.end).toBe('limit');
        expect(b.end).toBe('limit');
        expect(r.result.regs).toEqual(b.regs);
        expect(r.result.exits).toEqual(b.exits);
        expect(r.result.hv.steps).toBe(maxSteps);
      }
    }
  });
});
