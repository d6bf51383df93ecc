/**
 * The breakpoints a user set, as plain data (the rune class in breakpoints.svelte.ts holds them
 * for the page): linear addresses as 0x + 16 hex digits, in address order, each with the text of
 * the instruction there when the code view showed it. The engine stops before them
 * (worker/breakpoints.ts).
 */
import type { DisasmRow } from '../../worker/protocol.ts';

export interface Breakpoint {
  /** Linear address, 0x + 16 lower-case hex digits. */
  address: string;
  /** The instruction at the address, as disassembled when it was set. */
  text: string | null;
}

/** Breakpoints one scenario may hold (the protocol allows more: worker/breakpoints.ts). */
export const MAX_BREAKPOINTS = 64;

/** `0x` + 16 lower-case digits, or null when `address` is not 0x and 1..16 hex digits. */
export function normalAddress(address: string): string | null {
  if (!/^0x[0-9a-f]{1,16}$/i.test(address)) return null;
  return `0x${address.slice(2).toLowerCase().padStart(16, '0')}`;
}

function sorted(list: Breakpoint[]): Breakpoint[] {
  return list.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

export function hasBreakpoint(list: readonly Breakpoint[], address: string): boolean {
  const a = normalAddress(address);
  return a !== null && list.some((b) => b.address === a);
}

/**
 * Sets a breakpoint at the row's address, or removes the one there. Past MAX_BREAKPOINTS, or for
 * an address that is not one, the list is returned unchanged.
 */
export function toggleBreakpoint(list: readonly Breakpoint[], row: Pick<DisasmRow, 'address' | 'text'>): readonly Breakpoint[] {
  const a = normalAddress(row.address);
  if (a === null) return list;
  if (list.some((b) => b.address === a)) return list.filter((b) => b.address !== a);
  if (list.length >= MAX_BREAKPOINTS) return list;
  return sorted([...list, { address: a, text: row.text }]);
}

export function removeBreakpoint(list: readonly Breakpoint[], address: string): readonly Breakpoint[] {
  const a = normalAddress(address);
  return list.some((b) => b.address === a) ? list.filter((b) => b.address !== a) : list;
}
