import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemble } from '../asm/assembler.ts';
import { BARE_RAM_SIZE, DEFAULT_MAX_STEPS as EXEC_MAX_STEPS, runBare, type BareMode } from '../machine/bare.ts';
import { generateProgram } from '../../../tests/oracle/gen/program-gen.ts';
import { loadScenario, migrate, migrateV0 } from './migrate.ts';
import { runScenario } from './build.ts';

const SAMPLES = join(import.meta.dirname, '../../../tests/oracle/kvm/samples');

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

function asm(source: string, mode: BareMode, origin: number): Uint8Array {
  const r = assemble(source, { bits: mode === 'long64' ? 64 : 32, origin });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.bytes;
}

/** Runs a v0 program both ways and compares everything `lab exec` reports that the Machine keeps. */
function compareWithExec(mode: BareMode, load: number, code: Uint8Array, maxSteps = 100_000): void {
  const exec = runBare({ mode, load, code, maxSteps });
  const r = loadScenario({ version: 0, mode, load, code: hex(code) });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const { machine, result } = runScenario(r.loaded, maxSteps);
  expect(result.end).toBe(exec.end);
  expect(result.steps).toBe(exec.hv.steps);
  for (const [k, v] of Object.entries(exec.regs)) expect(result.regs[k], k).toEqual(v);
  const io = exec.exits.filter((e) => e.kind === 'io');
  expect(machine.devices.portLog.map((p) => ({ kind: 'io', ...p }))).toEqual(io);
}

describe('version 0 (the lab exec program) migrates to v1', () => {
  it('becomes a bare-boot scenario with the exec machine', () => {
    expect(migrateV0({ version: 0, mode: 'long64', load: 0x100000, code: 'f4' })).toEqual({
      version: 1,
      name: 'exec',
      description: 'Migrated from a version-0 (lab exec) program.',
      boot: 'bare',
      cpu: { vendor: 'intel' },
      mode: 'long64',
      paging: '4level',
      memory: { size: BARE_RAM_SIZE },
      kernel: { bytes: 'f4', origin: 0x100000 },
      limits: { maxSteps: EXEC_MAX_STEPS },
    });
    expect(migrateV0({ version: 0, mode: 'prot32', load: 0, code: '' }).paging).toBe('none');
  });

  it('leaves v1 untouched and rejects unknown versions', () => {
    const v1 = { version: 1, name: 'x' };
    expect(migrate(v1)).toEqual({ ok: true, value: v1 });
    expect(migrate({ version: 7 })).toEqual({ ok: false, errors: [{ path: 'version', message: 'expected a version 0..1, got 7' }] });
    expect(migrate({})).toEqual({ ok: false, errors: [{ path: 'version', message: 'expected a version 0..1, got nothing' }] });
  });

  it('reports bad v0 fields through the v1 fields they became, and unknown v0 fields by name', () => {
    const r = loadScenario({ version: 0, mode: 'real', load: 0x100000, code: 'f4', extra: 1 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const paths = r.errors.map((e) => e.path);
    expect(paths).toContain('mode');
    expect(paths).toContain('extra');
    const far = loadScenario({ version: 0, mode: 'prot32', load: BARE_RAM_SIZE - 1, code: 'f4f4' });
    expect(far.ok ? [] : far.errors.map((e) => e.path)).toEqual(['kernel.origin']);
  });

  it.each(['fault.long64', 'io-mmio.prot32', 'loop-out.long64'])('the exec sample %s runs exactly like lab exec', (name) => {
    const mode = name.endsWith('long64') ? 'long64' : 'prot32';
    const code = asm(readFileSync(join(SAMPLES, `${name}.asm`), 'utf8'), mode, 0x100000);
    compareWithExec(mode, 0x100000, code);
  });

  it('40 generated programs run exactly like lab exec in both modes', () => {
    for (let seed = 1; seed <= 20; seed++) {
      for (const mode of ['prot32', 'long64'] as const) {
        const p = generateProgram(seed, mode);
        compareWithExec(mode, 0x100000, asm(p.source, mode, 0x100000));
      }
    }
  });

  it("runs with lab exec's default step budget (10,000,000), not a v1 scenario's (1,000,000)", () => {
    // 1,500,000 steps: past the v1 default, inside exec's. Both must end at the HLT.
    const code = asm('mov ecx, 750000\nl: dec ecx\n jnz l\n hlt\n', 'prot32', 0x100000);
    const exec = runBare({ mode: 'prot32', load: 0x100000, code });
    const r = loadScenario({ version: 0, mode: 'prot32', load: 0x100000, code: hex(code) });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.loaded.maxSteps).toBe(EXEC_MAX_STEPS);
    const { result } = runScenario(r.loaded);
    expect(exec.end).toBe('hlt');
    expect(result.end).toBe(exec.end);
    expect(result.steps).toBe(exec.hv.steps);
  });

  it('a step budget ends both runs at the same place', () => {
    const code = asm('l: inc eax\n jmp l\n', 'prot32', 0x7000);
    compareWithExec('prot32', 0x7000, code, 1001);
  });
});
