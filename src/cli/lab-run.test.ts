import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from './lab.ts';

function call(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(args, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'lab-run-'));
const EXAMPLES = join(import.meta.dirname, '../emu/scenario/examples');

describe('lab run', () => {
  it('prints the final state of an example scenario as JSON', () => {
    const r = call(['run', join(EXAMPLES, 'syscalls.json')]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as Record<string, unknown>;
    expect(Object.keys(j)).toEqual(['name', 'end', 'steps', 'cpl', 'regs', 'uart', 'ports', 'timer']);
    expect(j.end).toBe('hlt');
    expect(j.uart).toBe('hello from INT 0x80\nhello from SYSCALL\n');
    expect(j.ports).toEqual({ accesses: 39, byPort: { '0x3f8': { in: 0, out: 39 } } });
    expect(Object.keys(j.regs as object).slice(0, 3)).toEqual(['rax', 'rbx', 'rcx']);
  });

  it('runs a scenario with several VMs: each VM\'s console, and under a hosted hypervisor who handled the exits', () => {
    const r = call(['run', join(EXAMPLES, 'hosted-two-vms.json')]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { end: string; vms: { name: string; console: string }[]; hosting: { hosting: string; exits: Record<string, number>; hostTurns: number } };
    expect(j.end).toBe('hlt');
    expect(j.vms.map((v) => v.name)).toEqual(['printer', 'ticker']);
    const bare = JSON.parse(call(['run', join(EXAMPLES, 'bare-metal-two-vms.json')]).out) as typeof j;
    expect(j.vms.map((v) => v.console)).toEqual(bare.vms.map((v) => v.console));
    expect(j.vms[0]!.console.length).toBeGreaterThan(0);
    expect(j.hosting.hosting).toBe('hosted');
    expect(j.hosting.hostTurns).toBeGreaterThan(0);
    expect(bare.hosting).toMatchObject({ hosting: 'bare-metal', hostTurns: 0, exits: j.hosting.exits });
    expect(call(['run', join(EXAMPLES, 'two-vms.json')]).code).toBe(0);
  });

  it('--max-steps ends the run early with "limit"', () => {
    const r = call(['run', '--max-steps', '100', join(EXAMPLES, 'timer.json')]);
    expect(JSON.parse(r.out)).toMatchObject({ end: 'limit', steps: 100 });
  });

  it('runs a version-0 (exec) program', () => {
    const f = join(dir, 'v0.json');
    writeFileSync(f, JSON.stringify({ version: 0, mode: 'prot32', load: 0x100000, code: 'b0 6f e6 e9 f4' }));
    const r = call(['run', f]);
    expect(JSON.parse(r.out)).toMatchObject({ end: 'hlt', ports: { accesses: 1, byPort: { '0xe9': { in: 0, out: 1 } } } });
  });

  it('prints every validation error as FILE: field: message, exit code 1', () => {
    const f = join(dir, 'bad.json');
    writeFileSync(f, JSON.stringify({ version: 1, name: 'x', cpu: { vendor: 'intel' }, mode: 'prot32', paging: '4level', memory: { size: 5000 }, kernel: { source: 'jmp foo' } }));
    const r = call(['run', f]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err.split('\n')).toEqual([
      `${f}: paging: '4level' needs mode 'long64'`,
      `${f}: memory.size: expected a multiple of 4096, got 5000`,
      `${f}: kernel.source: line 1, column 5: undefined label 'foo'`,
    ]);
  });

  it('rejects a file that is not JSON with exit code 1, and a missing file with exit code 2', () => {
    const f = join(dir, 'x.json');
    writeFileSync(f, '{ nope');
    const r = call(['run', f]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${f}: not JSON`);
    expect(call(['run', join(dir, 'missing.json')]).code).toBe(2);
    expect(call(['run']).code).toBe(2);
    expect(call(['run', '--max-steps', '0', f]).code).toBe(2);
  });
});

describe('lab trace', () => {
  function lines(args: string[]): { code: number; events: Record<string, unknown>[]; err: string } {
    const out: string[] = [];
    let err = '';
    const code = main(args, (s) => out.push(s), (s) => (err += s));
    return { code, events: out.map((l) => JSON.parse(l) as Record<string, unknown>), err };
  }

  it('prints one JSON event per line; the SYSCALL round trip shows as ring changes 3→0 and back', () => {
    const r = lines(['trace', '--kinds', 'ring/change', join(EXAMPLES, 'syscalls.json')]);
    expect(r.code).toBe(0);
    expect(r.events.every((e) => e.kind === 'ring/change')).toBe(true);
    const i = r.events.findIndex((e) => e.cause === 'syscall');
    expect(r.events[i]).toMatchObject({ from: 3, to: 0, cause: 'syscall' });
    expect(r.events[i + 1]).toMatchObject({ from: 0, to: 3, cause: 'sysret' });
  });

  it('traces every kind by default, with steps in order, and the #PF of the page-fault example', () => {
    const r = lines(['trace', join(EXAMPLES, 'page-fault.json')]);
    expect(r.code).toBe(0);
    const steps = r.events.map((e) => e.step as number);
    expect(steps.every((s, i) => i === 0 || s >= steps[i - 1]!)).toBe(true);
    expect(new Set(r.events.map((e) => e.kind))).toContain('cpu/insn');
    const pf = r.events.filter((e) => e.kind === 'cpu/exception' && e.vector === 14);
    expect(pf).toHaveLength(1);
    expect(pf[0]).toMatchObject({ errorCode: 6 });
  });

  it('rejects an unknown kind with exit code 2 naming --kinds', () => {
    const r = lines(['trace', '--kinds', 'cpu/bogus', join(EXAMPLES, 'page-fault.json')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--kinds');
  });

  it('traces a technique scenario: the vm/* events with the CPU events, steps in order', () => {
    const r = lines(['trace', join(EXAMPLES, 'vtx-first-exit.json')]);
    expect(r.code).toBe(0);
    const steps = r.events.map((e) => e.step as number);
    expect(steps.every((s, i) => i === 0 || s >= steps[i - 1]!)).toBe(true);
    expect(r.events[0]).toMatchObject({ kind: 'vm/entry', instruction: 'VMLAUNCH', step: 0 });
    const exits = r.events.filter((e) => e.kind === 'vm/exit');
    expect(exits.map((e) => e.code)).toEqual([10, 10, 30, 30, 30, 31, 18, 12]);
    expect(exits[2]).toMatchObject({ name: 'EXIT_REASON_IO_INSTRUCTION', info: { EXIT_QUALIFICATION: 0x3f80000, VM_EXIT_INSTRUCTION_LEN: 1 } });
    expect(r.events.filter((e) => e.kind === 'vm/entry' && e.instruction === 'VMRESUME')).toHaveLength(7);
    expect(r.events.find((e) => e.kind === 'vm/field')).toMatchObject({ op: 'read', field: 'VM_EXIT_REASON', key: 0x4402, value: 10 });
    expect(r.events[r.events.length - 1]).toMatchObject({ kind: 'vm/end', why: 'hlt' });
  });
});

describe('lab run under a technique', () => {
  it('prints the guest\'s final state and the hypervisor\'s exits and cost', () => {
    const r = call(['run', join(EXAMPLES, 'svm-first-exit.json')]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { end: string; steps: number; cpl: number; regs: Record<string, number>; uart: string; hv: Record<string, unknown> };
    expect(j).toMatchObject({ end: 'hlt', steps: 20, cpl: 0, uart: 'Hi\n' });
    // The guest's registers (the host's CPU state is not what the scenario ran): RBX = '!', EFER without SVME.
    expect(j.regs.rbx).toBe(0x21);
    expect(j.regs.efer).toBe(0xd00);
    expect(j.hv).toMatchObject({
      under: 'svm', steps: 20, exitTotal: 8, console: 'Hi\n!',
      exits: { VMEXIT_CPUID: { code: 0x72, count: 2 }, VMEXIT_IOIO: { code: 0x7b, count: 3 }, VMEXIT_MSR: { code: 0x7c, count: 1 }, VMEXIT_VMMCALL: { code: 0x81, count: 1 }, VMEXIT_HLT: { code: 0x78, count: 1 } },
      cost: { preset: 'amd-recent', vendor: 'amd' },
    });
  });
});
