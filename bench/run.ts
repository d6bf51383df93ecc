/**
 * Guest instructions per second, untraced, on a tight loop (issue 2, item 5):
 *   mov ecx, N; l: add eax, ecx; dec ecx; jnz l; hlt
 * in prot32 and long64 on the bare machine. Prints the figures; asserts nothing.
 */
import { createBareMachine } from '../src/emu/machine/bare.ts';
import type { BareMode } from '../src/emu/machine/bare.ts';

const N = 50_000_000;
// B9 imm32 (mov ecx, N); 01 C8 (add eax, ecx); FF C9 (dec ecx); 75 FA (jnz -6); F4 (hlt)
const code = new Uint8Array([0xb9, N & 0xff, (N >>> 8) & 0xff, (N >>> 16) & 0xff, N >>> 24, 0x01, 0xc8, 0xff, 0xc9, 0x75, 0xfa, 0xf4]);

function once(mode: BareMode): number {
  const m = createBareMachine({ mode, load: 0x100000, code });
  const t0 = performance.now();
  const end = m.cpu.run(4 * N);
  const dt = (performance.now() - t0) / 1000;
  if (end !== 'hlt') throw new Error(`${mode}: loop ended with ${end}`);
  return m.cpu.state.steps / dt;
}

for (const mode of ['prot32', 'long64'] as const) {
  once(mode); // warm-up
  const best = Math.max(once(mode), once(mode));
  console.log(`${mode}: ${(best / 1e6).toFixed(1)} million guest instructions/s (untraced, tight loop add/dec/jnz)`);
}
console.log('traced: not measured yet (no trace sink in the core)');
