/**
 * Integration: a real 32-bit program, assembled by the lab's assembler, run on a CPU whose port I/O
 * is the device bus and whose interrupt controller is the 8259A pair. It remaps the PICs to
 * 0x20..0x2F, programs PIT counter 0 for periodic interrupts, sets up COM1 and prints a line by
 * polling LSR.THRE, takes N timer interrupts (the handler sends a non-specific EOI) and halts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assembler.ts';
import { createBareMachine } from '../machine/bare.ts';
import { machineFrom } from '../machine/machine.ts';
import { PcPlatform } from './platform.ts';

const LOAD = 0x100000;

function program(ticks: number, count: number, message: string): string {
  return `bits 32
org ${LOAD}
  ; A flat GDT at 0x500 (0x08 code, 0x10 data) and an interrupt gate for vector 0x20 at 0x800.
  mov dword [0x500], 0
  mov dword [0x504], 0
  mov dword [0x508], 0x0000ffff
  mov dword [0x50c], 0x00cf9a00
  mov dword [0x510], 0x0000ffff
  mov dword [0x514], 0x00cf9200
  lgdt [gdtr]
  mov eax, tick
  mov word [0x800 + 0x20*8], ax
  mov word [0x800 + 0x20*8 + 2], 0x08
  mov word [0x800 + 0x20*8 + 4], 0x8e00
  shr eax, 16
  mov word [0x800 + 0x20*8 + 6], ax
  lidt [idtr]
  ; 8259A pair: ICW1 (edge, cascade, ICW4), ICW2 bases 0x20 / 0x28, ICW3, ICW4 (8086), masks.
  mov al, 0x11
  out 0x20, al
  out 0xa0, al
  mov al, 0x20
  out 0x21, al
  mov al, 0x28
  out 0xa1, al
  mov al, 0x04
  out 0x21, al
  mov al, 0x02
  out 0xa1, al
  mov al, 0x01
  out 0x21, al
  out 0xa1, al
  mov al, 0xfe
  out 0x21, al
  mov al, 0xff
  out 0xa1, al
  ; PIT counter 0: LSB then MSB, mode 2, binary, count ${count}.
  mov al, 0x34
  out 0x43, al
  mov al, ${count & 0xff}
  out 0x40, al
  mov al, ${count >> 8}
  out 0x40, al
  ; COM1: divisor 1 (115200 baud), 8N1, FIFOs on and cleared.
  mov dx, 0x3fb
  mov al, 0x80
  out dx, al
  mov dx, 0x3f8
  mov al, 1
  out dx, al
  mov dx, 0x3f9
  mov al, 0
  out dx, al
  mov dx, 0x3fb
  mov al, 0x03
  out dx, al
  mov dx, 0x3fa
  mov al, 0xc7
  out dx, al
  ; Print the message, waiting for THRE before each byte.
  mov esi, msg
next:
  mov bl, [esi]
  test bl, bl
  jz printed
wait_thre:
  mov dx, 0x3fd
  in al, dx
  test al, 0x20
  jz wait_thre
  mov dx, 0x3f8
  mov al, bl
  out dx, al
  inc esi
  jmp next
printed:
  xor ecx, ecx
  sti
idle:
  hlt
  cmp ecx, ${ticks}
  jb idle
  cli
  hlt
tick:
  push eax
  inc ecx
  mov al, 0x20
  out 0x20, al
  pop eax
  iretd
gdtr:
  dw 23
  dd 0x500
idtr:
  dw 0x30*8-1
  dd 0x800
msg:
  db ${[...message].map((c) => c.charCodeAt(0)).join(', ')}, 0
`;
}

function boot(ticks: number, count: number, message: string, stepsPerTick = 1) {
  const asm = assemble(program(ticks, count, message));
  if (!asm.ok) throw new Error(asm.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n'));
  const m = machineFrom(createBareMachine({ mode: 'prot32', load: LOAD, code: asm.bytes }));
  const p = new PcPlatform({ stepsPerTick });
  p.attach(m.cpu);
  return { m, p };
}

describe('a guest driving the PIC, PIT and UART through the port bus', () => {
  it('prints by polling THRE, takes N timer interrupts with EOI, halts', () => {
    const N = 5;
    const { m, p } = boot(N, 1000, 'hello from COM1\r\n');
    const end = p.run(m.cpu, 1_000_000);

    expect(end).toBe('hlt');
    expect(p.uart.state.console).toBe('hello from COM1\r\n');
    expect(m.cpu.state.regLo[1]).toBe(N); // ECX counted the handler's runs
    const pic = p.pic.state;
    expect(pic.delivered[0]).toBe(N);
    expect(pic.delivered.slice(1).every((n) => n === 0)).toBe(true);
    expect(pic.spurious).toBe(0);
    expect(pic.master).toMatchObject({ base: 0x20, icw3: 0x04, icw4: 0x01, imr: 0xfe, isr: 0, initialised: true });
    expect(pic.slave).toMatchObject({ base: 0x28, icw3: 0x02, imr: 0xff, isr: 0, initialised: true });
    expect(p.pit.state.channels[0]).toMatchObject({ mode: 2, rw: 3, n: 1000 });
    // The N-th interrupt came N periods after the count was loaded; the run ended soon after.
    expect(p.pit.state.channels[0].edges).toBe(N);
    const loaded = p.pit.state.channels[0].loadAt;
    expect(m.cpu.state.steps).toBeGreaterThan(loaded + N * 1000);
    expect(m.cpu.state.steps).toBeLessThan(loaded + N * 1000 + 20);
    // Every access went through the bus; the UART saw one THR write per character.
    expect(p.bus.log.filter((a) => a.dir === 'out' && a.port === 0x3f8 && a.device === 'uart').length).toBe(1 + 17);
    expect(p.bus.log.every((a) => a.device !== null)).toBe(true);
  });

  it('is deterministic, and a snapshot taken mid-run replays to the same end', () => {
    const a = boot(4, 700, 'abc', 3);
    const b = boot(4, 700, 'abc', 3);
    a.p.run(a.m.cpu, 2000);
    const mid = a.p.snapshot();
    const cpuMid = a.m.snapshot();
    a.p.run(a.m.cpu, 100_000);
    b.p.run(b.m.cpu, 100_000);
    expect(a.m.cpu.state.steps).toBe(b.m.cpu.state.steps);
    expect(a.p.snapshot()).toEqual(b.p.snapshot());
    const end = a.p.snapshot();
    const stepsEnd = a.m.cpu.state.steps;
    // Back to the middle (the Machine's checkpoint of CPU and memory, the platform's of the devices).
    a.p.restore(mid);
    a.m.restore(cpuMid);
    a.p.run(a.m.cpu, 100_000);
    expect(a.m.cpu.state.steps).toBe(stepsEnd);
    expect(a.p.snapshot()).toEqual(end);
    expect(a.p.uart.state.console).toBe('abc');
    expect(a.p.pic.state.delivered[0]).toBe(4);
  });

  it('with steps per tick > 1 the interrupts are that much further apart', () => {
    const one = boot(3, 500, 'x', 1);
    const four = boot(3, 500, 'x', 4);
    one.p.run(one.m.cpu, 1_000_000);
    four.p.run(four.m.cpu, 1_000_000);
    expect(one.p.pic.state.delivered[0]).toBe(3);
    expect(four.p.pic.state.delivered[0]).toBe(3);
    const span = (x: typeof one) => x.m.cpu.state.steps;
    expect(span(four) - span(one)).toBeGreaterThan(3 * 500 * 3 - 100);
  });
});

type Op =
  | { k: 'out'; port: number; value: number }
  | { k: 'in'; port: number }
  | { k: 'rx'; bytes: number[] }
  | { k: 'irq'; line: number; high: boolean }
  | { k: 'tick'; steps: number }
  | { k: 'ack' };

const PORTS = [0x20, 0x21, 0xa0, 0xa1, 0x40, 0x41, 0x42, 0x43, 0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff];
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('out' as const), port: fc.constantFrom(...PORTS), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ k: fc.constant('in' as const), port: fc.constantFrom(...PORTS) }),
  fc.record({ k: fc.constant('rx' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 20 }) }),
  fc.record({ k: fc.constant('irq' as const), line: fc.constantFrom(1, 3, 5, 6, 7, 8, 9, 12, 15), high: fc.boolean() }),
  fc.record({ k: fc.constant('tick' as const), steps: fc.integer({ min: 0, max: 3000 }) }),
  fc.record({ k: fc.constant('ack' as const) }),
);

/** Applies `op`; returns what the guest would see (a read, an acknowledge's vector), else null. */
function apply(p: PcPlatform, op: Op): number | null {
  switch (op.k) {
    case 'out': p.bus.portOut(op.port, 1, op.value); return null;
    case 'in': return p.bus.portIn(op.port, 1);
    case 'rx': p.uart.receive(op.bytes); return null;
    case 'irq': p.pic.setIrq(op.line, op.high); return null;
    case 'tick': p.pit.advance(op.steps); return null;
    case 'ack': return p.pic.pending() ? p.pic.acknowledge() : -1;
  }
}

describe('device state as plain data', () => {
  it('snapshot → JSON → restore into a fresh platform: both then answer every access alike', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), fc.array(opArb, { maxLength: 40 }), (before, after) => {
        const a = new PcPlatform({ stepsPerTick: 2 });
        for (const op of before) apply(a, op);
        const snap = JSON.parse(JSON.stringify(a.snapshot())) as ReturnType<PcPlatform['snapshot']>;
        const b = new PcPlatform({ stepsPerTick: 2 });
        b.restore(snap);
        expect(b.snapshot()).toEqual(a.snapshot());
        for (const op of after) expect(apply(b, op)).toBe(apply(a, op));
        expect(b.snapshot()).toEqual(a.snapshot());
      }),
      { numRuns: 200 },
    );
  });

  it('the guest run does not depend on how it is sliced', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 30 }), (slices) => {
        const whole = boot(3, 300, 'hi', 2);
        whole.p.run(whole.m.cpu, 50_000);
        const sliced = boot(3, 300, 'hi', 2);
        let i = 0;
        while (sliced.m.cpu.state.steps < whole.m.cpu.state.steps && !sliced.p.stuck(sliced.m.cpu)) {
          sliced.p.run(sliced.m.cpu, slices[i++ % slices.length]!);
        }
        expect(sliced.m.cpu.state.steps).toBe(whole.m.cpu.state.steps);
        expect(sliced.p.snapshot()).toEqual(whole.p.snapshot());
        expect(sliced.m.cpu.state.regLo[1]).toBe(3);
      }),
      { numRuns: 15 },
    );
  });
});
