/** Assembles test programs with the system `nasm` (flat binary), for the oracle tests. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type NasmAvailability = { ok: true } | { ok: false; why: string };

export function nasmAvailable(): NasmAvailability {
  const r = spawnSync('nasm', ['-v'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return { ok: false, why: '`nasm` is not installed (apt-get install nasm)' };
  return { ok: true };
}

/** `nasm -f bin` of `source`; `defines` become `-DNAME=VALUE`. Throws with nasm's messages. */
export function nasm(source: string, defines: Record<string, string | number> = {}): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'ring-nasm-'));
  try {
    const src = join(dir, 'p.asm');
    const bin = join(dir, 'p.bin');
    writeFileSync(src, source);
    const args = ['-f', 'bin', '-o', bin, src];
    for (const [k, v] of Object.entries(defines)) args.unshift(`-D${k}=${v}`);
    const r = spawnSync('nasm', args, { encoding: 'utf8' });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`nasm failed:\n${r.stderr}`);
    return new Uint8Array(readFileSync(bin));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
