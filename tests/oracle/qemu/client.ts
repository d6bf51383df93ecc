/**
 * Client for the QEMU TCG oracle: for the forms the nested KVM here cannot run (INT n, INT3, INTO,
 * 32-bit IRETD, LAR/LSL/VERR/VERW, SYSRET with EFER.SCE clear). Each run boots a fresh
 * `qemu-system-x86_64` (TCG) with a multiboot image made of prologue.asm and the program; the
 * prologue sets up the `lab exec` start state as far as it can (see prologue.asm) and jumps to the
 * program. The client watches QMP until the guest halts (`info registers` shows HLT=1), shuts down
 * (triple fault, paused by `-action`), or runs out of time, and reads the registers from the monitor.
 *
 * Known differences from `lab exec` / KVM:
 *   - port I/O and MMIO are not observable (Debian's QEMU has no I/O trace events): `exits` is
 *     always [] and `exitsObserved` false;
 *   - prot32 results carry only the 32-bit registers QEMU prints there (rax..rbp as EAX..EBP, rip,
 *     rflags, cr0, cr3, cr4): r8-r15 are absent;
 *   - QEMU keeps CR0.ET (bit 4) set, so long64 shows cr0 0x80010011 where KVM shows 0x80010001;
 *   - RAM is zero except 0xA0000-0xFFFFF (VGA hole, BIOS ROM) and the prologue at 0x3ff0000;
 *     addresses at or above 64 MiB are QEMU's unassigned space, not `mmio` records.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXEC_REG_NAMES, u64ToJson, type ExecEnd, type ExecMode, type ExecResult, type U64Json } from '../exec-types.ts';
import { buildCached } from '../kvm/client.ts';

const here = dirname(fileURLToPath(import.meta.url));
const PROLOGUE_SOURCE = join(here, 'prologue.asm');
const QEMU = process.env['QEMU_SYSTEM_X86_64'] ?? 'qemu-system-x86_64';

/** Where prologue.asm is assembled (BASE) and where the image ends; from prologue.asm. */
export const PROLOGUE_BASE = 0x3ff0000;
const PARAMS_OFFSET = 32;
const DEBUGCON_PORT = 0x4e9;
const MARKER = 'S';

export type QemuAvailability = { ok: true } | { ok: false; why: string };

/** Whether the QEMU oracle can run here: qemu-system-x86_64 and nasm (for the prologue) present. */
export function qemuAvailable(): QemuAvailability {
  const q = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  if (q.error || q.status !== 0) return { ok: false, why: `${QEMU} is not installed (apt-get install qemu-system-x86)` };
  const n = spawnSync('nasm', ['-v'], { encoding: 'utf8' });
  if (n.error || n.status !== 0) return { ok: false, why: '`nasm` is not installed (needed to build the QEMU prologue)' };
  return { ok: true };
}

function prologueImage(): Uint8Array {
  const source = readFileSync(PROLOGUE_SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const path = buildCached('qemu-prologue-', hash, '.bin', (tmp) => {
    const r = spawnSync('nasm', ['-f', 'bin', '-o', tmp, PROLOGUE_SOURCE], { encoding: 'utf8' });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`nasm failed on ${PROLOGUE_SOURCE}:\n${r.stderr}`);
  });
  return new Uint8Array(readFileSync(path));
}

export interface QemuRunRequest {
  mode: ExecMode;
  load: number;
  code: Uint8Array;
  /** Wall-clock budget for boot plus program, in milliseconds (default 3000); then `limit`. */
  timeoutMs?: number;
  /** QEMU `-cpu` model (default `max`: every feature TCG implements). */
  cpu?: string;
  /** A guest-physical range to return as hex in `dump` (read with QMP `pmemsave` at the end). */
  dump?: { addr: number; len: number };
}

/** One QMP connection: commands in order, events skipped. */
class Qmp {
  private buf = '';
  private readonly waiters: ((msg: Record<string, unknown>) => void)[] = [];
  readonly events: Record<string, unknown>[] = [];

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ('event' in msg) this.events.push(msg);
        else if ('QMP' in msg) continue;
        else this.waiters.shift()?.(msg);
      }
    });
    sock.on('error', () => {});
  }

  static async open(path: string, deadline: number): Promise<Qmp> {
    for (;;) {
      try {
        const sock = await new Promise<Socket>((res, rej) => {
          const s = connect(path);
          s.once('connect', () => res(s));
          s.once('error', rej);
        });
        const qmp = new Qmp(sock);
        await qmp.cmd('qmp_capabilities');
        return qmp;
      } catch {
        if (Date.now() > deadline) throw new Error(`no QMP socket at ${path}`);
        await sleep(10);
      }
    }
  }

  cmd(execute: string, args?: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`QMP ${execute} timed out`)), 2000);
      this.waiters.push((msg) => {
        clearTimeout(timer);
        if ('error' in msg) rej(new Error(`QMP ${execute}: ${JSON.stringify(msg['error'])}`));
        else res(msg);
      });
      this.sock.write(`${JSON.stringify(args ? { execute, arguments: args } : { execute })}\n`);
    });
  }

  async hmp(commandLine: string): Promise<string> {
    const r = await this.cmd('human-monitor-command', { 'command-line': commandLine });
    return String(r['return']);
  }

  close(): void {
    this.sock.destroy();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Registers from HMP `info registers` (64-bit RAX=… form in long mode, 32-bit EAX=… form otherwise). */
export function parseInfoRegisters(text: string): { regs: Record<string, U64Json>; halted: boolean } {
  const found = new Map<string, bigint>();
  for (const m of text.matchAll(/\b(R[A-Z0-9]{1,2}|E[A-Z]{2})\s*=([0-9a-fA-F]+)\b/g)) {
    const name = m[1] ?? '';
    const key = name === 'RFL' || name === 'EFL' ? 'rflags' : `r${name.slice(1).toLowerCase()}`;
    if (!found.has(key)) found.set(key, BigInt(`0x${m[2] ?? '0'}`));
  }
  for (const m of text.matchAll(/\bCR([034])=([0-9a-fA-F]+)/g)) found.set(`cr${m[1] ?? ''}`, BigInt(`0x${m[2] ?? '0'}`));
  const regs: Record<string, U64Json> = {};
  for (const name of EXEC_REG_NAMES) {
    const v = found.get(name);
    if (v !== undefined) regs[name] = u64ToJson(v);
  }
  return { regs, halted: /\bHLT=1\b/.test(text) };
}

export class QemuOracle {
  private readonly live = new Set<ChildProcess>();

  private constructor(private readonly prologue: Uint8Array) {}

  static async start(): Promise<QemuOracle> {
    return new QemuOracle(prologueImage());
  }

  image(req: Pick<QemuRunRequest, 'mode' | 'load' | 'code'>): Uint8Array {
    if (req.load < 0 || req.load + req.code.length > PROLOGUE_BASE)
      throw new Error(`program [0x${req.load.toString(16)}, +${req.code.length}) must end below the prologue at 0x${PROLOGUE_BASE.toString(16)}`);
    if ((req.load < 0x100000 && req.load + req.code.length > 0xa0000) || req.load < 0x4000)
      throw new Error('program must lie in 0x4000-0x9ffff or at or above 1 MiB');
    const img = new Uint8Array(this.prologue.length + req.code.length);
    img.set(this.prologue, 0);
    img.set(req.code, this.prologue.length);
    const view = new DataView(img.buffer);
    view.setUint32(PARAMS_OFFSET, req.mode === 'long64' ? 1 : 0, true);
    view.setUint32(PARAMS_OFFSET + 4, req.load, true);
    view.setUint32(PARAMS_OFFSET + 8, req.code.length, true);
    return img;
  }

  async run(req: QemuRunRequest): Promise<ExecResult> {
    const img = this.image(req);
    const dir = mkdtempSync(join(tmpdir(), 'ring-qemu-'));
    const imgPath = join(dir, 'image.bin');
    const qmpPath = join(dir, 'qmp.sock');
    const dbgPath = join(dir, 'debugcon.out');
    writeFileSync(imgPath, img);
    const args = [
      '-machine', 'pc,accel=tcg', '-cpu', req.cpu ?? 'max', '-m', '64',
      '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'none', '-parallel', 'none',
      '-qmp', `unix:${qmpPath},server=on,wait=off`,
      '-chardev', `file,id=dbg,path=${dbgPath}`, '-device', `isa-debugcon,iobase=0x${DEBUGCON_PORT.toString(16)},chardev=dbg`,
      '-action', 'reboot=shutdown,shutdown=pause',
      '-kernel', imgPath,
    ];
    const proc = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.live.add(proc);
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    let exited = false;
    proc.on('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + (req.timeoutMs ?? 3000);
    let qmp: Qmp | undefined;
    try {
      qmp = await Qmp.open(qmpPath, Date.now() + 5000);
      let end: ExecEnd | undefined;
      let text = '';
      for (;;) {
        if (exited) throw new Error(`qemu exited early: ${stderr}`);
        const status = String(((await qmp.cmd('query-status'))['return'] as Record<string, unknown>)['status']);
        if (status === 'shutdown' || status === 'guest-panicked') {
          end = 'shutdown';
        } else if (Date.now() > deadline) {
          await qmp.cmd('stop');
          end = 'limit';
        }
        text = await qmp.hmp('info registers');
        // Read after the state it qualifies: the marker is written before the program runs.
        const started = existsSync(dbgPath) && readFileSync(dbgPath, 'latin1').startsWith(MARKER);
        if (!end && started && parseInfoRegisters(text).halted) end = 'hlt';
        if (end) {
          const { regs } = parseInfoRegisters(text);
          if (!started) return { exits: [], end: 'error', regs, exitsObserved: false, error: `the prologue did not reach the program (${end})` };
          const result: ExecResult = { exits: [], end, regs, exitsObserved: false };
          if (req.dump) {
            if (end === 'hlt') await qmp.cmd('stop');
            const dumpPath = join(dir, 'dump.bin');
            await qmp.cmd('pmemsave', { val: req.dump.addr, size: req.dump.len, filename: dumpPath });
            result.dump = readFileSync(dumpPath).toString('hex');
          }
          return result;
        }
        await sleep(15);
      }
    } finally {
      qmp?.close();
      proc.kill('SIGKILL');
      this.live.delete(proc);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  close(): void {
    for (const p of this.live) p.kill('SIGKILL');
    this.live.clear();
  }
}
