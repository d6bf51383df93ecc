import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadScenario } from './migrate.ts';
import { runScenario } from './build.ts';
import { scenarioErrorText, type ScenarioError } from './schema.ts';

const KERNEL64 = 'kernel_entry:\n  hlt\n';

/** A minimal valid scenario; tests change one field at a time. */
function base(): Record<string, unknown> {
  return {
    version: 1,
    name: 't',
    cpu: { vendor: 'intel' },
    mode: 'long64',
    paging: '4level',
    memory: { size: 4 * 1024 * 1024 },
    kernel: { source: KERNEL64 },
  };
}

function errorsOf(s: unknown): ScenarioError[] {
  const r = loadScenario(s);
  return r.ok ? [] : r.errors;
}

function lines(s: unknown): string[] {
  return errorsOf(s).map(scenarioErrorText);
}

describe('scenario validation', () => {
  it('accepts the minimal scenario', () => {
    expect(loadScenario(base()).ok).toBe(true);
  });

  it.each<[string, (s: Record<string, unknown>) => void, string]>([
    ['memory.size not a multiple of 4096', (s) => (s.memory = { size: 5000 }), 'memory.size: expected a multiple of 4096, got 5000'],
    ['memory.size too small', (s) => (s.memory = { size: 4096 }), 'memory.size: expected 0x400000..0x40000000, got 0x1000'],
    ['memory.size too large', (s) => (s.memory = { size: 2 ** 31 }), 'memory.size: expected 0x400000..0x40000000, got 0x80000000'],
    ['a prot32 scenario with 4-level paging', (s) => (s.mode = 'prot32'), "paging: '4level' needs mode 'long64'"],
    ['long64 without IA-32e paging', (s) => (s.paging = 'pae'), "paging: 'pae' cannot be used with mode 'long64' (IA-32e mode needs '4level' or '5level')"],
    ['an unknown paging mode', (s) => (s.paging = '3level'), "paging: expected one of 'none', '32bit', 'pae', '4level', '5level', got '3level'"],
    ['an unknown vendor', (s) => (s.cpu = { vendor: 'via' }), "cpu.vendor: expected one of 'intel', 'amd', got 'via'"],
    ['a wrong version', (s) => (s.version = 2), 'version: expected a version 0..1, got 2'],
    ['a missing name', (s) => delete s.name, 'name: expected a string, got undefined'],
    ['a missing kernel', (s) => delete s.kernel, 'kernel: required'],
    ['both source and bytes', (s) => (s.kernel = { source: 'hlt', bytes: 'f4' }), "kernel: expected exactly one of 'source' (assembly) or 'bytes' (hex), got both"],
    ['bad hex', (s) => (s.kernel = { bytes: 'f4 0' }), 'kernel.bytes: expected hex digits in pairs (whitespace allowed between bytes)'],
    ['an undefined label', (s) => (s.kernel = { source: 'kernel_entry:\n  nop\n  jmp foo\n' }), "kernel.source: line 3, column 7: undefined label 'foo'"],
    ['a user assembly error', (s) => (s.user = { source: 'mov eax, \n' }), 'user.source: line 1'],
    ['a label that shadows a builder constant', (s) => (s.kernel = { source: 'USER_BASE:\n hlt\n' }), "kernel.source: line 1, column 1: 'USER_BASE' is a constant the builder defines"],
    ['a kernel outside its area', (s) => (s.kernel = { bytes: 'f4', origin: 0x5000 }), 'kernel.origin: the kernel image [0x5000, 0x5001) must lie in [0x100000, 0x200000)'],
    ['an unknown field', (s) => (s.colour = 'red'), 'colour: unknown field'],
    ['an unknown nested field', (s) => (s.memory = { size: 4194304, banks: 2 }), 'memory.banks: unknown field'],
    ['a technique the lab does not run', (s) => (s.technique = 'binary-translation'), "technique: technique 'binary-translation' is not one the lab runs (vtx, svm, trap-emulate, bt, pv)"],
    ['a technique that is not a string', (s) => (s.technique = 7), "technique: expected one of 'vtx', 'svm', 'trap-emulate', 'bt', 'pv', got 7"],
    ['svm on an Intel CPU', (s) => (s.technique = 'svm'), "cpu.vendor: technique 'svm' needs cpu.vendor 'amd' (AMD-V is AMD's), got 'intel'"],
    ['vtx on an AMD CPU', (s) => ((s.technique = 'vtx'), (s.cpu = { vendor: 'amd' })), "cpu.vendor: technique 'vtx' needs cpu.vendor 'intel' (VT-x is Intel's), got 'amd'"],
    // Trap-and-emulate: a 32-bit protected-mode guest, shadow paging, one VM, no hardware-assist options.
    ['a 64-bit guest under trap-emulate', (s) => (s.technique = 'trap-emulate'), "paging: trap-emulate runs a 32-bit protected-mode guest ('none' or '32bit'): a 64-bit kernel could not be deprivileged to ring 1 (long mode has no segment limits to keep it from the monitor), so it would need ring 3"],
    ['PAE paging under trap-emulate', (s) => ((s.technique = 'trap-emulate'), (s.mode = 'prot32'), (s.paging = 'pae')), "paging: trap-emulate runs a 32-bit protected-mode guest with 'none' or '32bit' paging: its monitor builds 32-bit shadow tables, not PAE ones"],
    ['nested paging under trap-emulate', (s) => ((s.technique = 'trap-emulate'), (s.mode = 'prot32'), (s.paging = '32bit'), (s.hypervisor = { nestedPaging: true })), 'hypervisor.nestedPaging: trap-emulate has no nested paging (no EPT or NPT without VT-x or AMD-V)'],
    ['tagged TLBs under trap-emulate', (s) => ((s.technique = 'trap-emulate'), (s.mode = 'prot32'), (s.paging = '32bit'), (s.hypervisor = { tlbTags: true })), 'hypervisor.tlbTags: trap-emulate runs with an untagged TLB'],
    ['exit controls under trap-emulate', (s) => ((s.technique = 'trap-emulate'), (s.mode = 'prot32'), (s.paging = 'none'), (s.hypervisor = { exits: { hlt: false } })), 'hypervisor.exits: trap-emulate has no exit controls'],
    ['a nested page size under trap-emulate', (s) => ((s.technique = 'trap-emulate'), (s.mode = 'prot32'), (s.paging = 'none'), (s.hypervisor = { nestedPageSize: '4k' })), 'hypervisor.nestedPageSize: trap-emulate has no nested tables'],
    ['walk caches under trap-emulate', (s) => ((s.technique = 'trap-emulate'), (s.mode = 'prot32'), (s.paging = 'none'), (s.hypervisor = { walkCaches: { pwc: true } })), 'hypervisor.walkCaches: trap-emulate makes no two-dimensional walk'],
    ['a timer under trap-emulate', (s) => ((s.technique = 'trap-emulate'), (s.mode = 'prot32'), (s.paging = 'none'), (s.kernel = { source: 'timer_handler: iretd\nkernel_entry: hlt' }), (s.devices = { timer: { vector: 32, period: 10 } })), 'devices.timer: a timer under trap-emulate is not supported (the monitor has no interrupt source)'],
    ['an unknown cost preset under trap-emulate', (s) => ((s.technique = 'trap-emulate'), (s.mode = 'prot32'), (s.paging = 'none'), (s.hypervisor = { costPreset: 'zen9' })), "hypervisor.costPreset: no cost preset 'zen9'"],
    ['a mapping over the trap-and-emulate monitor', (s) => ((s.technique = 'trap-emulate'), (s.mode = 'prot32'), (s.paging = '32bit'), (s.kernel = { source: 'hlt' }), (s.mappings = [{ linear: 0xffbff000, physical: 0, size: 8192 }])), 'mappings[0].linear: under trap-emulate the monitor occupies linear 0xffc00000 and up'],
    ['PAE paging under a technique', (s) => ((s.technique = 'vtx'), (s.mode = 'prot32'), (s.paging = 'pae')), "paging: 'pae' cannot be used under a technique"],
    ['a timer under a technique', (s) => ((s.technique = 'vtx'), (s.devices = { timer: { vector: 32, period: 10 } })), 'devices.timer: a timer under a technique is not supported yet'],
    ['hypervisor settings without a technique', (s) => (s.hypervisor = {}), "hypervisor: needs a 'technique' ('vtx' or 'svm')"],
    ['an AMD cost preset under vtx', (s) => ((s.technique = 'vtx'), (s.hypervisor = { costPreset: 'amd-recent' })), "hypervisor.costPreset: preset 'amd-recent' prices AMD-V, not VT-x (use vtx-prescott, core2-merom, intel-broadwell)"],
    ['an unknown cost preset', (s) => ((s.technique = 'svm'), (s.cpu = { vendor: 'amd' }), (s.hypervisor = { costPreset: 'zen9' })), "hypervisor.costPreset: no cost preset 'zen9'"],
    ['an unknown hypervisor field', (s) => ((s.technique = 'vtx'), (s.hypervisor = { shadow: true })), 'hypervisor.shadow: unknown field'],
    ['an exit option that is not a boolean', (s) => ((s.technique = 'vtx'), (s.hypervisor = { exits: { hlt: 'yes' } })), "hypervisor.exits.hlt: expected true or false, got 'yes'"],
    ['an exception vector above 31', (s) => ((s.technique = 'vtx'), (s.hypervisor = { exits: { exceptions: [6, 32] } })), 'hypervisor.exits.exceptions[1]: expected 0x0..0x1f, got 0x20'],
    ['an exception vector twice', (s) => ((s.technique = 'vtx'), (s.hypervisor = { exits: { exceptions: [6, 6] } })), 'hypervisor.exits.exceptions[1]: vector 6 is listed twice'],
    ['nestedPaging not a boolean', (s) => ((s.technique = 'vtx'), (s.hypervisor = { nestedPaging: 1 })), 'hypervisor.nestedPaging: expected true or false, got 1'],
    ['a 5-level guest under shadow paging', (s) => ((s.technique = 'vtx'), (s.mode = 'long64'), (s.paging = '5level'), (s.hypervisor = { nestedPaging: false })), "hypervisor.nestedPaging: shadow paging (nestedPaging false) keeps 4-level shadow tables: a '5level' guest needs nested paging"],
    ['a nested page size that is neither', (s) => ((s.technique = 'vtx'), (s.hypervisor = { nestedPageSize: '1g' })), "hypervisor.nestedPageSize: expected '4k' or '2m', got \"1g\""],
    ['a nested page size under shadow paging', (s) => ((s.technique = 'svm'), (s.cpu = { vendor: 'amd' }), (s.hypervisor = { nestedPaging: false, nestedPageSize: '4k' })), 'hypervisor.nestedPageSize: shadow paging (nestedPaging false) has no nested tables: remove nestedPageSize'],
    ['a walk cache that is not a boolean', (s) => ((s.technique = 'vtx'), (s.hypervisor = { walkCaches: { pwc: 1 } })), 'hypervisor.walkCaches.pwc: expected true or false, got 1'],
    ['an unknown walk cache', (s) => ((s.technique = 'vtx'), (s.hypervisor = { walkCaches: { tlb: true } })), 'hypervisor.walkCaches.tlb: unknown field'],
    ['walk caches under shadow paging', (s) => ((s.technique = 'vtx'), (s.hypervisor = { nestedPaging: false, walkCaches: { ntlb: true } })), 'hypervisor.walkCaches: the page-walk cache and the nested TLB shorten the two-dimensional walk: shadow paging (nestedPaging false) makes none'],
    ['guest RAM not in 2-MByte pages under nested paging', (s) => ((s.technique = 'vtx'), (s.memory = { size: 0x500000 })), "memory.size: with nested paging the hypervisor maps the guest's RAM in 2-MByte pages: expected a multiple of 0x200000, got 0x500000"],
    ['nestedPaging (a later issue)', (s) => (s.nestedPaging = true), 'nestedPaging: nestedPaging is not supported yet (issue 7)'],
    ['posted interrupts without VMs', (s) => (s.postedInterrupts = true), "postedInterrupts: posted interrupts deliver a device assigned to a VM of the multi-VM host: use 'vms'"],
    ['an IOMMU without VMs', (s) => (s.iommu = 'vtd'), "iommu: the host's IOMMU remaps the DMA of a device assigned to a VM of the multi-VM host: use 'vms' with a card given as devices.nic 'assigned'"],
    ['a timer vector below 32', (s) => (s.devices = { timer: { vector: 14, period: 10 } }), 'devices.timer.vector: expected 0x20..0xff, got 0xe'],
    ['a timer on the INT 0x80 gate', (s) => (s.devices = { timer: { vector: 0x80, period: 10 } }), 'devices.timer.vector: vector 0x80 is the INT 0x80 system-call gate'],
    ['a timer without a handler', (s) => (s.devices = { timer: { vector: 32, period: 10 } }), "devices.timer: the kernel has no 'timer_handler' (or 'isr_32') label to receive vector 32"],
    ['a zero timer period', (s) => (s.devices = { timer: { vector: 32, period: 0 } }), 'devices.timer.period: expected 0x1..0x3b9aca00, got 0x0'],
    ['a UART port above 0xffff', (s) => (s.devices = { uart: { port: 0x10000 } }), 'devices.uart.port: expected 0x0..0xffff, got 0x10000'],
    ['maxSteps of 0', (s) => (s.limits = { maxSteps: 0 }), 'limits.maxSteps: expected 0x1..0x5f5e100, got 0x0'],
    ['mappings without paging', (s) => ((s.mode = 'prot32'), (s.paging = 'none'), (s.mappings = [])), "mappings: need paging (paging is 'none')"],
    ['an unaligned mapping', (s) => (s.mappings = [{ linear: 0x80000001, physical: 0x300000, size: 4096 }]), 'mappings[0].linear: expected a multiple of 4096, got 0x80000001'],
    ['a mapping over the identity map', (s) => (s.mappings = [{ linear: 0x1000, physical: 0x300000, size: 4096 }]), "mappings[0].linear: 0x1000 is inside the kernel's identity map [0, 0x400000)"],
    ['a mapping over the user region', (s) => (s.mappings = [{ linear: 0x40080000, physical: 0x300000, size: 4096 }]), 'mappings[0].linear: range 0x40080000+0x1000 overlaps the user region'],
    ['overlapping mappings', (s) => (s.mappings = [{ linear: 0x80000000, physical: 0, size: 8192 }, { linear: 0x80001000, physical: 0, size: 4096 }]), 'mappings[1].linear: overlaps mappings[0]'],
    ['NX under 32-bit paging', (s) => ((s.mode = 'prot32'), (s.paging = '32bit'), (s.kernel = { source: 'hlt' }), (s.mappings = [{ linear: 0x80000000, physical: 0, size: 4096, nx: true }])), "mappings[0].nx: needs paging 'pae', '4level' or '5level' (32-bit paging has no XD bit)"],
    ['a non-boolean right', (s) => (s.mappings = [{ linear: 0x80000000, physical: 0, size: 4096, user: 'yes' }]), "mappings[0].user: expected true or false, got 'yes'"],
    ['user with boot bare', (s) => ((s.boot = 'bare'), (s.user = { bytes: 'f4' })), "user: boot 'bare' runs the kernel program alone: remove 'user'"],
    // Object.prototype names are unknown fields, not 'reserved for a later issue'.
    ['a field named constructor', (s) => (s['constructor'] = 1), 'constructor: unknown field'],
    ['a field named toString', (s) => (s['toString'] = 'x'), 'toString: unknown field'],
    ['a field named __proto__ (as JSON.parse makes it)', (s) => Object.defineProperty(s, '__proto__', { value: 1, enumerable: true, configurable: true, writable: true }), '__proto__: unknown field'],
    // The image is loaded where the scenario says; an org elsewhere would shift every label off its code.
    ['a kernel org away from its load address', (s) => (s.kernel = { source: 'org 0x150000\nkernel_entry: hlt' }), "kernel.source: line 1, column 1: 'org 0x150000' assembles the program for 0x150000, but the builder loads it at 0x100000"],
    ['a user org away from USER_BASE', (s) => (s.user = { source: '[org 0x1000]\nuser_entry: jmp user_entry' }), "user.source: line 1, column 1: 'org 0x1000' assembles the program for 0x1000, but the builder loads it at 0x40000000"],
    // A label the builder writes into a 32-bit field (RIP at start, IDT gate offset, LSTAR,
    // SYSENTER_EIP) must fit it: it is never silently truncated.
    ['a kernel_entry above 4 GiB', (s) => (s.kernel = { source: 'kernel_entry equ 0x123456789\n hlt' }), "kernel.source: line 1, column 1: label 'kernel_entry' = 0x123456789"],
    ['a negative pf_handler', (s) => (s.kernel = { source: 'pf_handler equ -1\nkernel_entry: hlt' }), "kernel.source: line 1, column 1: label 'pf_handler' = -0x1"],
    ['a higher-half syscall_entry', (s) => (s.kernel = { source: 'syscall_entry equ 0xffffffff80000000\nkernel_entry: hlt' }), "kernel.source: line 1, column 1: label 'syscall_entry'"],
    ['an isr_N above 4 GiB', (s) => (s.kernel = { source: 'isr_40 equ 0x100000000\nkernel_entry: hlt' }), "kernel.source: line 1, column 1: label 'isr_40'"],
    ['a user_entry above 4 GiB', (s) => (s.user = { source: 'user_entry equ 0x123456789\n hlt' }), "user.source: line 1, column 1: label 'user_entry' = 0x123456789"],
    // A mapping's frames must be RAM: above it the bus answers all-ones and drops writes.
    ['a mapping to physical addresses above RAM', (s) => (s.mappings = [{ linear: 0x80000000, physical: 0xfffff000, size: 4096 }]), 'mappings[0].physical: range 0xfffff000+0x1000 is not inside RAM [0, 0x400000)'],
    ['a mapping that runs past the end of RAM', (s) => (s.mappings = [{ linear: 0x80000000, physical: 0x3ff000, size: 8192 }]), 'mappings[0].physical: range 0x3ff000+0x2000 is not inside RAM [0, 0x400000)'],
    // boot 'bare' starts with RSP = 0x80000 (as lab exec does): the stack must be RAM.
    ['a bare machine too small for the exec stack', (s) => ((s.boot = 'bare'), (s.memory = { size: 0x10000 }), (s.kernel = { bytes: 'f4', origin: 0 })), 'memory.size: expected 0x80000..0x40000000, got 0x10000'],
  ])('rejects %s', (_what, change, expected) => {
    const s = base();
    change(s);
    const got = lines(s);
    expect(got.some((l) => l.startsWith(expected)), `${got.join('\n')}\nshould include\n${expected}`).toBe(true);
  });

  it('accepts a technique with its settings and keeps them', () => {
    const s = base();
    s.technique = 'vtx';
    s.hypervisor = { costPreset: 'core2-merom', nestedPaging: true, exits: { hlt: true, rdtsc: false, invlpg: true, cr3: false, exceptions: [6, 14] }, nestedPageSize: '4k', walkCaches: { pwc: true, ntlb: false } };
    const r = loadScenario(s);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.loaded.scenario.technique).toBe('vtx');
    expect(r.loaded.scenario.hypervisor).toEqual(s.hypervisor);
    const a = base();
    a.technique = 'svm';
    a.cpu = { vendor: 'amd' };
    expect(loadScenario(a).ok).toBe(true);
  });

  it('collects every error, not only the first', () => {
    const s = base();
    s.memory = { size: 5000 };
    s.cpu = { vendor: 'via' };
    s.technique = 'xen-hvm';
    const paths = errorsOf(s).map((e) => e.path).sort();
    expect(paths).toEqual(['cpu.vendor', 'memory.size', 'technique']);
  });

  it('rejects a non-object with a root error', () => {
    expect(lines(42)).toEqual(['(root): expected a scenario object, got 42']);
  });

  it('accepts an org equal to the load address', () => {
    const s = base();
    s.kernel = { source: 'org 0x100000\nkernel_entry: hlt' };
    expect(lines(s)).toEqual([]);
  });

  it('fills defaults: boot kernel, the UART at 0x3f8, 1,000,000 steps', () => {
    const r = loadScenario(base());
    if (!r.ok) throw new Error('invalid');
    expect(r.loaded.scenario.boot).toBe('kernel');
    expect(r.loaded.scenario.devices?.uart?.port).toBe(0x3f8);
    expect(r.loaded.maxSteps).toBe(1_000_000);
  });

  it('reports assembly errors at the line numbers of the source as written', () => {
    const s = base();
    s.user = { source: 'user_entry:\n  nop\n  nop\n  mov eax, [undefined_thing]\n' };
    expect(lines(s)).toEqual(["user.source: line 4, column 13: undefined label 'undefined_thing'"]);
  });

  it('carries the line and column of a source error as data, the message saying only what is wrong', () => {
    const s = base();
    s.kernel = { source: 'kernel_entry:\n  nop\n  jmp foo\n' };
    s.user = { source: 'user_entry:\n  mov eax, \n' };
    expect(errorsOf(s)).toEqual([
      { path: 'user.source', line: 2, column: 12, message: expect.stringMatching(/^(?!line )\S/) as unknown as string },
      { path: 'kernel.source', line: 3, column: 7, message: "undefined label 'foo'" },
    ]);
  });

  it('places every assembler error of a program, in source order', () => {
    const s = base();
    s.kernel = { source: 'kernel_entry:\n  jmp a\n  nop\n  jmp b\n' };
    expect(errorsOf(s).map((e) => [e.path, e.line, e.column])).toEqual([
      ['kernel.source', 2, 7],
      ['kernel.source', 4, 7],
    ]);
  });

  it('places a builder-constant clash, an out-of-range IDT label and a stray org on their lines', () => {
    const s = base();
    s.kernel = { source: 'kernel_entry:\n  hlt\n  KERNEL_CS: nop\n' };
    expect(errorsOf(s)).toEqual([{ path: 'kernel.source', line: 3, column: 3, message: "'KERNEL_CS' is a constant the builder defines (see scenario/layout.ts)" }]);
    s.kernel = { source: 'kernel_entry:\n  hlt\nisr_300:\n  iretq\n' };
    expect(errorsOf(s)).toEqual([{ path: 'kernel.source', line: 3, column: 1, message: "label 'isr_300': IDT vectors are 0..255" }]);
    s.kernel = { source: '; a comment\n  org 0x200000\nkernel_entry: hlt\n' };
    expect(errorsOf(s)).toMatchObject([{ path: 'kernel.source', line: 2, column: 3 }]);
  });

  it('gives errors that are not in a source no line', () => {
    const s = base();
    s.memory = { size: 5000 };
    s.kernel = { bytes: 'f4 0' };
    for (const e of errorsOf(s)) {
      expect(e).not.toHaveProperty('line');
      expect(e).not.toHaveProperty('column');
    }
  });
});

/**
 * Random scenario-shaped objects: a scenario built from valid choices (which may still disagree:
 * a timer without a handler, a mapping over the identity map), then up to two fields replaced by
 * values of the wrong type or range.
 */
const anyValue = fc.oneof(fc.constant(undefined), fc.integer({ min: -5, max: 2 ** 31 }), fc.string({ maxLength: 4 }), fc.boolean(), fc.constant(null), fc.constant({}));
const scenarioish = fc
  .record({
    vendor: fc.constantFrom('intel', 'amd'),
    mp: fc.constantFrom(['prot32', 'none'], ['prot32', '32bit'], ['prot32', 'pae'], ['long64', '4level'], ['long64', '5level']),
    size: fc.constantFrom(4 << 20, 8 << 20, 5 << 20),
    kernel: fc.oneof(
      fc.record({ source: fc.constantFrom('kernel_entry:\n hlt', 'pf_handler:\n hlt\nkernel_entry:\n mov eax, [0x7fff0000]\n hlt', 'timer_handler:\n iret\nkernel_entry:\n sti\n jmp kernel_entry', 'int80_handler:\n hlt\ntimer_handler:\n iret') }),
      fc.record({ bytes: fc.constantFrom('f4', 'ebfe', '0f0b') }),
    ),
    user: fc.option(fc.oneof(fc.record({ source: fc.constantFrom('user_entry:\n int 0x80\n jmp user_entry', 'cli', 'mov eax, [0]\n mov [eax], eax') }), fc.record({ bytes: fc.constantFrom('cd80', 'ebfe') }))),
    mappings: fc.option(fc.array(fc.record({ linear: fc.constantFrom(0x80000000, 0x90000000, 0x1000), physical: fc.constantFrom(0x300000, 0), size: fc.constantFrom(4096, 8192), user: fc.boolean(), writable: fc.boolean() }), { maxLength: 2 })),
    timer: fc.option(fc.record({ vector: fc.constantFrom(32, 40), period: fc.integer({ min: 1, max: 100 }) })),
    broken: fc.array(fc.tuple(fc.constantFrom('version', 'name', 'cpu', 'mode', 'paging', 'memory', 'kernel', 'user', 'mappings', 'devices', 'limits', 'technique', 'hypervisor'), anyValue), { maxLength: 2 }),
  })
  .map((r) => {
    const o: Record<string, unknown> = {
      version: 1, name: 'r', cpu: { vendor: r.vendor }, mode: r.mp[0], paging: r.mp[1], memory: { size: r.size }, kernel: r.kernel,
    };
    if (r.user !== null) o.user = r.user;
    if (r.mappings !== null) o.mappings = r.mappings;
    if (r.timer !== null) o.devices = { timer: r.timer };
    for (const [k, v] of r.broken) o[k] = v;
    return o;
  });

const TOP = new Set(['version', 'name', 'cpu', 'mode', 'paging', 'memory', 'kernel', 'user', 'mappings', 'devices', 'technique', 'hypervisor', 'boot', 'limits', '(root)']);

describe('scenario validation: trap-emulate', () => {
  const te = (extra: Record<string, unknown>): Record<string, unknown> => ({ ...base(), mode: 'prot32', paging: '32bit', kernel: { source: 'kernel_entry:\n  hlt\n' }, technique: 'trap-emulate', ...extra });

  it('accepts a 32-bit guest on either vendor with any cost preset, shadow paging kept', () => {
    for (const vendor of ['intel', 'amd']) {
      for (const hypervisor of [undefined, { costPreset: 'amd-recent' }, { costPreset: 'vtx-prescott', nestedPaging: false }]) {
        const r = loadScenario(te({ cpu: { vendor }, ...(hypervisor !== undefined ? { hypervisor } : {}) }));
        expect(r.ok, JSON.stringify(r)).toBe(true);
        if (r.ok) {
          expect(r.loaded.scenario.technique).toBe('trap-emulate');
          expect(r.loaded.scenario.hypervisor?.costPreset).toBe(hypervisor?.costPreset);
        }
      }
    }
    expect(loadScenario(te({ paging: 'none' })).ok).toBe(true);
    // Any memory size: the shadow maps 4-KByte pages (no 2-MByte nested pages to fill).
    expect(loadScenario(te({ memory: { size: 0x500000 } })).ok).toBe(true);
  });

  it('refuses a start in ring 3 (a user program and no kernel_entry)', () => {
    expect(lines(te({ kernel: { source: 'hlt' }, user: { source: 'user_entry:\n  jmp user_entry\n' } }))).toContain("kernel: trap-emulate starts the guest in its kernel (ring 0, which the monitor runs in ring 1): with a user program the kernel needs a 'kernel_entry' label");
    expect(loadScenario(te({ user: { source: 'user_entry:\n  jmp user_entry\n' } })).ok).toBe(true);
  });

  it('refuses several VMs under trap-emulate', () => {
    const vm = { name: 'a', mode: 'prot32', paging: '32bit', memory: { size: 0x400000 }, kernel: { source: 'kernel_entry:\n  hlt\n' } };
    const errs = lines({ version: 1, name: 'v', cpu: { vendor: 'intel' }, technique: 'trap-emulate', vms: [vm] });
    expect(errs).toContain("technique: trap-emulate runs one guest: the multi-VM host is built on VT-x or AMD-V ('vtx' or 'svm' with vms)");
  });
});

describe('scenario validation: bt (the trap-and-emulate monitor\u2019s constraints, reused)', () => {
  const bt = (extra: Record<string, unknown>): Record<string, unknown> => ({ ...base(), mode: 'prot32', paging: '32bit', kernel: { source: 'kernel_entry:\n  hlt\n' }, technique: 'bt', ...extra });

  it('accepts a 32-bit guest on either vendor with any cost preset', () => {
    for (const vendor of ['intel', 'amd']) {
      for (const hypervisor of [undefined, { costPreset: 'amd-recent' }, { costPreset: 'vtx-prescott', nestedPaging: false }]) {
        const r = loadScenario(bt({ cpu: { vendor }, ...(hypervisor !== undefined ? { hypervisor } : {}) }));
        expect(r.ok, JSON.stringify(r)).toBe(true);
        if (r.ok) expect(r.loaded.scenario.technique).toBe('bt');
      }
    }
    expect(loadScenario(bt({ paging: 'none', memory: { size: 0x500000 } })).ok).toBe(true);
  });

  it.each([
    ['a 64-bit guest', { mode: 'long64', paging: '4level' }, "paging: bt runs a 32-bit protected-mode guest ('none' or '32bit')"],
    ['PAE paging', { paging: 'pae' }, "paging: bt runs a 32-bit protected-mode guest with 'none' or '32bit' paging"],
    ['nested paging', { hypervisor: { nestedPaging: true } }, 'hypervisor.nestedPaging: bt has no nested paging'],
    ['tagged TLBs', { hypervisor: { tlbTags: true } }, 'hypervisor.tlbTags: bt runs with an untagged TLB'],
    ['exit controls', { hypervisor: { exits: { hlt: false } } }, 'hypervisor.exits: bt has no exit controls: what enters the monitor is what the processor faults on in ring 1 (privileged instructions, I/O, the guest\u2019s exceptions) and the translator\u2019s callouts'],
    ['a nested page size', { hypervisor: { nestedPageSize: '4k' } }, 'hypervisor.nestedPageSize: bt has no nested tables'],
    ['walk caches', { hypervisor: { walkCaches: { pwc: true } } }, 'hypervisor.walkCaches: bt makes no two-dimensional walk'],
    ['a timer', { kernel: { source: 'timer_handler: iretd\nkernel_entry: hlt' }, devices: { timer: { vector: 32, period: 10 } } }, 'devices.timer: a timer under bt is not supported'],
    ['an unknown cost preset', { hypervisor: { costPreset: 'zen9' } }, "hypervisor.costPreset: no cost preset 'zen9'"],
    ['a mapping over the monitor', { kernel: { source: 'hlt' }, mappings: [{ linear: 0xffbff000, physical: 0, size: 8192 }] }, 'mappings[0].linear: under bt the monitor occupies linear 0xffc00000 and up'],
    ['a start in ring 3', { kernel: { source: 'hlt' }, user: { source: 'user_entry:\n  jmp user_entry\n' } }, 'kernel: bt starts the guest in its kernel'],
  ])('refuses %s', (_what, extra, want) => {
    expect(lines(bt(extra)).some((l) => l.startsWith(want)), lines(bt(extra)).join('\n')).toBe(true);
  });

  it('refuses several VMs', () => {
    const vm = { name: 'a', mode: 'prot32', paging: '32bit', memory: { size: 0x400000 }, kernel: { source: 'kernel_entry:\n  hlt\n' } };
    expect(lines({ version: 1, name: 'v', cpu: { vendor: 'intel' }, technique: 'bt', vms: [vm] })).toContain("technique: bt runs one guest: the multi-VM host is built on VT-x or AMD-V ('vtx' or 'svm' with vms)");
  });
});

describe('random scenarios', () => {
  it('either validate and run without throwing, or are rejected with errors naming fields', () => {
    let valid = 0;
    fc.assert(
      fc.property(scenarioish, (s) => {
        const r = loadScenario(s);
        if (r.ok) {
          valid++;
          const { result } = runScenario(r.loaded, 300);
          expect(['hlt', 'limit', 'shutdown']).toContain(result.end);
        } else {
          expect(r.errors.length).toBeGreaterThan(0);
          for (const e of r.errors) {
            const head = e.path.split(/[.[]/)[0]!;
            expect(TOP.has(head), e.path).toBe(true);
            expect(e.message.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 300, seed: 31 },
    );
    // The generator is biased toward valid values so that both branches are exercised.
    expect(valid).toBeGreaterThan(10);
  });
});

describe('scenario validation: vms', () => {
  const vm = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    name, mode: 'prot32', paging: 'none', memory: { size: 4 << 20 }, kernel: { source: 'kernel_entry:\n  hlt\n' }, ...extra,
  });
  function multi(): Record<string, unknown> {
    return { version: 1, name: 'm', cpu: { vendor: 'intel' }, technique: 'vtx', vms: [vm('a'), vm('b', { mode: 'long64', paging: '4level', devices: { pc: true }, vcpus: 2 })] };
  }

  it('accepts several VMs, each loaded as a one-VM scenario of its own, with vCPUs and devices', () => {
    const r = loadScenario({ ...multi(), hypervisor: { quantum: 500 } });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.loaded.vms!.map((v) => [v.loaded.scenario.name, v.loaded.scenario.mode, v.vcpus, v.pc])).toEqual([['a', 'prot32', 1, false], ['b', 'long64', 2, true]]);
    expect(r.loaded.scenario.hypervisor).toEqual({ quantum: 500 });
    expect(r.loaded.scenario.vms!.map((v) => v.name)).toEqual(['a', 'b']);
  });

  it("accepts network cards given as VFs of the host's SR-IOV card, with an IOMMU for them", () => {
    const s = multi();
    for (const v of s.vms as Record<string, unknown>[]) v.devices = { nic: 'vf' };
    s.iommu = 'vtd';
    const r = loadScenario(s);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.loaded.vms!.map((v) => v.nic)).toEqual(['vf', 'vf']);
    expect(r.loaded.scenario.vms!.map((v) => v.devices)).toEqual([{ pc: false, nic: 'vf' }, { pc: false, nic: 'vf' }]);
  });

  it('accepts posted interrupts under VT-x with VT-d and an assigned card, and keeps them in the scenario', () => {
    const s = multi();
    (s.vms as Record<string, unknown>[])[0]!.devices = { nic: 'assigned' };
    Object.assign(s, { iommu: 'vtd', postedInterrupts: true });
    const r = loadScenario(s);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.loaded.scenario.postedInterrupts).toBe(true);
  });

  it.each<[string, (s: Record<string, unknown>) => void, string]>([
    ['posted interrupts without VT-d', (s) => (((s.vms as Record<string, unknown>[])[0]!.devices = { nic: 'assigned' }), (s.postedInterrupts = true)), "postedInterrupts: posted interrupts are VT-x's with the VT-d IOMMU: technique 'vtx' and iommu 'vtd'"],
    ['posted interrupts with no assigned device', (s) => (((s.vms as Record<string, unknown>[])[0]!.devices = { nic: 'vf' }), Object.assign(s, { iommu: 'vtd', postedInterrupts: true })), "postedInterrupts: posted interrupts deliver an assigned device's MSI: no VM has one (devices.nic or devices.disk 'assigned')"],
    ['posted interrupts beside the 8259A', (s) => (((s.vms as Record<string, unknown>[])[0]!.devices = { nic: 'assigned', pc: true }), Object.assign(s, { iommu: 'vtd', postedInterrupts: true })), "postedInterrupts: a VM with an assigned device and posted interrupts cannot also have the PC platform's 8259A (devices.pc)"],
    ['posted interrupts not a boolean', (s) => (s.postedInterrupts = 'on'), "postedInterrupts: expected true or false, got 'on'"],
    ['a top-level guest field beside vms', (s) => (s.kernel = { source: 'kernel_entry:\n hlt' }), "kernel: with 'vms' each VM has its own guest: move 'kernel' into the entries of vms"],
    ['no technique', (s) => delete s.technique, "technique: several VMs run under a hypervisor: 'vms' needs a technique ('vtx' or 'svm')"],
    ['five VMs', (s) => (s.vms = [vm('a'), vm('b'), vm('c'), vm('d'), vm('e')]), 'vms: expected 1 to 4 VMs, got 5'],
    ['no VM', (s) => (s.vms = []), 'vms: expected 1 to 4 VMs, got 0'],
    ['three vCPUs', (s) => ((s.vms as Record<string, unknown>[])[0]!.vcpus = 3), 'vms[0].vcpus: expected 1 or 2, got 3'],
    ['devices.pc not a boolean', (s) => ((s.vms as Record<string, unknown>[])[1]!.devices = { pc: 'yes' }), "vms[1].devices.pc: expected true or false, got 'yes'"],
    ['a device the host does not offer', (s) => ((s.vms as Record<string, unknown>[])[1]!.devices = { timer: {} }), 'vms[1].devices.timer: unknown field (expected one of: pc, nic, disk)'],
    ['a card and a disk in one VM', (s) => ((s.vms as Record<string, unknown>[])[1]!.devices = { nic: 'emulated', disk: 'virtio' }), 'vms[1].devices: a VM has one PCI device here (at 00:03.0): a network card or a disk, not both'],
    ['a disk given no known way', (s) => ((s.vms as Record<string, unknown>[])[1]!.devices = { disk: 'sata' }), "vms[1].devices.disk: expected one of 'emulated', 'virtio', 'assigned', got 'sata'"],
    ['a network card given no known way', (s) => ((s.vms as Record<string, unknown>[])[1]!.devices = { nic: 'passthrough' }), "vms[1].devices.nic: expected one of 'emulated', 'virtio', 'assigned', 'vf', got 'passthrough'"],
    ['an IOMMU with no assigned card', (s) => ((s.iommu = 'vtd'), ((s.vms as Record<string, unknown>[])[1]!.devices = { nic: 'emulated' })), "iommu: an IOMMU remaps the DMA of assigned devices: no VM has one (devices.nic 'assigned' or 'vf', devices.disk 'assigned')"],
    ['an IOMMU of neither vendor', (s) => (s.iommu = 'smmu'), "iommu: expected one of 'none', 'vtd', 'amd-vi', got 'smmu'"],
    ['an error inside one VM', (s) => ((s.vms as Record<string, unknown>[])[1]!.paging = 'none'), "vms[1].paging: 'none' cannot be used with mode 'long64' (IA-32e mode needs '4level' or '5level')"],
    ['memory beyond the host\u2019s VMs', (s) => ((s.vms as Record<string, unknown>[])[0]!.memory = { size: 128 << 20 }), 'vms[0].memory.size: a VM of the multi-VM host has at most 0x4000000 bytes, got 0x8000000'],
    ['two VMs of one name', (s) => ((s.vms as Record<string, unknown>[])[1]!.name = 'a'), "vms[1].name: another VM is named 'a'"],
    ['quantum 0', (s) => (s.hypervisor = { quantum: 0 }), 'hypervisor.quantum: expected 0x1..0xf4240, got 0x0'],
    ['nested paging off', (s) => (s.hypervisor = { nestedPaging: false }), 'hypervisor.nestedPaging: several VMs each get their own nested tables (EPT or NPT): nestedPaging cannot be false with vms'],
    ['4-KByte nested pages with vms', (s) => (s.hypervisor = { nestedPageSize: '4k' }), "hypervisor.nestedPageSize: with vms the host maps every VM's RAM in 2-MByte nested pages: remove nestedPageSize"],
    ['walk caches with vms', (s) => (s.hypervisor = { walkCaches: { pwc: true } }), 'hypervisor.walkCaches: the walk caches are not modelled on the multi-VM host yet: remove walkCaches with vms'],
    ['exits chosen by the scenario', (s) => (s.hypervisor = { exits: { hlt: true } }), 'hypervisor.exits: with vms the host sets its exits itself (HLT, I/O, the timers): remove hypervisor.exits'],
  ])('%s', (_what, edit, want) => {
    const s = multi();
    edit(s);
    expect(lines(s)).toContain(want);
  });

  it('places an error in a VM\u2019s program by line and column under vms[i]', () => {
    const s = multi();
    (s.vms as Record<string, unknown>[])[1]!.kernel = { source: 'kernel_entry:\n  mov rax, 1\n  jmp nowhere\n' };
    const e = errorsOf(s).find((x) => x.path === 'vms[1].kernel.source');
    expect(e).toMatchObject({ line: 3 });
    expect(scenarioErrorText(e!)).toMatch(/^vms\[1\]\.kernel\.source: line 3, column \d+: /);
  });

  it('rejects a time slice without vms', () => {
    expect(lines({ ...base(), technique: 'vtx', hypervisor: { quantum: 100 } })).toContain("hypervisor.quantum: a time slice needs several VMs to share the CPU: use 'vms'");
  });
});
