/**
 * A PAE guest under EPT that loads CR3 while CR3 loads exit (the `cr3` exit option): the emulated
 * MOV must load the new table's four PDPTEs into the VMCS's guest PDPTE fields, which VM entry loads
 * (SDM Vol. 3C 27.3.2.4), as the native MOV would (Vol. 3A 4.4.1); a present PDPTE with a reserved
 * bit set makes the MOV raise #GP(0). Both end as the bare run does.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { runBare } from '../machine/bare.ts';
import { runUnder } from './exec.ts';

const LOAD = 0x100000;

/**
 * Two PAE address spaces: PDPT A at 0x10000 and B at 0x12000, each with one page directory of
 * 2-MByte pages. Linear 0–2 MiB is identity-mapped in both (the code); linear 0x200000 maps to
 * 0x200000 in A and to 0x400000 in B. EBX reads through A, ECX through B after MOV CR3.
 */
const GUEST = (pdpteB: string): string => `
    mov dword [0x200000], 0x1111
    mov dword [0x400000], 0x2222
    mov dword [0x10000], 0x11001        ; PDPT A[0] -> PD A (P)
    mov dword [0x11000], 0x83           ; PD A[0]: 0 -> 0, 2 MiB, P R/W PS
    mov dword [0x11008], 0x200083       ; PD A[1]: 0x200000 -> 0x200000
    mov dword [0x12000], ${pdpteB}      ; PDPT B[0] -> PD B
    mov dword [0x13000], 0x83
    mov dword [0x13008], 0x400083       ; PD B[1]: 0x200000 -> 0x400000
    mov eax, cr4
    or eax, 0x20                        ; CR4.PAE
    mov cr4, eax
    mov eax, 0x10000
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000                  ; CR0.PG: PAE paging, PDPTEs loaded from PDPT A
    mov cr0, eax
    mov ebx, [0x200000]
    mov eax, 0x12000
    mov cr3, eax                        ; PDPTEs loaded from PDPT B (or #GP)
    mov ecx, [0x200000]
    hlt
`;

function code(src: string): Uint8Array {
  const r = assemble(src, { bits: 32, origin: LOAD });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.bytes;
}

describe('an emulated MOV to CR3 of a PAE guest under EPT', () => {
  it('loads the new table\u2019s PDPTEs into the VMCS: the guest sees the new mapping, as bare', () => {
    const bytes = code(GUEST('0x13001'));
    const bare = runBare({ mode: 'prot32', load: LOAD, code: bytes, maxSteps: 1000 });
    expect(bare.regs.rbx).toBe(0x1111);
    expect(bare.regs.rcx).toBe(0x2222);
    for (const tlbTags of [true, false]) {
      const r = runUnder('vtx', { mode: 'prot32', load: LOAD, code: bytes, maxSteps: 1000, tlbTags }, { exits: { cr3: true } });
      expect(r.result.end).toBe('hlt');
      expect(r.result.hv.exits.EXIT_REASON_CR_ACCESS?.count).toBeGreaterThanOrEqual(2);
      expect(r.result.regs.rbx).toBe(0x1111);
      expect(r.result.regs.rcx).toBe(0x2222);
      expect(r.hypervisor.log.some((e) => e.accesses.some((a) => a.op === 'write' && a.field === 'GUEST_PDPTR0' && a.value === 0x13001n))).toBe(true);
    }
  });

  it('raises #GP(0) for a present PDPTE with a reserved bit set, as the native MOV does', () => {
    // Bit 1 of a PAE PDPTE is reserved (SDM Vol. 3A Table 4-8): the MOV faults and CR3 stays.
    const bytes = code(GUEST('0x13003'));
    const bare = runBare({ mode: 'prot32', load: LOAD, code: bytes, maxSteps: 1000 });
    const r = runUnder('vtx', { mode: 'prot32', load: LOAD, code: bytes, maxSteps: 1000 }, { exits: { cr3: true, exceptions: [13] } });
    expect(bare.end).not.toBe('hlt');
    expect(r.hypervisor.log.some((e) => e.note.includes('reserved bit set, #GP(0)'))).toBe(true);
    expect(r.result.regs.rbx).toBe(bare.regs.rbx);
  });
});
