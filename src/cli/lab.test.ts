import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, parseNumber } from './lab.ts';
import { HALTER, SPINNER, spinner } from '../emu/hv/host-guests.ts';

function call(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(args, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'lab-test-'));
const bin = join(dir, 'p.bin');
// mov al, 'o'; out 0xe9, al; hlt (32-bit)
writeFileSync(bin, new Uint8Array([0xb0, 0x6f, 0xe6, 0xe9, 0xf4]));

describe('lab exec command line', () => {
  it('runs a file and prints the exec JSON with keys in the documented order', () => {
    const r = call(['exec', '--mode', 'prot32', '--load', '0x100000', bin]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { exits: unknown[]; end: string; regs: Record<string, number> };
    expect(Object.keys(j)).toEqual(['exits', 'end', 'regs', 'hv']);
    expect(j.exits).toEqual([{ kind: 'io', dir: 'out', port: 0xe9, size: 1, value: 0x6f }]);
    expect(j.end).toBe('hlt');
    expect(Object.keys(j.regs).slice(0, 3)).toEqual(['rax', 'rbx', 'rcx']);
    expect(j.regs.rip).toBe(0x100005);
  });
  it('--under svm runs the same file as the hypervisor\u2019s guest: the bare JSON plus an hv object', () => {
    const b = JSON.parse(call(['exec', '--mode', 'prot32', '--load', '0x100000', bin]).out);
    const r = call(['exec', '--mode', 'prot32', '--load', '0x100000', '--under', 'svm', bin]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(Object.keys(j)).toEqual(['exits', 'end', 'regs', 'hv']);
    expect({ exits: j.exits, end: j.end, regs: j.regs }).toEqual({ exits: b.exits, end: b.end, regs: b.regs });
    expect(j.hv.under).toBe('svm');
    expect(j.hv.nested).toBe(true);
    expect(j.hv.exits).toEqual({ VMEXIT_IOIO: { code: 0x7b, count: 1 }, VMEXIT_HLT: { code: 0x78, count: 1 } });
    expect(j.hv.cost.preset).toBe('amd-recent');
    expect(j.hv.cost.cycles).toBeGreaterThan(0);
    const p = call(['exec', '--mode', 'prot32', '--load', '0x100000', '--under', 'svm', '--cost-preset', 'amd-recent', bin]);
    expect(JSON.parse(p.out).hv.cost.cycles).toBe(j.hv.cost.cycles);
  });
  it('--under vtx does the same under VT-x, priced by a VT-x preset', () => {
    const b = JSON.parse(call(['exec', '--mode', 'prot32', '--load', '0x100000', bin]).out);
    const j = JSON.parse(call(['exec', '--mode', 'prot32', '--load', '0x100000', '--under', 'vtx', bin]).out);
    expect({ exits: j.exits, end: j.end, regs: j.regs }).toEqual({ exits: b.exits, end: b.end, regs: b.regs });
    expect(j.hv.exits).toEqual({ EXIT_REASON_IO_INSTRUCTION: { code: 30, count: 1 }, EXIT_REASON_HLT: { code: 12, count: 1 } });
    expect(j.hv.cost.preset).toBe('intel-broadwell');
    const old = JSON.parse(call(['exec', '--mode', 'prot32', '--load', '0x100000', '--under', 'vtx', '--cost-preset', 'vtx-prescott', bin]).out);
    // First-generation VT-x costs more per exit than Broadwell.
    expect(old.hv.cost.cycles).toBeGreaterThan(j.hv.cost.cycles);
  });
  it('--under trap-emulate runs the kernel deprivileged: the same result, traps by instruction, priced on the Pentium 4 by default', () => {
    const b = JSON.parse(call(['exec', '--mode', 'prot32', '--load', '0x100000', bin]).out);
    const j = JSON.parse(call(['exec', '--mode', 'prot32', '--load', '0x100000', '--under', 'trap-emulate', bin]).out);
    expect({ exits: j.exits, end: j.end, regs: j.regs }).toEqual({ exits: b.exits, end: b.end, regs: b.regs });
    expect(j.hv.under).toBe('trap-emulate');
    expect(j.hv.paging).toBe('shadow');
    expect(j.hv.exits['#GP']).toEqual({ code: 13, count: 2 });
    expect(j.hv.traps).toMatchObject({ out: 1, hlt: 1 });
    expect(j.hv.cost.preset).toBe('vtx-prescott');
    expect(j.hv.cost.byKind.trap.count).toBe(j.hv.exitTotal);
    // Any processor prices it (no virtualization extension is used).
    expect(JSON.parse(call(['exec', '--mode', 'prot32', '--load', '0x100000', '--under', 'trap-emulate', '--cost-preset', 'amd-recent', bin]).out).hv.cost.vendor).toBe('amd');
    const l = call(['exec', '--mode', 'long64', '--load', '0x100000', '--under', 'trap-emulate', bin]);
    expect(l.code).toBe(2);
    expect(l.err).toMatch(/--under trap-emulate: trap-and-emulate runs a 32-bit guest/);
  });
  it('--under bt runs the kernel from the translation cache: the same result, the cache\u2019s statistics under hv.bt', () => {
    const b = JSON.parse(call(['exec', '--mode', 'prot32', '--load', '0x100000', bin]).out);
    const j = JSON.parse(call(['exec', '--mode', 'prot32', '--load', '0x100000', '--under', 'bt', bin]).out);
    expect({ exits: j.exits, end: j.end, regs: j.regs }).toEqual({ exits: b.exits, end: b.end, regs: b.regs });
    expect(j.hv.under).toBe('bt');
    expect(j.hv.bt).toMatchObject({ blocks: 2, callouts: { privileged: 2 }, codeWrites: 0, flushes: 0 });
    expect(j.hv.traps).toMatchObject({ out: 1, hlt: 1 });
    expect(j.hv.cost.byKind['bt-callout'].count).toBe(2);
    expect(j.hv.cost.byKind['bt-step'].count).toBe(2);
  });
  it('techniques compares the workload under every technique, per iteration', () => {
    const r = call(['techniques', '--iterations', '4', '--workload', 'ptemod', '--format', 'json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { iterations: number; preset: string; rows: { technique: string; exits: number; cycles: number }[] };
    expect(j.preset).toBe('vtx-prescott');
    expect(j.rows.map((x) => x.technique)).toEqual(['native', 'trap-emulate', 'bt', 'pv', 'vtx-shadow', 'vtx-nested', 'svm-shadow', 'svm-nested']);
    const by = Object.fromEntries(j.rows.map((x) => [x.technique, x]));
    expect(by.bt!.cycles).toBeLessThan(by['vtx-shadow']!.cycles);
    expect(by.pv!.exits).toBe(1);
    expect(by.pv!.cycles).toBeLessThan(by['vtx-shadow']!.cycles / 5);
    expect(call(['techniques', '--iterations', '4', '--workload', 'ptemod']).out).toMatch(/ptemod {3}pv .*update_va_mapping 1/);
    // Port I/O has no PV version: the table says so where the row would be, the JSON lists it.
    expect(call(['techniques', '--iterations', '2', '--workload', 'in']).out).toMatch(/in {7}bt .*\nin {7}pv {18}- {9}- {2}not available under PV: .*no I\/O privilege/);
    expect((JSON.parse(call(['techniques', '--iterations', '2', '--workload', 'in', '--format', 'json']).out) as { unavailable: { technique: string }[] }).unavailable.map((u) => u.technique)).toEqual(['pv']);
    expect(call(['techniques', '--iterations', '4', '--workload', 'ptemod']).out).toMatch(/ptemod {3}bt .*page-table write 1/);
    expect(call(['techniques', '--cost-preset', 'amd-recent']).err).toMatch(/prices AMD-V, not VT-x/);
    expect(call(['techniques', '--workload', 'fork']).err).toMatch(/--workload: 'fork' is not syscall, in, pgfault, ptemod, compute/);
  });
  it('hosting runs the same two VMs bare-metal and hosted: the same consoles, world switches and system calls only hosted', () => {
    const r = call(['hosting', '--lines', '2', '--format', 'json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { rows: { hosting: string; worldSwitches: number; syscalls: number; output: number; hostSteps: number; vms: { console: string }[] }[] };
    expect(j.rows.map((x) => x.hosting)).toEqual(['bare-metal', 'hosted']);
    const [bare, hosted] = j.rows;
    expect(hosted!.vms.map((v) => v.console)).toEqual(bare!.vms.map((v) => v.console));
    expect(bare!.worldSwitches).toBe(0);
    expect(hosted!.worldSwitches).toBeGreaterThan(0);
    expect(hosted!.syscalls).toBe(hosted!.output);
    expect(hosted!.hostSteps).toBeGreaterThan(0);
    expect(call(['hosting', '--lines', '2']).out).toMatch(/world switches +0 +\d+/);
    expect(call(['hosting', '--host-processes', '5']).err).toMatch(/--host-processes: 5 is not 0..3/);
    expect(call(['hosting', '--under', 'arm']).err).toMatch(/--under: 'arm' is not vtx or svm/);
  });
  it('pv runs the paravirtualized kernel as a domain: its console, results and hypercalls; --bare the same source on the bare processor', () => {
    const r = call(['pv']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.end).toBe('hypercall-exit');
    expect(j.console).toBe('kernel: up\nkernel: paging on\nuser: hello from ring 3\nkernel: the program exited\n');
    expect(j.results).toEqual({ syscalls: 2, exit_code: 55 });
    expect(j.hv.under).toBe('pv');
    expect(j.hv.paging).toBe('direct');
    expect(j.hv.hypercalls.counts.mmu_update).toBe(1);
    const mmu = j.hv.hypercalls.log.find((h: { name: string }) => h.name === 'mmu_update');
    expect(mmu.args.count).toBe(1025);
    expect(mmu.result).toBe(0);
    expect(j.hv.cost.preset).toBe('vtx-prescott');
    const bare = JSON.parse(call(['pv', '--kernel', 'unmodified', '--bare']).out);
    expect(bare.console).toBe(j.console);
    expect(bare.results).toEqual(j.results);
    expect(JSON.parse(call(['pv', '--cost-preset', 'core2-merom']).out).hv.cost.preset).toBe('core2-merom');
  });
  it('pv --kernel unmodified prints the run and fails with the located reason (exit code 1)', () => {
    const r = call(['pv', '--kernel', 'unmodified']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.end).toBe('error');
    expect(j.error).toMatch(/CLI at 0x100000: not paravirtualized/);
    expect(r.err).toMatch(/^lab pv: the unmodified kernel failed under the hypervisor: .*CLI at 0x100000/);
  });
  it('pv --diff prints the kernel diff; bad options are usage errors', () => {
    const r = call(['pv', '--diff']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.out) as { removed: string[]; added: string[] }[];
    expect(d.some((h) => h.removed.some((l) => l.trim() === 'cli') && h.added.some((l) => /evtchn_upcall_mask/.test(l)))).toBe(true);
    for (const [args, msg] of [
      [['pv', '--kernel', 'linux'], /--kernel: 'linux' is not paravirtualized or unmodified/],
      [['pv', '--diff', '--bare'], /--diff: .*--bare does not apply/],
      [['pv', '--bare', '--cost-preset', 'core2-merom'], /--cost-preset: the bare run/],
      [['pv', '--cost-preset', 'nope'], /--cost-preset: /],
    ] as const) {
      const e = call([...args]);
      expect(e.code).toBe(2);
      expect(e.err).toMatch(msg);
    }
  });
  it('partition runs two containers of one kernel; --vms two VMs with a kernel each; --crash panics the shared kernel or only one VM\u2019s', () => {
    const c = JSON.parse(call(['partition']).out);
    expect(c.as).toBe('containers');
    expect(c.kernelsInMemory).toBe(1);
    expect(c.units.map((u: { name: string; nsPid: number; pid: number }) => [u.name, u.pid, u.nsPid])).toEqual([['alpha', 1, 1], ['beta', 2, 1]]);
    expect(c.units.map((u: { exits: { total: number } }) => u.exits.total)).toEqual([0, 0]);
    const crash = call(['partition', '--crash']);
    expect(crash.code).toBe(0);
    const cc = JSON.parse(crash.out);
    expect(cc.units.map((u: { end: { kind: string } }) => u.end.kind)).toEqual(['stopped', 'panic']);
    expect(cc.console).toContain('kernel: halted; every container stops');
    const v = JSON.parse(call(['partition', '--vms', '--crash']).out);
    expect(v.as).toBe('vms');
    expect(v.kernelsInMemory).toBe(2);
    expect(v.units.map((u: { end: { kind: string } }) => u.end.kind)).toEqual(['exited', 'panic']);
    expect(v.units[0].exits.byName.EXIT_REASON_IO_INSTRUCTION).toBe(2 + 2 * v.units[0].console.length);
    const peek = JSON.parse(call(['partition', '--peek', '--under', 'svm']).out);
    expect(peek.preset).toBe('amd-recent');
    expect(peek.units.map((u: { end: { kind: string } }) => u.end.kind)).toEqual(['exited', 'killed']);
    for (const [args, msg] of [
      [['partition', '--crash', '--peek'], /--crash and --peek: beta does one or the other/],
      [['partition', '--under', 'bt'], /--under: 'bt' is not vtx or svm/],
      [['partition', '--vms', '--cost-preset', 'amd-recent'], /--cost-preset: preset 'amd-recent' prices AMD-V, not VT-x/],
      [['partition', 'extra'], /unexpected argument 'extra'/],
    ] as const) {
      const e = call([...args]);
      expect(e.code).toBe(2);
      expect(e.err).toMatch(msg);
    }
  });
  it('--nested off runs without nested paging (hv.nested false) and --nested on is the default', () => {
    const b = JSON.parse(call(['exec', '--mode', 'prot32', '--load', '0x100000', bin]).out);
    for (const under of ['svm', 'vtx']) {
      const on = JSON.parse(call(['exec', '--mode', 'prot32', '--load', '0x100000', '--under', under, '--nested', 'on', bin]).out);
      const off = JSON.parse(call(['exec', '--mode', 'prot32', '--load', '0x100000', '--under', under, '--nested', 'off', bin]).out);
      expect([on.hv.nested, off.hv.nested]).toEqual([true, false]);
      for (const j of [on, off]) expect({ exits: j.exits, end: j.end, regs: j.regs }).toEqual({ exits: b.exits, end: b.end, regs: b.regs });
    }
  });
  it.each([
    [['--nested', 'off'], /--nested: only with --under/],
    [['--under', 'svm', '--nested', 'no'], /--nested: 'no' is not on or off/],
    [['--under', 'vtx', '--cost-preset', 'amd-recent'], /prices AMD-V, not VT-x/],
    [['--under', 'kvm'], /--under: 'kvm' is not svm, vtx, trap-emulate or bt/],
    [['--under', 'trap-emulate', '--paging', 'nested'], /trap-and-emulate has no nested paging/],
    [['--under', 'trap-emulate', '--tlb-tags', 'on'], /runs untagged/],
    [['--under', 'bt', '--paging', 'nested'], /binary translation has no nested paging/],
    [['--cost-preset', 'amd-recent'], /--cost-preset: only with --under/],
    [['--under', 'svm', '--cost-preset', 'core2-merom'], /prices VT-x, not AMD-V/],
    [['--under', 'svm', '--cost-preset', 'nope'], /no cost preset 'nope'/],
  ])('exec %j is a usage error', (extra, msg) => {
    const r = call(['exec', '--mode', 'prot32', '--load', '0x100000', ...extra, bin]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
  });
  it('--max-steps ends a run with "limit"', () => {
    const r = call(['exec', '--mode', 'prot32', '--load', '1048576', '--max-steps', '1', bin]);
    expect(JSON.parse(r.out).end).toBe('limit');
  });
  it.each([
    [['exec', '--mode', 'real', '--load', '0', bin], '--mode'],
    [['exec', '--load', '0', bin], '--mode'],
    [['exec', '--mode', 'long64', '--load', '12q', bin], '--load'],
    [['exec', '--mode', 'long64', '--load', '0x7ffffff0', bin], '--load'],
    [['exec', '--mode', 'long64', '--load', '0', '--max-steps', '-1', bin], '--max-steps'],
    [['exec', '--mode', 'long64', '--load', '0'], 'FILE'],
    [['exec', '--mode', 'long64', '--load', '0', join(dir, 'missing.bin')], 'missing.bin'],
    [['exec', '--mode', 'long64', '--bogus', '1', bin], '--bogus'],
    [['frobnicate'], 'frobnicate'],
  ])('rejects %j with exit code 2 naming %s', (args, name) => {
    const r = call(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(name);
  });
  it('parses decimal and 0x-hex numbers', () => {
    expect(parseNumber('0x10', 'x')).toBe(16);
    expect(parseNumber('10', 'x')).toBe(10);
    expect(() => parseNumber('1e3', 'x')).toThrow(/x/);
  });
});

describe('lab asm, lab disasm, and exec of assembly text', () => {
  const good = join(dir, 'good.asm');
  writeFileSync(good, 'bits 32\norg 0x100000\n  mov al, 0x6f\n  out 0xe9, al\n  hlt\n');
  const bad = join(dir, 'bad.asm');
  writeFileSync(bad, 'bits 64\n  mov rax, 5\n  mov eax, [rsi+rcx*3]\n  jmp nowhere\n');

  it('assembles to the same bytes as the .bin fixture and prints a listing with addresses', () => {
    const out = join(dir, 'good.bin');
    const r = call(['asm', '--out', out, good]);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toMatch(/^00100000\s+b0 6f\s+mov al, 0x6f$/);
    expect(new Uint8Array(readFileSync(out))).toEqual(new Uint8Array([0xb0, 0x6f, 0xe6, 0xe9, 0xf4]));
  });

  it('shows each assembly error at its line and column with the source line and a caret, exit code 1', () => {
    const r = call(['asm', bad]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    const lines = r.err.split('\n');
    expect(lines[0]).toBe(`${bad}:3:17: error: scale 3 is not valid: expected 1, 2, 4 or 8`);
    expect(lines[1]).toBe('    mov eax, [rsi+rcx*3]');
    expect(lines[2]).toBe('                  ^');
    expect(r.err).toContain(`${bad}:4:7: error: undefined label 'nowhere'`);
  });

  it('exec runs an .asm file directly, and refuses one that does not assemble', () => {
    const ok = call(['exec', '--mode', 'prot32', '--load', '0x100000', good]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out).exits).toEqual([{ kind: 'io', dir: 'out', port: 0xe9, size: 1, value: 0x6f }]);
    const no = call(['exec', '--mode', 'long64', '--load', '0x100000', bad]);
    expect(no.code).toBe(1);
    expect(no.err).toContain(':3:17: error:');
  });

  it('disassembles bytes, showing undecodable ones as (bad)', () => {
    const f = join(dir, 'mixed.bin');
    writeFileSync(f, new Uint8Array([0x48, 0x01, 0xd8, 0x06, 0xd6, 0xf4]));
    const r = call(['disasm', '--mode', 'long64', '--org', '0x1000', f]);
    expect(r.code).toBe(0);
    expect(r.out.split('\n').map((l) => l.replace(/\s+/g, ' '))).toEqual([
      '00001000 48 01 d8 add rax, rbx',
      '00001003 06 (bad)',
      '00001004 d6 (bad)',
      '00001005 f4 hlt',
    ]);
  });
});

describe('lab exec --under vtx|svm with several --guest', () => {
  it('runs a 32-bit and a 64-bit guest side by side and prints per VM its console, exits by reason and steps', () => {
    const a = join(dir, 'halter.asm');
    const b = join(dir, 'spin.asm');
    writeFileSync(a, HALTER);
    writeFileSync(b, SPINNER);
    const r = call(['exec', '--under', 'vtx', '--load', '0x100000', '--quantum', '2000', '--guest', `prot32:${a},pc`, '--guest', `long64:${b},pc,name=sixty-four`]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { end: string; steps: number; switches: number; vms: { name: string; mode: string; console: string; steps: number; exits: Record<string, { code: number; count: number }> }[] };
    expect(j.end).toBe('ended');
    expect(j.vms.map((v) => [v.name, v.mode, v.console])).toEqual([['halter', 'prot32', 'hi ticks'], ['sixty-four', 'long64', 'bbb']]);
    expect(j.vms[1]!.exits.EXIT_REASON_PREEMPTION_TIMER!.code).toBe(52);
    expect(j.vms[0]!.steps + j.vms[1]!.steps).toBeLessThanOrEqual(j.steps);
    expect(j.switches).toBeGreaterThan(2);
  });

  it('does the same under AMD-V (VMMCALL for the exit hypercall)', () => {
    const a = join(dir, 'halter2.asm');
    const b = join(dir, 'spin-amd.asm');
    writeFileSync(a, HALTER);
    writeFileSync(b, spinner('vmmcall'));
    const j = JSON.parse(call(['exec', '--under', 'svm', '--load', '0x100000', '--guest', `prot32:${a},pc`, '--guest', `long64:${b},pc`]).out) as { under: string; vms: { name: string; console: string; exits: Record<string, { code: number }> }[] };
    expect(j.under).toBe('svm');
    expect(j.vms.map((v) => [v.name, v.console])).toEqual([['halter2', 'hi ticks'], ['spin-amd', 'bbb']]);
    expect(j.vms[1]!.exits.VMEXIT_INTR!.code).toBe(0x60);
  });

  it('refuses --guest without --under, FILE beside --guest, bad options and a fifth VM', () => {
    const f = join(dir, 'h.asm');
    writeFileSync(f, 'hlt');
    const g = ['--guest', `prot32:${f}`];
    expect(call(['exec', '--load', '0x100000', ...g]).err).toMatch(/only with --under/);
    expect(call(['exec', '--under', 'vtx', '--load', '0x100000', ...g, f]).err).toMatch(/each file in its --guest/);
    expect(call(['exec', '--under', 'vtx', '--load', '0x100000', '--guest', `prot32:${f},turbo`]).err).toMatch(/option 'turbo'/);
    expect(call(['exec', '--under', 'vtx', '--load', '0x100000', '--guest', `real16:${f}`]).err).toMatch(/MODE:FILE/);
    const five = Array.from({ length: 5 }, (_, i) => ['--guest', `prot32:${f},name=v${i}`]).flat();
    expect(call(['exec', '--under', 'vtx', '--load', '0x100000', ...five]).code).toBe(2);
    expect(call(['exec', '--under', 'vtx', '--load', '0x100000', ...g, ...g]).err).toMatch(/two VMs named/);
  });
});
