/**
 * The lab's command line. `lab exec --mode prot32|long64 --load ADDR [--max-steps N] FILE`
 * runs machine code on the bare machine and prints one JSON object (issue 2, item 4); FILE is raw
 * bytes, or assembly text if it ends in `.asm`. With `--under svm|vtx [--paging nested|shadow]
 * [--tlb-tags on|off] [--cost-preset NAME]` the same program runs as the only guest of the
 * hypervisor (src/emu/hv) under AMD-V or VT-x, with nested paging (EPT, NPT) or shadow page tables
 * (`--nested on|off` is the older spelling) and tagged TLBs (VPID, ASID) by the backends' default
 * (on with nested paging; shadow paging runs untagged), and the JSON gains an `hv` object (with
 * `hv.tlb`, the TLB's counters, and `hv.shadow` under shadow paging); `--under svm|vtx --guest MODE:FILE[,OPTS] …` runs several guests side by side, each in
 * its own VM (emu/hv/host.ts). `lab asm` and `lab disasm` show the assembler and
 * the disassembler; `lab exercise walk` prints a seeded page-walk problem,
 * `lab exercise vmexit` seeded VM-exit problems, `lab exercise nested` seeded 2D-walk
 * problems, `lab exercise shadow` seeded shadow-paging problems and `lab exercise iommu` seeded
 * DMA-remapping problems (VT-d or AMD-Vi); `lab pv` runs the small kernel of hv/pv as a
 * paravirtualized domain (or bare, or prints its kernel diff); `lab partition` runs two workloads as
 * two containers of one small kernel, or with `--vms` as two VMs each with its own copy of it (hv/containers); `lab run FILE.json`
 * boots a scenario (src/emu/scenario) and prints its final state. Commands are a table.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { assemble, type AsmError } from '../emu/asm/assembler.ts';
import { disassemble } from '../emu/asm/disasm.ts';
import { DEFAULT_MAX_STEPS, runBare } from '../emu/machine/bare.ts';
import { presetFor, runUnder, tlbJson } from '../emu/hv/exec.ts';
import { Host, MAX_VMS, type HostGuest } from '../emu/hv/host.ts';
import type { BareMode } from '../emu/machine/bare.ts';
import { DEFAULT_COUNT, generateWalkExercise, MAX_COUNT, type WalkLevels } from '../emu/exercise/walk-exercise.ts';
import { formatWalkExercise } from '../emu/exercise/format.ts';
import { generateVmexitExercise, VMEXIT_DEFAULT_COUNT, VMEXIT_MAX_COUNT } from '../emu/exercise/vmexit-exercise.ts';
import { formatVmexitExercise } from '../emu/exercise/vmexit-format.ts';
import { formatNestedExercise, generateNestedExercise, NESTED_DEFAULT_COUNT, NESTED_MAX_COUNT } from '../emu/exercise/nested-exercise.ts';
import { formatShadowExercise, generateShadowExercise, SHADOW_DEFAULT_COUNT, SHADOW_MAX_COUNT } from '../emu/exercise/shadow-exercise.ts';
import { formatIommuExercise, generateIommuExercise, IOMMU_DEFAULT_COUNT, IOMMU_MAX_COUNT } from '../emu/exercise/iommu-exercise.ts';
import { loadScenario } from '../emu/scenario/migrate.ts';
// Scenarios with a technique run under the hypervisor: load it so that buildScenario can build them.
import '../emu/hv/hv-machine.ts';
import '../emu/hv/host-machine.ts';
import { buildScenario, runScenario } from '../emu/scenario/build.ts';
import { compareScenario, compareTable } from '../emu/hv/compare.ts';
import { compareTechniques, PV_UNAVAILABLE, TECHNIQUE_IDS, WORKLOADS, type CompareRow, type TechniqueId, type Workload } from '../emu/hv/technique-compare.ts';
import { compareHosting, type HostingRow } from '../emu/hv/hosting-compare.ts';
import { compareInterrupts, compareWays, type IoComparison, type IrqComparison, type IrqPerFrame } from '../emu/hv/io-compare.ts';
import { IO_MAX_FRAMES } from '../emu/hv/io-guest.ts';
import { MAX_STEPS_LIMIT, scenarioErrorText } from '../emu/scenario/schema.ts';
import type { LoadedScenario } from '../emu/scenario/validate.ts';
import { TRACE_KINDS, traceToJson, type TraceKind } from '../emu/trace/events.ts';
import { runBareKernel, runPv } from '../emu/hv/pv/exec.ts';
import { kernelDiff, type KernelVersion } from '../emu/hv/pv/kernel.ts';
import { runPartitioning } from '../emu/hv/containers/run.ts';

/** A bad command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}

/** Bad input in a file the user gave (e.g. assembly errors), already formatted: exit code 1. */
export class InputError extends Error {}

function readInput(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`${what}: cannot read '${file}': ${(e as Error).message}`);
  }
}

/** Formats assembler errors as compilers do: `file:line:column: error: message`, the line, a caret. */
export function formatAsmErrors(file: string, source: string, errors: readonly AsmError[]): string {
  const lines = source.split(/\r?\n/);
  return errors
    .map((e) => {
      const text = lines[e.line - 1] ?? '';
      return `${file}:${e.line}:${e.column}: error: ${e.message}\n  ${text}\n  ${' '.repeat(Math.max(0, e.column - 1))}^`;
    })
    .join('\n');
}

/** Assembles a file; `bits` and `origin` apply unless the source says `bits`/`org` itself. */
function assembleFile(file: string, bits: 32 | 64, origin: number): Uint8Array {
  const source = readInput(file, 'FILE').toString('utf8');
  const r = assemble(source, { bits, origin });
  if (!r.ok) throw new InputError(formatAsmErrors(file, source, r.errors));
  return r.bytes;
}

/** Reads, migrates and validates a scenario file; errors name the file and the field. */
function loadScenarioFile(file: string): LoadedScenario {
  let json: unknown;
  try {
    json = JSON.parse(readInput(file, 'FILE.json').toString('utf8'));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new InputError(`${file}: not JSON: ${(e as Error).message}`);
  }
  const loaded = loadScenario(json);
  if (!loaded.ok) throw new InputError(loaded.errors.map((e) => `${file}: ${scenarioErrorText(e)}`).join('\n'));
  return loaded.loaded;
}

/** --max-steps for scenario commands: absent means the scenario's own limit. */
function scenarioSteps(flags: Map<string, string>): number | undefined {
  const maxSteps = flags.has('--max-steps') ? parseNumber(flags.get('--max-steps'), '--max-steps') : undefined;
  if (maxSteps !== undefined && (maxSteps < 1 || maxSteps > MAX_STEPS_LIMIT)) throw new UsageError(`--max-steps: expected 1..${MAX_STEPS_LIMIT}, got ${maxSteps}`);
  return maxSteps;
}

function parseMode(flags: Map<string, string>): BareMode {
  const mode = flags.get('--mode');
  if (mode === undefined) throw new UsageError('--mode: required (prot32 or long64)');
  if (mode !== 'prot32' && mode !== 'long64') throw new UsageError(`--mode: '${mode}' is not prot32 or long64`);
  return mode;
}

interface Command {
  usage: string;
  /** Returns the output, or writes long output line by line through `out` and returns null. */
  run(args: string[], out: (line: string) => void): string | null;
}

/** Parses a decimal or 0x-hex non-negative integer; `what` names the argument in errors. */
export function parseNumber(text: string | undefined, what: string): number {
  if (text === undefined) throw new UsageError(`${what}: missing value`);
  const ok = /^0[xX][0-9a-fA-F]+$/.test(text) || /^[0-9]+$/.test(text);
  const v = ok ? Number(text) : NaN;
  if (!ok || !Number.isSafeInteger(v)) throw new UsageError(`${what}: '${text}' is not a decimal or 0x-hex number`);
  return v;
}

/** Options with a value (`--name VALUE` or `--name=VALUE`), and `switches` without one (present or not). */
function parseFlags(args: string[], known: readonly string[], switches: readonly string[] = []): { flags: Map<string, string>; positional: string[] } {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (switches.includes(a)) {
      flags.set(a, 'true');
      continue;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(0, eq) : a;
      if (switches.includes(name)) throw new UsageError(`${name} takes no value`);
      if (!known.includes(name)) throw new UsageError(`unknown option ${name}`);
      const value = eq >= 0 ? a.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`${name}: missing value`);
      flags.set(name, value);
    } else positional.push(a);
  }
  return { flags, positional };
}

/**
 * `exec --under vtx|svm --guest MODE:FILE[,OPTS] …`: several VMs on the multi-VM host (emu/hv/host.ts),
 * each FILE loaded at --load in its own guest-physical space. OPTS: `pc` attaches the PC platform
 * (8259A pair, 8254 PIT, COM1 UART), `vcpus=2` two vCPUs (ESI = the vCPU's index), `mem=MIB` its
 * RAM (a multiple of 2, default 4), `name=NAME` (default: the file's name without extension).
 * Prints per VM its console, exits by reason and steps, and the switches between vCPUs.
 */
function execGuests(args: string[]): string {
  const specs: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--guest') {
      const v = args[++i];
      if (v === undefined) throw new UsageError('--guest: missing value');
      specs.push(v);
    } else if (a.startsWith('--guest=')) specs.push(a.slice('--guest='.length));
    else rest.push(a);
  }
  const { flags, positional } = parseFlags(rest, ['--load', '--max-steps', '--under', '--quantum', '--cost-preset', '--tlb-tags']);
  if (positional.length !== 0) throw new UsageError('FILE: with --guest, give each file in its --guest');
  const tlbTags = onOff(flags.get('--tlb-tags'), '--tlb-tags');
  const under = flags.get('--under');
  if (under === undefined) throw new UsageError('--guest: only with --under svm|vtx');
  if (under !== 'vtx' && under !== 'svm') throw new UsageError(`--under: '${under}' is not svm or vtx`);
  if (specs.length > MAX_VMS) throw new UsageError(`--guest: at most ${MAX_VMS} VMs, got ${specs.length}`);
  const load = parseNumber(flags.get('--load'), '--load');
  const maxSteps = flags.has('--max-steps') ? parseNumber(flags.get('--max-steps'), '--max-steps') : DEFAULT_MAX_STEPS;
  const quantum = flags.has('--quantum') ? parseNumber(flags.get('--quantum'), '--quantum') : undefined;
  if (quantum !== undefined && quantum < 1) throw new UsageError('--quantum: expected at least 1');
  const costPreset = presetFor(under, flags.get('--cost-preset'));
  if (typeof costPreset === 'string') throw new UsageError(`--cost-preset: ${costPreset}`);
  const names = new Set<string>();
  const guests: HostGuest[] = specs.map((spec) => {
    const m = /^(prot32|long64):(.+)$/.exec(spec);
    if (m === null) throw new UsageError(`--guest: '${spec}' is not MODE:FILE[,OPTS] with MODE prot32 or long64`);
    const mode = m[1] as BareMode;
    const [file, ...opts] = m[2]!.split(',');
    let name = file!.replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '');
    const g: Omit<HostGuest, 'code' | 'name'> = { mode, load };
    for (const o of opts) {
      const [k, v] = o.split('=', 2) as [string, string | undefined];
      if (k === 'pc' && v === undefined) g.pc = true;
      else if (k === 'vcpus' && (v === '1' || v === '2')) g.vcpus = v === '2' ? 2 : 1;
      else if (k === 'mem' && v !== undefined) g.memSize = parseNumber(v, '--guest mem') * 1024 * 1024;
      else if (k === 'name' && v !== undefined && v !== '') name = v;
      else throw new UsageError(`--guest: option '${o}' is not pc, vcpus=1|2, mem=MIB or name=NAME`);
    }
    if (names.has(name)) throw new UsageError(`--guest: two VMs named '${name}' (give one name=…)`);
    names.add(name);
    const code = file!.endsWith('.asm') ? assembleFile(file!, mode === 'long64' ? 64 : 32, load) : new Uint8Array(readInput(file!, 'FILE'));
    return { ...g, name, code };
  });
  let host: Host;
  try {
    host = new Host({ under, guests, preset: costPreset.id, ...(quantum !== undefined ? { quantum } : {}), ...(tlbTags !== undefined ? { tlbTags } : {}) });
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(`--guest: ${e.message}`);
    throw e;
  }
  const end = host.run(maxSteps);
  const out = {
    under, quantum: host.quantum, end, steps: host.cpu.state.steps, idleSteps: host.idleSteps,
    switches: host.switches.length,
    tlb: tlbJson(host.cpu.mmu, tlbTags ?? true),
    vms: host.report().map((r, i) => ({ ...r, cycles: host.vm(i).ledger.data().cycles })),
  };
  return JSON.stringify(out, null, 1);
}

/** An on|off flag's value (undefined when absent). */
function onOff(v: string | undefined, flag: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (v !== 'on' && v !== 'off') throw new UsageError(`${flag}: '${v}' is not on or off`);
  return v === 'on';
}

const commands: Record<string, Command> = {
  exec: {
    usage: 'exec --mode prot32|long64 --load ADDR [--max-steps N] [--under svm|vtx|trap-emulate|bt [--paging nested|shadow] [--tlb-tags on|off] [--cost-preset NAME]] FILE.bin|FILE.asm (--nested on|off: the older spelling of --paging; trap-emulate and bt: prot32, shadow paging)\n' +
      '  lab exec --under svm|vtx --load ADDR [--max-steps N] [--quantum N] [--tlb-tags on|off] [--cost-preset NAME] --guest MODE:FILE[,pc][,vcpus=2][,mem=MIB][,name=NAME] --guest … (up to 4 VMs)',
    run(args) {
      if (args.some((a) => a === '--guest' || a.startsWith('--guest='))) return execGuests(args);
      const { flags, positional } = parseFlags(args, ['--mode', '--load', '--max-steps', '--under', '--nested', '--paging', '--cost-preset', '--tlb-tags']);
      const under = flags.get('--under');
      if (under !== undefined && under !== 'svm' && under !== 'vtx' && under !== 'trap-emulate' && under !== 'bt') throw new UsageError(`--under: '${under}' is not svm, vtx, trap-emulate or bt`);
      const software = under === 'trap-emulate' || under === 'bt';
      const techName = under === 'bt' ? 'binary translation' : 'trap-and-emulate';
      if (software && (flags.get('--paging') === 'nested' || flags.get('--nested') === 'on')) throw new UsageError(`--paging nested: ${techName} has no nested paging (its monitor shadows the guest\u2019s page tables)`);
      if (software && flags.get('--tlb-tags') === 'on') throw new UsageError(`--tlb-tags on: ${techName} runs untagged (no VPID or ASID without VT-x or AMD-V)`);
      if (under === undefined && flags.has('--cost-preset')) throw new UsageError('--cost-preset: only with --under');
      if (under === undefined && flags.has('--nested')) throw new UsageError('--nested: only with --under');
      if (under === undefined && flags.has('--paging')) throw new UsageError('--paging: only with --under');
      if (flags.has('--paging') && flags.has('--nested')) throw new UsageError('--paging and --nested: give one (--nested on|off is the older spelling of --paging nested|shadow)');
      const nestedFlag = flags.get('--nested') ?? 'on';
      if (nestedFlag !== 'on' && nestedFlag !== 'off') throw new UsageError(`--nested: '${nestedFlag}' is not on or off`);
      if (under === undefined && flags.has('--tlb-tags')) throw new UsageError('--tlb-tags: only with --under');
      const tlbTags = onOff(flags.get('--tlb-tags'), '--tlb-tags');
      const paging = flags.get('--paging') ?? (software || nestedFlag === 'off' ? 'shadow' : 'nested');
      if (paging !== 'nested' && paging !== 'shadow') throw new UsageError(`--paging: '${paging}' is not nested or shadow`);
      if (paging === 'shadow' && tlbTags === true) throw new UsageError('--tlb-tags on: not with shadow paging (the shadow MMU relies on the TLB flush at each world switch)');
      const costPreset = under === undefined ? undefined : presetFor(under, flags.get('--cost-preset'));
      if (typeof costPreset === 'string') throw new UsageError(`--cost-preset: ${costPreset}`);
      const mode = parseMode(flags);
      const load = parseNumber(flags.get('--load'), '--load');
      const maxSteps = flags.has('--max-steps') ? parseNumber(flags.get('--max-steps'), '--max-steps') : DEFAULT_MAX_STEPS;
      if (positional.length !== 1) throw new UsageError(`FILE: expected one file, got ${positional.length}`);
      const file = positional[0]!;
      const code = file.endsWith('.asm') ? assembleFile(file, mode === 'long64' ? 64 : 32, load) : new Uint8Array(readInput(file, 'FILE'));
      let result;
      try {
        result = costPreset === undefined
          ? runBare({ mode: mode as BareMode, load, code, maxSteps })
          : runUnder(under!, { mode: mode as BareMode, load, code, maxSteps, preset: costPreset.id, paging, ...(tlbTags !== undefined ? { tlbTags } : {}) }).result;
      } catch (e) {
        if (e instanceof RangeError) throw new UsageError(software && !/load/.test(e.message) ? `--under ${under}: ${e.message}` : `--load: ${e.message}`);
        throw e;
      }
      return JSON.stringify(result, null, 1);
    },
  },
  run: {
    usage: 'run [--max-steps N] FILE.json',
    run(args) {
      const { flags, positional } = parseFlags(args, ['--max-steps']);
      if (positional.length !== 1) throw new UsageError(`FILE.json: expected one file, got ${positional.length}`);
      const file = positional[0]!;
      const maxSteps = scenarioSteps(flags);
      return JSON.stringify(runScenario(loadScenarioFile(file), maxSteps).result, null, 1);
    },
  },
  trace: {
    usage: 'trace [--max-steps N] [--kinds KIND,KIND...] FILE.json',
    run(args, out) {
      const { flags, positional } = parseFlags(args, ['--max-steps', '--kinds']);
      if (positional.length !== 1) throw new UsageError(`FILE.json: expected one file, got ${positional.length}`);
      const maxSteps = scenarioSteps(flags);
      let kinds: TraceKind[] | null = null;
      const kindsText = flags.get('--kinds');
      if (kindsText !== undefined) {
        kinds = [];
        for (const k of kindsText.split(',')) {
          if (!(TRACE_KINDS as readonly string[]).includes(k)) throw new UsageError(`--kinds: '${k}' is not one of ${TRACE_KINDS.join(', ')}`);
          kinds.push(k as TraceKind);
        }
      }
      const loaded = loadScenarioFile(positional[0]!);
      const machine = buildScenario(loaded);
      // One JSON object per line, written as the machine runs.
      machine.setTrace({ emit: (e) => out(JSON.stringify(traceToJson(e))) }, kinds ?? undefined);
      machine.run(maxSteps ?? loaded.maxSteps);
      return null;
    },
  },
  compare: {
    usage: 'compare [--max-steps N] [--format table|json] FILE.json',
    run(args) {
      const { flags, positional } = parseFlags(args, ['--max-steps', '--format']);
      if (positional.length !== 1) throw new UsageError(`FILE.json: expected one file, got ${positional.length}`);
      const format = flags.get('--format') ?? 'table';
      if (format !== 'table' && format !== 'json') throw new UsageError(`--format: '${format}' is not table or json`);
      const file = positional[0]!;
      let json: unknown;
      try {
        json = JSON.parse(readInput(file, 'FILE.json').toString('utf8'));
      } catch (e) {
        if (e instanceof UsageError) throw e;
        throw new InputError(`${file}: not JSON: ${(e as Error).message}`);
      }
      const maxSteps = scenarioSteps(flags);
      const r = compareScenario(json, maxSteps === undefined ? {} : { maxSteps });
      if (!r.ok) throw new InputError(r.errors.map((e) => `${file}: ${scenarioErrorText(e)}`).join('\n'));
      return format === 'json' ? JSON.stringify(r, null, 1) : compareTable(r);
    },
  },
  io: {
    usage: 'io [--device nic|disk] [--interrupts] [--under vtx|svm] [--frames N] [--iommu vtd|amd-vi|none] [--cost-preset NAME] [--format table|json]',
    run(args) {
      const { flags, positional } = parseFlags(args, ['--device', '--under', '--frames', '--iommu', '--cost-preset', '--format'], ['--interrupts']);
      const device = flags.get('--device') ?? 'nic';
      if (device !== 'nic' && device !== 'disk') throw new UsageError(`--device: '${device}' is not nic or disk`);
      if (positional.length !== 0) throw new UsageError(`unexpected argument '${positional[0]}'`);
      const under = flags.get('--under') ?? 'vtx';
      if (under !== 'vtx' && under !== 'svm') throw new UsageError(`--under: '${under}' is not vtx or svm`);
      const frames = flags.has('--frames') ? parseNumber(flags.get('--frames'), '--frames') : 16;
      if (frames < 1 || frames * 2 > IO_MAX_FRAMES) throw new UsageError(`--frames: ${frames} is not 1..${IO_MAX_FRAMES / 2} (the per-frame figures also run twice as many)`);
      const iommu = flags.get('--iommu') ?? 'vtd';
      if (iommu !== 'vtd' && iommu !== 'amd-vi' && iommu !== 'none') throw new UsageError(`--iommu: '${iommu}' is not vtd, amd-vi or none`);
      const format = flags.get('--format') ?? 'table';
      if (format !== 'table' && format !== 'json') throw new UsageError(`--format: '${format}' is not table or json`);
      const preset = flags.get('--cost-preset');
      if (preset !== undefined) {
        const p = presetFor(under, preset);
        if (typeof p === 'string') throw new UsageError(`--cost-preset: ${p}`);
      }
      if (flags.has('--interrupts')) {
        if (device !== 'nic') throw new UsageError('--interrupts: the interrupt-driven driver is the network card\'s (--device nic)');
        if (flags.has('--iommu') && under === 'svm' && iommu === 'vtd') throw new UsageError('--iommu: vtd is Intel\'s; under svm take amd-vi or none');
        const ic = compareInterrupts(under, frames, flags.has('--iommu') ? iommu : under === 'vtx' ? 'vtd' : 'amd-vi', preset);
        return format === 'json' ? JSON.stringify(ic, null, 1) : irqTable(ic);
      }
      const c = compareWays(under, frames, ['emulated', 'virtio', 'assigned'], iommu, preset, device);
      return format === 'json' ? JSON.stringify(c, null, 1) : ioTable(c, device);
    },
  },
  techniques: {
    usage: 'techniques [--iterations N] [--cost-preset NAME] [--workload syscall|in|pgfault|ptemod|compute] [--format table|json]',
    run(args) {
      const { flags, positional } = parseFlags(args, ['--iterations', '--cost-preset', '--workload', '--format']);
      if (positional.length !== 0) throw new UsageError(`unexpected argument '${positional[0]}'`);
      const n = flags.has('--iterations') ? parseNumber(flags.get('--iterations'), '--iterations') : 16;
      if (n < 1 || n > 256) throw new UsageError(`--iterations: ${n} is not 1..256 (the per-iteration figures also run twice as many)`);
      const preset = flags.get('--cost-preset') ?? 'vtx-prescott';
      const p = presetFor('vtx', preset);
      if (typeof p === 'string') throw new UsageError(`--cost-preset: ${p} (it prices VT-x and the software techniques; AMD-V is priced by amd-recent)`);
      const w = flags.get('--workload');
      if (w !== undefined && !(WORKLOADS as readonly string[]).includes(w)) throw new UsageError(`--workload: '${w}' is not ${WORKLOADS.join(', ')}`);
      const format = flags.get('--format') ?? 'table';
      if (format !== 'table' && format !== 'json') throw new UsageError(`--format: '${format}' is not table or json`);
      const workloads = w === undefined ? WORKLOADS : [w as Workload];
      const rows = compareTechniques(n, preset, workloads);
      const unavailable = workloads.flatMap((x) => (PV_UNAVAILABLE[x] !== undefined ? [{ workload: x, technique: 'pv', reason: `not available under PV: ${PV_UNAVAILABLE[x]}` }] : []));
      return format === 'json' ? JSON.stringify({ iterations: n, preset, rows, unavailable }, null, 1) : techniquesTable(rows, n, preset, unavailable);
    },
  },
  hosting: {
    usage: 'hosting [--lines N] [--host-processes N] [--under vtx|svm] [--format table|json]   (the same two VMs under a bare-metal hypervisor and a hosted one: the path of each exit, world switches, host system calls, the host processes\u2019 share of the CPU)',
    run(args) {
      const { flags, positional } = parseFlags(args, ['--lines', '--host-processes', '--under', '--format']);
      if (positional.length !== 0) throw new UsageError(`unexpected argument '${positional[0]}'`);
      const lines = flags.has('--lines') ? parseNumber(flags.get('--lines'), '--lines') : 4;
      if (lines < 1 || lines > 64) throw new UsageError(`--lines: ${lines} is not 1..64`);
      const procs = flags.has('--host-processes') ? parseNumber(flags.get('--host-processes'), '--host-processes') : 1;
      if (procs < 0 || procs > 3) throw new UsageError(`--host-processes: ${procs} is not 0..3`);
      const under = flags.get('--under') ?? 'vtx';
      if (under !== 'vtx' && under !== 'svm') throw new UsageError(`--under: '${under}' is not vtx or svm`);
      const format = flags.get('--format') ?? 'table';
      if (format !== 'table' && format !== 'json') throw new UsageError(`--format: '${format}' is not table or json`);
      const rows = compareHosting({ lines, hostProcesses: procs, under });
      return format === 'json' ? JSON.stringify({ lines, hostProcesses: procs, under, rows }, null, 1) : hostingTable(rows);
    },
  },
  pv: {
    usage: 'pv [--kernel paravirtualized|unmodified] [--bare] [--cost-preset NAME] [--max-steps N] [--diff]   (the lab\u2019s small kernel as a Xen-style paravirtualized domain, on the bare processor with --bare, or the kernel diff of the port with --diff)',
    run(args, out) {
      const { flags, positional } = parseFlags(args, ['--kernel', '--cost-preset', '--max-steps'], ['--bare', '--diff']);
      if (positional.length !== 0) throw new UsageError(`unexpected argument '${positional[0]}'`);
      if (flags.has('--diff')) {
        const extra = ['--kernel', '--cost-preset', '--max-steps', '--bare'].find((f) => flags.has(f));
        if (extra !== undefined) throw new UsageError(`--diff: prints the diff of the two kernels' sources; ${extra} does not apply`);
        return JSON.stringify(kernelDiff(), null, 1);
      }
      const kernel = flags.get('--kernel') ?? 'paravirtualized';
      if (kernel !== 'paravirtualized' && kernel !== 'unmodified') throw new UsageError(`--kernel: '${kernel}' is not paravirtualized or unmodified`);
      const maxSteps = scenarioSteps(flags);
      if (flags.has('--bare')) {
        if (flags.has('--cost-preset')) throw new UsageError('--cost-preset: the bare run has no hypervisor to price');
        return JSON.stringify(runBareKernel(kernel as KernelVersion, maxSteps), null, 1);
      }
      const preset = flags.get('--cost-preset');
      let r;
      try {
        r = runPv(kernel as KernelVersion, { ...(maxSteps !== undefined ? { maxSteps } : {}), ...(preset !== undefined ? { preset } : {}) });
      } catch (e) {
        if (e instanceof RangeError) throw new UsageError(`--cost-preset: ${e.message}`);
        throw e;
      }
      const json = { end: r.end, ...(r.error !== undefined ? { error: r.error } : {}), console: r.console, results: r.results, regs: r.regs, hv: r.hv };
      out(JSON.stringify(json, null, 1));
      // The guest's failure (the unmodified kernel's first privileged instruction) is the run's result, printed; the exit code says it failed.
      if (r.end === 'error') throw new InputError(`lab pv: the ${kernel} kernel failed under the hypervisor: ${r.error ?? 'error'}`);
      return null;
    },
  },
  partition: {
    usage: 'partition [--vms] [--crash | --peek] [--under vtx|svm] [--cost-preset NAME] [--max-steps N]   (the same two workloads as two containers of one small kernel on the bare machine, or as two VMs each running its own copy of that kernel with --vms; --crash: beta\u2019s uname(NULL) makes the kernel panic, --peek: beta reads alpha\u2019s page and is killed)',
    run(args) {
      const { flags, positional } = parseFlags(args, ['--under', '--cost-preset', '--max-steps'], ['--vms', '--crash', '--peek']);
      if (positional.length !== 0) throw new UsageError(`unexpected argument '${positional[0]}'`);
      if (flags.has('--crash') && flags.has('--peek')) throw new UsageError('--crash and --peek: beta does one or the other');
      const under = flags.get('--under') ?? 'vtx';
      if (under !== 'vtx' && under !== 'svm') throw new UsageError(`--under: '${under}' is not vtx or svm`);
      const maxSteps = scenarioSteps(flags);
      const preset = flags.get('--cost-preset');
      try {
        const r = runPartitioning({
          as: flags.has('--vms') ? 'vms' : 'containers', crash: flags.has('--crash'), peek: flags.has('--peek'), under,
          ...(preset !== undefined ? { preset } : {}), ...(maxSteps !== undefined ? { maxSteps } : {}),
        });
        return JSON.stringify(r, null, 1);
      } catch (e) {
        if (e instanceof RangeError) throw new UsageError(`--cost-preset: ${e.message}`);
        throw e;
      }
    },
  },
  asm: {
    usage: 'asm [--bits 32|64] [--org ADDR] [--out FILE.bin] FILE.asm',
    run(args) {
      const { flags, positional } = parseFlags(args, ['--bits', '--org', '--out']);
      const bits = flags.get('--bits') ?? '64';
      if (bits !== '32' && bits !== '64') throw new UsageError(`--bits: '${bits}' is not 32 or 64`);
      const origin = flags.has('--org') ? parseNumber(flags.get('--org'), '--org') : 0;
      if (positional.length !== 1) throw new UsageError(`FILE.asm: expected one file, got ${positional.length}`);
      const file = positional[0]!;
      const source = readInput(file, 'FILE.asm').toString('utf8');
      const r = assemble(source, { bits: bits === '32' ? 32 : 64, origin });
      if (!r.ok) throw new InputError(formatAsmErrors(file, source, r.errors));
      const out = flags.get('--out');
      if (out !== undefined) writeFileSync(out, r.bytes);
      // A listing: address, bytes, source line.
      const lines = source.split(/\r?\n/);
      const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
      return r.listing
        .map((l) => {
          const bytes = r.bytes.subarray(l.offset, l.offset + l.length);
          const shown = bytes.length > 12 ? `${hex(bytes.subarray(0, 12))} …` : hex(bytes);
          return `${(r.origin + l.offset).toString(16).padStart(8, '0')}  ${shown.padEnd(38)} ${(lines[l.line - 1] ?? '').trim()}`;
        })
        .join('\n');
    },
  },
  disasm: {
    usage: 'disasm --mode prot32|long64 [--org ADDR] FILE.bin',
    run(args) {
      const { flags, positional } = parseFlags(args, ['--mode', '--org']);
      const mode = parseMode(flags);
      const origin = flags.has('--org') ? parseNumber(flags.get('--org'), '--org') : 0;
      if (positional.length !== 1) throw new UsageError(`FILE.bin: expected one file, got ${positional.length}`);
      const bytes = new Uint8Array(readInput(positional[0]!, 'FILE.bin'));
      return disassemble(bytes, mode === 'long64' ? 64 : 32, origin)
        .map((l) => `${(origin + l.offset).toString(16).padStart(8, '0')}  ${l.bytes.padEnd(30)} ${l.text}`)
        .join('\n');
    },
  },
  exercise: {
    usage: 'exercise walk --levels 2|3|4|5 --seed N [--count K] [--answers]\n  lab exercise vmexit --seed N [--count K] [--answers]\n  lab exercise nested --seed N [--count K] [--answers]\n  lab exercise shadow --seed N [--count K] [--answers]\n  lab exercise iommu --seed N [--vendor vtd|amdvi] [--count K] [--answers]',
    run(args) {
      const [kind, ...rest] = args;
      if (kind === 'vmexit') return vmexitExercise(rest);
      if (kind === 'nested') return nestedExercise(rest);
      if (kind === 'shadow') return shadowExercise(rest);
      if (kind === 'iommu') return iommuExercise(rest);
      if (kind !== 'walk') throw new UsageError(kind === undefined ? 'KIND: missing (walk, vmexit, nested, shadow or iommu)' : `KIND: '${kind}' is not walk, vmexit, nested, shadow or iommu`);
      const answers = rest.includes('--answers');
      const { flags, positional } = parseFlags(
        rest.filter((a) => a !== '--answers'),
        ['--levels', '--seed', '--count'],
      );
      if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`);
      const levelsText = flags.get('--levels');
      if (levelsText === undefined) throw new UsageError('--levels: required (2, 3, 4 or 5)');
      if (!['2', '3', '4', '5'].includes(levelsText)) throw new UsageError(`--levels: '${levelsText}' is not 2, 3, 4 or 5`);
      if (!flags.has('--seed')) throw new UsageError('--seed: required (a number)');
      const seed = parseNumber(flags.get('--seed'), '--seed');
      const count = flags.has('--count') ? parseNumber(flags.get('--count'), '--count') : DEFAULT_COUNT;
      if (count < 2 || count > MAX_COUNT) throw new UsageError(`--count: ${count} is not 2..${MAX_COUNT}`);
      const ex = generateWalkExercise({ levels: Number(levelsText) as WalkLevels, seed, count });
      return formatWalkExercise(ex, { answers });
    },
  },
};

/** The flags every seeded `exercise` kind but walk takes: `--seed N` (required), `--count K` (1..max), `--answers`. */
function seededArgs(rest: string[], defaultCount: number, maxCount: number, more: readonly string[] = []): { seed: number; count: number; answers: boolean; flags: Map<string, string> } {
  const answers = rest.includes('--answers');
  const { flags, positional } = parseFlags(
    rest.filter((a) => a !== '--answers'),
    ['--seed', '--count', ...more],
  );
  if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`);
  if (!flags.has('--seed')) throw new UsageError('--seed: required (a number)');
  const seed = parseNumber(flags.get('--seed'), '--seed');
  const count = flags.has('--count') ? parseNumber(flags.get('--count'), '--count') : defaultCount;
  if (count < 1 || count > maxCount) throw new UsageError(`--count: ${count} is not 1..${maxCount}`);
  return { seed, count, answers, flags };
}

/** `exercise vmexit`: seeded "which VM exit, with which qualification?" problems, keyed by the VT-x runner. */
function vmexitExercise(rest: string[]): string {
  const { seed, count, answers } = seededArgs(rest, VMEXIT_DEFAULT_COUNT, VMEXIT_MAX_COUNT);
  return formatVmexitExercise(generateVmexitExercise({ seed, count }), { answers });
}

/** `exercise nested`: seeded two-dimensional walk problems, keyed by the lab's translate2D. */
function nestedExercise(rest: string[]): string {
  const { seed, count, answers } = seededArgs(rest, NESTED_DEFAULT_COUNT, NESTED_MAX_COUNT);
  return formatNestedExercise(generateNestedExercise({ seed, count }), { answers });
}

/** `exercise shadow`: seeded shadow-paging problems, keyed by running the events through the lab's ShadowMmu. */
function shadowExercise(rest: string[]): string {
  const { seed, count, answers } = seededArgs(rest, SHADOW_DEFAULT_COUNT, SHADOW_MAX_COUNT);
  return formatShadowExercise(generateShadowExercise({ seed, count }), { answers });
}

/** `exercise iommu`: seeded DMA-remapping problems, keyed by running the requests through the lab's VtdRemapper or AmdViRemapper. */
function iommuExercise(rest: string[]): string {
  const { seed, count, answers, flags } = seededArgs(rest, IOMMU_DEFAULT_COUNT, IOMMU_MAX_COUNT, ['--vendor']);
  const vendor = flags.get('--vendor');
  if (vendor !== undefined && vendor !== 'vtd' && vendor !== 'amdvi') throw new UsageError(`--vendor: '${vendor}' is not vtd or amdvi`);
  return formatIommuExercise(generateIommuExercise({ seed, count, ...(vendor !== undefined ? { vendor } : {}) }), { answers });
}

/** `lab io`'s table: each way's run of N frames, then the cost of one more frame. */
/** The technique comparison as a table: per iteration, exits (or traps and callouts), cycles and what they were. */
function techniquesTable(rows: CompareRow[], n: number, preset: string, unavailable: { workload: string; technique: string; reason: string }[]): string {
  const out = [
    `Per iteration (the run of ${2 * n} iterations minus the run of ${n}, divided by ${n}); cycles under ${preset} (AMD-V under amd-recent).`,
    'pv runs each workload ported to the Xen-style interface (hypercalls instead of privileged instructions); its exits are its hypercalls and traps into the hypervisor.',
    'The cost model prices transitions and handler work, not a device or the memory system: native IN costs its one instruction.',
    '',
    `${'workload'.padEnd(9)}${'technique'.padEnd(14)}${'exits'.padStart(7)}${'cycles'.padStart(10)}  by kind`,
  ];
  for (const r of rows) {
    const kinds = Object.entries(r.byKind).map(([k, v]) => `${k} ${Math.round(v * 100) / 100}`).join(', ');
    const bt = r.bt !== undefined ? `  [cache: ${r.bt.blocks} blocks, hit rate ${Math.round(r.bt.hitRate * 100)}%]` : '';
    out.push(`${r.workload.padEnd(9)}${r.technique.padEnd(14)}${String(Math.round(r.exits * 100) / 100).padStart(7)}${String(Math.round(r.cycles)).padStart(10)}  ${kinds}${bt}`);
    // A technique with no row for this workload is named, with its reason, where its row would be.
    const missing = unavailable.find((u) => u.workload === r.workload && TECHNIQUE_IDS[TECHNIQUE_IDS.indexOf(u.technique as TechniqueId) - 1] === r.technique);
    if (missing !== undefined) out.push(`${r.workload.padEnd(9)}${missing.technique.padEnd(14)}${'-'.padStart(7)}${'-'.padStart(10)}  ${missing.reason}`);
  }
  return out.join('\n');
}

/** `lab hosting`'s table: one column per arrangement. */
function hostingTable(rows: HostingRow[]): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const line = (label: string, f: (r: HostingRow) => string): string => `${label.padEnd(34)}${rows.map((r) => f(r).padStart(18)).join('')}`;
  return [
    'Two VMs: printer (a line on COM1 between compute loops) and ticker (halts between timer ticks), under VT-x or AMD-V.',
    '',
    line('', (r) => r.hosting),
    line('consoles', (r) => (r.vms.every((v, i) => v.console === rows[0]!.vms[i]!.console) ? 'same' : 'DIFFER')),
    line('CPU steps until both VMs ended', (r) => n(r.steps)),
    line('  guest instructions', (r) => n(r.guestSteps)),
    line('  host processes', (r) => `${n(r.hostSteps)} (${r.hostRuns} turns)`),
    line('  idle', (r) => n(r.idleSteps)),
    line('exits', (r) => n(r.exits)),
    line('  handled in the monitor', (r) => n(r.byWhere.monitor)),
    line('  by a device model', (r) => `${n(r.byWhere.device)} (${n(r.output)} out)`),
    line('  host interrupts', (r) => n(r.byWhere.interrupt)),
    line('  halts', (r) => n(r.byWhere.idle)),
    line('world switches', (r) => n(r.worldSwitches)),
    line('VMM process crossings', (r) => n(r.userCrossings)),
    line('host system calls', (r) => n(r.syscalls)),
    line('cycles (both VMs)', (r) => n(r.cycles)),
    ...[...new Set(rows.flatMap((r) => Object.keys(r.byKind)))].map((k) => line(`  ${k}`, (r) => n(r.byKind[k] ?? 0))),
    '',
    'Hosted: a device exit goes to the host world (world switch), up to the VMM process, whose write() sends the byte',
    "through the host's driver, and back; host interrupts and halts go to the host world too. The world switch, crossing",
    'and system-call figures are illustrative (see the cost presets); the paths are the run\'s own.',
  ].join('\n');
}

function ioTable(c: IoComparison, device: 'nic' | 'disk' = 'nic'): string {
  const pad = (x: string | number, n: number) => String(x).padStart(n);
  const lines = [
    `${device === 'disk' ? `${c.frames} blocks written to a disk and read back (NVMe-shaped, or virtio-blk)` : `${c.frames} frames sent and received back through a network card's loopback`}, under ${c.under === 'vtx' ? 'VT-x' : 'AMD-V'}${c.runs.some((r) => r.way === 'assigned') ? `, the assigned ${device === 'disk' ? 'controller' : 'card'} behind ${c.iommu === 'vtd' ? 'VT-d' : c.iommu === 'amd-vi' ? 'AMD-Vi' : 'no IOMMU'}` : ''}`,
    '',
    `way        data   exits  config  mmio  device-ports  hv-copied-bytes  device-dma-bytes       cycles`,
    ...c.runs.map((r, i) => `${r.way.padEnd(9)} ${(r.dataOk && c.perFrame[i]!.dataOk ? 'same' : 'DIFF').padStart(5)} ${pad(r.exits.total, 7)} ${pad(r.exits.config, 7)} ${pad(r.exits.mmio, 5)} ${pad(r.exits.devicePorts, 13)} ${pad(r.hypervisor.bytes, 16)} ${pad(r.device.bytes, 17)} ${pad(r.cycles, 12)}`),
    '',
    `per ${device === 'disk' ? 'block' : 'frame'} (a run of 2N less a run of N: set-up left out)`,
    `way        device-exits  copies  copied-bytes  dma-bytes   cycles`,
    ...c.perFrame.map((p) => `${p.way.padEnd(9)} ${pad(p.deviceExits, 13)} ${pad(p.copies, 7)} ${pad(p.copiedBytes, 13)} ${pad(p.dmaBytes, 10)} ${pad(Math.round(p.cycles), 8)}`),
    '',
    'exits: every exit of the VM (the other ones are the host\'s time slices and the final HLT); config: I/O exits at',
    '0xCF8-0xCFF; mmio: EPT violations or NPFs the hypervisor handled as MMIO; device-ports: I/O exits at the',
    'device\'s I/O BAR (virtio\'s registers and notifications). copies: the hypervisor\'s copy operations of frame',
    'bytes (one per buffer piece within a 4-KiB page; virtio\'s headers are buffers of their own); dma-bytes: bytes',
    'the assigned card moved itself. The cycles price each exit and its handler, not the bytes copied. The virtio',
    'driver notifies once per batch of up to 8 frames: take N a multiple of 8 for its per-frame figures.',
  ];
  return lines.join('\n');
}

function irqTable(c: IrqComparison): string {
  const pad = (x: string | number, n: number) => String(x).padStart(n);
  const via = (p: IrqPerFrame): string =>
    p.way === 'emulated' ? 'injected by the hypervisor' : p.way === 'posted' ? 'posted (VT-d IRTE, posted-interrupt processing)' : `to a host vector${p.iommu === 'none' ? '' : ` (${p.iommu === 'vtd' ? 'VT-d' : 'AMD-Vi'} remapped IRTE)`}, injected`;
  return [
    `${c.frames} frames through a network card's loopback, under ${c.under === 'vtx' ? 'VT-x' : 'AMD-V'}: the driver waits for the card's interrupt after each frame`,
    '',
    'per frame (a run of 2N less a run of N)',
    `way        data  irqs  exits  interrupt-exits  eoi-exits  mmio-exits    cycles   polling: exits    cycles   the interrupt`,
    ...c.perFrame.map(
      (p) =>
        `${p.way.padEnd(9)} ${(p.dataOk ? 'same' : 'DIFF').padStart(5)} ${(p.irqsOk ? 'all' : 'LOST').padStart(5)} ${pad(p.exits, 6)} ${pad(p.interruptExits, 16)} ${pad(p.eoiExits, 10)} ${pad(p.mmioExits, 11)} ${pad(Math.round(p.cycles), 9)} ${pad(p.pollExits, 16)} ${pad(Math.round(p.pollCycles), 9)}   ${via(p)}`,
    ),
    '',
    'interrupt-exits: external-interrupt exits (the card\'s MSI reaching the host; under AMD-V also the host\'s timer',
    'ending time slices); eoi-exits: the handler\'s WRMSR to the x2APIC EOI register (80BH); mmio-exits: the emulated',
    'card\'s registers (the handler reads ICR). data: the frames received equal the polling run\'s; irqs: the handler',
    'counted one interrupt per frame. Posted: the card\'s MSI sets the vector in the vCPU\'s posted-interrupt',
    'descriptor and the processor delivers it and virtualizes the EOI, with no exit.',
  ].join('\n');
}

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
    const text = cmd.run(rest, out);
    if (text !== null) out(text);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`lab ${name}: ${e.message}\nusage: lab ${cmd.usage}`);
      return 2;
    }
    if (e instanceof InputError) {
      err(e.message);
      return 1;
    }
    throw e;
  }
}

const isEntry = process.argv[1] !== undefined && /lab\.ts$/.test(process.argv[1]);
if (isEntry) {
  process.exitCode = main(process.argv.slice(2), (s) => process.stdout.write(s + '\n'), (s) => process.stderr.write(s + '\n'));
}
