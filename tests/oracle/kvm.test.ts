/**
 * The KVM oracle (tests/oracle/kvm): reproduces the `exec` samples KVM produced, and shows what
 * KVM reports for string I/O, wide and page-crossing MMIO, runaway guests and unsupported forms.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comparableExec, type ExecMode, type ExecResult } from './exec-types.ts';
import { KvmOracle, kvmAvailable } from './kvm/client.ts';
import { nasm, nasmAvailable } from './kvm/nasm.ts';

const here = dirname(fileURLToPath(import.meta.url));
const SAMPLES = join(here, 'kvm', 'samples');
const LOAD = 0x100000;

const kvm = await kvmAvailable();
const asm = nasmAvailable();
const skipWhy = !kvm.ok ? kvm.why : !asm.ok ? asm.why : undefined;
if (skipWhy) console.warn(`[kvm oracle] skipped: ${skipWhy}`);

describe.skipIf(skipWhy !== undefined)('KVM oracle', () => {
  let oracle: KvmOracle;
  beforeAll(async () => {
    oracle = await KvmOracle.start();
  });
  afterAll(() => oracle?.close());

  const run = (mode: ExecMode, body: string, extra: { maxExits?: number; timeoutMs?: number; dump?: { addr: number; len: number } } = {}): Promise<ExecResult> =>
    oracle.run({ mode, load: LOAD, code: nasm(`bits ${mode === 'long64' ? 64 : 32}\norg ${LOAD}\n${body}`), ...extra });

  describe('reproduces the exec samples KVM produced', () => {
    const samples = readdirSync(SAMPLES).filter((f) => f.endsWith('.asm'));
    it('has samples to check', () => {
      expect(samples.length).toBeGreaterThanOrEqual(3);
    });
    for (const file of samples) {
      it(file, async () => {
        const mode = file.split('.')[1] as ExecMode;
        const code = nasm(readFileSync(join(SAMPLES, file), 'utf8'));
        const expected = JSON.parse(readFileSync(join(SAMPLES, file.replace(/\.asm$/, '.expected.json')), 'utf8')) as ExecResult;
        const got = await oracle.run({ mode, load: LOAD, code });
        expect(comparableExec(got, { ignoreRfAfterShutdown: true })).toEqual(comparableExec(expected, { ignoreRfAfterShutdown: true }));
      });
    }
  });

  it('gives one io record per element of rep outsb, in order', async () => {
    const r = await run('prot32', `
      mov esi, msg
      mov ecx, 3
      mov dx, 0xe9
      rep outsb
      hlt
      msg: db 'abc'`);
    expect(r.end).toBe('hlt');
    expect(r.exits).toEqual([0x61, 0x62, 0x63].map((value) => ({ kind: 'io', dir: 'out', port: 0xe9, size: 1, value })));
    expect(r.regs['rcx']).toBe(0);
  });

  it('gives one in record per element of rep insw, the guest storing all ones', async () => {
    const r = await run('prot32', `
      mov edi, 0x200
      mov ecx, 2
      mov dx, 0x70
      rep insw
      hlt`, { dump: { addr: 0x200, len: 6 } });
    expect(r.exits).toEqual([
      { kind: 'io', dir: 'in', port: 0x70, size: 2, value: 0 },
      { kind: 'io', dir: 'in', port: 0x70, size: 2, value: 0 },
    ]);
    expect(r.dump).toBe('ffffffff0000');
  });

  it('reports an 8-byte MMIO write in long64 as one record, the value above 2^53 as a decimal string', async () => {
    const r = await run('long64', `
      mov rax, 0x1122334455667788
      mov rbx, 0x4000000
      mov [rbx], rax
      hlt`);
    expect(r.exits).toEqual([{ kind: 'mmio', dir: 'write', gpa: 0x4000000, size: 8, value: '1234605616436508552' }]);
  });

  it('splits a write crossing the end of RAM at 64 MiB: the low bytes land in RAM, the rest is an MMIO write', async () => {
    // Observed from KVM: the 4-byte store at 0x3fffffe writes 2 bytes of RAM, then exits with a 2-byte MMIO write at 0x4000000.
    const r = await run('prot32', `
      mov ecx, 0xaabbccdd
      mov [0x3fffffe], ecx
      hlt`, { dump: { addr: 0x3fffffc, len: 4 } });
    expect(r.exits).toEqual([{ kind: 'mmio', dir: 'write', gpa: 0x4000000, size: 2, value: 0xaabb }]);
    expect(r.dump).toBe('0000ddcc');
  });

  it('splits a read crossing the end of RAM: an MMIO read of the unbacked part, which reads as all ones', async () => {
    const r = await run('prot32', `
      mov word [0x3fffffe], 0x1234
      mov eax, [0x3fffffe]
      hlt`);
    expect(r.exits).toEqual([{ kind: 'mmio', dir: 'read', gpa: 0x4000000, size: 2, value: 0 }]);
    expect(r.regs['rax']).toBe(0xffff1234);
  });

  it('gives one MMIO record per element of rep movsd out of unbacked space', async () => {
    const r = await run('prot32', `
      mov esi, 0x3fffff8
      mov edi, 0x100
      mov ecx, 4
      rep movsd
      hlt`, { dump: { addr: 0x100, len: 16 } });
    expect(r.exits).toEqual([
      { kind: 'mmio', dir: 'read', gpa: 0x4000000, size: 4, value: 0 },
      { kind: 'mmio', dir: 'read', gpa: 0x4000004, size: 4, value: 0 },
    ]);
    expect(r.dump).toBe('00000000' + '00000000' + 'ffffffff' + 'ffffffff');
  });

  it('starts each run from fresh zeroed RAM: a previous run\'s store is gone', async () => {
    await run('prot32', 'mov dword [0x5000], 0xdeadbeef\nhlt');
    const r = await run('prot32', 'mov eax, [0x5000]\nhlt');
    expect(r.regs['rax']).toBe(0);
  });

  it('builds the long64 page tables at 0x1000 (PML4), 0x2000 (PDPT), 0x3000 (PD); the walk for the fetch sets their accessed bits', async () => {
    const r = await run('long64', 'hlt', { dump: { addr: 0x1000, len: 0x3010 } });
    const dump = r.dump ?? '';
    const qword = (addr: number): string => dump.slice((addr - 0x1000) * 2, (addr - 0x1000) * 2 + 16);
    // A (bit 5) set in each entry the code fetch at 0x100000 walked (SDM Vol. 3 4.8); D stays clear.
    expect(qword(0x1000)).toBe('2320000000000000');
    expect(qword(0x2000)).toBe('2330000000000000');
    expect(qword(0x3000)).toBe('a300000000000000');
    expect(qword(0x3008)).toBe('8300200000000000');
  });

  it('ends a runaway guest as limit when the wall-clock budget runs out', async () => {
    const t0 = Date.now();
    const r = await run('prot32', 'spin: jmp spin', { timeoutMs: 200 });
    expect(r.end).toBe('limit');
    expect(r.regs['rip']).toBe(LOAD);
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('ends as limit after maxExits exits', async () => {
    const r = await run('prot32', 'again: out 0x80, al\ninc al\njmp again', { maxExits: 5 });
    expect(r.end).toBe('limit');
    expect(r.exits.map((e) => e.value)).toEqual([0, 1, 2, 3, 4]);
  });

  it('completes a pending IN before reading registers when the exit budget ends the run', async () => {
    const r = await run('prot32', 'in al, 0x60\nhlt', { maxExits: 1 });
    expect(r.end).toBe('limit');
    expect(r.exits).toEqual([{ kind: 'io', dir: 'in', port: 0x60, size: 1, value: 0 }]);
    expect(r.regs['rax']).toBe(0xff);
    expect(r.regs['rip']).toBe(LOAD + 2);
  });

  it('never runs INT3 to the HLT: the nested KVM here reports an internal error (use the QEMU oracle); hardware would shut down', async () => {
    const r = await run('prot32', 'int3\nhlt');
    expect(['error', 'shutdown']).toContain(r.end);
    if (r.end === 'error') expect(r.error).toMatch(/KVM_EXIT_INTERNAL_ERROR/);
    expect(r.regs['rip']).toBe(LOAD);
  });

  it('rejects a dump outside RAM with an error result, and keeps serving requests', async () => {
    const bad = await run('prot32', 'hlt', { dump: { addr: 0x3fffff0, len: 0x20 } });
    expect(bad.end).toBe('error');
    expect(bad.error).toMatch(/dump outside RAM/);
    const good = await run('prot32', 'mov eax, 7\nhlt');
    expect(good.regs['rax']).toBe(7);
  });
});
