/**
 * Small 32-bit guest kernels for the software monitors' tests (te.test.ts, monitors.test.ts,
 * bt/bt.test.ts): the lab's assembly for a GDT, IDT gates and their loads, and a runner that runs
 * one program bare, under trap-and-emulate and under binary translation.
 */
import { assemble } from '../../asm/assembler.ts';
import { runBare } from '../../machine/bare.ts';
import { runUnder } from '../exec.ts';

export const LOAD = 0x100000;

/** A program's bytes, assembled at `org` (32-bit). */
export function guestBytes(src: string, org = LOAD): Uint8Array {
  const r = assemble(`bits 32\norg ${org}\n${src}`);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.line}: ${e.message}`).join('; '));
  return r.bytes;
}

/** The same program bare, under trap-and-emulate and under binary translation. */
export function runAll(src: string) {
  const code = guestBytes(src);
  const bare = runBare({ mode: 'prot32', load: LOAD, code, maxSteps: 100_000 });
  const te = runUnder('trap-emulate', { mode: 'prot32', load: LOAD, code, maxSteps: 100_000 });
  const bt = runUnder('bt', { mode: 'prot32', load: LOAD, code, maxSteps: 400_000 });
  return { bare, te: te.result, bt: bt.result, teMem: te.mem, btMem: bt.mem };
}

/**
 * A GDT at 0x2000 loaded with LGDT (image at 0x2100): null, ring-0 code 0x08, ring-0 data 0x10, then
 * `more` descriptors as [low, high] dwords from 0x18 on.
 */
export function gdt(more: readonly (readonly [number, number])[] = []): string {
  const entries: (readonly [number, number])[] = [[0, 0], [0x0000ffff, 0x00cf9b00], [0x0000ffff, 0x00cf9300], ...more];
  const lines = entries.flatMap(([lo, hi], i) => [`  mov dword [0x${(0x2000 + i * 8).toString(16)}], 0x${lo.toString(16)}`, `  mov dword [0x${(0x2004 + i * 8).toString(16)}], 0x${hi.toString(16)}`]);
  return `\n${lines.join('\n')}\n  mov word [0x2100], 0x${(entries.length * 8 - 1).toString(16)}\n  mov dword [0x2102], 0x2000\n  lgdt [0x2100]\n`;
}

/** A 32-bit TSS descriptor for a TSS at 0x3000 (limit 0x67, available, DPL 0). */
export const TSS_DESC = [0x30000067, 0x00008900] as const;

/** Ring-3 code 0x1b and data 0x23 descriptors. */
export const USER_DESCS = [[0x0000ffff, 0x00cffb00], [0x0000ffff, 0x00cff300]] as const;

/** Interrupt gates in an IDT at 0x4000 (to code 0x08; DPL 3 when `user`), then LIDT of `count` vectors (image at 0x2200). */
export function idt(gates: readonly { vector: number; label: string; user?: boolean }[], count: number): string {
  const lines = gates.flatMap((g) => {
    const at = `0x4000 + 0x${g.vector.toString(16)}*8`;
    return [`  mov eax, ${g.label}`, `  mov word [${at}], ax`, `  mov word [${at} + 2], 0x08`, `  mov word [${at} + 4], ${g.user === true ? '0xee00' : '0x8e00'}`, '  shr eax, 16', `  mov word [${at} + 6], ax`];
  });
  return `\n${lines.join('\n')}\n  mov word [0x2200], ${count}*8-1\n  mov dword [0x2202], 0x4000\n  lidt [0x2200]\n`;
}
