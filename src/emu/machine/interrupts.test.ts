/**
 * External interrupts through the real CPU: the interval timer interrupts HLT and a ring-3 loop,
 * delivery goes through the guest's own IDT (with the TSS stack switch from ring 3), and IRETQ
 * returns; the whole run is deterministic. The guest code is assembled by the lab's assembler.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { timerProgram } from '../cpu/timer.ts';
import { bareResult, createBareMachine } from './bare.ts';
import { GDT_TSS_SETUP } from './long-mode-kit.ts';

/** GDT (ring-0/ring-3 64-bit code and data, a TSS with RSP0 = 0x90000) and an IDT whose vector 0x20 is `tick`. */
const SETUP = `
${GDT_TSS_SETUP}
  mov eax, tick
  mov word [0x800 + 0x20*16], ax
  mov word [0x800 + 0x20*16 + 2], 0x08
  mov word [0x800 + 0x20*16 + 4], 0x8e00
  shr eax, 16
  mov word [0x800 + 0x20*16 + 6], ax
  mov dword [0x800 + 0x20*16 + 8], 0
  lidt [idtr]
`;
const DATA = `
align 8
gdtr: dw 55
  dq 0x500
align 8
idtr: dw 0x20*16+15
  dq 0x800
`;

function machine(source: string, period: number) {
  const asm = assemble(source);
  if (!asm.ok) throw new Error(asm.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n'));
  const m = createBareMachine({ mode: 'long64', load: 0x100000, code: asm.bytes });
  timerProgram(m.cpu.state.timer, 0x20, period);
  return m;
}

/** HLT with IF = 1 until the timer's handler has counted `n` ticks in EBX, then CLI; HLT for good. */
function haltUntilTicks(n: number): string {
  return `bits 64
org 0x100000
${SETUP}
  xor ebx, ebx
  sti
.wait:
  hlt
  cmp ebx, ${n}
  jb .wait
  cli
  hlt
tick:
  inc ebx
  iretq
${DATA}`;
}

describe('external interrupts from the timer, delivered through the IDT', () => {
  it('wake a halted CPU; the handler runs and IRETQ returns after the HLT', () => {
    const src = haltUntilTicks(3);
    const m = machine(src, 1000);
    const end = m.cpu.run(1_000_000);
    expect(end).toBe('hlt');
    const r = bareResult(m, end);
    expect(r.regs.rbx).toBe(3);
    expect(m.cpu.state.timer.fired).toBe(3);
    // HLT waits in whole steps: three periods have passed, plus the instructions run.
    expect(m.cpu.state.steps).toBeGreaterThanOrEqual(3000);
  });

  it('with IF = 0 the timer is pending but not taken, and HLT ends the run', () => {
    const src = `bits 64
org 0x100000
${SETUP}
  cli
  mov ecx, 50
.spin:
  dec ecx
  jnz .spin
  hlt
tick:
  mov eax, 0xbad
  iretq
${DATA}`;
    const m = machine(src, 10);
    expect(m.cpu.run(100_000)).toBe('hlt');
    expect(m.cpu.state.regLo[0]).not.toBe(0xbad);
    expect(m.cpu.state.timer.pending).toBe(true);
  });

  it('preempt a ring-3 loop at a fixed period: the stack switches to RSP0 and the frame holds ring-3 CS and SS', () => {
    // The start state's identity map is supervisor-only: make it user-accessible for ring 3.
    const src = `bits 64
org 0x100000
${SETUP}
  or dword [0x1000], 4
  or dword [0x2000], 4
  or dword [0x3000], 4
  mov rax, cr3
  mov cr3, rax
  xor r12d, r12d
  push 0x23
  push 0x8f000
  push 0x202
  push 0x1b
  push user
  iretq
user:
  inc rax
  jmp user
tick:
  mov rbx, [rsp+8]
  mov rcx, [rsp+32]
  mov rdx, rsp
  mov [0x7000+r12*8], rax
  inc r12
  cmp r12, 4
  jb .back
  cli
  hlt
.back:
  iretq
${DATA}`;
    const run = () => {
      const m = machine(src, 500);
      const end = m.cpu.run(100_000);
      const samples = [0, 1, 2, 3].map((i) => m.mem.read(0x7000 + i * 8, 4));
      return { end, r: bareResult(m, end), samples };
    };
    const a = run();
    expect(a.end).toBe('hlt');
    expect(a.r.regs.rbx).toBe(0x1b); // CS pushed by the interrupt: ring 3
    expect(a.r.regs.rcx).toBe(0x23); // SS pushed: ring 3's stack segment
    expect(a.r.regs.rdx).toBe(0x90000 - 40); // RSP0 from the TSS, five quadwords pushed
    const d = a.samples.slice(1).map((v, i) => v - a.samples[i]!);
    expect(d.every((x) => x > 0 && x === d[0])).toBe(true); // periodic: the same work between ticks
    const b = run();
    expect(b).toEqual(a); // deterministic
  });
});

describe('Cpu.stuck: the machine can go no further', () => {
  it('is false while HLT waits for the timer, true once CLI; HLT leaves nothing to wake it, and agrees with run at every step', () => {
    const src = haltUntilTicks(2);
    const m = machine(src, 300);
    let haltedWaiting = 0;
    for (let i = 0; i < 10_000 && !m.cpu.stuck(); i++) {
      if (m.cpu.state.halted) haltedWaiting++;
      const before = m.cpu.state.steps;
      // Not stuck: the machine moves on (time passes in steps even while HLT waits).
      m.cpu.run(1);
      expect(m.cpu.state.steps).toBeGreaterThan(before);
    }
    expect(haltedWaiting).toBeGreaterThan(0);
    expect(m.cpu.stuck()).toBe(true);
    expect(m.cpu.state.halted).toBe(true);
    expect(m.cpu.state.regLo[3]).toBe(2);
    // Stuck: run goes nowhere and says why.
    const at = m.cpu.state.steps;
    expect(m.cpu.run(1000)).toBe('hlt');
    expect(m.cpu.state.steps).toBe(at);
  });
});
