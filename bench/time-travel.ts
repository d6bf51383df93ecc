/**
 * Time travel figures (issue 3): a 1,000,000-step long64 run under a Timeline with a checkpoint
 * every 10,000 steps, then `goto` to 200 seeded random earlier steps. The program writes a 512
 * KiB ring of pages (one new page every ~5,000 steps), its scratch page and the stack, so
 * checkpoints do copy pages. Prints:
 *   - the checkpointed run's speed next to the same run without a timeline,
 *   - step back anywhere: worst and median milliseconds of `goto` (restore + replay),
 *   - memory per checkpoint: the checkpoint's own bytes (page-reference table, TLB, CPU state) and
 *     the pages copied on write per interval (counted by PhysMem.cowCopies, 4 KiB each).
 */
import { assemble } from '../src/emu/asm/assembler.ts';
import { createBareMachine } from '../src/emu/machine/bare.ts';
import { machineFrom, type Machine } from '../src/emu/machine/machine.ts';
import { snapshotBytes } from '../src/emu/trace/checkpoint.ts';
import { Timeline } from '../src/emu/trace/timeline.ts';

const SOURCE = `bits 64
org 0x100000
  mov ebx, 0x200000
  xor ecx, ecx
l:
  add [rbx], ecx
  mov eax, [rbx+4]
  xor eax, ecx
  mov [rbx+8], eax
  call f
  mov edx, ecx
  and edx, 0xffff
  mov [rbx+rdx*8+0x1000], eax
  inc ecx
  jmp l
f:
  ret
`;

function machine(): Machine {
  const asm = assemble(SOURCE);
  if (!asm.ok) throw new Error(asm.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n'));
  return machineFrom(createBareMachine({ mode: 'long64', load: 0x100000, code: asm.bytes }));
}

export function benchTimeTravel(): void {
  const STEPS = 1_000_000;
  const INTERVAL = 10_000;
  // Best of three (after a warm-up) for the plain run and the checkpointed run.
  let plainMs = Infinity;
  let runMs = Infinity;
  let m = machine();
  let tl = new Timeline(m, { interval: INTERVAL });
  let copiesBefore = 0;
  for (let round = 0; round < 4; round++) {
    const plain = machine();
    let t0 = performance.now();
    plain.run(STEPS);
    if (round > 0) plainMs = Math.min(plainMs, performance.now() - t0);
    m = machine();
    copiesBefore = m.mem.cowCopies;
    t0 = performance.now();
    tl = new Timeline(m, { interval: INTERVAL });
    tl.step(STEPS);
    if (round > 0) runMs = Math.min(runMs, performance.now() - t0);
  }
  const copies = m.mem.cowCopies - copiesBefore;
  const cps = tl.checkpoints();

  let seed = 12345;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (let i = 0; i < 20; i++) tl.goto(Math.floor(rand() * STEPS)); // warm-up
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const k = Math.floor(rand() * STEPS);
    const s = performance.now();
    tl.goto(k);
    times.push(performance.now() - s);
    if (tl.current !== k) throw new Error(`goto(${k}) reached ${tl.current}`);
  }
  times.sort((a, b) => a - b);
  const median = times[times.length >> 1]!;
  const worst = times[times.length - 1]!;

  const own = cps.reduce((n, c) => n + snapshotBytes(c), 0) / cps.length;
  const perInterval = copies / (cps.length - 1);
  console.log(
    `time travel: step back anywhere in a ${STEPS.toLocaleString('en')}-step run: worst ${worst.toFixed(2)} ms, median ${median.toFixed(2)} ms ` +
      `(checkpoint every ${INTERVAL.toLocaleString('en')} steps, 200 random targets after 20 for warm-up)`,
  );
  console.log(
    `time travel: memory per checkpoint: ${Math.round(own)} bytes of its own (page references for ${m.mem.allocatedPages()} pages, TLB, CPU state) ` +
      `+ ${perInterval.toFixed(1)} pages copied on write per interval (${Math.round(perInterval * 4096)} bytes) = ${Math.round(own + perInterval * 4096)} bytes`,
  );
  console.log(
    `time travel: the checkpointed run took ${runMs.toFixed(1)} ms, the plain run ${plainMs.toFixed(1)} ms (best of 3) ` +
      `(${cps.length} checkpoints, ${copies} page copies)`,
  );
}
