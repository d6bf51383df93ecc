/**
 * The PC/AT devices wired together: a PortBus with the 8259A pair (0x20/0x21, 0xA0/0xA1), the
 * 8254 PIT (0x40..0x43, counter 0 on IRQ 0) and a 16550A UART as COM1 (0x3F8..0x3FF, IRQ 4). It
 * gives a CPU its `io` (the bus) and `interrupts` (the PIC pair), and drives the PIT's clock in
 * step with the CPU (`run`): the PIT is advanced after every instruction, so IRQ 0 is requested at
 * the step the PIT says, and a halted CPU (IF = 1) idles to the next edge the way the CPU itself
 * idles to its own timer. Nothing here reads a clock: same program, same run, however it is sliced.
 *
 * Device state is plain data: `snapshot` / `restore` for checkpoints, and the same data for
 * views (the console's text, the PICs' IRR/ISR/IMR, the PIT's counters).
 */
import type { Cpu, RunEnd } from '../cpu/cpu.ts';
import { Flag } from '../cpu/state.ts';
import { PortBus, type PortAccess } from './bus.ts';
import { Pic8259Pair, type PicState } from './pic8259.ts';
import { Pit8254, type PitState } from './pit8254.ts';
import { Uart16550, type UartState } from './uart16550.ts';

export const COM1_PORT = 0x3f8;
export const COM1_IRQ = 4;
export const PIT_IRQ = 0;

export interface PlatformOptions {
  /** CPU steps per PIT clock pulse (default 1). */
  stepsPerTick?: number;
}

export interface PlatformSnapshot {
  readonly pic: PicState;
  readonly pit: PitState;
  readonly uart: UartState;
  readonly portLog: readonly PortAccess[];
  readonly portLogLength: number;
}

export class PcPlatform {
  readonly bus = new PortBus();
  readonly pic = new Pic8259Pair();
  readonly pit: Pit8254;
  readonly uart = new Uart16550();

  constructor(opts: PlatformOptions = {}) {
    this.pit = new Pit8254(opts.stepsPerTick ?? 1);
    this.bus.claim(0x20, 2, this.pic.masterPorts);
    this.bus.claim(0xa0, 2, this.pic.slavePorts);
    this.bus.claim(0x40, 4, this.pit);
    this.bus.claim(COM1_PORT, 8, this.uart);
    this.pit.onOut0 = (high) => this.pic.setIrq(PIT_IRQ, high);
    this.uart.onIrq = (high) => this.pic.setIrq(COM1_IRQ, high);
    this.pic.setIrq(PIT_IRQ, this.pit.out(0));
  }

  /** Makes these devices the CPU's port I/O and interrupt controller. */
  attach(cpu: Cpu): void {
    cpu.io = this.bus;
    cpu.interrupts = this.pic;
  }

  /**
   * Runs `cpu` (attached to this platform) for up to `maxSteps` steps, advancing the PIT with it.
   * Ends as Cpu.run does: 'hlt' when halted with nothing able to wake it (IF = 0, or no unmasked
   * request can come: the PIT's next edge is never, or IRQ 0 is masked), 'shutdown', 'exit' (a
   * guest monitor took an intercept), or 'limit'.
   *
   * The CPU runs one instruction per Cpu.run call. Why: the CPU counts retired instructions in
   * `state.steps` only at the end of a block, so a port access in the middle of a block cannot know
   * its own step, and the PIT's answer (a count read, the pulse a new count loads on) would depend
   * on where blocks and run slices happen to end, which differs between a straight run and a replay
   * from a checkpoint. One instruction per call makes every access see its exact step, at about a
   * tenth of the CPU's chained speed (some 2 million steps a second in Node). A halted CPU does not
   * pay it: it idles straight to the PIT's next edge. (Under a hypervisor each port access is an
   * I/O exit, which the CPU takes at an exact step, so this cost is the bare platform's only.)
   */
  run(cpu: Cpu, maxSteps: number): RunEnd {
    const s = cpu.state;
    const end = s.steps + maxSteps;
    while (s.steps < end) {
      const before = s.steps;
      const r = cpu.run(1);
      this.pit.advance(s.steps - before);
      if (r === 'shutdown' || r === 'exit') return r;
      if (r === 'limit' || s.steps > before) continue;
      // Halted, and the CPU has nothing of its own to wait for: idle to the PIT's next edge.
      if (!this.canWake(cpu)) return 'hlt';
      const idle = Math.min(end - s.steps, this.pit.stepsToNextEdge(0));
      s.steps += idle;
      s.tsc += idle;
      this.pit.advance(idle);
    }
    return s.halted ? 'hlt' : 'limit';
  }

  /** Whether the CPU can go no further: shut down, or halted with nothing here or in it to wake it. */
  stuck(cpu: Cpu): boolean {
    return cpu.stuck() && (cpu.state.shutdown || !this.canWake(cpu));
  }

  /** Whether a halted CPU will be woken by the PIT's next edge (or by a request already pending). */
  private canWake(cpu: Cpu): boolean {
    const s = cpu.state;
    if ((s.rflags & Flag.IF) === 0 || s.shutdown) return false;
    if (this.pic.pending()) return true;
    if (this.pit.stepsToNextEdge(0) === Infinity) return false;
    const m = this.pic.state.master;
    return (m.imr & (1 << PIT_IRQ)) === 0;
  }

  snapshot(): PlatformSnapshot {
    return { pic: this.pic.snapshot(), pit: this.pit.snapshot(), uart: this.uart.snapshot(), portLog: this.bus.log, portLogLength: this.bus.logLength };
  }

  restore(snap: PlatformSnapshot): void {
    this.pic.restore(snap.pic);
    this.pit.restore(snap.pit);
    this.uart.restore(snap.uart);
    this.bus.restoreLog(snap.portLog, snap.portLogLength);
  }
}
