/**
 * Client for the KVM oracle (harness.c): compiles the harness with `cc -O2` into a cache directory
 * when its source changes, keeps one harness process alive, and runs raw machine code in it with
 * the start state of `lab exec` (issue 2, item 4). Results have the `exec` JSON shape.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ExecMode, ExecResult } from '../exec-types.ts';

const here = dirname(fileURLToPath(import.meta.url));
const HARNESS_SOURCE = join(here, 'harness.c');

/** Where oracle artefacts are built: node_modules/.cache/ring-oracle, else the OS temp dir. */
export function oracleCacheDir(): string {
  const nodeModules = resolve(here, '../../../node_modules');
  const candidates = [...(existsSync(nodeModules) ? [join(nodeModules, '.cache', 'ring-oracle')] : []), join(tmpdir(), `ring-oracle-${process.getuid?.() ?? 'user'}`)];
  for (const dir of candidates) {
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
      return dir;
    } catch {
      // not writable by this user: try the next place
    }
  }
  throw new Error(`no writable cache directory among ${candidates.join(', ')}`);
}

/**
 * Builds `prefix + key + suffix` in the cache with `build(tmpPath)` unless it exists (the rename keeps
 * parallel builders safe), then removes older builds with the same prefix and suffix.
 */
export function buildCached(prefix: string, key: string, suffix: string, build: (tmpPath: string) => void): string {
  const dir = oracleCacheDir();
  const name = `${prefix}${key}${suffix}`;
  const out = join(dir, name);
  if (existsSync(out)) return out;
  const tmp = `${out}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    build(tmp);
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
  for (const f of readdirSync(dir)) {
    if (f !== name && f.startsWith(prefix) && f.endsWith(suffix) && !f.endsWith('.tmp')) rmSync(join(dir, f), { force: true });
  }
  return out;
}

function harnessBinary(): string {
  const source = readFileSync(HARNESS_SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  return buildCached('kvm-harness-', hash, '', (tmp) => {
    const cc = spawnSync('cc', ['-O2', '-Wall', '-o', tmp, HARNESS_SOURCE], { encoding: 'utf8' });
    if (cc.error) throw new Error(`cc: ${cc.error.message}`);
    if (cc.status !== 0) throw new Error(`cc failed building ${HARNESS_SOURCE}:\n${cc.stderr}`);
  });
}

export type KvmAvailability = { ok: true } | { ok: false; why: string };

let availability: Promise<KvmAvailability> | undefined;

/** Whether the KVM oracle can run here: /dev/kvm usable, `cc` present, and the harness starts. */
export function kvmAvailable(): Promise<KvmAvailability> {
  availability ??= (async (): Promise<KvmAvailability> => {
    if (process.platform !== 'linux') return { ok: false, why: `KVM needs Linux (platform is ${process.platform})` };
    if (!existsSync('/dev/kvm')) return { ok: false, why: '/dev/kvm does not exist (no KVM on this machine)' };
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    } catch {
      return { ok: false, why: '/dev/kvm is not readable and writable by this user (join the kvm group?)' };
    }
    const cc = spawnSync('cc', ['--version'], { encoding: 'utf8' });
    if (cc.error || cc.status !== 0) return { ok: false, why: 'no C compiler `cc` to build the KVM harness' };
    try {
      const oracle = await KvmOracle.start();
      oracle.close();
      return { ok: true };
    } catch (e) {
      return { ok: false, why: `KVM harness did not start: ${(e as Error).message}` };
    }
  })();
  return availability;
}

export interface KvmRunRequest {
  mode: ExecMode;
  /** Guest-physical (and, identity-mapped, linear) address the code is loaded at and RIP starts at. */
  load: number;
  code: Uint8Array;
  /** Most KVM_RUN returns before the run ends as `limit` (default 100000). */
  maxExits?: number;
  /** Wall-clock budget in milliseconds before the run ends as `limit` (default 2000). */
  timeoutMs?: number;
  /** A RAM range to return as hex in `dump`. */
  dump?: { addr: number; len: number };
}

type Pending = { resolve: (r: ExecResult) => void; reject: (e: Error) => void };

export class KvmOracle {
  private readonly pending: Pending[] = [];
  private dead: Error | undefined;

  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {}

  static async start(): Promise<KvmOracle> {
    const bin = harnessBinary();
    const proc = spawn(bin, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    const oracle = new KvmOracle(proc);
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const lines = createInterface({ input: proc.stdout });
    const ready = new Promise<void>((res, rej) => {
      let first = true;
      lines.on('line', (line) => {
        if (first) {
          first = false;
          const hello = JSON.parse(line) as { ready: boolean; error?: string };
          if (hello.ready) res();
          else rej(new Error(hello.error ?? 'harness not ready'));
          return;
        }
        const p = oracle.pending.shift();
        if (!p) return;
        try {
          p.resolve(JSON.parse(line) as ExecResult);
        } catch (e) {
          p.reject(new Error(`bad harness output: ${line}: ${(e as Error).message}`));
        }
      });
      proc.on('error', (e) => rej(e));
      proc.on('exit', (code, signal) => {
        const err = new Error(`KVM harness exited (code ${code}, signal ${signal})${stderr ? `: ${stderr}` : ''}`);
        oracle.dead = err;
        rej(err);
        for (const p of oracle.pending.splice(0)) p.reject(err);
      });
    });
    proc.stdin.on('error', () => {});
    await ready;
    return oracle;
  }

  run(req: KvmRunRequest): Promise<ExecResult> {
    if (this.dead) return Promise.reject(this.dead);
    const fields = [
      'RUN',
      `mode=${req.mode}`,
      `load=0x${req.load.toString(16)}`,
      `len=${req.code.length}`,
    ];
    if (req.maxExits !== undefined) fields.push(`maxexits=${req.maxExits}`);
    if (req.timeoutMs !== undefined) fields.push(`timeout=${req.timeoutMs}`);
    if (req.dump) fields.push(`dump=0x${req.dump.addr.toString(16)},${req.dump.len}`);
    return new Promise<ExecResult>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.proc.stdin.write(`${fields.join(' ')}\n`);
      this.proc.stdin.write(req.code);
    });
  }

  close(): void {
    if (this.dead) return;
    this.proc.stdin.end('QUIT\n');
  }
}
