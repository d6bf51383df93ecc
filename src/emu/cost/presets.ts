/**
 * The named cost presets: what each kind of charge (kinds.ts) costs, in cycles, on one processor.
 * Every figure is cited from teaching-facts.md or labelled illustrative (figure.ts).
 *
 * Where the sources measure:
 * - Pentium 4 672 (Prescott) and Core 2 Duo (Merom): VM entry and page-fault VM exit separately,
 *   and VMREAD / VMWRITE (Adams & Agesen 2006, Table 1; grade partly).
 * - A recent Intel core: the page-fault VM exit alone, by generation (HSSV Table 4.3; partly). The
 *   preset takes Broadwell, the newest generation of that row.
 * - A recent AMD CPU: a whole KVM round trip (about 2528 cycles) and, inside it, VMRUN to #VMEXIT
 *   (about 1350) (LKML, Dec 2020; verified as a quote, CPU model not stated).
 * What they do not measure is illustrative, and says how it was derived: the recent Intel entry and
 * VMCS access scaled from Merom by the page-fault exit's fall, the AMD hardware round trip split
 * evenly between VMRUN and #VMEXIT, and the software path (`hv-dispatch`) taken from the AMD round
 * trip's remainder for every preset.
 *
 * The exit figures the sources give are page-fault exits: a preset prices basic exit reason 0
 * (exception or NMI, where a page-fault exit belongs) with the cited figure, and every other
 * reason or exit code with the same cycles labelled illustrative, since the hardware part of an
 * exit saves and loads the same state whatever its reason.
 */
import { cite, type Cited, type Figure, illustrative } from './figure.ts';
import type { CostKind, HandlerWork } from './kinds.ts';

export type CostLocale = 'en' | 'zh-CN';
export type CostText = Readonly<Record<CostLocale, string>>;

/** Kinds a preset prices with one figure (the handler is priced per work in `handlers`). */
export type FlatKind = Exclude<CostKind, 'handler'>;

export interface Preset {
  readonly id: string;
  /** Whose virtualization extensions the preset's processor has. */
  readonly vendor: 'intel' | 'amd';
  readonly name: CostText;
  readonly description: CostText;
  /** One figure per kind priced; for `vm-exit` and `vmexit` it is the figure of any reason or code not in `exitBy`. */
  readonly figures: Readonly<Partial<Record<FlatKind, Figure>>>;
  /** Figures for particular exit reasons (Intel) or exit codes (AMD), where a source measured one. */
  readonly exitBy: Readonly<Record<number, Figure>>;
  readonly handlers: Readonly<Partial<Record<HandlerWork, Figure>>>;
}

// ---- Cited figures (the quote is the row's own words; pick is which of its numbers) ----

const PRESCOTT_ENTRY = cite('vmx-transition-prescott', 'partly', '2409 / 1931', 0, 2409);
const PRESCOTT_PF_EXIT = cite('vmx-transition-prescott', 'partly', '2409 / 1931', 1, 1931);
const MEROM_ENTRY = cite('vmx-transition-merom', 'partly', '937 / 1186', 0, 937);
const MEROM_PF_EXIT = cite('vmx-transition-merom', 'partly', '937 / 1186', 1, 1186);
const P4_VMREAD = cite('vmcs-access-cost', 'partly', '178 / 171 vs 52 / 44', 0, 178);
const P4_VMWRITE = cite('vmcs-access-cost', 'partly', '178 / 171 vs 52 / 44', 1, 171);
const CORE2_VMREAD = cite('vmcs-access-cost', 'partly', '178 / 171 vs 52 / 44', 2, 52);
const CORE2_VMWRITE = cite('vmcs-access-cost', 'partly', '178 / 171 vs 52 / 44', 3, 44);
const GEN_MEROM_PF_EXIT = cite('pf-exit-by-generation', 'partly', 'Merom 1156', 0, 1156);
const GEN_BROADWELL_PF_EXIT = cite('pf-exit-by-generation', 'partly', 'Broadwell 531', 0, 531);
const AMD_KVM_ROUND_TRIP = cite('kvm-round-trip-amd', 'verified', 'about 2528 cycles', 0, 2528);
/** A divide-by-zero fault handled by a native kernel on the Pentium 4: delivery through the IDT, a small handler, IRET. */
const P4_FAULT_ROUND_TRIP = cite('nanobench-syscall', 'partly', 'divzero: 889 / 3223 / 1014', 0, 889);
const AMD_VMRUN_TO_VMEXIT = cite('kvm-round-trip-amd', 'verified', 'VMRUN to #VMEXIT alone about 1350', 0, 1350);

/** Basic exit reason 0, exception or NMI: where a page-fault VM exit belongs. */
const EXCEPTION_NMI = 0;

function otherExits(measured: Cited): Figure {
  return illustrative(
    measured.cycles,
    'the source measures only the page-fault exit; any other exit reason or code is taken to cost the same hardware transition',
    [measured],
  );
}

/** A Merom figure scaled by the page-fault exit's fall from Merom to Broadwell (same source and measurement). */
function fromMeromToBroadwell(merom: Cited, what: string): Figure {
  return illustrative(
    Math.round((merom.cycles * GEN_BROADWELL_PF_EXIT.cycles) / GEN_MEROM_PF_EXIT.cycles),
    `no source gives the ${what} for a recent Intel core: Merom's ${merom.cycles} scaled by the page-fault exit's fall from Merom to Broadwell (${GEN_MEROM_PF_EXIT.cycles} to ${GEN_BROADWELL_PF_EXIT.cycles}), rounded`,
    [merom, GEN_MEROM_PF_EXIT, GEN_BROADWELL_PF_EXIT],
  );
}

// ---- Figures every preset shares (software and the guest; no source measures them) ----

const GUEST_INSN = illustrative(
  1,
  'the lab counts retired guest instructions; one cycle each is an illustrative rate for code that runs natively, without an exit',
);

const HV_DISPATCH = illustrative(
  AMD_KVM_ROUND_TRIP.cycles - AMD_VMRUN_TO_VMEXIT.cycles,
  "the one measured software path: a KVM round trip on a recent AMD CPU less its VMRUN-to-#VMEXIT part (2528 − 1350); it includes that exit's own brief handling, and every preset uses it, since no source gives an older processor's software path",
  [AMD_KVM_ROUND_TRIP, AMD_VMRUN_TO_VMEXIT],
);

/**
 * Memory virtualization (issue 7). The cost of a translation is counted in references, as the
 * manuals and Bhargava et al. (2008) count a walk; what one reference costs depends on where the
 * entry is cached, which the lab does not model, so these are illustrative and shared by all presets.
 */
const PAGE_WALK_REF = illustrative(
  10,
  'one paging-structure reference of a walk (guest, nested or shadow): walk references mostly hit the data caches, where a load takes from a few cycles (L1) to a few tens (L2, L3); 10 is an illustrative middle, the same for every preset',
);
const TLB_FLUSH = illustrative(
  100,
  'the flush operation itself (a MOV to CR3, INVLPG, INVVPID, INVEPT or a flush at a world switch); the misses it causes afterwards are charged as the page-walk references they make',
);
const SHADOW_PT_UPDATE = illustrative(
  200,
  "the hypervisor's software work for one shadow page-table entry (walking the guest's tables in software and writing the entry, or zapping it), beyond the exit that led to it",
);

/**
 * Trap-and-emulate (issue 9): the guest kernel's fault into the monitor and the IRET back. The
 * Pentium 4's native divide-by-zero round trip (a fault through the IDT, a small handler, IRET) is
 * the one measured figure; the other processors take it too, labelled so.
 */
const TRAP_P4 = P4_FAULT_ROUND_TRIP;
const TRAP_OTHER = illustrative(
  P4_FAULT_ROUND_TRIP.cycles,
  "no source measures a fault's round trip through the IDT on this processor: the Pentium 4's native divide-by-zero round trip (Adams & Agesen 2006)",
  [P4_FAULT_ROUND_TRIP],
);

/**
 * Binary translation (issue 9). A callout: Adams and Agesen's page-table modification under BT (391
 * cycles, with adaptive translation a callout that performs the store) is the measured callout; the
 * Pentium 4 preset cites it, the others take it labelled so. Translating a block is not measured.
 */
const P4_BT_PTEMOD = cite('nanobench-syscall', 'partly', 'ptemod: one store / 391 / 12733', 0, 391);
const BT_CALLOUT_OTHER = illustrative(
  P4_BT_PTEMOD.cycles,
  'no source measures a callout on this processor: the Pentium 4 figure of a page-table modification under binary translation, a callout that performs the store (Adams & Agesen 2006)',
  [P4_BT_PTEMOD],
);
const BT_STEP = illustrative(
  2000,
  'an order of magnitude for decoding up to a dozen guest instructions and writing their translation; no source in teaching-facts.md measures the translator, and every preset uses the same value',
);

/**
 * A hosted hypervisor (issue 9, hv/hosting.ts): no source in teaching-facts.md measures a world
 * switch, a crossing into the VMM process or its system call, so these are illustrative orders of
 * magnitude, the same for every preset. Sugerman et al. (USENIX ATC 2001) describe the world switch
 * as heavier than a process switch: it saves and reloads all processor state, the address space
 * and the descriptor and interrupt tables included.
 */
const WORLD_SWITCH = illustrative(
  3000,
  'an order of magnitude for one world switch (a full processor context with its address space and interrupt tables, heavier than a process switch), one way; no source in teaching-facts.md measures it, and every preset uses the same value',
);
const HOST_USER = illustrative(
  500,
  "an order of magnitude for one kernel-to-user crossing of the hosted hypervisor's VMM process (its ioctl returning, or the next one entering), one way; every preset uses the same value",
);
const HOST_SYSCALL = illustrative(
  2000,
  "an order of magnitude for one system call of the VMM process through the host's terminal layer and driver, and back; every preset uses the same value",
);

const h = (cycles: number, what: string): Figure =>
  illustrative(cycles, `an order of magnitude for ${what}; no source in teaching-facts.md measures handler work, and every preset uses the same value`);

const HANDLERS: Readonly<Record<HandlerWork, Figure>> = {
  cpuid: h(200, 'looking up a CPUID leaf in the filtered table and writing four registers'),
  io: h(1000, 'decoding the I/O qualification and running one register access of a device model'),
  mmio: h(2000, 'fetching and decoding the faulting guest instruction, then running the device model'),
  hypercall: h(300, 'reading the hypercall number and arguments and carrying out a small call'),
  msr: h(200, 'reading or writing one shadow MSR'),
  cr: h(300, 'updating a shadowed control register and its read shadow'),
  hlt: h(100, 'marking the vCPU idle until an interrupt (the wait itself is not charged)'),
  exception: h(300, 'reflecting an intercepted exception into the guest by event injection'),
  interrupt: h(400, 'acknowledging an external interrupt and injecting it into the guest'),
  invlpg: h(200, 'carrying out an intercepted INVLPG'),
  rdtsc: h(100, "computing the guest's view of the time-stamp counter"),
  privileged: h(300, "decoding a trapped privileged instruction and carrying it out on the guest's virtual state (a descriptor table, IF, CR0.TS)"),
};

// ---- The presets ----

export const PRESETS = [
  {
    id: 'vtx-prescott',
    vendor: 'intel',
    name: { en: 'First-generation VT-x (Pentium 4 672, Prescott)', 'zh-CN': '第一代 VT-x（Pentium 4 672，Prescott）' },
    description: {
      en: 'The first processor with VT-x, as measured by Adams and Agesen (2006): every VM entry and exit costs thousands of cycles, and VMREAD and VMWRITE well over a hundred.',
      'zh-CN': '第一款支持 VT-x 的处理器，数据来自 Adams 与 Agesen（2006）的测量：每次 VM 进入和 VM 退出都要数千个周期，VMREAD 和 VMWRITE 也都要一百多个周期。',
    },
    figures: {
      'vm-entry': PRESCOTT_ENTRY,
      'vm-exit': otherExits(PRESCOTT_PF_EXIT),
      vmread: P4_VMREAD,
      vmwrite: P4_VMWRITE,
      'guest-insn': GUEST_INSN,
      'hv-dispatch': HV_DISPATCH,
      'page-walk-ref': PAGE_WALK_REF,
      'tlb-flush': TLB_FLUSH,
      'shadow-pt-update': SHADOW_PT_UPDATE,
      trap: TRAP_P4,
      'bt-callout': P4_BT_PTEMOD,
      'bt-step': BT_STEP,
      'world-switch': WORLD_SWITCH,
      'host-user': HOST_USER,
      'host-syscall': HOST_SYSCALL,
    },
    exitBy: { [EXCEPTION_NMI]: PRESCOTT_PF_EXIT },
    handlers: HANDLERS,
  },
  {
    id: 'core2-merom',
    vendor: 'intel',
    name: { en: 'Core 2 Duo (Merom)', 'zh-CN': 'Core 2 Duo（Merom）' },
    description: {
      en: 'The next generation, measured in the same study: a VM entry and exit together cost about half as much as on the Pentium 4, and VMCS accesses under a third.',
      'zh-CN': '下一代处理器，数据来自同一项研究：一次 VM 进入加一次 VM 退出的开销约为 Pentium 4 的一半，访问 VMCS 的开销不到其三分之一。',
    },
    figures: {
      'vm-entry': MEROM_ENTRY,
      'vm-exit': otherExits(MEROM_PF_EXIT),
      vmread: CORE2_VMREAD,
      vmwrite: CORE2_VMWRITE,
      'guest-insn': GUEST_INSN,
      'hv-dispatch': HV_DISPATCH,
      'page-walk-ref': PAGE_WALK_REF,
      'tlb-flush': TLB_FLUSH,
      'shadow-pt-update': SHADOW_PT_UPDATE,
      trap: TRAP_OTHER,
      'bt-callout': BT_CALLOUT_OTHER,
      'bt-step': BT_STEP,
      'world-switch': WORLD_SWITCH,
      'host-user': HOST_USER,
      'host-syscall': HOST_SYSCALL,
    },
    exitBy: { [EXCEPTION_NMI]: MEROM_PF_EXIT },
    handlers: HANDLERS,
  },
  {
    id: 'intel-broadwell',
    vendor: 'intel',
    name: { en: 'A recent Intel core (Broadwell)', 'zh-CN': '较新的 Intel 处理器（Broadwell）' },
    description: {
      en: 'Broadwell, the newest generation in the page-fault VM exit table of Bugnion, Nieh and Tsafrir (2017). Only the exit is measured; its VM entry and VMCS accesses are estimates scaled from the Core 2.',
      'zh-CN': 'Broadwell 是 Bugnion、Nieh 与 Tsafrir（2017）书中缺页 VM 退出表里最新的一代。只有 VM 退出是测量值；VM 进入和 VMCS 访问是由 Core 2 的数据按比例推算的估计值。',
    },
    figures: {
      'vm-entry': fromMeromToBroadwell(MEROM_ENTRY, 'VM entry'),
      'vm-exit': otherExits(GEN_BROADWELL_PF_EXIT),
      vmread: fromMeromToBroadwell(CORE2_VMREAD, 'VMREAD'),
      vmwrite: fromMeromToBroadwell(CORE2_VMWRITE, 'VMWRITE'),
      'guest-insn': GUEST_INSN,
      'hv-dispatch': HV_DISPATCH,
      'page-walk-ref': PAGE_WALK_REF,
      'tlb-flush': TLB_FLUSH,
      'shadow-pt-update': SHADOW_PT_UPDATE,
      trap: TRAP_OTHER,
      'bt-callout': BT_CALLOUT_OTHER,
      'bt-step': BT_STEP,
      'world-switch': WORLD_SWITCH,
      'host-user': HOST_USER,
      'host-syscall': HOST_SYSCALL,
    },
    exitBy: { [EXCEPTION_NMI]: GEN_BROADWELL_PF_EXIT },
    handlers: HANDLERS,
  },
  {
    id: 'amd-recent',
    vendor: 'amd',
    name: { en: 'A recent AMD processor (KVM, 2020)', 'zh-CN': '较新的 AMD 处理器（KVM，2020）' },
    description: {
      en: 'A KVM round trip measured on a recent AMD CPU (model not stated) and quoted on the Linux kernel mailing list: about 2528 cycles, of which VMRUN to #VMEXIT about 1350. The VMCB is ordinary memory, so reading a field is a plain load.',
      'zh-CN': '在一款较新的 AMD CPU（未注明型号）上测得、并在 Linux 内核邮件列表中引用的 KVM 往返开销：约 2528 个周期，其中 VMRUN 到 #VMEXIT 约 1350 个周期。VMCB 是普通内存，读一个字段只是一次普通的内存读取。',
    },
    figures: {
      vmrun: illustrative(
        AMD_VMRUN_TO_VMEXIT.cycles / 2,
        'the source gives VMRUN to #VMEXIT only as a whole (about 1350); the preset splits it evenly between VMRUN and #VMEXIT',
        [AMD_VMRUN_TO_VMEXIT],
      ),
      vmexit: illustrative(
        AMD_VMRUN_TO_VMEXIT.cycles / 2,
        'the source gives VMRUN to #VMEXIT only as a whole (about 1350), for an exit it does not name; the preset splits it evenly and charges every exit code the same',
        [AMD_VMRUN_TO_VMEXIT],
      ),
      'vmcb-read': illustrative(4, 'the VMCB is ordinary memory: a load that hits the L1 data cache takes a few cycles'),
      'vmcb-write': illustrative(4, 'the VMCB is ordinary memory: a store that hits the L1 data cache takes a few cycles'),
      'guest-insn': GUEST_INSN,
      'hv-dispatch': HV_DISPATCH,
      'page-walk-ref': PAGE_WALK_REF,
      'tlb-flush': TLB_FLUSH,
      'shadow-pt-update': SHADOW_PT_UPDATE,
      trap: TRAP_OTHER,
      'bt-callout': BT_CALLOUT_OTHER,
      'bt-step': BT_STEP,
      'world-switch': WORLD_SWITCH,
      'host-user': HOST_USER,
      'host-syscall': HOST_SYSCALL,
    },
    exitBy: {},
    handlers: HANDLERS,
  },
] as const satisfies readonly Preset[];

export type PresetId = (typeof PRESETS)[number]['id'];

export const PRESET_IDS: readonly PresetId[] = PRESETS.map((p) => p.id);

const byId = new Map<string, Preset>(PRESETS.map((p) => [p.id, p]));

export function preset(id: PresetId): Preset;
export function preset(id: string): Preset | undefined;
export function preset(id: string): Preset | undefined {
  return byId.get(id);
}

/**
 * A preset with figures added for kinds, exits or handler work it does not price yet: how a later
 * layer (shadow paging, binary translation) brings its own costs, each still cited or illustrative.
 * Adding a figure the preset already has is an error (a layer must not silently change another's
 * figure); give the new preset its own id.
 */
export function withFigures(
  base: Preset,
  id: string,
  extra: { figures?: Partial<Record<FlatKind, Figure>>; exitBy?: Record<number, Figure>; handlers?: Partial<Record<HandlerWork, Figure>> },
): Preset {
  const clash = (what: string, have: object, add: object | undefined): void => {
    for (const k of Object.keys(add ?? {})) if (k in have) throw new Error(`preset ${base.id} already prices ${what} ${k}`);
  };
  clash('kind', base.figures, extra.figures);
  clash('exit', base.exitBy, extra.exitBy);
  clash('handler work', base.handlers, extra.handlers);
  return {
    ...base,
    id,
    figures: { ...base.figures, ...extra.figures },
    exitBy: { ...base.exitBy, ...extra.exitBy },
    handlers: { ...base.handlers, ...extra.handlers },
  };
}
