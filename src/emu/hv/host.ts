/**
 * A host that owns several VMs (up to four) on one physical CPU, under VT-x or AMD-V: each VM with
 * one or two vCPUs, its own guest-physical space, optionally its own PC platform, and a round-robin
 * scheduler between the vCPUs. `Hypervisor` (hypervisor.ts) stays the handler of one vCPU's exits;
 * this file owns what is shared or per VM.
 *
 * - **One CPU.** VT-x: the first vCPU's backend does VMXON; every vCPU has its own VMCS (in its own
 *   area of host RAM), filled once by VMWRITE; the scheduler makes the next vCPU's VMCS current
 *   with VMPTRLD (`VmxBackend.activate`). There is one physical processor, so a VMCS never
 *   migrates and is never VMCLEARed after its setup (VMCLEAR is what the SDM requires before a VMCS
 *   is made current on another processor); its launch state stays "launched" and every later
 *   entry is a VMRESUME. AMD-V: one VM_HSAVE_PA (the first backend's), a VMCB per vCPU, VMRUN
 *   naming it (nothing to make current); each vCPU its own ASID (1, 2, … in the order the vCPUs are
 *   made; 0 is the host's), as KVM and Xen give them: two vCPUs of one VM sharing an ASID on one
 *   processor would see each other's cached translations, since VMRUN flushes nothing unless
 *   TLB_CONTROL asks; on VT-x likewise each vCPU its own VPID. With `tlbTags` (the default) the TLB
 *   keeps every vCPU's translations apart by that tag (and by EPTP under EPT), so a switch flushes
 *   nothing; without, VT-x runs without VPID (each entry and exit flushes VPID 0000H's mappings)
 *   and AMD-V asks TLB_CONTROL 1 at every VMRUN. The general registers and CR2, which neither structure switches
 *   (beyond RAX/RSP in the VMCB, RSP in the VMCS), are saved in software per vCPU and reloaded on
 *   a switch, as a hypervisor's world switch does. Pass-through MSRs are not offered (an MSR outside
 *   the hypervisor's shadow set is #GP), so nothing of the processor's own state is shared.
 * - **Memory.** VM i's RAM is `memSize` bytes (a multiple of 2 MiB, default 4 MiB) at host-physical
 *   `hpaBase` (the VMs one after another from 0); each vCPU's area (VMCS or VMCB, bitmaps, host
 *   tables, and EPT or NPT tables mapping guest-physical [0, memSize) to [hpaBase, hpaBase +
 *   memSize) and nothing else) lies above all guest RAM. Every guest-physical address outside a
 *   VM's RAM is MMIO for that VM (its own log; reads all ones): no guest can name another VM's RAM
 *   or any host structure. The two vCPUs of a VM each have their own copy of the same tables (the
 *   EPTP or N_CR3 differs, the mapping is the same).
 * - **Start state.** Each vCPU starts as `lab exec` starts its machine (machine/bare.ts: flat
 *   segments, prot32 without paging or long64 on an identity map at guest-physical 0x1000..0x3FFF,
 *   RIP the load address), with two differences that tell vCPUs apart: ESI holds the vCPU's index
 *   (0 or 1) and RSP is 0x80000 − 0x10000 × index, so each has its own stack.
 * - **Devices** (`pc: true`): a PcPlatform (dev/platform.ts: 8259A pair at 0x20/0xA0, 8254 PIT at
 *   0x40 on IRQ 0, 16550A UART at 0x3F8 on IRQ 4) behind the I/O exits: every port access of the VM
 *   reaches its own bus at the step of its exit. The PIC's INT is wired to vCPU 0 (as a PC's
 *   ExtINT goes to the bootstrap processor): the hypervisor injects it at an entry when the guest
 *   can take it and asks for the interrupt window otherwise (hypervisor.ts `pic`). Without `pc`
 *   the VM has no devices: IN reads all ones, OUT is dropped, its console is the print hypercall's.
 * - **Time.** The unit is the physical CPU's step (`cpu.state.steps`: guest instructions retired,
 *   natively or by the hypervisor's emulation, plus the steps the CPU idles when every vCPU waits).
 *   Every VM's PIT runs on that one clock, one PIT input pulse per `stepsPerTick` steps, also while
 *   the VM is not on the CPU (as a real timer keeps counting while its VM is descheduled); the host
 *   brings a VM's PIT up to date (`sync`) before each access and entry. IRQ 0 must arrive while its
 *   guest runs: before each entry the host arms its own timer (the CPU's interval timer,
 *   cpu/timer.ts, standing in for the host's local-APIC timer) for the running VM's next PIT edge;
 *   it makes the guest exit at that step (VT-x external-interrupt exiting: exit reason 1; AMD-V the
 *   INTR intercept with V_INTR_MASKING = 1 and the host's IF = 1 at VMRUN: #VMEXIT(INTR)), the
 *   host services it, and the resume injects IRQ 0's vector.
 * - **Scheduling.** Round robin over the vCPUs in order, one quantum (`quantum` guest steps,
 *   default 2,000) per turn. VT-x: the VMX-preemption timer (rate 0: one count per step; before
 *   each entry the host writes what is left of the slice, less the instructions it emulated, which
 *   the timer does not see; exit 52 ends the turn). AMD-V has no preemption timer: the host's timer
 *   is armed for whichever comes first, the PIT edge or the end of the slice, and an INTR exit
 *   with the quantum spent ends the turn. A HLT exit idles the vCPU (no instructions run for it)
 *   until its VM's PIC has a request it can take; an idle vCPU nothing can wake (IF = 0 when it
 *   halted, vCPU 1, no PC platform, or no unmasked timer edge to come) ends 'hlt'. Idle and ended
 *   vCPUs are skipped; an idle vCPU whose edge came waits for its turn (no preemption on wake-up).
 *   When every live vCPU is idle the CPU idles to the earliest PIT edge among them. Each switch
 *   is a `switches` entry (the data of the `vm/switch` trace event). `run(untilStep)` stops at that
 *   exact step, in the middle of a slice if need be, and the next call goes on with the slice.
 *
 * Snapshot/restore: `snapshot()` gives plain data for the host's own state (scheduler, vCPUs,
 * devices, the hypervisors' logs and counters, the backends' bookkeeping, the VMX or SVM state,
 * the ledgers; JSON-safe but for the bigints of the exit log) with the CPU,
 * memory and TLB checkpoint of trace/checkpoint.ts (copy-on-write pages); `restore` puts all of
 * it back. A snapshot may be taken anywhere `run` stopped, also in the middle of a slice with a
 * guest in the processor: it then also holds the CPU's guest monitor, nested translator and
 * pending exit state, and every backend's and hypervisor's plain fields (capture.ts), as
 * hv-machine.ts does for its one guest.
 */
import { Cpu } from '../cpu/cpu.ts';
import { Flag, createCpuState, type CpuState } from '../cpu/state.ts';
import { bareStartState } from '../machine/bare.ts';
import { cpuid } from '../cpu/sys-ctl.ts';
import * as system from '../cpu/system.ts';
import { timerProgram, timerStop } from '../cpu/timer.ts';
import { setActiveMonitor, type SvmMonitor } from '../svm/guest-run.ts';
import { captureFields, cloneMonitor, restoreFields, type Fields } from './capture.ts';
import { Ledger, type LedgerData } from '../cost/ledger.ts';
import type { Vmx } from '../vmx/vmx.ts';
import { PIT_IRQ, PcPlatform, type PlatformSnapshot } from '../dev/platform.ts';
import { PhysMem, type MmioHandler } from '../mem/physmem.ts';
import { Mmu } from '../mmu/mmu.ts';
import { assignCpuState, deepCopy, restoreCore, snapshotCore, type CoreSnapshot } from '../trace/checkpoint.ts';
import { presetFor } from './exec.ts';
import { Hypervisor, type HvEnd } from './hypervisor.ts';
import type { HvExit, HvLogEntry, PortHandler } from './types.ts';
import { POSTED_PAGES, VMX_AREA_SIZE, VmxBackend, type VmxBackendState } from './vmx-backend.ts';
import { SVM_AREA_SIZE, SvmBackend } from './svm-backend.ts';
import type { Svm, SvmState } from '../svm/svm.ts';
import { PortBus } from '../dev/bus.ts';
import { CFG, CMD, CONFIG_DATA_PORT, PciBus, type DmaLogEntry, type PciBusSnapshot, type PciFunctionModel } from '../dev/pci.ts';
import { requesterId, PassThroughRemapper, type DmaRemapper } from '../iommu/types.ts';
import { VtdRemapper, type VtdState } from '../iommu/vtd.ts';
import type { AmdViState } from '../iommu/amdvi.ts';
import { directMapProblem } from './nested-map.ts';
import { AssignedFunction, deviceModel, enableVfs, GuestRamRemapper, iommuAreaSize, IommuDomains, vfIdentity, type DeviceKind, type DeviceWay, type IommuKind, type VfSlot } from './devio.ts';
import { SriovNic } from '../dev/sriov-nic.ts';
import { MSI_CAP_ID, MSI_CONTROL, MSI_REG, MsiInterruptSink, type MsiMessage, type MsiSinkState } from '../dev/msi.ts';
import { eitherSource, VirtualLapic, X2APIC_EOI_MSR, type VirtualLapicState } from './vlapic.ts';
import type { InterruptSource } from '../cpu/cpu.ts';
import { exitWhere, hopsOf, hostedCharges, type ExitPath, type ExitWhere, type Hosting } from './hosting.ts';

export const MAX_VMS = 4;
export const DEFAULT_QUANTUM = 2000;
export const DEFAULT_VM_MEM = 4 * 1024 * 1024;
/** The host's timer vector (its own interrupt, never seen by a guest). */
export const HOST_TIMER_VECTOR = 0xec;
/** The host vector of VM i's assigned function's MSI: HOST_DEVICE_VECTOR + i. */
export const HOST_DEVICE_VECTOR = 0x60;
/** The posted-interrupt notification vector (the one Linux uses, POSTED_INTR_VECTOR). */
export const POSTED_NOTIFICATION_VECTOR = 0xf2;
const MIB2 = 2 * 1024 * 1024;
const AREA_STRIDE = Math.ceil(Math.max(VMX_AREA_SIZE, SVM_AREA_SIZE) / 0x1000) * 0x1000;

export interface HostGuest {
  name: string;
  mode: 'prot32' | 'long64';
  /** Guest-physical load address of `code` (RIP at start). */
  load: number;
  code: Uint8Array;
  /** RAM in bytes, a multiple of 2 MiB (default 4 MiB). */
  memSize?: number;
  vcpus?: 1 | 2;
  /** Attach the PC platform (PIC pair, PIT, COM1 UART). */
  pc?: boolean;
  /**
   * A guest booted elsewhere (the scenario builder, scenario/build.ts): its RAM (`memSize` bytes,
   * copied to the VM's RAM as it is) and the CPU state vCPU 0 starts in, instead of `code` at
   * `load` on the exec machine's start state. vCPU 1 starts in the same state but for ESI = 1 and
   * RSP 0x10000 lower.
   */
  image?: { ram: Pick<PhysMem, 'ramSize' | 'pages'>; state: CpuState };
  /**
   * A PCI device for this VM (devio.ts), found by the guest on its bus 0 at device `GUEST_DEVICE`:
   * `way` says how the VM gets it: a model in the hypervisor ('emulated', 'virtio') or the real
   * function on the host's bus, assigned ('assigned'); `model()` makes the function (default
   * `deviceModel(kind, way)`: for `kind` 'nic' (the default) the network card of dev/nic.ts or the
   * virtio-net device, for 'disk' the NVMe-shaped controller). `vf` (a network card, way
   * 'assigned', no `model`): instead of a whole card, a virtual function of the host's one SR-IOV
   * card (dev/sriov-nic.ts at 00:10.0, HOST_SRIOV_DEVICE): the VMs asking for one get VF 0, 1, …
   * in their order.
   */
  device?: { way: DeviceWay; kind?: DeviceKind; model?: () => PciFunctionModel; vf?: boolean };
}

export interface HostOptions {
  under: 'vtx' | 'svm';
  guests: readonly HostGuest[];
  /** Guest steps per time slice (default 2,000). */
  quantum?: number;
  /** Steps per PIT input pulse (default 1). */
  stepsPerTick?: number;
  preset?: string;
  logLimit?: number;
  /**
   * Tagged TLBs (default true): each vCPU its own VPID or ASID, so a switch between VMCSs or VMCBs
   * flushes nothing; false: VT-x without VPID (every entry and exit flushes VPID 0000H's mappings),
   * AMD-V with TLB_CONTROL 1 at every VMRUN.
   */
  tlbTags?: boolean;
  /**
   * The host's IOMMU, which the DMA of assigned devices goes through (default 'none': their
   * guest-physical addresses are taken as host-physical). The hypervisor gives each assigned device
   * a domain mapping its VM's RAM (devio.ts IommuDomains; domain ID = the VM's index + 1).
   */
  iommu?: IommuKind;
  /**
   * Posted interrupts (VT-x with `iommu` 'vtd'): an assigned function's MSI is programmed through a
   * posted-format IRTE into its VM's vCPU 0 posted-interrupt descriptor, and that vCPU runs with
   * posted-interrupt processing and virtual-interrupt delivery (vmx-backend.ts `posted`): the
   * interrupt and the guest's EOI make no VM exit. Default false: remapped (or, without an IOMMU,
   * plain) MSIs to a host vector, which the hypervisor injects.
   */
  postedInterrupts?: boolean;
  /**
   * Where the hypervisor lives (hv/hosting.ts). Given, every exit's path is logged (`paths`):
   * 'bare-metal' is the lab's hypervisor as it runs without this option (it is the machine's OS:
   * its own scheduler, device models and drivers); 'hosted' puts a host operating system under it:
   * device exits, host interrupts and halts go to the host world by a world switch, devices are
   * emulated in the user-level VMM process, output leaves through its system calls (each hop
   * charged: `world-switch`, `host-user`, `host-syscall`), and the host's scheduler runs
   * `hostProcesses` host processes between the VMs' slices.
   */
  hosting?: Hosting;
  /** Hosted: CPU-bound host processes sharing the CPU with the VMs (default 1; 0 to 3). */
  hostProcesses?: number;
}

/** A host process's turn on the CPU under a hosted hypervisor (the data of the `host/run` trace event). */
export interface HostRun {
  /** The physical CPU's step the turn began at. */
  step: number;
  /** The host process (0-based). */
  proc: number;
  /** Steps it holds the CPU for (a quantum, or the time every vCPU waits). */
  steps: number;
}

/** Where each VM finds its device on its own bus 0. */
export const GUEST_DEVICE = 3;
/** The host bus: VM i's assigned function is 00:(HOST_DEVICE_FIRST + i).0, its BAR0 at HOST_BAR_BASE + i × HOST_BAR_STRIDE. */
export const HOST_DEVICE_FIRST = 8;
export const HOST_BAR_BASE = 0xc000_0000;
export const HOST_BAR_STRIDE = 0x10_0000;
/** The host's SR-IOV card (`device.vf`): its PF at 00:10.0, VF k at 00:10.(k + 1), VF k's BAR0 at HOST_VF_BAR_BASE + k × 128 KiB. */
export const HOST_SRIOV_DEVICE = 0x10;
export const HOST_VF_BAR_BASE = 0xc080_0000;

export type VcpuState = 'ready' | 'running' | 'idle' | 'ended';

/** What the host tells its observer (host-machine.ts): each switch and each vCPU's end. */
export interface HostHooks {
  switched?(s: VmSwitch): void;
  ended?(vm: number, vcpu: number, end: HvEnd): void;
  /** A device of VM `vm` made a DMA request (logged as `e` on its VM's bus, or on the host's bus when assigned). */
  dma?(vm: number, bus: 'vm' | 'host', e: DmaLogEntry): void;
  /** A device of VM `vm` sent an interrupt message (logged as `m` on its VM's bus, or on the host's bus when assigned). */
  msi?(vm: number, bus: 'vm' | 'host', m: MsiMessage): void;
  /** With `hosting`: an exit was handled, by this path. */
  path?(p: ExitPath): void;
  /** Hosted: a host process was given the CPU. */
  hostRun?(r: HostRun): void;
}

/** One switch of the physical CPU between vCPUs (the data of the `vm/switch` trace event, by VM index). */
export interface VmSwitch {
  /** The physical CPU's step at the switch. */
  step: number;
  /** The VM and vCPU that ran before (null at the first switch). */
  from: number | null;
  fromVcpu: number | null;
  to: number;
  toVcpu: number;
}

interface VcpuRec {
  vm: number;
  index: number;
  backend: VmxBackend | SvmBackend;
  hv: Hypervisor;
  state: VcpuState;
  /** How it ended (state 'ended'). */
  end: HvEnd | null;
  /** Guest steps retired for this vCPU (natively and emulated). */
  steps: number;
  /** RFLAGS.IF when it went idle (read while its VMCS was current; VMREAD reads only the current VMCS). */
  idleIf: boolean;
  /** RAX..R15 and CR2 while the vCPU is off the CPU: [lo, hi] pairs. */
  saved: { regLo: number[]; regHi: number[]; cr2Lo: number; cr2Hi: number } | null;
}

interface VmRec {
  name: string;
  mode: 'prot32' | 'long64';
  hpaBase: number;
  memSize: number;
  platform: PcPlatform | null;
  /** The step up to which the platform's PIT has been advanced. */
  synced: number;
  mmioLog: { dir: 'read' | 'write'; gpa: number; size: number; value: number }[];
  ledger: Ledger;
  vcpus: number[];
  /** The VM's own PCI bus (its device, emulated or the assigned function's proxy), or null. */
  pci: PciBus | null;
  way: DeviceWay | null;
  /** An assigned device: the proxy, the physical function's place (a VF's index), requester ID and BAR, and the guest BAR mapped now. */
  assigned: { proxy: AssignedFunction; device: number; fn: number; rid: number; vf: number | null; bar: number; size: number; mapped: number | null } | null;
  /** The VM's virtual local APIC (vlapic.ts) when it has a device: its MSIs are injected from here into vCPU 0. */
  lapic: VirtualLapic | null;
  /** An assigned function's MSI as the guest programmed it and the host routed it (null: not enabled). */
  msi: { guestVector: number; route: 'direct' | 'remapped' | 'posted' } | null;
}

export interface HostSnapshot {
  core: CoreSnapshot;
  /** With a guest in the processor: the CPU's guest monitor, nested translator and pending exit state. */
  cpuGuest: { monitor: object | null; nested: ReturnType<Cpu['nestedTranslator']>; exit: unknown; vectoring: unknown };
  host: {
    current: number;
    next: number;
    sliceStart: number;
    vmx: Vmx['state'] | null;
    svm: SvmState | null;
    ledgers: LedgerData[];
    idleSteps: number;
    switches: VmSwitch[];
    hosted: { paths: ExitPath[]; runs: HostRun[]; steps: number; left: number; proc: number; out: number[]; counts: Host['pathCounts'] };
    vms: { synced: number; platform: PlatformSnapshot | null; mmioLog: VmRec['mmioLog']; pci: PciBusSnapshot | null; mapped: number | null; lapic: VirtualLapicState | null; msi: VmRec['msi'] }[];
    hostApic: MsiSinkState | null;
    pci: PciBusSnapshot | null;
    iommu: VtdState | AmdViState | null;
    vcpus: {
      fields: { backend: Fields; hv: Fields };
      state: VcpuState; end: HvEnd | null; steps: number; idleIf: boolean; saved: VcpuRec['saved']; backend: VmxBackendState | { inCpu: boolean };
      hv: { console: string; log: HvLogEntry[]; counts: [string, { code: number; count: number }][]; exits: number; windowRequested: boolean; injected: { vector: number; step: number }[] };
    }[];
  };
}

export interface HostVmReport {
  name: string;
  mode: 'prot32' | 'long64';
  /** The UART's output followed by what the print hypercall printed (both when the guest uses both). */
  console: string;
  uart: string;
  hypercall: string;
  steps: number;
  exits: Record<string, { code: number; count: number }>;
  exitTotal: number;
  vcpus: { state: VcpuState; end: string | null; steps: number; error?: string }[];
}

/** The start state of vCPU `index`: the `exec` machine's (machine/bare.ts), but ESI = index and the stack 0x10000 × index lower. */
function startState(mode: 'prot32' | 'long64', load: number, index: number): CpuState {
  const s = bareStartState(mode, load);
  s.regLo[4] = 0x80000 - 0x10000 * index;
  s.regLo[6] = index;
  return s;
}

/** vCPU `index`'s start state from a booted guest's: ESI = index, the stack 0x10000 × index lower. */
function imageState(s: CpuState, index: number): CpuState {
  const c = deepCopy(s);
  if (index > 0) {
    c.regLo[6] = index;
    c.regHi[6] = 0;
    c.regLo[4] = (c.regLo[4]! - 0x10000 * index) >>> 0;
  }
  return c;
}

/** What vCPU 0 of `vm` injects from (its 8259A pair and its local APIC) and where its EOI goes. */
function picOf(vm: VmRec): { pic?: InterruptSource; lapic?: { eoi(): number } } {
  const l = vm.lapic;
  const p = vm.platform?.pic ?? null;
  if (l === null) return p === null ? {} : { pic: p };
  return { pic: p === null ? l : eitherSource(p, l), lapic: l };
}

export class Host {
  readonly cpu: Cpu;
  readonly mem: PhysMem;
  readonly mmu: Mmu;
  readonly quantum: number;
  readonly under: 'vtx' | 'svm';
  private readonly vms: VmRec[] = [];
  private readonly vcpus: VcpuRec[] = [];
  /** The vCPU on the CPU (its VMCS current), or -1. */
  private current = -1;
  /** Where the round robin looks first. */
  private next = 0;
  /** The step the slice in progress began. */
  private sliceStart = 0;
  /** Steps the CPU idled with every live vCPU waiting. */
  idleSteps = 0;
  /** Where the hypervisor lives (null: not asked; it runs bare-metal and logs no paths). */
  readonly hosting: Hosting | null;
  readonly hostProcesses: number;
  /** With `hosting`: every exit's path, in order (at most the log limit). */
  readonly paths: ExitPath[] = [];
  /** Hosted: the host processes' turns on the CPU. */
  readonly hostRuns: HostRun[] = [];
  /** Hosted: steps the CPU ran host processes. */
  hostSteps = 0;
  /** With `hosting`: every exit counted by who handled it, and those that sent data out (not capped as `paths` is). */
  pathCounts: Record<ExitWhere, number> & { output: number } = { monitor: 0, device: 0, interrupt: 0, idle: 0, output: 0 };
  /** Hosted: steps left of the host process's turn in progress. */
  private hostLeft = 0;
  /** Hosted: the host process that ran last. */
  private hostProc = -1;
  /** Per VM, the output it had sent when its last exit was handled (UART and print hypercall characters). */
  private outLen: number[] = [];
  private readonly pathLimit: number;
  readonly switches: VmSwitch[] = [];
  /** The host's PCI bus (assigned functions), or null when no VM has one. */
  readonly pci: PciBus | null = null;
  /** The hypervisor's IOMMU driver (`iommu` 'vtd' or 'amd-vi' with an assigned device), or null. */
  readonly iommu: IommuDomains | null = null;
  /** The VFs of the host's SR-IOV card the host enabled (`device.vf`), and how many are given out. */
  private readonly vfSlots: VfSlot[] = [];
  private vfNext = 0;
  /** The VM of each host-bus requester ID (an assigned function or VF). */
  private readonly hostRids = new Map<number, number>();
  /** The observer of switches and ends (host-machine.ts), or null. */
  hooks: HostHooks | null = null;
  /** The physical CPU's acceptance of interrupt messages (its local APIC, msi.ts) when the host bus has functions; the CPU's INTR source. */
  readonly hostApic: MsiInterruptSink | null = null;
  readonly postedInterrupts: boolean;

  constructor(opts: HostOptions) {
    if (opts.under !== 'vtx' && opts.under !== 'svm') throw new RangeError(`under '${String(opts.under)}': vtx or svm`);
    this.under = opts.under;
    const guests = opts.guests;
    if (guests.length < 1 || guests.length > MAX_VMS) throw new RangeError(`${guests.length} VMs: from 1 to ${MAX_VMS}`);
    this.quantum = opts.quantum ?? DEFAULT_QUANTUM;
    if (!Number.isInteger(this.quantum) || this.quantum < 1) throw new RangeError(`quantum ${opts.quantum} is not a positive integer`);
    if (opts.hosting !== undefined && opts.hosting !== 'bare-metal' && opts.hosting !== 'hosted') throw new RangeError(`hosting '${String(opts.hosting)}': bare-metal or hosted`);
    this.hosting = opts.hosting ?? null;
    this.hostProcesses = this.hosting === 'hosted' ? (opts.hostProcesses ?? 1) : 0;
    if (!Number.isInteger(this.hostProcesses) || this.hostProcesses < 0 || this.hostProcesses > 3) throw new RangeError(`hostProcesses ${opts.hostProcesses}: from 0 to 3`);
    if (opts.hostProcesses !== undefined && this.hosting !== 'hosted') throw new RangeError('hostProcesses: only with hosting: hosted');
    this.pathLimit = opts.logLimit ?? 100_000;
    this.outLen = guests.map(() => 0);
    const preset = presetFor(opts.under, opts.preset);
    if (typeof preset === 'string') throw new RangeError(preset);
    let hpa = 0;
    const layout = guests.map((g) => {
      const size = g.memSize ?? DEFAULT_VM_MEM;
      if (!Number.isInteger(size) || size < MIB2 || size % MIB2 !== 0 || size > 64 * 1024 * 1024) throw new RangeError(`VM ${g.name}: memory ${size} is not a multiple of 2 MiB up to 64 MiB`);
      if (g.image !== undefined && g.image.ram.ramSize !== size) throw new RangeError(`VM ${g.name}: its image has ${g.image.ram.ramSize} bytes of RAM, not ${size}`);
      if (g.image === undefined && (!Number.isInteger(g.load) || g.load < 0 || g.load + g.code.length > size)) throw new RangeError(`VM ${g.name}: ${g.code.length} bytes at 0x${g.load.toString(16)} do not fit in its ${size / 1048576} MiB`);
      if (g.image === undefined && g.mode === 'long64' && g.load < 0x4000) throw new RangeError(`VM ${g.name}: a long64 guest's page tables are at 0x1000..0x3FFF; load it above`);
      const at = hpa;
      hpa += size;
      return { base: at, size };
    });
    const nVcpus = guests.reduce((n, g) => n + (g.vcpus ?? 1), 0);
    const areaBase = hpa;
    const iommuKind = opts.iommu ?? 'none';
    if (iommuKind !== 'none' && iommuKind !== 'vtd' && iommuKind !== 'amd-vi') throw new RangeError(`iommu '${String(iommuKind)}': none, vtd or amd-vi`);
    const assignedSizes = layout.filter((_l, i) => guests[i]!.device?.way === 'assigned').map((l) => l.size);
    const iommuBase = areaBase + nVcpus * AREA_STRIDE;
    const iommuSize = assignedSizes.length > 0 ? iommuAreaSize(iommuKind, assignedSizes) : 0;
    this.postedInterrupts = opts.postedInterrupts === true;
    if (this.postedInterrupts && (opts.under !== 'vtx' || iommuKind !== 'vtd')) throw new RangeError('posted interrupts: VT-x with the VT-d IOMMU (iommu \'vtd\')');
    const postedVm = (g: HostGuest): boolean => this.postedInterrupts && g.device?.way === 'assigned';
    if (guests.some((g) => postedVm(g) && g.pc === true)) throw new RangeError('posted interrupts with the PC platform\'s 8259A are not modelled: a VM with an assigned device and posted interrupts has no pc');
    const postedBase = iommuBase + iommuSize;
    const ramSize = postedBase + guests.filter(postedVm).length * POSTED_PAGES.SIZE;
    const noMmio: MmioHandler = { read: () => 0xffffffff, write: () => {}, readHi: 0xffffffff };
    this.mem = new PhysMem(ramSize, noMmio);
    if (assignedSizes.length > 0) {
      let remapper: DmaRemapper = new PassThroughRemapper();
      if (iommuKind !== 'none') {
        this.iommu = new IommuDomains(iommuKind, this.mem, iommuBase, iommuSize);
        remapper = this.iommu.remapper;
      }
      // The host's own bus: its configuration space is the host's (no guest port reaches it). Its
      // functions' MSIs reach the CPU's local APIC (through interrupt remapping with an IOMMU).
      this.hostApic = new MsiInterruptSink();
      this.pci = new PciBus({ mem: this.mem, ports: new PortBus(), remapper, msiSink: this.hostApic });
      this.pci.onDma = (e) => {
        const vm = this.hostRids.get(e.rid);
        if (vm !== undefined) this.hooks?.dma?.(vm, 'host', e);
      };
      this.pci.onMsi = (m) => {
        const vm = this.hostRids.get(m.rid);
        if (vm !== undefined) this.hooks?.msi?.(vm, 'host', m);
      };
      const vfs = guests.filter((g) => g.device?.vf === true).length;
      if (vfs > 0) {
        // One SR-IOV card for all the VMs that ask for a VF: the host, as its PF driver, enables that many.
        this.pci.add(HOST_SRIOV_DEVICE, 0, new SriovNic());
        this.vfSlots = enableVfs(this.pci, HOST_SRIOV_DEVICE, 0, vfs, HOST_VF_BAR_BASE);
      }
    }
    this.mmu = new Mmu(this.mem);
    const features = { page1gb: false, la57: false };
    this.cpu = new Cpu(createCpuState('intel'), this.mem, this.mmu, system, { maxPhysAddr: 48, features, interrupts: this.hostApic });
    const cpu = this.cpu;
    let postedNext = postedBase;
    let vmx: VmxBackend['vmx'] | undefined;
    let svm: Svm | undefined;
    /** ASIDs (AMD-V) or VPIDs (VT-x) handed out so far, one per vCPU. */
    let asids = 0;
    const tlbTags = opts.tlbTags ?? true;
    const vendor = opts.under === 'svm' ? 'amd' : 'intel';
    let area = areaBase;
    guests.forEach((g, vi) => {
      const { base, size } = layout[vi]!;
      const vm: VmRec = {
        name: g.name, mode: g.mode, hpaBase: base, memSize: size, platform: g.pc ? new PcPlatform({ stepsPerTick: opts.stepsPerTick ?? 1 }) : null,
        synced: 0, mmioLog: [], ledger: new Ledger(preset), vcpus: [], pci: null, way: g.device?.way ?? null, assigned: null,
        lapic: g.device !== undefined ? new VirtualLapic() : null, msi: null,
      };
      this.vms.push(vm);
      if (g.image !== undefined) {
        const ram = g.image.ram;
        // Only the pages the builder wrote (the others are zeros in both).
        ram.pages.forEach((page, n) => {
          if (page !== undefined) this.mem.load(base + n * 0x1000, page);
        });
      } else if (g.mode === 'long64') {
        this.mem.write(base + 0x1000, 4, 0x2003);
        this.mem.write(base + 0x2000, 4, 0x3003);
        for (let i = 0; i < 512; i++) this.mem.write(base + 0x3000 + i * 8, 4, ((i << 21) | 0x83) >>> 0);
      }
      if (g.image === undefined) for (let i = 0; i < g.code.length; i++) this.mem.write8(base + g.load + i, g.code[i]!);
      const portBus = vm.platform?.bus ?? (g.device !== undefined ? new PortBus() : null);
      if (g.device !== undefined) this.attachDevice(vm, vi, g.device, portBus!);
      const devMmio = vm.pci?.mmioHandler ?? null;
      const mmio: MmioHandler = {
        readHi: 0xffffffff,
        read: (pa, sz) => {
          const v = devMmio === null ? 0xffffffff : devMmio.read(pa, sz) >>> 0;
          mmio.readHi = devMmio === null ? 0xffffffff : (devMmio.readHi ?? 0xffffffff);
          vm.mmioLog.push({ dir: 'read', gpa: pa, size: sz, value: v });
          return v;
        },
        write: (pa, sz, value, valueHi) => {
          vm.mmioLog.push({ dir: 'write', gpa: pa, size: sz, value: value >>> 0 });
          devMmio?.write(pa, sz, value, valueHi);
        },
      };
      const ports: PortHandler | undefined = portBus === null ? undefined : {
        portIn: (port, sz) => {
          this.sync(vm);
          return portBus.portIn(port, sz);
        },
        portOut: (port, sz, value) => {
          this.sync(vm);
          portBus.portOut(port, sz, value);
          // A configuration write may have placed the assigned BAR, changed its command register or
          // programmed its MSI.
          if (vm.assigned !== null && port + sz > CONFIG_DATA_PORT && port < CONFIG_DATA_PORT + 4) {
            vm.assigned.proxy.syncCommand();
            this.syncMsi(vm, vi);
          }
        },
      };
      for (let index = 0; index < (g.vcpus ?? 1); index++) {
        // The backend takes the guest's state from the processor: load vCPU index's start state.
        assignCpuState(cpu.state, Object.assign(g.image === undefined ? startState(g.mode, g.load, index) : imageState(g.image.state, index), { steps: cpu.state.steps, tsc: cpu.state.tsc, timer: cpu.state.timer }));
        cpu.modeChanged();
        const common = { area, ledger: vm.ledger, nested: true, guestRam: { size, hpaBase: base }, hostControls: true, tlbTags };
        let backend: VmxBackend | SvmBackend;
        if (opts.under === 'vtx') {
          // vCPU 0 of a VM with an assigned function and posted interrupts: its posted pages.
          let posted: { page: number; notificationVector: number } | undefined;
          if (index === 0 && postedVm(g)) {
            posted = { page: postedNext, notificationVector: POSTED_NOTIFICATION_VECTOR };
            postedNext += POSTED_PAGES.SIZE;
          }
          // Each vCPU its own VPID (1, 2, …; 0000H is the host's).
          backend = new VmxBackend(cpu, { ...common, vpid: ++asids, ...(vmx !== undefined ? { vmx } : {}), ...(posted !== undefined ? { posted } : {}) });
          vmx ??= backend.vmx;
        } else {
          // Each vCPU its own ASID (1, 2, …; 0 is the host's).
          // A VM with a local APIC: its EOI register (x2APIC MSR 80BH) is intercepted in the MSRPM.
          backend = new SvmBackend(cpu, { ...common, asid: ++asids, ...(svm !== undefined ? { svm } : {}), ...(vm.lapic !== null ? { intercepts: { msrs: [X2APIC_EOI_MSR] } } : {}) });
          svm ??= backend.svm;
        }
        area += AREA_STRIDE;
        const rec: VcpuRec = {
          vm: vi, index, backend, state: 'ready', end: null, steps: 0, idleIf: false,
          saved: { regLo: [...cpu.state.regLo], regHi: [...cpu.state.regHi], cr2Lo: 0, cr2Hi: 0 },
          hv: new Hypervisor({
            backend, ledger: vm.ledger,
            cpuid: (leaf, sub) => cpuid(vendor, leaf, sub, features),
            ...(ports !== undefined ? { ports } : {}),
            mmio,
            ...(index === 0 ? picOf(vm) : {}),
            idleOnHlt: true,
            hostInterrupt: (vector) => this.hostInterrupt(vm, vector),
            beforeEntry: () => this.arm(vm, index),
            ...(opts.logLimit !== undefined ? { logLimit: opts.logLimit } : {}),
            ...(this.hosting !== null ? { afterHandle: (exit: HvExit, entry: HvLogEntry, end: HvEnd | null) => this.exitPath(vi, index, exit, entry, end) } : {}),
          }),
        };
        vm.vcpus.push(this.vcpus.length);
        this.vcpus.push(rec);
      }
    });
    // The processor holds the last backend's host state; the first switch makes a VMCS current.
  }

  /**
   * Gives VM `vi` its device (devio.ts): a bus of its own on its port bus (configuration space at
   * 0xCF8 / 0xCFC, its memory BARs reached from the VM's MMIO exits). Emulated and virtio: the
   * model is on that bus, its DMA the hypervisor's copies through the VM's RAM. Assigned: the
   * function is on the host's bus with its BAR placed by the host and memory space on; the VM's bus
   * holds its proxy, and the IOMMU (if any) a domain mapping the VM's RAM.
   */
  private attachDevice(vm: VmRec, vi: number, dev: NonNullable<HostGuest['device']>, ports: PortBus): void {
    const way = dev.way;
    if (way !== 'emulated' && way !== 'virtio' && way !== 'assigned') throw new RangeError(`VM ${vm.name}: device way '${String(way)}': emulated, virtio or assigned`);
    if (dev.vf === true) {
      if (way !== 'assigned' || dev.model !== undefined || (dev.kind ?? 'nic') !== 'nic') throw new RangeError(`VM ${vm.name}: a VF is a network card (kind 'nic'), assigned (way 'assigned'), and the host's SR-IOV card's (no model)`);
      this.attachVf(vm, vi, ports);
      return;
    }
    const model = (dev.model ?? (() => deviceModel(dev.kind ?? 'nic', way)))();
    if (way !== 'assigned') {
      vm.pci = this.vmBus(vm, ports, model);
      vm.pci.onDma = (e) => this.hooks?.dma?.(vi, 'vm', e);
      vm.pci.onMsi = (m) => this.hooks?.msi?.(vi, 'vm', m);
      return;
    }
    const host = this.pci!;
    const device = HOST_DEVICE_FIRST + vi;
    host.add(device, 0, model);
    const b = model.spec.bars[0];
    if (b === null || b === undefined || b.kind !== 'mem32') throw new RangeError(`VM ${vm.name}: an assigned function needs a 32-bit memory BAR0`);
    const bar = HOST_BAR_BASE + vi * HOST_BAR_STRIDE;
    if (b.size > HOST_BAR_STRIDE) throw new RangeError(`VM ${vm.name}: BAR0 of ${b.size} bytes is larger than the host's slot`);
    host.configWrite(device, 0, CFG.BAR0, 4, bar);
    host.configWrite(device, 0, CFG.COMMAND, 2, CMD.MEMORY);
    const proxy = new AssignedFunction(model, { bus: host, device, fn: 0 }, () => this.remapAssigned(vm));
    vm.pci = this.vmBus(vm, ports, proxy);
    const rid = requesterId(0, device, 0);
    vm.assigned = { proxy, device, fn: 0, rid, vf: null, bar, size: Math.max(b.size, 0x1000), mapped: null };
    this.hostRids.set(rid, vi);
    this.iommu?.attach(rid, vi + 1, vm.memSize, vm.hpaBase);
  }

  /**
   * Gives VM `vi` the next VF of the host's SR-IOV card, as a whole function is assigned: the proxy
   * on the VM's bus (with the PF's Vendor ID and the VF Device ID), the VF's slice of VF BAR0 to be
   * mapped where the guest puts its BAR, and an IOMMU domain of its own for the VF's requester ID.
   */
  private attachVf(vm: VmRec, vi: number, ports: PortBus): void {
    const host = this.pci!;
    const slot = this.vfSlots[this.vfNext++]!;
    const model = host.function(slot.device, slot.fn);
    if (model === null) throw new Error(`VF ${slot.index} is not on the host's bus`);
    const proxy = new AssignedFunction(model, { bus: host, device: slot.device, fn: slot.fn }, () => this.remapAssigned(vm), vfIdentity(host, HOST_SRIOV_DEVICE, 0));
    vm.pci = this.vmBus(vm, ports, proxy);
    vm.assigned = { proxy, device: slot.device, fn: slot.fn, rid: slot.rid, vf: slot.index, bar: slot.bar, size: slot.size, mapped: null };
    this.hostRids.set(slot.rid, vi);
    this.iommu?.attach(slot.rid, vi + 1, vm.memSize, vm.hpaBase);
  }

  /**
   * The VM's own PCI bus with `fn` at 00:03.0: configuration space on the VM's port bus, memory
   * BARs reached from its MMIO exits (it leaves the host's MMIO alone), and a model's DMA the
   * hypervisor's access to that VM's RAM.
   */
  private vmBus(vm: VmRec, ports: PortBus, fn: PciFunctionModel): PciBus {
    // An emulated function's MSI goes to the VM's virtual local APIC (the hypervisor injects it).
    const bus = new PciBus({ mem: this.mem, ports, remapper: new GuestRamRemapper(vm.hpaBase, vm.memSize), claimMmio: false, msiSink: vm.lapic });
    bus.add(GUEST_DEVICE, 0, fn);
    return bus;
  }

  /**
   * Maps the assigned BAR where the guest placed it (memory space on, BAR non-zero) in every vCPU's
   * nested tables of that VM, after unmapping where it was: the guest's accesses then reach the
   * function without exits.
   */
  private remapAssigned(vm: VmRec): void {
    const a = vm.assigned!;
    const gbar = a.proxy.guestBar(0);
    // A BAR the nested tables cannot map directly (placed inside the guest's own RAM, or across a
    // 2-MByte boundary) stays unmapped: its accesses then reach RAM or exit to the proxy, which
    // forwards them to the function (the slow path), as a guest's misplaced BAR must not stop the host.
    const placed = (a.proxy.command() & CMD.MEMORY) !== 0 && gbar !== 0 && directMapProblem(vm.memSize, gbar, a.size) === null;
    const want = placed ? gbar : null;
    if (want === a.mapped) return;
    for (const i of vm.vcpus) {
      const backend = this.vcpus[i]!.backend;
      if (a.mapped !== null) backend.mapMmio(a.mapped, a.size, null);
      if (want !== null) backend.mapMmio(want, a.size, a.bar);
    }
    a.mapped = want;
  }

  /**
   * VM `i`'s device bus and way (null without a device); an assigned one's place on the host's bus
   * (`vf`: which VF of the SR-IOV card, or null for a whole card), requester ID and host BAR.
   */
  deviceOf(i: number): { way: DeviceWay; bus: PciBus; assigned: { device: number; fn: number; rid: number; vf: number | null; bar: number; mapped: number | null } | null } | null {
    const vm = this.vms[i]!;
    if (vm.pci === null || vm.way === null) return null;
    const a = vm.assigned;
    return { way: vm.way, bus: vm.pci, assigned: a === null ? null : { device: a.device, fn: a.fn, rid: a.rid, vf: a.vf, bar: a.bar, mapped: a.mapped } };
  }

  /** The VM whose assigned function or VF has requester ID `rid` on the host's bus, or null. */
  vmOfHostRid(rid: number): number | null {
    return this.hostRids.get(rid) ?? null;
  }

  /** Brings VM `vm`'s PIT up to the CPU's step. */
  private sync(vm: VmRec): void {
    const now = this.cpu.state.steps;
    if (vm.platform !== null && now > vm.synced) vm.platform.pit.advance(now - vm.synced);
    vm.synced = Math.max(vm.synced, now);
  }

  /** Steps until `vm`'s PIT next raises an unmasked IRQ 0 (Infinity if never without a new write). */
  private nextEdge(vm: VmRec): number {
    const p = vm.platform;
    if (p === null) return Infinity;
    if ((p.pic.state.master.imr & (1 << PIT_IRQ)) !== 0) return Infinity;
    return p.pit.stepsToNextEdge(0);
  }

  /**
   * Before each entry of vCPU `index` of `vm`: devices up to date, the host timer armed for vCPU
   * 0's next PIT edge, and the preemption timer set to what is left of the slice. The timer counts
   * only while the guest runs, so the instructions the hypervisor emulated since the exit (each a
   * guest step) are taken off here: a slice is `quantum` guest steps however they were retired.
   */
  private arm(vm: VmRec, index: number): void {
    this.sync(vm);
    const v = this.vcpus[vm.vcpus[index]!]!;
    // Posted interrupts: vectors posted while the vCPU was away go to its virtual APIC now.
    if (v.backend instanceof VmxBackend) v.backend.syncPosted();
    const left = Math.max(0, this.quantum - (this.cpu.state.steps - this.sliceStart));
    if (v.backend instanceof VmxBackend) v.backend.setPreemptionTimer(left);
    const t = this.cpu.state.timer;
    const edge = index === 0 ? this.nextEdge(vm) : Infinity;
    // AMD-V has no preemption timer: the host's timer also ends the slice.
    const n = v.backend instanceof SvmBackend ? Math.min(edge, left) : edge;
    if (n === Infinity) timerStop(t);
    else {
      timerProgram(t, HOST_TIMER_VECTOR, Math.max(1, n));
      t.pending = false;
    }
  }

  /**
   * After the guest's configuration write: if it changed the assigned function's MSI (its virtual
   * capability in the proxy), the host programs the real one, as VFIO does for its user: the
   * guest's message must name APIC ID 0 (the VM's one vCPU that takes interrupts), fixed, edge;
   * its vector is the guest's. Without an IOMMU the function is given host vector
   * HOST_DEVICE_VECTOR + i; with one, a remappable message whose IRTE names that host vector, or
   * with posted interrupts a posted IRTE naming the guest's vector and vCPU 0's descriptor.
   */
  private syncMsi(vm: VmRec, vi: number): void {
    const a = vm.assigned!;
    const g = a.proxy.guestMsi();
    if (g === null) return;
    // What the VM's one interrupt-taking vCPU can receive (the guest's local APIC, vlapic.ts): a
    // 32-bit address 0xFEEx_xxxx naming APIC ID 0 (or broadcast), physical, no redirection hint;
    // data: a vector of 16 or more, fixed delivery, edge. Anything else stays unprogrammed.
    const dest = (g.address >>> 12) & 0xff;
    const want = g.enabled && g.addressHi === 0 && g.address >>> 20 === 0xfee && (dest === 0 || dest === 0xff) && (g.address & 0b1100) === 0 && (g.data & 0xff) >= 16 && (g.data & 0xff00) === 0;
    const guestVector = g.data & 0xff;
    const route: 'direct' | 'remapped' | 'posted' = this.iommu === null ? 'direct' : this.postedInterrupts ? 'posted' : 'remapped';
    const next = want ? { guestVector, route } : null;
    if (JSON.stringify(next) === JSON.stringify(vm.msi)) return;
    const bus = this.pci!;
    const cap = bus.capability(a.device, a.fn, MSI_CAP_ID);
    if (cap < 0) return;
    vm.msi = next;
    if (next === null) {
      bus.configWrite(a.device, a.fn, cap + MSI_REG.CONTROL, 2, 0);
      return;
    }
    const hostVector = HOST_DEVICE_VECTOR + vi;
    let msg = { address: 0xfee00000, data: hostVector };
    if (this.iommu !== null) {
      const desc = (this.vcpus[vm.vcpus[0]!]!.backend as VmxBackend).posted;
      msg = route === 'posted' && desc !== null
        ? this.iommu.routeInterrupt(a.rid, vi, { kind: 'posted', vector: guestVector, descriptor: desc.page + POSTED_PAGES.DESCRIPTOR })
        : this.iommu.routeInterrupt(a.rid, vi, { kind: 'remapped', vector: hostVector });
    }
    bus.configWrite(a.device, a.fn, cap + MSI_REG.ADDRESS_LO, 4, msg.address);
    bus.configWrite(a.device, a.fn, cap + MSI_REG.ADDRESS_HI, 4, 0);
    bus.configWrite(a.device, a.fn, cap + MSI_REG.DATA_64, 2, msg.data);
    bus.configWrite(a.device, a.fn, cap + MSI_REG.CONTROL, 2, MSI_CONTROL.ENABLE);
  }

  /**
   * An external-interrupt exit: the host's timer (below), and the MSIs of assigned functions that
   * reached the CPU's local APIC, each routed by its host vector to its VM's virtual local APIC
   * (the hypervisor injects it into vCPU 0 at that VM's next entry). `vector`: the one the exit
   * acknowledged (VT-x with posted interrupts), else null. A posted-interrupt notification that
   * reaches the host (a vCPU not in the processor) needs nothing: vectors stay in its descriptor
   * until its next entry (vmx-backend.ts syncPosted).
   */
  private hostInterrupt(vm: VmRec, vector: number | null): { note: string; preempt: boolean } {
    const acked = vector === null || vector === HOST_TIMER_VECTOR ? [] : [vector];
    const notes = this.routeHostVectors(acked);
    const timer = vector === HOST_TIMER_VECTOR || this.cpu.state.timer.pending || notes.length === 0;
    if (!timer) return { note: notes.join('; '), preempt: false };
    const t = this.hostTimer(vm);
    return { note: [...notes, t.note].join('; '), preempt: t.preempt };
  }

  /**
   * The host takes the interrupts waiting at the CPU's local APIC (and `acked`, which an exit
   * already acknowledged): each assigned function's host vector goes to its VM's virtual local
   * APIC as the guest's vector (injected at that VM's next entry); a posted-interrupt notification
   * needs nothing (the vectors wait in the descriptor). Returns a note per vector.
   */
  private routeHostVectors(acked: readonly number[] = []): string[] {
    const apic = this.hostApic;
    const vectors = [...acked];
    while (apic !== null && apic.pending()) vectors.push(apic.acknowledge());
    const notes: string[] = [];
    for (const v of vectors) {
      const owner = v - HOST_DEVICE_VECTOR;
      const target = owner >= 0 && owner < this.vms.length ? this.vms[owner]! : null;
      if (v === POSTED_NOTIFICATION_VECTOR) notes.push(`posted-interrupt notification (0x${v.toString(16)}) for a vCPU not on the CPU: its vectors wait in its descriptor`);
      else if (target !== null && target.msi !== null && target.lapic !== null) {
        target.lapic.raise(target.msi.guestVector);
        notes.push(`${target.name}'s device interrupt (host vector 0x${v.toString(16)}) → guest vector 0x${target.msi.guestVector.toString(16)}, injected at its next entry`);
      } else notes.push(`host vector 0x${v.toString(16)}: no VM's`);
    }
    return notes;
  }

  /**
   * The host's timer interrupt: acknowledged (the host's EOI), the VM's PIT brought up to date; on
   * AMD-V the slice ends when its quantum is spent.
   */
  private hostTimer(vm: VmRec): { note: string; preempt: boolean } {
    timerStop(this.cpu.state.timer);
    this.sync(vm);
    const preempt = this.under === 'svm' && this.cpu.state.steps - this.sliceStart >= this.quantum;
    const what = preempt ? 'the time slice is over' : `${vm.name}'s PIT brought to step ${this.cpu.state.steps}`;
    return { note: `host timer (vector 0x${HOST_TIMER_VECTOR.toString(16)}): ${what}`, preempt };
  }

  /**
   * With `hosting`: exit `entry` of VM `vi`'s vCPU `index`, just handled (its charges are still the
   * exit's): who handled it, the hops it took, and under 'hosted' what those hops cost.
   */
  private exitPath(vi: number, index: number, exit: HvExit, entry: HvLogEntry, end: HvEnd | null): void {
    const vm = this.vms[vi]!;
    const out = (vm.platform?.uart.state.console.length ?? 0) + vm.vcpus.reduce((n, k) => n + this.vcpus[k]!.hv.console.length, 0);
    const output = out > this.outLen[vi]!;
    this.outLen[vi] = out;
    let final = end !== null && end.kind !== 'preempted' && end.kind !== 'idle' && end.kind !== 'limit';
    if (end?.kind === 'idle') {
      // A halt nothing can wake ends the vCPU (slice, right after this exit, finds the same: nothing
      // runs in between, and wake's routing of host vectors and PIT sync are idempotent).
      const v = this.vcpus[vm.vcpus[index]!]!;
      v.idleIf = (v.backend.rflagsForHost() & Flag.IF) !== 0;
      final = this.wake(v) === Infinity;
    }
    const preempt = end?.kind === 'preempted';
    const where = exitWhere(exit, output, end?.kind === 'idle' || end?.kind === 'hlt');
    const hops = hopsOf(this.hosting!, where, output, preempt, final);
    this.pathCounts[where]++;
    if (output) this.pathCounts.output++;
    if (this.hosting === 'hosted') {
      const c = hostedCharges(hops);
      if (c.worldSwitches > 0) vm.ledger.charge({ kind: 'world-switch', count: c.worldSwitches });
      if (c.userCrossings > 0) vm.ledger.charge({ kind: 'host-user', count: c.userCrossings });
      if (c.syscalls > 0) vm.ledger.charge({ kind: 'host-syscall', count: c.syscalls });
    }
    const p: ExitPath = { step: entry.step ?? this.cpu.state.steps, vm: vi, vcpu: index, exit: entry.n, name: entry.name, where, output, preempt, final, hops };
    if (this.paths.length < this.pathLimit) this.paths.push(p);
    this.hooks?.path?.(p);
  }

  /** Hosted: the next host process takes the CPU for `steps` steps (from the step now). */
  private startHostRun(steps: number): void {
    this.hostProc = (this.hostProc + 1) % this.hostProcesses;
    const r: HostRun = { step: this.cpu.state.steps, proc: this.hostProc, steps };
    this.hostRuns.push(r);
    this.hostLeft = steps;
    this.hooks?.hostRun?.(r);
  }

  /** Whether an idle vCPU can take an interrupt now, or when its VM's PIT next raises one (steps from now), or never. */
  private wake(v: VcpuRec): 'now' | number {
    const vm = this.vms[v.vm]!;
    if (v.index !== 0 || !v.idleIf) return Infinity;
    // An assigned device's MSI that reached the CPU before the HLT exit, not yet taken: the host
    // takes it now (with interrupts on outside the guest) and routes it to its VM.
    this.routeHostVectors();
    if (vm.lapic !== null && vm.lapic.pending()) return 'now';
    if (v.backend instanceof VmxBackend && v.backend.postedPending()) return 'now';
    if (vm.platform === null) return Infinity;
    this.sync(vm);
    if (vm.platform.pic.pending()) return 'now';
    return this.nextEdge(vm);
  }

  private switchTo(i: number): void {
    if (i === this.current) return;
    const st = this.cpu.state;
    const from = this.current >= 0 ? this.vcpus[this.current]! : null;
    if (from !== null) from.saved = { regLo: [...st.regLo], regHi: [...st.regHi], cr2Lo: st.cr2Lo, cr2Hi: st.cr2Hi };
    // Posted interrupts: no notifications to a vCPU preempted off the CPU (SN; its vectors are
    // synced at its next entry), as KVM does; a halted one keeps them on (its descriptor's PIR or ON
    // wakes it, `wake`); back on the CPU, SN cleared.
    if (from !== null && from.backend instanceof VmxBackend) from.backend.suppressNotifications(from.state === 'ready');
    const to = this.vcpus[i]!;
    const s = to.saved!;
    st.regLo.set(s.regLo);
    st.regHi.set(s.regHi);
    st.cr2Lo = s.cr2Lo;
    st.cr2Hi = s.cr2Hi;
    to.saved = null;
    // VT-x: VMPTRLD of its VMCS. AMD-V: nothing to load, VMRUN names the VMCB.
    if (to.backend instanceof VmxBackend) {
      to.backend.activate();
      to.backend.suppressNotifications(false);
    }
    const sw: VmSwitch = { step: st.steps, from: from?.vm ?? null, fromVcpu: from?.index ?? null, to: to.vm, toVcpu: to.index };
    this.switches.push(sw);
    this.current = i;
    this.hooks?.switched?.(sw);
  }

  /**
   * Runs the scheduler until every vCPU has ended or the CPU's step count reaches `untilStep`
   * (absolute) exactly: a slice stops in the middle (the guest stays in the processor, or out of
   * it if the limit came with an exit just handled) and the next call goes on with it, with the
   * same vCPU, slice start and timers, so runs split anywhere equal one run. Returns 'ended' or 'limit'.
   */
  run(untilStep: number): 'ended' | 'limit' {
    const st = this.cpu.state;
    // At the limit a slice is still entered once (a hypervisor with `enterAtLimit` enters its
    // guest before it returns, so the guest is in the processor at the step boundary); an entry
    // that exits at once without retiring anything could repeat, so the times are bounded.
    let atLimit = 0;
    for (;;) {
      if (this.hostLeft > 0) {
        // Hosted: a host process holds the CPU (time passes for the VMs, none of theirs runs).
        const d = Math.min(this.hostLeft, untilStep - st.steps);
        if (d <= 0) return 'limit';
        st.steps += d;
        st.tsc += d;
        this.hostLeft -= d;
        this.hostSteps += d;
        if (this.hostLeft > 0) return 'limit';
        if (this.vcpus.every((v) => v.state === 'ended')) return 'ended';
      }
      if (this.current >= 0 && this.vcpus[this.current]!.state === 'running') {
        // A slice in progress (also one a previous call stopped in): it goes on.
        if (st.steps >= untilStep && ++atLimit > 4) return 'limit';
        if (this.slice(this.current, untilStep) === 'limit') return 'limit';
        // Hosted: a slice that ran out goes to the host's scheduler, which gives the next host
        // process its quantum before the next vCPU.
        if (this.hostProcesses > 0 && this.vcpus[this.current]!.state === 'ready' && this.vcpus.some((v) => v.state !== 'ended')) {
          this.startHostRun(this.quantum);
          continue;
        }
        // The slice is over: the scheduler gives the CPU to the next vCPU at once, in the step of
        // the exit that ended the slice (the entry into it belongs to the next step).
        const r = this.schedule();
        if (r === 'ended') return 'ended';
        if (r === 'switched') continue;
        if (this.hostProcesses > 0) {
          // Hosted: every vCPU waits; the host's scheduler runs a host process from the step of
          // the exit that idled the last one, in this call (as a switch would be).
          this.startHostRun(Math.min(r, this.quantum));
          continue;
        }
      }
      if (st.steps >= untilStep) return this.vcpus.every((v) => v.state === 'ended') ? 'ended' : 'limit';
      const r = this.schedule();
      if (r === 'ended') return 'ended';
      if (r !== 'switched') {
        if (this.hostProcesses > 0) {
          // Hosted: every vCPU waits, and the host's scheduler runs a host process until the first
          // PIT edge (at most a quantum).
          this.startHostRun(Math.min(r, this.quantum));
          continue;
        }
        // Every live vCPU waits: the CPU idles to the first PIT edge (time passes, no instruction runs).
        const d = Math.min(r, untilStep - st.steps);
        st.steps += d;
        st.tsc += d;
        this.idleSteps += d;
      }
    }
  }

  /**
   * The round robin's choice: the next ready vCPU (or idle one whose interrupt has come), made
   * current with its slice started; else the steps until the first idle vCPU can wake, or
   * 'ended' when none ever can. An idle vCPU that nothing can wake ends here.
   */
  private schedule(): 'switched' | 'ended' | number {
    const n = this.vcpus.length;
    let pick = -1;
    let soonest = Infinity;
    for (let k = 0; pick < 0 && k < n; k++) {
      const i = (this.next + k) % n;
      const v = this.vcpus[i]!;
      if (v.state === 'ready') pick = i;
      else if (v.state === 'idle') {
        const w = this.wake(v);
        if (w === 'now') {
          v.state = 'ready';
          pick = i;
        } else if (w === Infinity) {
          v.state = 'ended';
          v.end = { kind: 'hlt' };
          this.hooks?.ended?.(v.vm, v.index, v.end);
        } else soonest = Math.min(soonest, w);
      }
    }
    if (pick < 0) return soonest === Infinity ? 'ended' : soonest;
    const v = this.vcpus[pick]!;
    this.switchTo(pick);
    this.sliceStart = this.cpu.state.steps;
    v.state = 'running';
    this.next = (pick + 1) % n;
    return 'switched';
  }

  /** Runs vCPU `i`'s slice until it ends (preempted, idle, ended) or the step `untilStep`. */
  private slice(i: number, untilStep: number): 'limit' | 'done' {
    const st = this.cpu.state;
    const v = this.vcpus[i]!;
    const before = st.steps;
    const end = v.hv.run(untilStep);
    v.steps += st.steps - before;
    if (end.kind === 'limit') return 'limit';
    {
      switch (end.kind) {
        case 'preempted':
          v.state = 'ready';
          break;
        case 'idle':
          // Its VMCS is still current: what its IF was when it halted decides whether it can wake.
          v.state = 'idle';
          v.idleIf = (v.backend.rflagsForHost() & Flag.IF) !== 0;
          // One that nothing can ever wake ends now, not when the scheduler next looks at it: what
          // a run reports at a step must not depend on where runs were split.
          if (this.wake(v) === Infinity) {
            v.state = 'ended';
            v.end = { kind: 'hlt' };
            this.hooks?.ended?.(v.vm, v.index, v.end);
          }
          break;
        default:
          v.state = 'ended';
          v.end = end;
          this.hooks?.ended?.(v.vm, v.index, end);
      }
    }
    return 'done';
  }

  /** Every VM with its console, exits and steps. */
  report(): HostVmReport[] {
    return this.vms.map((vm) => {
      const vs = vm.vcpus.map((i) => this.vcpus[i]!);
      const exits: Record<string, { code: number; count: number }> = {};
      for (const v of vs) for (const [name, c] of v.hv.counts) exits[name] = { code: c.code, count: (exits[name]?.count ?? 0) + c.count };
      const uart = vm.platform?.uart.state.console ?? '';
      const hypercall = vs.map((v) => v.hv.console).join('');
      return {
        name: vm.name, mode: vm.mode, console: uart + hypercall, uart, hypercall,
        steps: vs.reduce((s, v) => s + v.steps, 0),
        exits, exitTotal: vs.reduce((s, v) => s + v.hv.exitCount, 0),
        vcpus: vs.map((v) => ({ state: v.state, end: v.end?.kind ?? null, steps: v.steps, ...(v.end?.kind === 'error' ? { error: v.end.why } : {}) })),
      };
    });
  }

  /** VM `i`'s pieces, for tests and views. */
  vm(i: number): { name: string; hpaBase: number; memSize: number; platform: PcPlatform | null; mmioLog: VmRec['mmioLog']; hypervisors: Hypervisor[]; backends: (VmxBackend | SvmBackend)[]; ledger: Ledger } {
    const vm = this.vms[i]!;
    const vs = vm.vcpus.map((k) => this.vcpus[k]!);
    return { name: vm.name, hpaBase: vm.hpaBase, memSize: vm.memSize, platform: vm.platform, mmioLog: vm.mmioLog, hypervisors: vs.map((v) => v.hv), backends: vs.map((v) => v.backend), ledger: vm.ledger };
  }

  /** VM `i`'s virtual local APIC (null without a device) and how its assigned function's MSI is routed (null: not enabled). */
  interruptsOf(i: number): { lapic: VirtualLapicState | null; msi: VmRec['msi'] } {
    const vm = this.vms[i]!;
    return { lapic: vm.lapic?.snapshot() ?? null, msi: vm.msi === null ? null : { ...vm.msi } };
  }

  get vmCount(): number {
    return this.vms.length;
  }

  /** The VM on the CPU (its index), or -1. */
  get currentVm(): number {
    return this.current < 0 ? -1 : this.vcpus[this.current]!.vm;
  }

  private vmxOf(): Vmx | null {
    const b = this.vcpus[0]!.backend;
    return b instanceof VmxBackend ? b.vmx : null;
  }

  private svmOf(): Svm | null {
    const b = this.vcpus[0]!.backend;
    return b instanceof SvmBackend ? b.svm : null;
  }

  snapshot(): HostSnapshot {
    const cpu = this.cpu;
    return {
      core: snapshotCore(this),
      host: deepCopy({
        current: this.current, next: this.next, sliceStart: this.sliceStart, vmx: this.vmxOf()?.state ?? null, svm: this.svmOf()?.svm ?? null, ledgers: this.vms.map((vm) => vm.ledger.data()), idleSteps: this.idleSteps, switches: this.switches,
        hosted: { paths: this.paths, runs: this.hostRuns, steps: this.hostSteps, left: this.hostLeft, proc: this.hostProc, out: this.outLen, counts: this.pathCounts },
        vms: this.vms.map((vm) => ({
          synced: vm.synced, platform: vm.platform?.snapshot() ?? null, mmioLog: vm.mmioLog, pci: vm.pci?.snapshot() ?? null, mapped: vm.assigned?.mapped ?? null,
          lapic: vm.lapic?.snapshot() ?? null, msi: vm.msi,
        })),
        hostApic: this.hostApic?.snapshot() ?? null,
        pci: this.pci?.snapshot() ?? null,
        iommu: this.iommu?.remapper.snapshot() ?? null,
        vcpus: this.vcpus.map((v) => ({
          fields: { backend: captureFields(v.backend), hv: captureFields(v.hv, ['log', 'opts', 'observer']) },
          state: v.state, end: v.end, steps: v.steps, idleIf: v.idleIf, saved: v.saved, backend: v.backend.saveState(),
          hv: { console: v.hv.console, log: v.hv.log, counts: [...v.hv.counts], exits: v.hv.exitCount, windowRequested: v.hv.windowRequested, injected: v.hv.injected },
        })),
      }),
      // Outside the deep copy: the monitor keeps its class and its references to the CPU and the unit.
      cpuGuest: { monitor: cpu.guest === null ? null : cloneMonitor(cpu.guest), nested: cpu.nestedTranslator(), exit: deepCopy(cpu.exit), vectoring: deepCopy(cpu.guestVectoring) },
    };
  }

  restore(snap: HostSnapshot): void {
    // The guest monitor and nested translator first, then restoreCore puts the TLB (entries and
    // current tag) back as it was.
    const cpu = this.cpu;
    const g = snap.cpuGuest;
    const mon = g.monitor === null ? null : cloneMonitor(g.monitor);
    cpu.guest = mon as Cpu['guest'];
    const svmUnit = this.svmOf();
    if (svmUnit !== null) setActiveMonitor(svmUnit, (mon ?? undefined) as SvmMonitor | undefined);
    if (cpu.nestedTranslator() !== g.nested) cpu.setNested(g.nested);
    cpu.exit = deepCopy(g.exit) as Cpu['exit'];
    cpu.guestVectoring = deepCopy(g.vectoring) as Cpu['guestVectoring'];
    restoreCore(this, snap.core);
    const h = deepCopy(snap.host);
    this.current = h.current;
    this.next = h.next;
    this.sliceStart = h.sliceStart;
    this.idleSteps = h.idleSteps;
    const vmx = this.vmxOf();
    if (vmx !== null && h.vmx !== null) vmx.state = h.vmx;
    const svm = this.svmOf();
    if (svm !== null && h.svm !== null) Object.assign(svm.svm, h.svm);
    h.ledgers.forEach((d, i) => this.vms[i]!.ledger.load(d));
    this.switches.length = 0;
    this.switches.push(...h.switches);
    this.paths.length = 0;
    this.paths.push(...h.hosted.paths);
    this.hostRuns.length = 0;
    this.hostRuns.push(...h.hosted.runs);
    this.hostSteps = h.hosted.steps;
    this.hostLeft = h.hosted.left;
    this.hostProc = h.hosted.proc;
    this.outLen = [...h.hosted.out];
    this.pathCounts = { ...h.hosted.counts };
    h.vms.forEach((s, i) => {
      const vm = this.vms[i]!;
      vm.synced = s.synced;
      if (vm.platform !== null && s.platform !== null) vm.platform.restore(s.platform);
      vm.mmioLog.length = 0;
      vm.mmioLog.push(...s.mmioLog);
      if (vm.pci !== null && s.pci !== null) vm.pci.restore(s.pci);
      if (vm.assigned !== null) vm.assigned.mapped = s.mapped;
      if (vm.lapic !== null && s.lapic !== null) vm.lapic.restore(s.lapic);
      vm.msi = s.msi;
    });
    if (this.hostApic !== null && h.hostApic !== null) this.hostApic.restore(h.hostApic);
    if (this.pci !== null && h.pci !== null) this.pci.restore(h.pci);
    if (this.iommu !== null && h.iommu !== null) {
      const u = this.iommu.remapper;
      if (u instanceof VtdRemapper) u.restore(h.iommu as VtdState);
      else u.restore(h.iommu as AmdViState);
    }
    h.vcpus.forEach((s, i) => {
      const v = this.vcpus[i]!;

      v.state = s.state;
      v.end = s.end;
      v.steps = s.steps;
      v.idleIf = s.idleIf;
      v.saved = s.saved;
      if (v.backend instanceof VmxBackend) v.backend.loadState(s.backend as VmxBackendState);
      else v.backend.loadState(s.backend);
      v.hv.restoreCounters(s.hv);
      // After loadState, which clears the field accesses not yet taken by an exit: a slice cut
      // between an entry's VMWRITEs and its next exit has some.
      restoreFields(v.backend, s.fields.backend);
      restoreFields(v.hv, s.fields.hv);
    });
  }
}
