/**
 * A nastier property than validate.test.ts's: valid scenarios of every mode, then deep edits at
 * any field path with boundary numbers (0, 4095, 2^32 − 4096, 2^32, 2^53, −1, fractions), odd
 * types and nested junk, and kernels whose builder labels are `equ` constants at the same
 * boundaries. Whatever comes in: validation never throws; a rejected scenario names fields that
 * exist in the format; an accepted one builds without throwing, with its RAM the size asked, and
 * runs.
 */
import { HV_MACHINE_AREA } from '../hv/hv-machine.ts';
import { HV_BT_AREA, HV_SHADOW_POOL_SIZE } from '../hv/area.ts';
import '../hv/host-machine.ts';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadScenario } from './migrate.ts';
import { buildScenario } from './build.ts';
import * as layout from './layout.ts';
import { MSR } from '../cpu/sys-ctl.ts';

const boundary = fc.constantFrom(
  0, 1, -1, 0.5, 4095, 4096, 0x1000 * 3, 0x7ffff, 0x80000, 0xfffff, 0x100000, 0x1fffff, 0x200000, 0x2ff000, 0x300000,
  0x3ff000, 0x400000, 0x401000, 0x3fffffff, 0x40000000, 0x400ff000, 0x40100000, 0x7fffffff, 0x80000000, 0xfffff000,
  0xffffffff, 0x100000000, 2 ** 53, -(2 ** 31), 1e300, 16 << 20, (16 << 20) + 4096,
);
/** Page-aligned values that are often valid: linear above RAM, frames in RAM, small sizes. */
const aligned = fc.constantFrom(0x1000, 0x300000, 0x3ff000, 0x80000000, 0xfff00000, 0xfffff000, 0x2000, 16 << 20);
const junk: fc.Arbitrary<unknown> = fc.oneof(
  boundary,
  fc.constantFrom(null, true, false, '', 'f4', 'kernel_entry:', [], {}, [[]], { a: { b: [1] } }, 'x'.repeat(300)),
  fc.string({ maxLength: 6 }),
  fc.array(boundary, { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('linear', 'physical', 'size', 'vector', 'port', 'source', 'bytes', 'origin', 'junk'), boundary, { maxKeys: 3 }),
);

const PATHS: string[][] = [
  ['version'], ['name'], ['boot'], ['cpu'], ['cpu', 'vendor'], ['mode'], ['paging'], ['memory'], ['memory', 'size'],
  ['kernel'], ['kernel', 'origin'], ['kernel', 'bytes'], ['user'], ['user', 'origin'], ['mappings'], ['mappings', '0'],
  ['mappings', '0', 'linear'], ['mappings', '0', 'physical'], ['mappings', '0', 'size'], ['mappings', '0', 'present'],
  ['mappings', '1', 'linear'], ['mappings', '1', 'size'], ['devices'], ['devices', 'timer'], ['devices', 'timer', 'vector'],
  ['devices', 'timer', 'period'], ['devices', 'uart', 'port'], ['limits', 'maxSteps'], ['tlb'], ['constructor'],
  ['technique'], ['hypervisor'], ['hypervisor', 'costPreset'], ['hypervisor', 'exits'], ['hypervisor', 'exits', 'exceptions'], ['hypervisor', 'exits', 'hlt'],
];

function setPath(o: Record<string, unknown>, path: string[], v: unknown): void {
  let cur: unknown = o;
  for (let i = 0; i < path.length - 1; i++) {
    if (typeof cur !== 'object' || cur === null) return;
    const c = cur as Record<string, unknown>;
    if (typeof c[path[i]!] !== 'object' || c[path[i]!] === null) c[path[i]!] = /^\d+$/.test(path[i + 1]!) ? [] : {};
    cur = c[path[i]!];
  }
  if (typeof cur === 'object' && cur !== null) Object.defineProperty(cur, path[path.length - 1]!, { value: v, enumerable: true, writable: true, configurable: true });
}

const LABELS = ['kernel_entry', 'pf_handler', 'timer_handler', 'int80_handler', 'syscall_entry', 'default_handler', 'isr_255', 'isr_128'];
const kernelSource = fc
  .array(fc.tuple(fc.constantFrom(...LABELS), fc.oneof(fc.constant(null), boundary.filter((n) => Number.isInteger(n) && Math.abs(n) < 2 ** 53))), { maxLength: 4 })
  .map((ls) => {
    const seen = new Set<string>();
    const lines: string[] = [];
    for (const [name, v] of ls) {
      if (seen.has(name)) continue;
      seen.add(name);
      lines.push(v === null ? `${name}:\n  hlt` : `${name} equ ${v < 0 ? '-' + (-v).toString() : '0x' + v.toString(16)}`);
    }
    return lines.join('\n') + '\nhlt\n';
  });

const scenario = fc
  .record({
    vendor: fc.constantFrom('intel', 'amd'),
    mp: fc.constantFrom(['prot32', 'none'], ['prot32', '32bit'], ['prot32', 'pae'], ['long64', '4level'], ['long64', '5level']),
    boot: fc.constantFrom(undefined, undefined, undefined, 'kernel', 'bare'),
    size: fc.constantFrom(0x80000, 4 << 20, 4 << 20, (4 << 20) + 4096, 6 << 20, 8 << 20, 1 << 30),
    kernel: fc.oneof(fc.record({ source: kernelSource }), fc.record({ bytes: fc.constantFrom('f4', '', 'ebfe') })),
    origin: fc.option(boundary, { freq: 6 }),
    user: fc.option(fc.oneof(fc.record({ source: fc.constantFrom('user_entry:\n jmp user_entry', 'user_entry:\n int 0x80\n jmp user_entry', 'user_entry equ 0x40000000\n hlt', 'user_entry equ 0x100000000\n hlt') }), fc.record({ bytes: fc.constantFrom('', 'cd80') }))),
    mappings: fc.option(fc.array(fc.record({ linear: fc.oneof(aligned, boundary), physical: fc.oneof(aligned, boundary), size: fc.oneof(aligned, boundary), nx: fc.boolean(), present: fc.boolean() }), { maxLength: 3 }), { freq: 2 }),
    timer: fc.option(fc.record({ vector: fc.constantFrom(32, 32, 255, 128, 256), period: fc.oneof(fc.integer({ min: 1, max: 50 }), boundary) }), { freq: 2 }),
    /** 0: keep fields that conflict with the boot or paging mode (user/mappings with 'bare', mappings without paging). */
    conflict: fc.integer({ min: 0, max: 3 }),
    edits: fc.oneof({ arbitrary: fc.constant([] as [string[], unknown][]), weight: 2 }, { arbitrary: fc.array(fc.tuple(fc.constantFrom(...PATHS), junk), { maxLength: 3 }), weight: 1 }),
    technique: fc.option(fc.constantFrom('vtx', 'svm', 'svm', 'vtx', 'bt'), { freq: 2 }),
    hypervisor: fc.option(
      fc.record({
        costPreset: fc.option(fc.constantFrom('intel-broadwell', 'amd-recent', 'core2', 'none')),
        nestedPaging: fc.option(fc.boolean()),
        exits: fc.option(fc.record({ hlt: fc.boolean(), rdtsc: fc.boolean(), exceptions: fc.array(fc.constantFrom(6, 13, 14, 32, 6), { maxLength: 3 }) }, { requiredKeys: [] })),
      }),
      { freq: 3 },
    ),
  })
  .map((r) => {
    const o: Record<string, unknown> = {
      version: 1, name: 'fuzz', cpu: { vendor: r.vendor }, mode: r.mp[0], paging: r.mp[1], memory: { size: r.size },
      kernel: r.origin === null ? r.kernel : { ...r.kernel, origin: r.origin },
    };
    if (r.boot !== undefined) o.boot = r.boot;
    const bare = r.boot === 'bare';
    if (r.user !== null && (!bare || r.conflict === 0)) o.user = r.user;
    if (r.mappings !== null && ((!bare && r.mp[1] !== 'none') || r.conflict === 0)) o.mappings = r.mappings;
    if (bare && r.conflict !== 0) o.paging = r.mp[0] === 'long64' ? '4level' : 'none';
    if (r.timer !== null) o.devices = { timer: r.timer };
    if (r.technique !== null) {
      o.technique = r.technique;
      // Mostly the vendor the technique needs; sometimes the other one (an error to report).
      if (r.conflict !== 0) o.cpu = { vendor: r.technique === 'svm' ? 'amd' : 'intel' };
      if (r.conflict !== 0 && r.timer !== null) delete o.devices;
      if (r.hypervisor !== null) {
        const h: Record<string, unknown> = {};
        if (r.hypervisor.costPreset !== null) h.costPreset = r.hypervisor.costPreset;
        if (r.hypervisor.nestedPaging !== null) h.nestedPaging = r.hypervisor.nestedPaging;
        if (r.hypervisor.exits !== null) h.exits = r.hypervisor.exits;
        o.hypervisor = h;
      }
    }
    for (const [p, v] of r.edits) setPath(o, p, v);
    return o;
  });

/** Every top-level field the format knows, reserved ones included. */
const KNOWN = new Set(['(root)', 'version', 'name', 'description', 'boot', 'cpu', 'mode', 'paging', 'memory', 'kernel', 'user', 'mappings', 'devices', 'limits', 'technique', 'hypervisor', 'vms', 'nestedPaging', 'tlb', 'iommu', 'costPreset', 'constructor']);

describe('nasty random scenarios', () => {
  it('validate without throwing; accepted ones build without throwing and run; rejected ones name fields', () => {
    let valid = 0;
    let validHv = 0;
    fc.assert(
      fc.property(scenario, (s) => {
        const r = loadScenario(s);
        if (!r.ok) {
          expect(r.errors.length).toBeGreaterThan(0);
          for (const e of r.errors) expect(KNOWN.has(e.path.split(/[.[]/)[0]!), `${e.path}: ${e.message}`).toBe(true);
          return;
        }
        valid++;
        const m = buildScenario(r.loaded);
        const sc = r.loaded.scenario;
        if (sc.technique !== undefined) validHv++;
        // The guest's RAM, plus the hypervisor's area above it under a technique (and the shadow pool above that without nested paging).
        const tech = sc.technique !== undefined;
        // Binary translation always shadows, and its area holds the translation cache too.
        const bt = sc.technique === 'bt';
        const shadow = tech && (bt || sc.hypervisor?.nestedPaging === false);
        expect(m.mem.ramSize).toBe(sc.memory.size + (tech ? (bt ? HV_BT_AREA : HV_MACHINE_AREA) : 0) + (shadow ? HV_SHADOW_POOL_SIZE : 0));
        // What the builder wrote is what the labels say (no truncation to 32 bits).
        const labels = r.loaded.kernel.labels;
        const entry = labels.get('kernel_entry');
        // (Under a technique the CPU holds the host after the build; the guest's RIP is in the VMCS/VMCB.)
        if (entry !== undefined && sc.boot === 'kernel' && sc.technique === undefined) expect(m.cpu.state.ripLo + m.cpu.state.ripHi * 2 ** 32).toBe(entry);
        const pf = labels.get('pf_handler');
        if (pf !== undefined && sc.boot === 'kernel') {
          const gate = layout.IDT_BASE + 14 * (sc.mode === 'long64' ? 16 : 8);
          const off = ((m.mem.read(gate + 4, 4) & 0xffff0000) | m.mem.read(gate, 2)) >>> 0;
          expect(off + (sc.mode === 'long64' ? m.mem.read(gate + 8, 4) * 2 ** 32 : 0)).toBe(pf);
        }
        // Every mapped frame is RAM.
        for (const mp of sc.mappings ?? []) expect(mp.physical + mp.size).toBeLessThanOrEqual(sc.memory.size);
        const end = m.run(100);
        expect(['hlt', 'limit', 'shutdown']).toContain(end);
      }),
      { numRuns: 1500, seed: 7 },
    );
    expect(valid).toBeGreaterThan(60);
    // Scenarios under the hypervisor (VT-x or AMD-V) among them, built and run.
    expect(validHv).toBeGreaterThan(20);
  });

  it('vms: random VMs and junk in them validate without throwing; accepted ones build on the multi-VM host and run', () => {
    const vmArb = fc.record({
      name: fc.oneof({ arbitrary: fc.constant(null), weight: 8 }, { arbitrary: junk, weight: 1 }),
      mp: fc.constantFrom(['prot32', 'none'], ['prot32', '32bit'], ['long64', '4level'], ['long64', '4level'], ['long64', '5level'], ['prot32', 'pae']),
      size: fc.constantFrom(4 << 20, 4 << 20, 4 << 20, 4 << 20, 6 << 20, 8 << 20, (4 << 20) + 4096, 128 << 20, 0x80000),
      kernel: fc.oneof(fc.record({ source: kernelSource }), fc.record({ bytes: fc.constantFrom('f4', 'ebfe', 'f4') }), fc.record({ source: fc.constant('kernel_entry:\n  out 0x80, al\n  hlt\n') })),
      vcpus: fc.constantFrom(null, null, null, 1, 2, 2, 3, 0),
      pc: fc.option(fc.oneof(fc.boolean(), fc.boolean(), fc.boolean(), junk)),
    });
    const VM_PATHS: string[][] = [['name'], ['mode'], ['paging'], ['memory', 'size'], ['kernel'], ['kernel', 'origin'], ['user'], ['vcpus'], ['devices'], ['devices', 'pc'], ['mappings']];
    const multi = fc.record({
      technique: fc.constantFrom('vtx', 'svm', 'vtx', 'svm', 'vtx', 'svm', undefined),
      vms: fc.oneof({ arbitrary: fc.array(vmArb, { minLength: 1, maxLength: 3 }), weight: 6 }, { arbitrary: fc.array(vmArb, { maxLength: 5 }), weight: 1 }),
      quantum: fc.oneof(fc.constant(null), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 }), boundary),
      edits: fc.oneof({ arbitrary: fc.constant([] as [number, string[], unknown][]), weight: 3 }, { arbitrary: fc.array(fc.tuple(fc.nat(4), fc.constantFrom(...VM_PATHS), junk), { maxLength: 2 }), weight: 1 }),
      top: fc.oneof({ arbitrary: fc.constant(null), weight: 5 }, { arbitrary: fc.tuple(fc.constantFrom(...PATHS), junk), weight: 1 }),
    }).map((r) => {
      const o: Record<string, unknown> = {
        version: 1, name: 'fuzz', cpu: { vendor: r.technique === 'svm' ? 'amd' : 'intel' },
        vms: r.vms.map((v, i) => {
          const e: Record<string, unknown> = { name: v.name ?? `vm${i}`, mode: v.mp[0], paging: v.mp[1], memory: { size: v.size }, kernel: v.kernel };
          if (v.vcpus !== null) e.vcpus = v.vcpus;
          if (v.pc !== null) e.devices = { pc: v.pc };
          return e;
        }),
      };
      if (r.technique !== undefined) o.technique = r.technique;
      if (r.quantum !== null) o.hypervisor = { quantum: r.quantum };
      for (const [i, p, v] of r.edits) if (Array.isArray(o.vms) && o.vms[i] !== undefined) setPath(o.vms[i] as Record<string, unknown>, p, v);
      if (r.top !== null) setPath(o, r.top[0], r.top[1]);
      return o;
    });
    let valid = 0;
    fc.assert(
      fc.property(multi, (s) => {
        const r = loadScenario(s);
        if (!r.ok) {
          expect(r.errors.length).toBeGreaterThan(0);
          for (const e of r.errors) expect(KNOWN.has(e.path.split(/[.[]/)[0]!), `${e.path}: ${e.message}`).toBe(true);
          return;
        }
        valid++;
        const vms = r.loaded.vms!;
        expect(vms.length).toBeGreaterThanOrEqual(1);
        const m = buildScenario(r.loaded);
        // Every VM's RAM, one after another, below the vCPUs' areas.
        expect(m.mem.ramSize).toBeGreaterThan(vms.reduce((n, v) => n + v.loaded.scenario.memory.size, 0));
        expect(['hlt', 'limit', 'shutdown']).toContain(m.run(300));
      }),
      { numRuns: 400, seed: 5 },
    );
    expect(valid).toBeGreaterThan(20);
  });

  it('a builder label given any value is either rejected on kernel.source or written exactly (RIP, IDT gate, LSTAR, SYSENTER_EIP)', () => {
    const value = fc.oneof(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.constantFrom(-1, -(2 ** 31), 0xffffffff, 0x100000000, 0xffffffff80000000, 2 ** 52),
    );
    fc.assert(
      fc.property(fc.constantFrom('kernel_entry', 'pf_handler', 'syscall_entry', 'isr_40'), value, fc.constantFrom('prot32', 'long64'), (name, v, mode) => {
        const src = `${name} equ ${v < 0 ? '-0x' + (-v).toString(16) : '0x' + v.toString(16)}\n${name === 'kernel_entry' ? '' : 'kernel_entry:\n'} hlt\n`;
        const r = loadScenario({
          version: 1, name: 'l', cpu: { vendor: 'intel' }, mode, paging: mode === 'long64' ? '4level' : 'pae', memory: { size: 4 << 20 }, kernel: { source: src },
        });
        if (!r.ok) {
          expect(r.errors.map((e) => e.path)).toEqual(['kernel.source']);
          expect(v < 0 || v > 0xffffffff).toBe(true);
          return;
        }
        const m = buildScenario(r.loaded);
        const s = m.cpu.state;
        const gate = (vec: number): number => {
          const ea = layout.IDT_BASE + vec * (mode === 'long64' ? 16 : 8);
          const lo = ((m.mem.read(ea + 4, 4) & 0xffff0000) | m.mem.read(ea, 2)) >>> 0;
          return lo + (mode === 'long64' ? m.mem.read(ea + 8, 4) * 2 ** 32 : 0);
        };
        const msr = (n: number): number => { const x = s.msr.get(n) ?? [0, 0]; return x[0]! + x[1]! * 2 ** 32; };
        const written = name === 'kernel_entry' ? s.ripLo + s.ripHi * 2 ** 32
          : name === 'pf_handler' ? gate(14)
          : name === 'isr_40' ? gate(40)
          : msr(mode === 'long64' ? MSR.IA32_LSTAR : MSR.IA32_SYSENTER_EIP);
        expect(written).toBe(v);
      }),
      { numRuns: 300, seed: 11 },
    );
  });
});
