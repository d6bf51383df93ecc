/**
 * Validation of a Scenario v1: every rule checked, every error collected with the field path it
 * concerns (`memory.size: expected a multiple of 4096, got 5000`), the programs assembled (their
 * errors at their line and column in the source as written: `kernel.source`, line 3, column 7,
 * "undefined label 'foo'"; see `scenarioErrorText`). A scenario that passes is
 * returned with its assembled images and layout, ready for `buildScenario`, which then cannot fail.
 */
import { assemble } from '../asm/assembler.ts';
import {
  BUILDER_CONSTANT_NAMES, builderConstants, KERNEL_BASE, KERNEL_LIMIT, makeLayout, USER_IMAGE_MAX, USER_SPAN, type Layout,
} from './layout.ts';
import {
  DEFAULT_MAX_STEPS, DISK_WAYS, IOMMU_SETTINGS, MAX_MEMORY, MAX_STEPS_LIMIT, MIN_BARE_MEMORY, MIN_MEMORY, MODES, NIC_WAYS, PAGING_MODES, PV_KERNELS, RESERVED_FIELDS, TECHNIQUES, VENDORS,
  type DiskWay, type PvKernel, type HypervisorSettings, type IommuSetting, type NicWay, type Mapping, type Mode, type PagingMode, type Scenario, type ScenarioError, type Technique,
} from './schema.ts';
import { presetProblem } from '../cost/pick.ts';

/** The nested tables' page size (hv/nested-map.ts maps guest RAM in 2-MByte pages). */
const NESTED_PAGE = 0x200000;

/** An assembled (or decoded) program: its bytes, load address and labels. */
export interface Image {
  bytes: Uint8Array;
  origin: number;
  labels: ReadonlyMap<string, number>;
}

/** A validated scenario with everything the builder needs. */
export interface LoadedScenario {
  scenario: Scenario;
  layout: Layout;
  kernel: Image;
  user: Image | null;
  maxSteps: number;
  /**
   * With `vms`: each VM's guest, loaded as a one-VM scenario of its own (name, mode, paging,
   * memory, kernel, user under the scenario's cpu and technique), with its vCPUs and devices. The
   * fields above are then VM 0's.
   */
  vms?: LoadedVm[];
}

/** One VM of a `vms` scenario. */
export interface LoadedVm {
  loaded: LoadedScenario;
  vcpus: 1 | 2;
  pc: boolean;
  /** Its network card and how it is given (null: none). */
  nic: NicWay | null;
  /** Its disk controller and how it is given (null: none). */
  disk: DiskWay | null;
}

export type LoadResult = { ok: true; loaded: LoadedScenario } | { ok: false; errors: ScenarioError[] };

export const MAX_MAPPINGS = 16;
export const MAX_MAPPING_SIZE = 16 * 1024 * 1024;
const FOUR_GIB = 0x100000000;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 40 ? v.slice(0, 40) + '…' : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

function hexNum(n: number): string {
  return '0x' + n.toString(16);
}

class Checker {
  readonly errors: ScenarioError[] = [];

  /** Records an error; `at` places it in a program's source (line and column as written). */
  err(path: string, message: string, at?: { line: number; column?: number }): void {
    this.errors.push(at === undefined ? { path, message } : { path, message, ...at });
  }

  /** Reports fields not in `allowed` (and reserved ones as not supported yet). */
  keys(o: Obj, path: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (allowed.includes(k)) continue;
      const p = path === '' ? k : `${path}.${k}`;
      const issue = path === '' && Object.hasOwn(RESERVED_FIELDS, k) ? RESERVED_FIELDS[k] : undefined;
      if (issue !== undefined) this.err(p, `${k} is not supported yet (${issue})`);
      else this.err(p, `unknown field (expected one of: ${allowed.join(', ')})`);
    }
  }

  obj(v: unknown, path: string): Obj | null {
    if (isObj(v)) return v;
    this.err(path, `expected an object, got ${show(v)}`);
    return null;
  }

  oneOf<T extends string>(v: unknown, path: string, options: readonly T[]): T | null {
    if (typeof v === 'string' && (options as readonly string[]).includes(v)) return v as T;
    this.err(path, `expected one of ${options.map((o) => `'${o}'`).join(', ')}, got ${show(v)}`);
    return null;
  }

  int(v: unknown, path: string, min: number, max: number): number | null {
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.err(path, `expected an integer, got ${show(v)}`);
      return null;
    }
    if (v < min || v > max) {
      this.err(path, `expected ${hexNum(min)}..${hexNum(max)}, got ${hexNum(v)}`);
      return null;
    }
    return v;
  }

  bool(v: unknown, path: string): boolean | null {
    if (v === undefined) return null;
    if (typeof v === 'boolean') return v;
    this.err(path, `expected true or false, got ${show(v)}`);
    return null;
  }

  str(v: unknown, path: string, maxLen: number): string | null {
    if (typeof v !== 'string') {
      this.err(path, `expected a string, got ${show(v)}`);
      return null;
    }
    if (v.length > maxLen) {
      this.err(path, `expected at most ${maxLen} characters, got ${v.length}`);
      return null;
    }
    return v;
  }
}

/** Parses hex machine code ("b8 01 00 00 00" or "b801000000"); null if malformed. */
export function parseHex(text: string): Uint8Array | null {
  const digits = text.replace(/\s+/g, '');
  if (digits.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(digits)) return null;
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const PROGRAM_MAX_CHARS = 200_000;

interface ProgramSpec {
  source: string | null;
  bytes: Uint8Array | null;
  origin: number | null;
}

function checkProgram(c: Checker, v: unknown, path: string, allowOrigin: boolean): ProgramSpec | null {
  const o = c.obj(v, path);
  if (!o) return null;
  c.keys(o, path, allowOrigin ? ['source', 'bytes', 'origin'] : ['source', 'bytes']);
  const hasSource = 'source' in o;
  const hasBytes = 'bytes' in o;
  if (hasSource === hasBytes) {
    c.err(path, `expected exactly one of 'source' (assembly) or 'bytes' (hex), got ${hasSource ? 'both' : 'neither'}`);
    return null;
  }
  let origin: number | null = null;
  if (allowOrigin && 'origin' in o) origin = c.int(o.origin, `${path}.origin`, 0, FOUR_GIB - 1);
  if (hasSource) {
    const s = c.str(o.source, `${path}.source`, PROGRAM_MAX_CHARS);
    return s === null ? null : { source: s, bytes: null, origin };
  }
  const t = c.str(o.bytes, `${path}.bytes`, PROGRAM_MAX_CHARS);
  if (t === null) return null;
  const bytes = parseHex(t);
  if (bytes === null) {
    c.err(`${path}.bytes`, 'expected hex digits in pairs (whitespace allowed between bytes)');
    return null;
  }
  return { source: null, bytes, origin };
}

const RESERVED_NAMES = new Set<string>(BUILDER_CONSTANT_NAMES.map((n) => n.toLowerCase()));

/**
 * Assembles `source` after the builder's constants; errors are reported at the source's own line
 * numbers, and a label that redefines a builder constant gets its own message.
 */
function assembleWith(
  c: Checker, path: string, source: string, bits: 32 | 64, origin: number, constants: [string, number][],
): Image | null {
  const pre = constants.map(([n, v]) => `${n} equ ${hexNum(v)}`).join('\n') + '\n';
  const r = assemble(pre + source, { bits, origin });
  if (r.ok && r.origin !== origin) {
    // The builder loads the image at `origin`; an org elsewhere would put every label off its code.
    c.err(path, `'org ${hexNum(r.origin)}' assembles the program for ${hexNum(r.origin)}, but the builder loads it at ${hexNum(origin)}: remove the org${path.startsWith('kernel') ? ' (kernel.origin sets the load address)' : ''}`, directiveAt(source, /^\s*(?:\[\s*)?org\b/i));
    return null;
  }
  if (r.ok) {
    const labels = new Map<string, number>();
    const own = new Set(constants.map(([n]) => n));
    for (const [k, v] of r.labels) if (!own.has(k)) labels.set(k, v);
    return { bytes: r.bytes, origin, labels };
  }
  const n = constants.length;
  for (const e of r.errors) {
    const dup = /^duplicate label '([^']+)'/.exec(e.message);
    const at = { line: e.line - n, column: e.column };
    if (dup && RESERVED_NAMES.has(dup[1]!.toLowerCase())) {
      c.err(path, `'${dup[1]}' is a constant the builder defines (see scenario/layout.ts)`, at);
    } else if (e.line > n) c.err(path, e.message, at);
    else c.err(path, `builder constants: ${e.message}`);
  }
  return null;
}

/** The line (and column) of the first source line matching `re`, for errors about a whole directive. */
function directiveAt(source: string, re: RegExp): { line: number; column: number } | undefined {
  const lines = source.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const m = re.exec(lines[i]!);
    if (m) return { line: i + 1, column: m[0].length - m[0].trimStart().length + 1 };
  }
  return undefined;
}

/** Where `name` is defined (`name:` or `name equ …` at the start of a line), if it can be found. */
function labelAt(source: string, name: string): { line: number; column: number } | undefined {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return directiveAt(source, new RegExp(`^\\s*${escaped}(?:\\s*:|\\s+equ\\b)`));
}

function checkMapping(c: Checker, v: unknown, path: string, paging: PagingMode | null, memSize: number | null, userBase: number): Mapping | null {
  const o = c.obj(v, path);
  if (!o) return null;
  c.keys(o, path, ['linear', 'physical', 'size', 'writable', 'user', 'nx', 'present']);
  const linear = c.int(o.linear, `${path}.linear`, 0, FOUR_GIB - 1);
  const physical = c.int(o.physical, `${path}.physical`, 0, FOUR_GIB - 1);
  const size = c.int(o.size, `${path}.size`, 0x1000, MAX_MAPPING_SIZE);
  const writable = c.bool(o.writable, `${path}.writable`);
  const user = c.bool(o.user, `${path}.user`);
  const nx = c.bool(o.nx, `${path}.nx`);
  const present = c.bool(o.present, `${path}.present`);
  let ok = linear !== null && physical !== null && size !== null;
  if (linear !== null && linear % 4096 !== 0) (ok = false), c.err(`${path}.linear`, `expected a multiple of 4096, got ${hexNum(linear)}`);
  if (physical !== null && physical % 4096 !== 0) (ok = false), c.err(`${path}.physical`, `expected a multiple of 4096, got ${hexNum(physical)}`);
  if (size !== null && size % 4096 !== 0) (ok = false), c.err(`${path}.size`, `expected a multiple of 4096, got ${size}`);
  if (nx === true && (paging === '32bit' || paging === 'none')) c.err(`${path}.nx`, `needs paging 'pae', '4level' or '5level' (32-bit paging has no XD bit)`), (ok = false);
  if (!ok || linear === null || physical === null || size === null) return null;
  if (linear + size > FOUR_GIB) return c.err(`${path}.size`, `linear range ${hexNum(linear)}+${hexNum(size)} passes 4 GiB`), null;
  if (physical + size > FOUR_GIB) return c.err(`${path}.size`, `physical range ${hexNum(physical)}+${hexNum(size)} passes 4 GiB`), null;
  if (memSize !== null && physical + size > memSize) {
    return c.err(`${path}.physical`, `range ${hexNum(physical)}+${hexNum(size)} is not inside RAM [0, ${hexNum(memSize)})`), null;
  }
  if (memSize !== null && linear < memSize) {
    return c.err(`${path}.linear`, `${hexNum(linear)} is inside the kernel's identity map [0, ${hexNum(memSize)})`), null;
  }
  if (linear < userBase + USER_SPAN && linear + size > userBase) {
    return c.err(`${path}.linear`, `range ${hexNum(linear)}+${hexNum(size)} overlaps the user region [${hexNum(userBase)}, ${hexNum(userBase + USER_SPAN)})`), null;
  }
  const m: Mapping = { linear, physical, size };
  if (writable !== null) m.writable = writable;
  if (user !== null) m.user = user;
  if (nx !== null) m.nx = nx;
  if (present !== null) m.present = present;
  return m;
}

/** Labels whose value the builder writes into a 32-bit field: RIP at start, IDT gate offsets, LSTAR, SYSENTER_EIP. */
const BUILDER_LABELS = /^(kernel_entry|user_entry|pf_handler|gp_handler|timer_handler|int80_handler|syscall_entry|default_handler|isr_\d+)$/;

/** Each label the builder uses must be a linear address below 4 GiB; it is never truncated. */
function checkLabelRange(c: Checker, path: string, img: Image, source: string): void {
  for (const [k, v] of img.labels) {
    if (!BUILDER_LABELS.test(k) || (Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) continue;
    const shown = Number.isInteger(v) ? (v < 0 ? '-' + hexNum(-v) : hexNum(v)) : String(v);
    c.err(path, `label '${k}' = ${shown}: the builder needs an address in [0, 0xffffffff]`, labelAt(source, k));
  }
}

/** Where the trap-and-emulate monitor sits in the guest's linear space (hv/te/backend.ts MONITOR_LINEAR; te.test checks they agree). */
export const TE_MONITOR_LINEAR = 0xffc00000;
const TOP_FIELDS = ['version', 'name', 'description', 'boot', 'cpu', 'mode', 'paging', 'memory', 'kernel', 'user', 'mappings', 'devices', 'limits', 'technique', 'pv', 'hypervisor'];
/** Where the PV kernel is linked and loaded (hv/pv/kernel.ts KERNEL_LOAD; hv-machine.ts checks they agree). */
export const PV_KERNEL_LOAD = 0x100000;
let pvKernels: ((version: PvKernel) => string) | null = null;
/**
 * Provides the PV kernels' sources (hv/pv/kernel.ts `kernelSource`): the hypervisor's module
 * (hv-machine.ts) does, so that validating the other scenarios does not load them (the worker loads
 * that module before it validates a scenario with a technique).
 */
export function usePvKernels(f: (version: PvKernel) => string): void {
  pvKernels = f;
}
/** Under pv the domain builder's bootstrap tables sit at 0x400000 and 0x401000 of the domain's RAM (hv/pv/backend.ts BOOT_PD, BOOT_PT; pv-machine.test checks they agree). */
export const PV_MIN_MEMORY = 0x402000;

const EXIT_FLAGS = ['hlt', 'rdtsc', 'invlpg', 'cr3'] as const;

/** `technique` and `hypervisor`: what the hypervisor runs the guest under. */
function checkTechnique(c: Checker, input: Obj, vendor: 'intel' | 'amd' | null, paging: PagingMode | null, timer: boolean, vms = false): { technique: Technique | null; hv: HypervisorSettings | null } {
  let technique: Technique | null = null;
  if (input.technique !== undefined) {
    const t = input.technique;
    if (typeof t !== 'string') c.err('technique', `expected one of ${TECHNIQUES.map((x) => `'${x}'`).join(', ')}, got ${show(t)}`);
    else if (!(TECHNIQUES as readonly string[]).includes(t)) c.err('technique', `technique '${t.length > 40 ? t.slice(0, 40) + '…' : t}' is not one the lab runs (${TECHNIQUES.join(', ')})`);
    else technique = t as Technique;
  }
  // Binary translation is built on the trap-and-emulate monitor, paravirtualization runs the same guests' kind: the same constraints.
  const te = technique === 'trap-emulate' || technique === 'bt' || technique === 'pv';
  const tn = technique ?? '';
  if (technique !== null) {
    const want = technique === 'svm' ? 'amd' : 'intel';
    // Trap-and-emulate and binary translation use no virtualization extension: any processor runs it.
    if (!te && vendor !== null && vendor !== want) c.err('cpu.vendor', `technique '${technique}' needs cpu.vendor '${want}' (${technique === 'svm' ? 'AMD-V is AMD' : 'VT-x is Intel'}'s), got '${vendor}'`);
    if (te && vms) c.err('technique', `${technique} runs one guest: the multi-VM host is built on VT-x or AMD-V ('vtx' or 'svm' with vms)`);
    if (te && (paging === '4level' || paging === '5level')) c.err('paging', `${technique} runs a 32-bit protected-mode guest ('none' or '32bit'): a 64-bit kernel could not be deprivileged to ring 1 (long mode has no segment limits to keep it from the monitor), so it would need ring 3 and a second shadow, which this monitor does not build`);
    else if (te && paging === 'pae') c.err('paging', `${technique} runs a 32-bit protected-mode guest with 'none' or '32bit' paging: its monitor builds 32-bit shadow tables, not PAE ones`);
    else if (paging === 'pae') c.err('paging', `'pae' cannot be used under a technique (the hypervisor's runners refuse a PAE guest): use '32bit', 'none' or long64`);
    if (timer) c.err('devices.timer', te ? `a timer under ${technique} is not supported (the monitor has no interrupt source)` : 'a timer under a technique is not supported yet (the hypervisor has no interrupt source)');
  }
  if (input.hypervisor === undefined) return { technique, hv: null };
  const h = c.obj(input.hypervisor, 'hypervisor');
  if (!h) return { technique, hv: null };
  if (technique === null && input.technique === undefined) c.err('hypervisor', "needs a 'technique' ('vtx' or 'svm')");
  c.keys(h, 'hypervisor', ['costPreset', 'nestedPaging', 'exits', 'quantum', 'tlbTags', 'nestedPageSize', 'walkCaches', 'hosting', 'hostProcesses']);
  const hv: HypervisorSettings = {};
  if (te) {
    // The monitor of trap-and-emulate has no hardware assist: no nested tables, no tags, no exit controls.
    const np = c.bool(h.nestedPaging, 'hypervisor.nestedPaging');
    if (np === true) c.err('hypervisor.nestedPaging', technique === 'pv' ? 'pv has no nested paging: the processor walks the domain\u2019s own page tables, which the hypervisor validates (direct paging); remove nestedPaging or set it to false' : `${tn} has no nested paging (no EPT or NPT without VT-x or AMD-V): its monitor always shadows the guest\u2019s page tables; remove nestedPaging or set it to false`);
    else if (np === false) hv.nestedPaging = false;
    if (c.bool(h.tlbTags, 'hypervisor.tlbTags') === true) c.err('hypervisor.tlbTags', `${tn} runs with an untagged TLB (no VPID or ASID without VT-x or AMD-V)`);
    if (h.exits !== undefined) c.err('hypervisor.exits', technique === 'pv' ? 'pv has no exit controls: the domain enters the hypervisor with hypercalls (INT 0x82) and its faults' : `${tn} has no exit controls: what enters the monitor is what the processor faults on in ring 1 (privileged instructions, I/O, the guest\u2019s exceptions)${technique === 'bt' ? ' and the translator\u2019s callouts' : ''}`);
    if (h.nestedPageSize !== undefined) c.err('hypervisor.nestedPageSize', `${tn} has no nested tables: remove nestedPageSize`);
    if (h.walkCaches !== undefined) c.err('hypervisor.walkCaches', `${tn} makes no two-dimensional walk: remove walkCaches`);
    if (h.costPreset !== undefined) {
      const id = c.str(h.costPreset, 'hypervisor.costPreset', 100);
      if (id !== null) {
        const problem = presetProblem(technique === 'bt' ? 'bt' : 'trap-emulate', id); // pv too: priced as trap-and-emulate
        if (problem !== null) c.err('hypervisor.costPreset', problem);
        else hv.costPreset = id;
      }
    }
    if (h.quantum !== undefined) c.err('hypervisor.quantum', "a time slice needs several VMs to share the CPU: use 'vms'");
    if (h.hosting !== undefined || h.hostProcesses !== undefined) c.err(h.hosting !== undefined ? 'hypervisor.hosting' : 'hypervisor.hostProcesses', "hosted and bare-metal hypervisors are shown on the multi-VM host under vtx or svm: use 'vms'");
    return { technique, hv };
  }
  if (h.hosting !== undefined) {
    if (h.hosting !== 'bare-metal' && h.hosting !== 'hosted') c.err('hypervisor.hosting', `expected 'bare-metal' or 'hosted', got ${JSON.stringify(h.hosting)}`);
    else if (!vms) c.err('hypervisor.hosting', "where the hypervisor lives is shown on the multi-VM host: use 'vms'");
    else hv.hosting = h.hosting;
  }
  if (h.hostProcesses !== undefined) {
    if (h.hosting !== 'hosted') c.err('hypervisor.hostProcesses', "host processes need a host operating system: set hosting to 'hosted'");
    else {
      const n = c.int(h.hostProcesses, 'hypervisor.hostProcesses', 0, 3);
      if (n !== null) hv.hostProcesses = n;
    }
  }
  if (h.quantum !== undefined) {
    if (!vms) c.err('hypervisor.quantum', "a time slice needs several VMs to share the CPU: use 'vms'");
    else {
      const q = c.int(h.quantum, 'hypervisor.quantum', 1, MAX_QUANTUM);
      if (q !== null) hv.quantum = q;
    }
  }
  if (vms && h.nestedPaging === false) c.err('hypervisor.nestedPaging', 'several VMs each get their own nested tables (EPT or NPT): nestedPaging cannot be false with vms');
  if (vms && h.exits !== undefined) c.err('hypervisor.exits', 'with vms the host sets its exits itself (HLT, I/O, the timers): remove hypervisor.exits');
  if (h.costPreset !== undefined) {
    const id = c.str(h.costPreset, 'hypervisor.costPreset', 100);
    if (id !== null && technique !== null) {
      const problem = presetProblem(technique === 'pv' ? 'trap-emulate' : technique, id);
      if (problem !== null) c.err('hypervisor.costPreset', problem);
      else hv.costPreset = id;
    }
  }
  const np = c.bool(h.nestedPaging, 'hypervisor.nestedPaging');
  if (np !== null) hv.nestedPaging = np;
  const tags = c.bool(h.tlbTags, 'hypervisor.tlbTags');
  if (tags !== null) hv.tlbTags = tags;
  if (np === false && paging === '5level') c.err('hypervisor.nestedPaging', "shadow paging (nestedPaging false) keeps 4-level shadow tables: a '5level' guest needs nested paging");
  if (np === false && tags === true) c.err('hypervisor.tlbTags', 'shadow paging (nestedPaging false) runs with an untagged TLB: the shadow MMU relies on the flush at each world switch');
  if (h.nestedPageSize !== undefined) {
    if (h.nestedPageSize !== '4k' && h.nestedPageSize !== '2m') c.err('hypervisor.nestedPageSize', `expected '4k' or '2m', got ${JSON.stringify(h.nestedPageSize)}`);
    else if (np === false) c.err('hypervisor.nestedPageSize', 'shadow paging (nestedPaging false) has no nested tables: remove nestedPageSize');
    else if (vms) c.err('hypervisor.nestedPageSize', "with vms the host maps every VM's RAM in 2-MByte nested pages: remove nestedPageSize");
    else hv.nestedPageSize = h.nestedPageSize;
  }
  if (h.walkCaches !== undefined) {
    const w = c.obj(h.walkCaches, 'hypervisor.walkCaches');
    if (w) {
      c.keys(w, 'hypervisor.walkCaches', ['pwc', 'ntlb']);
      const caches: NonNullable<HypervisorSettings['walkCaches']> = {};
      for (const k of ['pwc', 'ntlb'] as const) {
        const on = c.bool(w[k], `hypervisor.walkCaches.${k}`);
        if (on !== null) caches[k] = on;
      }
      const any = caches.pwc === true || caches.ntlb === true;
      if (any && np === false) c.err('hypervisor.walkCaches', 'the page-walk cache and the nested TLB shorten the two-dimensional walk: shadow paging (nestedPaging false) makes none');
      else if (any && vms) c.err('hypervisor.walkCaches', 'the walk caches are not modelled on the multi-VM host yet: remove walkCaches with vms');
      else hv.walkCaches = caches;
    }
  }
  if (h.exits !== undefined) {
    const e = c.obj(h.exits, 'hypervisor.exits');
    if (e) {
      c.keys(e, 'hypervisor.exits', [...EXIT_FLAGS, 'exceptions']);
      const exits: NonNullable<HypervisorSettings['exits']> = {};
      for (const k of EXIT_FLAGS) {
        const b = c.bool(e[k], `hypervisor.exits.${k}`);
        if (b !== null) exits[k] = b;
      }
      if (e.exceptions !== undefined) {
        if (!Array.isArray(e.exceptions)) c.err('hypervisor.exits.exceptions', `expected an array of vectors 0..31, got ${show(e.exceptions)}`);
        else {
          const vs: number[] = [];
          e.exceptions.forEach((v, i) => {
            const n = c.int(v, `hypervisor.exits.exceptions[${i}]`, 0, 31);
            if (n === null) return;
            if (vs.includes(n)) c.err(`hypervisor.exits.exceptions[${i}]`, `vector ${n} is listed twice`);
            else vs.push(n);
          });
          exits.exceptions = vs;
        }
      }
      hv.exits = exits;
    }
  }
  return { technique, hv };
}

/** The guest fields of a one-VM scenario, which each entry of `vms` has instead. */
const GUEST_FIELDS = ['boot', 'mode', 'paging', 'memory', 'kernel', 'user', 'mappings', 'devices'];
const VM_FIELDS = ['name', 'mode', 'paging', 'memory', 'kernel', 'user', 'vcpus', 'devices'];
/** The multi-VM host's limits (hv/host.ts MAX_VMS, and its VMs' RAM). */
export const MAX_VMS = 4;
export const MAX_VM_MEMORY = 64 * 1024 * 1024;
export const MAX_QUANTUM = 1_000_000;

/**
 * A scenario with `vms`: several guests side by side on the multi-VM host. Each entry is checked
 * as a one-VM scenario of its own (its errors carry the `vms[i].` prefix), so each guest is built
 * exactly as a top-level one. `vms` replaces the top-level guest fields (they are rejected beside it).
 */
function validateVms(input: Obj): LoadResult {
  const c = new Checker();
  const fields = ['version', 'name', 'description', 'cpu', 'technique', 'hypervisor', 'limits', 'vms', 'iommu', 'postedInterrupts'];
  for (const k of Object.keys(input)) {
    if (GUEST_FIELDS.includes(k)) c.err(k, `with 'vms' each VM has its own guest: move '${k}' into the entries of vms`);
  }
  c.keys(Object.fromEntries(Object.entries(input).filter(([k]) => !GUEST_FIELDS.includes(k))), '', fields);
  if (input.version !== 1) c.err('version', `expected 1, got ${show(input.version)}`);
  const name = c.str(input.name, 'name', 100);
  if (name !== null && name.length === 0) c.err('name', 'expected a non-empty string');
  if (input.description !== undefined) c.str(input.description, 'description', 10_000);
  let vendor: 'intel' | 'amd' | null = null;
  const cpu = c.obj(input.cpu, 'cpu');
  if (cpu) {
    c.keys(cpu, 'cpu', ['vendor']);
    vendor = c.oneOf(cpu.vendor, 'cpu.vendor', VENDORS);
  }
  if (input.technique === undefined) c.err('technique', "several VMs run under a hypervisor: 'vms' needs a technique ('vtx' or 'svm')");
  const { technique, hv } = checkTechnique(c, input, vendor, null, false, true);
  let maxSteps = DEFAULT_MAX_STEPS;
  if (input.limits !== undefined) {
    const l = c.obj(input.limits, 'limits');
    if (l) {
      c.keys(l, 'limits', ['maxSteps']);
      if (l.maxSteps !== undefined) maxSteps = c.int(l.maxSteps, 'limits.maxSteps', 1, MAX_STEPS_LIMIT) ?? maxSteps;
    }
  }
  const vms: LoadedVm[] = [];
  const entries: Obj[] = [];
  if (!Array.isArray(input.vms)) c.err('vms', `expected an array of 1 to ${MAX_VMS} VMs, got ${show(input.vms)}`);
  else if (input.vms.length < 1 || input.vms.length > MAX_VMS) c.err('vms', `expected 1 to ${MAX_VMS} VMs, got ${input.vms.length}`);
  else {
    input.vms.forEach((v, i) => {
      const at = `vms[${i}]`;
      const e = c.obj(v, at);
      if (!e) return;
      c.keys(e, at, VM_FIELDS);
      let vcpus: 1 | 2 = 1;
      if (e.vcpus !== undefined) {
        if (e.vcpus === 1 || e.vcpus === 2) vcpus = e.vcpus;
        else c.err(`${at}.vcpus`, `expected 1 or 2, got ${show(e.vcpus)}`);
      }
      let pc = false;
      let nic: NicWay | null = null;
      let disk: DiskWay | null = null;
      if (e.devices !== undefined) {
        const d = c.obj(e.devices, `${at}.devices`);
        if (d) {
          c.keys(d, `${at}.devices`, ['pc', 'nic', 'disk']);
          if (d.pc !== undefined) pc = c.bool(d.pc, `${at}.devices.pc`) ?? false;
          if (d.nic !== undefined) nic = c.oneOf(d.nic, `${at}.devices.nic`, NIC_WAYS);
          if (d.disk !== undefined) disk = c.oneOf(d.disk, `${at}.devices.disk`, DISK_WAYS);
          if (nic !== null && disk !== null) c.err(`${at}.devices`, 'a VM has one PCI device here (at 00:03.0): a network card or a disk, not both');
        }
      }
      if (typeof e.memory === 'object' && e.memory !== null && typeof (e.memory as Obj).size === 'number' && ((e.memory as Obj).size as number) > MAX_VM_MEMORY) {
        c.err(`${at}.memory.size`, `a VM of the multi-VM host has at most ${hexNum(MAX_VM_MEMORY)} bytes, got ${hexNum((e.memory as Obj).size as number)}`);
        return;
      }
      // The VM as a one-VM scenario of its own: its guest is checked and later built exactly so.
      const one: Obj = { version: 1, name: e.name, cpu: { vendor: vendor ?? (technique === 'svm' ? 'amd' : 'intel') }, mode: e.mode, paging: e.paging, memory: e.memory, kernel: e.kernel };
      if (e.user !== undefined) one.user = e.user;
      if (technique !== null) one.technique = technique;
      if (hv?.costPreset !== undefined) one.hypervisor = { costPreset: hv.costPreset };
      const r = validateScenario(one);
      if (!r.ok) {
        for (const x of r.errors) c.errors.push({ ...x, path: x.path === '(root)' ? at : `${at}.${x.path}` });
        return;
      }
      if (typeof e.name === 'string' && entries.some((o) => o.name === e.name)) c.err(`${at}.name`, `another VM is named '${e.name}'`);
      entries.push(e);
      vms.push({ loaded: r.loaded, vcpus, pc, nic, disk });
    });
  }
  let iommu: IommuSetting | null = null;
  if (input.iommu !== undefined) {
    iommu = c.oneOf(input.iommu, 'iommu', IOMMU_SETTINGS);
    if (iommu !== null && iommu !== 'none' && vms.length > 0 && !vms.some((v) => v.nic === 'assigned' || v.nic === 'vf' || v.disk === 'assigned')) c.err('iommu', "an IOMMU remaps the DMA of assigned devices: no VM has one (devices.nic 'assigned' or 'vf', devices.disk 'assigned')");
  }
  let posted = false;
  if (input.postedInterrupts !== undefined) {
    posted = c.bool(input.postedInterrupts, 'postedInterrupts') ?? false;
    if (posted && (technique !== 'vtx' || iommu !== 'vtd')) c.err('postedInterrupts', "posted interrupts are VT-x's with the VT-d IOMMU: technique 'vtx' and iommu 'vtd'");
    else if (posted && !vms.some((v) => v.nic === 'assigned' || v.disk === 'assigned')) c.err('postedInterrupts', "posted interrupts deliver an assigned device's MSI: no VM has one (devices.nic or devices.disk 'assigned')");
    else if (posted && vms.some((v) => v.pc && (v.nic === 'assigned' || v.disk === 'assigned'))) c.err('postedInterrupts', "a VM with an assigned device and posted interrupts cannot also have the PC platform's 8259A (devices.pc)");
  }
  if (c.errors.length > 0 || name === null || technique === null || vendor === null || vms.length === 0) {
    if (c.errors.length === 0) c.err('(root)', 'incomplete scenario');
    return { ok: false, errors: c.errors };
  }
  const first = vms[0]!.loaded;
  const scenario: Scenario = {
    ...first.scenario,
    name,
    ...(input.description !== undefined ? { description: input.description as string } : {}),
    limits: { maxSteps },
    technique,
    ...(hv !== null ? { hypervisor: hv } : {}),
    vms: vms.map((v, i) => ({
      name: v.loaded.scenario.name, mode: v.loaded.scenario.mode, paging: v.loaded.scenario.paging, memory: v.loaded.scenario.memory,
      kernel: v.loaded.scenario.kernel, ...(v.loaded.scenario.user !== undefined ? { user: v.loaded.scenario.user } : {}),
      ...(entries[i]!.vcpus !== undefined ? { vcpus: v.vcpus } : {}),
      ...(entries[i]!.devices !== undefined ? { devices: { pc: v.pc, ...(v.nic !== null ? { nic: v.nic } : {}), ...(v.disk !== null ? { disk: v.disk } : {}) } } : {}),
    })),
    ...(iommu !== null ? { iommu } : {}),
    ...(posted ? { postedInterrupts: true } : {}),
  };
  return { ok: true, loaded: { scenario, layout: first.layout, kernel: first.kernel, user: first.user, maxSteps, vms } };
}

/** Validates a version-1 scenario (use `loadScenario` for any version). */
export function validateScenario(input: unknown): LoadResult {
  const c = new Checker();
  if (!isObj(input)) return { ok: false, errors: [{ path: '(root)', message: `expected a scenario object, got ${show(input)}` }] };
  if (input.vms !== undefined) return validateVms(input);
  if (input.iommu !== undefined) c.err('iommu', "the host's IOMMU remaps the DMA of a device assigned to a VM of the multi-VM host: use 'vms' with a card given as devices.nic 'assigned'");
  if (input.postedInterrupts !== undefined) c.err('postedInterrupts', "posted interrupts deliver a device assigned to a VM of the multi-VM host: use 'vms'");
  c.keys(Object.fromEntries(Object.entries(input).filter(([k]) => k !== 'iommu' && k !== 'postedInterrupts')), '', TOP_FIELDS);
  if (input.version !== 1) c.err('version', `expected 1, got ${show(input.version)}`);
  const name = c.str(input.name, 'name', 100);
  if (name !== null && name.length === 0) c.err('name', 'expected a non-empty string');
  if (input.description !== undefined) c.str(input.description, 'description', 10_000);
  const isPv = input.technique === 'pv';
  // Paravirtualization: the guest is the lab's small kernel (hv/pv/kernel.ts) in the version `pv.kernel` names, started as `lab exec` starts a program.
  let pv: { kernel: PvKernel } | null = null;
  if (input.pv !== undefined && !isPv) c.err('pv', "only with technique 'pv'");
  if (isPv) {
    if (input.pv === undefined) c.err('pv', "required with technique 'pv': { kernel: 'paravirtualized' } or { kernel: 'unmodified' }");
    else {
      const p = c.obj(input.pv, 'pv');
      if (p) {
        c.keys(p, 'pv', ['kernel']);
        const k = c.oneOf(p.kernel, 'pv.kernel', PV_KERNELS);
        if (k !== null) pv = { kernel: k };
      }
    }
    if (input.boot === 'kernel') c.err('boot', "under pv the domain builder starts the kernel as 'lab exec' does: boot 'bare' (or leave it out)");
    if (input.mode !== undefined && input.mode !== 'prot32') c.err('mode', "the PV kernel is 32-bit Xen's: mode 'prot32'");
  }
  // Under pv the scenario's kernel is the version's source (filled in when absent, refused when it is another program).
  if (pv !== null && pvKernels === null) c.err('technique', "technique 'pv' needs the hypervisor's module for its kernels: load src/emu/hv/hv-machine.ts first (scenario/index.ts does)");
  const pvSource = pv === null || pvKernels === null ? null : { source: pvKernels(pv.kernel), origin: PV_KERNEL_LOAD };
  if (pvSource !== null && input.kernel !== undefined) {
    const k = input.kernel as Obj;
    if (!isObj(k) || k.source !== pvSource.source || (k.origin !== undefined && k.origin !== PV_KERNEL_LOAD) || Object.keys(k).some((x) => x !== 'source' && x !== 'origin')) {
      c.err('kernel', `under pv the guest is the lab's kernel in the version pv.kernel names ('${pv!.kernel}', hv/pv/kernel.ts): remove kernel`);
    }
  }
  const kernelInput: unknown = pvSource ?? input.kernel;
  const boot = input.boot === undefined ? (isPv ? 'bare' : 'kernel') : c.oneOf(input.boot, 'boot', ['kernel', 'bare'] as const);

  let vendor: 'intel' | 'amd' | null = null;
  const cpu = c.obj(input.cpu, 'cpu');
  if (cpu) {
    c.keys(cpu, 'cpu', ['vendor']);
    vendor = c.oneOf(cpu.vendor, 'cpu.vendor', VENDORS);
  }
  const mode: Mode | null = c.oneOf(input.mode, 'mode', MODES);
  const paging: PagingMode | null = c.oneOf(input.paging, 'paging', PAGING_MODES);
  if (mode !== null && paging !== null) {
    if (mode === 'long64' && paging !== '4level' && paging !== '5level') c.err('paging', `'${paging}' cannot be used with mode 'long64' (IA-32e mode needs '4level' or '5level')`);
    if (mode === 'prot32' && (paging === '4level' || paging === '5level')) c.err('paging', `'${paging}' needs mode 'long64'`);
    if (boot === 'bare' && paging !== (mode === 'long64' ? '4level' : 'none')) {
      c.err('paging', `boot 'bare' starts like 'lab exec': expected '${mode === 'long64' ? '4level' : 'none'}' for mode '${mode}', got '${paging}'`);
    }
  }

  let memSize: number | null = null;
  const memory = c.obj(input.memory, 'memory');
  if (memory) {
    c.keys(memory, 'memory', ['size']);
    const min = boot === 'bare' ? MIN_BARE_MEMORY : MIN_MEMORY;
    if (typeof memory.size === 'number' && Number.isInteger(memory.size) && memory.size % 4096 !== 0) {
      c.err('memory.size', `expected a multiple of 4096, got ${memory.size}`);
    } else memSize = c.int(memory.size, 'memory.size', min, MAX_MEMORY);
    if (isPv && memSize !== null && memSize < PV_MIN_MEMORY) {
      c.err('memory.size', `under pv the domain builder puts its bootstrap page tables at 0x400000 and 0x401000: expected at least ${hexNum(PV_MIN_MEMORY)}, got ${hexNum(memSize)}`);
      memSize = null;
    }
  }

  let uartPort = 0x3f8;
  let timer: { vector: number; period: number } | null = null;
  if (input.devices !== undefined) {
    const d = c.obj(input.devices, 'devices');
    if (d) {
      c.keys(d, 'devices', ['timer', 'uart']);
      if (d.timer !== undefined) {
        const t = c.obj(d.timer, 'devices.timer');
        if (t) {
          c.keys(t, 'devices.timer', ['vector', 'period']);
          const vector = c.int(t.vector, 'devices.timer.vector', 32, 255);
          const period = c.int(t.period, 'devices.timer.period', 1, 1_000_000_000);
          if (vector === 0x80) c.err('devices.timer.vector', 'vector 0x80 is the INT 0x80 system-call gate');
          else if (vector !== null && period !== null) timer = { vector, period };
        }
      }
      if (d.uart !== undefined) {
        const u = c.obj(d.uart, 'devices.uart');
        if (u) {
          c.keys(u, 'devices.uart', ['port']);
          const p = c.int(u.port, 'devices.uart.port', 0, 0xffff);
          if (p !== null) uartPort = p;
        }
      }
    }
  }

  let maxSteps = DEFAULT_MAX_STEPS;
  if (input.limits !== undefined) {
    const l = c.obj(input.limits, 'limits');
    if (l) {
      c.keys(l, 'limits', ['maxSteps']);
      if (l.maxSteps !== undefined) maxSteps = c.int(l.maxSteps, 'limits.maxSteps', 1, MAX_STEPS_LIMIT) ?? maxSteps;
    }
  }

  const { technique, hv } = checkTechnique(c, input, vendor, paging, timer !== null);
  // With nested paging (the default) the guest has all of memory.size, mapped by the hypervisor's
  // nested tables in 2-MByte pages, and the hypervisor's structures lie above it in host memory.
  // Without it (shadow paging) the guest has all of memory.size too; the structures and the shadow
  // pool lie above it (hv/shadow.ts), and the shadow maps 4-KByte pages, so any size will do.
  const nestedOn = technique !== null && technique !== 'trap-emulate' && technique !== 'bt' && technique !== 'pv' && hv?.nestedPaging !== false;
  if (technique !== null && memSize !== null && nestedOn && memSize % NESTED_PAGE !== 0) {
    c.err('memory.size', `with nested paging the hypervisor maps the guest's RAM in 2-MByte pages: expected a multiple of ${hexNum(NESTED_PAGE)}, got ${hexNum(memSize)}`);
  }

  // (Under pv without a valid pv.kernel the error is pv's.)
  const kernelSpec = kernelInput === undefined ? (isPv ? null : (c.err('kernel', 'required'), null)) : checkProgram(c, kernelInput, 'kernel', true);
  const userSpec = input.user === undefined ? null : checkProgram(c, input.user, 'user', false);
  if (boot === 'bare' && input.user !== undefined) c.err('user', "boot 'bare' runs the kernel program alone: remove 'user'");
  if (boot === 'bare' && input.mappings !== undefined) c.err('mappings', "boot 'bare' has only the exec identity map: remove 'mappings'");

  const layout = mode !== null && paging !== null && memSize !== null ? makeLayout(mode, paging, memSize, uartPort, timer?.vector ?? 0) : null;

  const mappings: Mapping[] = [];
  if (input.mappings !== undefined && boot !== 'bare') {
    if (!Array.isArray(input.mappings)) c.err('mappings', `expected an array, got ${show(input.mappings)}`);
    else if (paging === 'none') c.err('mappings', "need paging (paging is 'none')");
    else if (input.mappings.length > MAX_MAPPINGS) c.err('mappings', `expected at most ${MAX_MAPPINGS} mappings, got ${input.mappings.length}`);
    else {
      input.mappings.forEach((m, i) => {
        const r = checkMapping(c, m, `mappings[${i}]`, paging, memSize, layout?.userBase ?? 0x40000000);
        // The trap-and-emulate monitor's GDT, IDT and TSS occupy the top 4 MiB of every shadow (hv/te/backend.ts MONITOR_LINEAR).
        if (r && (technique === 'trap-emulate' || technique === 'bt') && r.linear + r.size > TE_MONITOR_LINEAR) c.err(`mappings[${i}].linear`, `under ${technique} the monitor occupies linear ${hexNum(TE_MONITOR_LINEAR)} and up (the guest's segments end below it): map below it`);
        else if (r) mappings.push(r);
      });
      for (let i = 0; i < mappings.length; i++) {
        for (let j = 0; j < i; j++) {
          const a = mappings[i]!;
          const b = mappings[j]!;
          if (a.linear < b.linear + b.size && b.linear < a.linear + a.size) c.err(`mappings[${i}].linear`, `overlaps mappings[${j}]`);
        }
      }
    }
  }

  // The programs, assembled whenever the mode (hence the bit width) is known, so that their errors
  // are reported together with the others; the constants then use the layout as far as it is valid.
  let kernel: Image | null = null;
  let user: Image | null = null;
  const asmLayout = layout ?? (mode !== null ? makeLayout(mode, paging ?? 'none', memSize ?? MIN_MEMORY, uartPort, timer?.vector ?? 0) : null);
  if (asmLayout !== null) {
    const bits = asmLayout.mode === 'long64' ? 64 : 32;
    if (userSpec) {
      user = userSpec.source !== null
        ? assembleWith(c, 'user.source', userSpec.source, bits, asmLayout.userBase, builderConstants(asmLayout, null))
        : { bytes: userSpec.bytes!, origin: asmLayout.userBase, labels: new Map() };
      if (user && userSpec.source !== null) checkLabelRange(c, 'user.source', user, userSpec.source);
      if (user && user.bytes.length > USER_IMAGE_MAX) c.err('user', `the image is ${user.bytes.length} bytes; at most ${USER_IMAGE_MAX} fit below the user stack`);
    }
    if (kernelSpec) {
      const origin = kernelSpec.origin ?? KERNEL_BASE;
      const userEntry = user ? (user.labels.get('user_entry') ?? user.origin) : asmLayout.userBase;
      kernel = kernelSpec.source !== null
        // The PV kernel is a program of its own (its constants are Xen's selectors), assembled as pv/exec.ts buildKernel does.
        ? assembleWith(c, 'kernel.source', kernelSpec.source, bits, origin, isPv ? [] : builderConstants(asmLayout, userEntry))
        : { bytes: kernelSpec.bytes!, origin, labels: new Map() };
      if (kernel) {
        if (boot !== 'bare' && kernelSpec.source !== null) checkLabelRange(c, 'kernel.source', kernel, kernelSpec.source);
        // The monitor takes over a guest in its ring 0 (it deprivileges that ring to ring 1); a start in ring 3 has no kernel state to take.
        if ((technique === 'trap-emulate' || technique === 'bt') && boot !== 'bare' && user !== null && !kernel.labels.has('kernel_entry')) c.err('kernel', `${technique} starts the guest in its kernel (ring 0, which the monitor runs in ring 1): with a user program the kernel needs a 'kernel_entry' label`);
        const end = origin + kernel.bytes.length;
        if (boot === 'bare') {
          if (memSize !== null && end > memSize) c.err('kernel.origin', `${kernel.bytes.length} bytes at ${hexNum(origin)} do not fit in memory.size ${hexNum(memSize)}`);
        } else if (origin < KERNEL_BASE || end > KERNEL_LIMIT) {
          c.err(kernelSpec.origin === null ? 'kernel' : 'kernel.origin', `the kernel image [${hexNum(origin)}, ${hexNum(end)}) must lie in [${hexNum(KERNEL_BASE)}, ${hexNum(KERNEL_LIMIT)})`);
        }
      }
    }
    if (kernel && kernelSpec?.source !== null && boot !== 'bare') {
      if (timer !== null && !kernel.labels.has('timer_handler') && !kernel.labels.has(`isr_${timer.vector}`)) {
        c.err('devices.timer', `the kernel has no 'timer_handler' (or 'isr_${timer.vector}') label to receive vector ${timer.vector}`);
      }
      for (const k of kernel.labels.keys()) {
        const m = /^isr_(\d+)$/.exec(k);
        if (m && Number(m[1]) > 255) c.err('kernel.source', `label '${k}': IDT vectors are 0..255`, labelAt(kernelSpec?.source ?? '', k));
      }
    }
  }

  if (c.errors.length > 0 || layout === null || kernel === null || name === null || vendor === null || mode === null || paging === null || memSize === null || boot === null) {
    if (c.errors.length === 0) c.err('(root)', 'incomplete scenario');
    return { ok: false, errors: c.errors };
  }
  const scenario: Scenario = {
    version: 1,
    name,
    boot,
    cpu: { vendor },
    mode,
    paging,
    memory: { size: memSize },
    kernel: kernelInput as Scenario['kernel'],
    ...(input.description !== undefined ? { description: input.description as string } : {}),
    ...(input.user !== undefined ? { user: input.user as Scenario['user'] } : {}),
    ...(mappings.length > 0 ? { mappings } : {}),
    devices: { ...(timer ? { timer } : {}), uart: { port: uartPort } },
    limits: { maxSteps },
    ...(technique !== null ? { technique } : {}),
    ...(pv !== null ? { pv } : {}),
    ...(hv !== null ? { hypervisor: hv } : {}),
  };
  return { ok: true, loaded: { scenario, layout, kernel, user, maxSteps } };
}
