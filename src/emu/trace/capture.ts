/**
 * Everything that must be identical when time travel says two machines are the same (test
 * support): CPU state, every non-zero RAM page, TLB entries and counters, devices.
 */
import type { Machine } from '../machine/machine.ts';
import { cloneCpuState } from './checkpoint.ts';

const hexByte = (b: number) => b.toString(16).padStart(2, '0');

export function captureMachine(m: Machine) {
  const pages: Record<number, string> = {};
  m.mem.pages.forEach((p, n) => {
    if (p !== undefined && p.some((b) => b !== 0)) pages[n] = Array.from(p, hexByte).join('');
  });
  const t = m.mmu.tlb;
  return {
    cpu: cloneCpuState(m.cpu.state),
    pages,
    // Not `hits`: the executor's own caches (chained blocks, the fast translation cache in front of
    // the TLB) answer some lookups before they reach the TLB, and how many depends on what is
    // cached, which a restore rebuilds. A hit changes nothing in the TLB (FIFO replacement), so its
    // contents, misses and walks do not depend on it, and those are compared.
    tlb: { entries: t.entries(), misses: t.misses, flushes: t.flushes, invalidated: t.invalidated, walks: m.mmu.walks },
    devices: { uartOut: m.devices.uartOut, portLog: [...m.devices.portLog] },
  };
}
