/**
 * Scenario v1: one JSON-serializable description of a machine and the guest it boots. Lessons,
 * share links, the sandbox, the command line (`lab run FILE.json`) and the tests all speak it.
 * `validate.ts` checks one (every error, each naming its field path); `migrate.ts` lifts older
 * versions to this one; `build.ts` boots a validated one into a Machine.
 *
 * Fields (all plain JSON):
 *
 * | field | type | meaning |
 * | --- | --- | --- |
 * | `version` | `1` | this format |
 * | `name` | string (1..100) | shown in views and the CLI |
 * | `description` | string, optional | what the scenario shows |
 * | `boot` | `'kernel'` (default) or `'bare'` | `bare`: start exactly like `lab exec` (version 0) |
 * | `cpu.vendor` | `'intel'` or `'amd'` | where the manuals differ (SYSCALL outside 64-bit mode, ...) |
 * | `mode` | `'prot32'` or `'long64'` | protected mode, or IA-32e mode with 64-bit code |
 * | `paging` | `'none'`, `'32bit'`, `'pae'`, `'4level'`, `'5level'` | prot32: none/32bit/pae; long64: 4level/5level |
 * | `memory.size` | bytes | RAM at physical 0, a multiple of 4096, 4 MiB..1 GiB (bare: 512 KiB..1 GiB, the exec stack starting at 0x80000) |
 * | `kernel` | `{ source, origin? }` or `{ bytes, origin? }` | Intel-syntax assembly, or hex machine code; loaded at `origin` (default KERNEL_BASE = 0x100000; boot 'kernel' keeps it in [0x100000, 0x200000)); an `org` in the source must equal the load address |
 * | `user` | `{ source }` or `{ bytes }`, optional | the user process, at `USER_BASE` with U/S = 1 |
 * | `mappings` | array, optional | extra 4 KiB mappings: `{ linear, physical, size, writable?, user?, nx?, present? }`; linear above the identity map and outside the user region, physical inside RAM |
 * | `devices.timer` | `{ vector, period }`, optional | periodic interrupt on `vector` (32..255) every `period` steps |
 * | `devices.uart` | `{ port }`, optional | the UART transmit register's port (default 0x3f8) |
 * | `limits.maxSteps` | integer, optional | step budget of `run` (default 1,000,000) |
 * | `technique` | `'vtx'` or `'svm'`, optional | run the guest built above as the only guest of the lab's hypervisor under VT-x (`cpu.vendor` 'intel') or AMD-V ('amd'); steps are then the guest's (hv/hv-machine.ts). Not with PAE paging or a timer |
 * | `technique: 'trap-emulate'` | | classic trap-and-emulate without VT-x or AMD-V (hv/te/backend.ts): the guest kernel runs deprivileged in ring 1, its privileged instructions fault (#GP) into the monitor, which emulates them; any `cpu.vendor`; a 32-bit protected-mode guest only (`paging` 'none' or '32bit': a 64-bit kernel would need ring 3), always shadow paging (`hypervisor.nestedPaging` false if given), untagged TLB; not with `vms`, a timer, `hypervisor.exits`, `nestedPageSize`, `walkCaches`, or a mapping in the monitor's top 4 MiB (linear 0xFFC00000 up) |
 * | `technique: 'bt'` | | binary translation (hv/bt/backend.ts), VMware's monitor before VT-x: the trap-and-emulate monitor with the guest kernel's code run from a translation cache (256 KiB), privileged and sensitive instructions turned into callouts; the same constraints as trap-emulate; the hypervisor's area holds the cache too (HV_BT_AREA), the shadow pool after it |
 * | `technique: 'pv'` | | paravirtualization the Xen way (hv/pv/backend.ts): the guest is the lab's small kernel (hv/pv/kernel.ts) in the version `pv.kernel` names, `'paravirtualized'` (hypercalls, direct paging over validated page tables) or `'unmodified'` (fails at its first privileged instruction, located); `boot` 'bare' (the default under pv), `mode` 'prot32', `paging` 'none' (the kernel sets up its own paging), `memory.size` at least 0x402000 (the domain builder's bootstrap tables at 0x400000); `kernel` absent or that version's source at 0x100000; no `user`, `mappings`, timer, `vms`, or hypervisor settings but `costPreset` (any preset; default `vtx-prescott`) |
 * | `pv` | `{ kernel: 'paravirtualized' \| 'unmodified' }` | with `technique: 'pv'` only |
 * | `hypervisor.costPreset` | preset id, optional | the cost preset pricing exits and entries (default: `intel-broadwell` under vtx, `amd-recent` under svm, `vtx-prescott` under trap-emulate, bt and pv); it must be of the technique's vendor (any preset under trap-emulate, bt and pv) |
 * | `hypervisor.nestedPaging` | boolean, optional | EPT / NPT for the guest (passed to the backend) |
 * | `hypervisor.hosting` | `'bare-metal'` or `'hosted'`, optional | with `vms`: where the hypervisor lives (hv/hosting.ts): bare-metal (it is the machine's OS, as ESX or Xen) or hosted (a host OS under it, as VMware Workstation: device exits, host interrupts and halts reach the host world by world switches, devices are emulated in a user-level process, output leaves through its system calls); given, each exit's path is traced (`host/path`) |
 * | `hypervisor.hostProcesses` | integer 0–3, optional | with `hosting: 'hosted'`: CPU-bound host processes the host's scheduler runs between the VMs' slices (default 1; `host/run`) |
 * | `hypervisor.exits` | `{ hlt?, rdtsc?, invlpg?, cr3?, exceptions? }`, optional | optional exits to turn on (booleans; `exceptions`: vectors 0..31 to intercept and reflect, default [6]) |
 * | `hypervisor.tlbTags` | boolean, optional | tagged TLBs: VPID under vtx, an ASID without a TLB_CONTROL flush at each VMRUN under svm (default: on with nested paging, off without; with `vms`, on) |
 * | `hypervisor.nestedPageSize` | `'4k'` or `'2m'`, optional | the nested pages (EPT / NPT) mapping the guest's RAM (default '2m': a nested walk of three references; '4k': four, the textbook's 24-reference 2D walk; the hypervisor's area grows by a page table per 2 MiB of guest RAM). Nested paging only, not with `vms` |
 * | `hypervisor.walkCaches` | `{ pwc?, ntlb? }`, optional | the 2D walk's page-walk cache and nested TLB (mmu/walk-cache.ts; booleans, default off). Nested paging only, not with `vms` |
 * | `vms` | array of 1..4 VMs, optional | several guests on the multi-VM host, replacing the guest fields above: each `{ name, mode, paging, memory, kernel, user?, vcpus?, devices?: { pc?, nic?, disk? } }`; `nic`: a network card on the VM's PCI bus 0 (device 3), `'emulated'`, `'virtio'` or `'assigned'` (hv/devio.ts), or `'vf'`: assigned as a virtual function of the host's one SR-IOV card (dev/sriov-nic.ts; the VMs with `'vf'` get VF 0, 1, … in order); `disk`: a disk controller there instead of a card, `'emulated'` (NVMe-shaped), `'virtio'` (virtio-blk) or `'assigned'` |
 * | `iommu` | `'none'`, `'vtd'` or `'amd-vi'`, optional | with `vms`: the host's IOMMU for assigned devices' DMA (default 'none': their guest-physical addresses are taken as host-physical); not 'vtd'/'amd-vi' without an assigned card |
 * | `postedInterrupts` | boolean, optional | with `vms`, a `vtx-…` technique and `iommu` 'vtd': an assigned device's MSI is posted to its VM's vCPU 0 (no exit for the interrupt or its EOI); without it, it reaches the host as a host vector and is injected. A VM's device interrupts reach its virtual local APIC, which the guest ends with WRMSR 0 to the x2APIC EOI register (80BH) |
 *
 * Reserved for later issues and rejected now with "is not supported yet (issue N)":
 * other `technique` values (issue 9),
 * `vms` (issue 6), `nestedPaging` and `tlb` (issue 7), `costPreset` (issues 7 and 9).
 *
 * Well-known kernel labels (the builder looks them up after assembling `kernel.source`):
 *
 * | label | what the builder does with it |
 * | --- | --- |
 * | `kernel_entry` | start here at CPL 0 (interrupts off, RSP = KERNEL_STACK_TOP); without it the machine starts at the user entry in ring 3 (IF = 1, RSP = USER_STACK_TOP), or, with no user program, at the kernel's first byte at CPL 0 |
 * | `pf_handler` | IDT vector 14 (#PF) |
 * | `gp_handler` | IDT vector 13 (#GP) |
 * | `timer_handler` | IDT vector `devices.timer.vector` |
 * | `int80_handler` | IDT vector 0x80, gate DPL 3 (callable by INT 0x80 from ring 3) |
 * | `syscall_entry` | long64: IA32_LSTAR (SYSCALL); prot32: IA32_SYSENTER_EIP (SYSENTER) |
 * | `isr_N` | IDT vector N (decimal), for any other vector |
 * | `default_handler` | vectors 0..31 without a handler (else the builder's default handler: HLT) |
 *
 * The user program may define `user_entry` (default: its first byte).
 *
 * Constants the builder defines for both programs (as `NAME equ value` ahead of the source; line
 * numbers in errors are those of the source as written): KERNEL_BASE, KERNEL_STACK_TOP, USER_BASE,
 * USER_STACK_TOP, USER_PT (physical address of the page table covering USER_BASE), PTE_SIZE,
 * FREE_BASE (first physical page free for the kernel), MEM_SIZE, KERNEL_CS, KERNEL_DS, USER_CS,
 * USER_DS (RPL 3), TSS_SEL, UART_PORT, TIMER_VECTOR, and for the kernel USER_ENTRY. Values and the
 * memory map: layout.ts (`builderConstants`). A kernel given as `bytes` has no labels: all vectors
 * go to the default handler.
 */

export const SCENARIO_VERSION = 1;

export const MODES = ['prot32', 'long64'] as const;
export type Mode = (typeof MODES)[number];

export const PAGING_MODES = ['none', '32bit', 'pae', '4level', '5level'] as const;
export type PagingMode = (typeof PAGING_MODES)[number];

export const VENDORS = ['intel', 'amd'] as const;
export type Vendor = (typeof VENDORS)[number];

/** A program as assembly text (assembled by the lab's assembler at its load address). */
export interface SourceProgram {
  source: string;
}

/** A program as machine code: hex digits, whitespace allowed between bytes. */
export interface BytesProgram {
  bytes: string;
}

export type KernelProgram = (SourceProgram | BytesProgram) & { origin?: number };
export type UserProgram = SourceProgram | BytesProgram;

export interface Mapping {
  /** Linear address, 4 KiB aligned. */
  linear: number;
  /** Physical address, 4 KiB aligned; [physical, physical + size) lies in RAM. */
  physical: number;
  /** Bytes, a positive multiple of 4096. */
  size: number;
  /** R/W (default true). */
  writable?: boolean;
  /** U/S (default false: supervisor only). */
  user?: boolean;
  /** XD/NX, bit 63 (default false; needs pae, 4level or 5level). */
  nx?: boolean;
  /** P (default true); a not-present entry keeps its address for a #PF handler to use. */
  present?: boolean;
}

export interface ScenarioV1 {
  version: 1;
  name: string;
  description?: string;
  boot?: 'kernel' | 'bare';
  cpu: { vendor: Vendor };
  mode: Mode;
  paging: PagingMode;
  memory: { size: number };
  kernel: KernelProgram;
  user?: UserProgram;
  mappings?: Mapping[];
  devices?: { timer?: { vector: number; period: number }; uart?: { port: number } };
  limits?: { maxSteps?: number };
  technique?: Technique;
  /**
   * With `technique: 'pv'`: which version of the lab's small kernel (hv/pv/kernel.ts) is the
   * paravirtualized domain. The scenario's `kernel` is then that version's source (filled in when
   * absent); there is no user program of the scenario's own (the kernel carries its ring-3 program).
   */
  pv?: { kernel: PvKernel };
  hypervisor?: HypervisorSettings;
  /**
   * Several VMs side by side on the multi-VM host (hv/host.ts), 1 to 4, under `technique`. It
   * replaces the top-level guest fields (boot, mode, paging, memory, kernel, user, mappings,
   * devices); a loaded scenario repeats VM 0's there, for the views that show one guest.
   */
  vms?: VmSpec[];
  /**
   * With `vms`: the host's IOMMU, which assigned devices' DMA goes through (hv/host.ts; default
   * 'none'). Only with a VM whose network card is assigned.
   */
  iommu?: IommuSetting;
  /**
   * With `vms`, VT-x and `iommu` 'vtd': assigned devices' MSIs are posted to their VM's vCPU 0
   * (hv/host.ts HostOptions.postedInterrupts), with no exit for the interrupt or its EOI.
   */
  postedInterrupts?: boolean;
}

export const IOMMU_SETTINGS = ['none', 'vtd', 'amd-vi'] as const;
export type IommuSetting = (typeof IOMMU_SETTINGS)[number];
/** How a VM is given its network card (hv/devio.ts): 'vf' is assigned too, as a VF of the host's SR-IOV card. */
export const NIC_WAYS = ['emulated', 'virtio', 'assigned', 'vf'] as const;
export type NicWay = (typeof NIC_WAYS)[number];
/** How a VM is given its disk controller (hv/devio.ts: the NVMe-shaped controller emulated or assigned, or virtio-blk). */
export const DISK_WAYS = ['emulated', 'virtio', 'assigned'] as const;
export type DiskWay = (typeof DISK_WAYS)[number];

/** One VM of `vms`: a guest built exactly as a top-level one, with its vCPUs and devices. */
export interface VmSpec {
  name: string;
  mode: Mode;
  paging: PagingMode;
  memory: { size: number };
  kernel: KernelProgram;
  user?: UserProgram;
  /** vCPUs (default 1); vCPU 1 starts as vCPU 0 but for ESI = 1 and its stack 0x10000 lower. */
  vcpus?: 1 | 2;
  /**
   * `pc`: the PC platform (8259A pair, 8254 PIT on IRQ 0, 16550A UART at 0x3F8) behind the I/O
   * exits. `nic`: a network card on the VM's PCI bus 0 (device 3), given one of three ways, or as a
   * virtual function of the host's SR-IOV card ('vf', assigned).
   */
  devices?: { pc?: boolean; nic?: NicWay; disk?: DiskWay };
}

/** What a scenario can run its guest under: the hardware assists, classic trap-and-emulate, binary translation and paravirtualization (issue 9). */
export const TECHNIQUES = ['vtx', 'svm', 'trap-emulate', 'bt', 'pv'] as const;
export type Technique = (typeof TECHNIQUES)[number];

/** The two versions of hv/pv/kernel.ts's kernel (KernelVersion there). */
export const PV_KERNELS = ['paravirtualized', 'unmodified'] as const;
export type PvKernel = (typeof PV_KERNELS)[number];

export interface HypervisorSettings {
  costPreset?: string;
  nestedPaging?: boolean;
  exits?: { hlt?: boolean; rdtsc?: boolean; invlpg?: boolean; cr3?: boolean; exceptions?: number[] };
  /** With `vms`: guest steps per time slice of the round-robin scheduler (default 2,000). */
  quantum?: number;
  /** Tagged TLBs (VPID, ASID): the backends' default when absent (on with nested paging). */
  tlbTags?: boolean;
  /** The nested pages mapping the guest's RAM (default '2m'). */
  nestedPageSize?: '4k' | '2m';
  /** The 2D walk's caches (default off). */
  walkCaches?: { pwc?: boolean; ntlb?: boolean };
  /** With `vms`: where the hypervisor lives (hv/hosting.ts); given, every exit's path is traced (`host/path`). */
  hosting?: 'bare-metal' | 'hosted';
  /** With `hosting: 'hosted'`: CPU-bound host processes sharing the CPU (default 1, at most 3). */
  hostProcesses?: number;
}

export type Scenario = ScenarioV1;

/** Version 0: the input of `lab exec` (issue 2): raw code at a load address on the bare machine. */
export interface ScenarioV0 {
  version: 0;
  mode: Mode;
  /** Load address (= RIP at start). */
  load: number;
  /** Machine code as hex. */
  code: string;
}

/**
 * One validation error: the field path (`kernel.source`, `mappings[2].linear`) and what is wrong.
 * An error inside a program's source (`kernel.source`, `user.source`) also carries its line and
 * column there (1-based, counted in the source as written), so that an editor can mark it; the
 * message then says only what is wrong, and `scenarioErrorText` puts the three together.
 */
export interface ScenarioError {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** `kernel.source: line 3, column 7: undefined label 'foo'`, or `memory.size: expected …`. */
export function scenarioErrorText(e: ScenarioError): string {
  const at = e.line === undefined ? '' : `line ${e.line}${e.column === undefined ? '' : `, column ${e.column}`}: `;
  return `${e.path}: ${at}${e.message}`;
}

/** Fields later issues add; present now they are rejected, never ignored. */
export const RESERVED_FIELDS: Readonly<Record<string, string>> = {
  nestedPaging: 'issue 7',
  tlb: 'issue 7',
  costPreset: 'issues 7 and 9',
};

export const MIN_MEMORY = 4 * 1024 * 1024;
/** boot 'bare' starts with RSP = 0x80000 (as `lab exec` does): the stack below it must be RAM. */
export const MIN_BARE_MEMORY = 0x80000;
export const MAX_MEMORY = 1024 * 1024 * 1024;
export const DEFAULT_MAX_STEPS = 1_000_000;
export const MAX_STEPS_LIMIT = 100_000_000;
