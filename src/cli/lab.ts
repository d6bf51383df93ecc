/**
 * The lab's command line. `lab exec --mode prot32|long64 --load ADDR [--max-steps N] FILE.bin`
 * runs raw machine code on the bare machine and prints one JSON object (issue 2, item 4).
 * Commands are a table so that `run`, `trace` and `exercise` can join later.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_MAX_STEPS, runBare } from '../emu/machine/bare.ts';
import type { BareMode } from '../emu/machine/bare.ts';

/** A bad command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}

interface Command {
  usage: string;
  run(args: string[]): string;
}

/** Parses a decimal or 0x-hex non-negative integer; `what` names the argument in errors. */
export function parseNumber(text: string | undefined, what: string): number {
  if (text === undefined) throw new UsageError(`${what}: missing value`);
  const ok = /^0[xX][0-9a-fA-F]+$/.test(text) || /^[0-9]+$/.test(text);
  const v = ok ? Number(text) : NaN;
  if (!ok || !Number.isSafeInteger(v)) throw new UsageError(`${what}: '${text}' is not a decimal or 0x-hex number`);
  return v;
}

function parseFlags(args: string[], known: readonly string[]): { flags: Map<string, string>; positional: string[] } {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(0, eq) : a;
      if (!known.includes(name)) throw new UsageError(`unknown option ${name}`);
      const value = eq >= 0 ? a.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`${name}: missing value`);
      flags.set(name, value);
    } else positional.push(a);
  }
  return { flags, positional };
}

const commands: Record<string, Command> = {
  exec: {
    usage: 'exec --mode prot32|long64 --load ADDR [--max-steps N] FILE.bin',
    run(args) {
      const { flags, positional } = parseFlags(args, ['--mode', '--load', '--max-steps']);
      const mode = flags.get('--mode');
      if (mode === undefined) throw new UsageError('--mode: required (prot32 or long64)');
      if (mode !== 'prot32' && mode !== 'long64') throw new UsageError(`--mode: '${mode}' is not prot32 or long64`);
      const load = parseNumber(flags.get('--load'), '--load');
      const maxSteps = flags.has('--max-steps') ? parseNumber(flags.get('--max-steps'), '--max-steps') : DEFAULT_MAX_STEPS;
      if (positional.length !== 1) throw new UsageError(`FILE.bin: expected one file, got ${positional.length}`);
      const file = positional[0]!;
      let code: Uint8Array;
      try {
        code = new Uint8Array(readFileSync(file));
      } catch (e) {
        throw new UsageError(`FILE.bin: cannot read '${file}': ${(e as Error).message}`);
      }
      let result;
      try {
        result = runBare({ mode: mode as BareMode, load, code, maxSteps });
      } catch (e) {
        if (e instanceof RangeError) throw new UsageError(`--load: ${e.message}`);
        throw e;
      }
      return JSON.stringify(result, null, 1);
    },
  },
};

function usage(): string {
  return ['usage: lab COMMAND ...', ...Object.values(commands).map((c) => `  lab ${c.usage}`)].join('\n');
}

/** Runs the command line; returns the exit code. */
export function main(argv: string[], out: (s: string) => void, err: (s: string) => void): number {
  const [name, ...rest] = argv;
  const cmd = name === undefined ? undefined : commands[name];
  if (cmd === undefined) {
    err(name === undefined ? usage() : `unknown command '${name}'\n${usage()}`);
    return 2;
  }
  try {
    out(cmd.run(rest));
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`lab ${name}: ${e.message}\nusage: lab ${cmd.usage}`);
      return 2;
    }
    throw e;
  }
}

const isEntry = process.argv[1] !== undefined && /lab\.ts$/.test(process.argv[1]);
if (isEntry) {
  process.exitCode = main(process.argv.slice(2), (s) => process.stdout.write(s + '\n'), (s) => process.stderr.write(s + '\n'));
}
