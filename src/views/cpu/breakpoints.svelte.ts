/**
 * The breakpoints of the scenario on screen, as Svelte state: the list is replaced whole on each
 * change (`$state.raw`). The app clears it when another scenario loads.
 */
import type { DisasmRow } from '../../worker/protocol.ts';
import { removeBreakpoint, toggleBreakpoint, type Breakpoint } from './breakpoints.ts';

export class Breakpoints {
  list = $state.raw<readonly Breakpoint[]>([]);
  /** The addresses, for a step request. */
  readonly addresses = $derived(this.list.map((b) => b.address));

  toggle(row: Pick<DisasmRow, 'address' | 'text'>): void {
    this.list = toggleBreakpoint(this.list, row);
  }
  remove(address: string): void {
    this.list = removeBreakpoint(this.list, address);
  }
  clear(): void {
    this.list = [];
  }
}
