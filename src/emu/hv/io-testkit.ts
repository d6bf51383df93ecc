/**
 * What the tests of giving VMs devices share (devio.test.ts, sriov.test.ts): a victim VM that keeps
 * a secret where a hostile driver's DMA can aim, and a reader of host memory.
 */
import { assemble } from '../asm/assembler.ts';
import type { Host, HostGuest } from './host.ts';

/** Where the victim keeps its secret (guest-physical). */
export const SECRET = 0x300000;

/** A VM that writes 2 KiB of its own secret at SECRET (byte i = i × 13 + 0x5A) and halts; the next 2 KiB stay zero. */
export function victim(memSize: number): HostGuest {
  const r = assemble(`bits 32
org 0x100000
  xor ecx, ecx
fill:
  mov eax, ecx
  imul eax, eax, 13
  add eax, 0x5a
  mov [${SECRET} + ecx], al
  inc ecx
  cmp ecx, 0x800
  jb fill
  hlt
`, { bits: 32, origin: 0x100000 });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return { name: 'victim', mode: 'prot32', load: 0x100000, code: r.bytes, memSize };
}

/** Byte i of the victim's secret. */
export const secretByte = (i: number): number => (i * 13 + 0x5a) & 0xff;

/** `n` bytes of host memory at `hpa`. */
export const bytesAt = (h: Host, hpa: number, n: number): number[] => Array.from({ length: n }, (_, i) => h.mem.read8(hpa + i));
