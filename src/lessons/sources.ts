/**
 * The figures a lesson may quote, each with its source and grade of verification, taken from the
 * shared reference `teaching-facts.md` (tests/reference/, a checked copy): `figure`, `value`,
 * `grade` and `source` are that file's words, and `sources.test.ts` parses it and fails if any of
 * them differ. `say` is how the app states the figure in each language; the test checks that
 * every number it contains appears in the file's row.
 *
 * Grades (teaching-facts.md): verified (read in a primary or official source), partly (secondary
 * sources quoting the original: teach with the source named and the grade shown), not found (never
 * stated as fact; no such figure is listed here, so no lesson can cite one).
 */
import type { Locale } from '../i18n/messages.ts';

export const GRADES = ['verified', 'partly', 'not found'] as const;
export type Grade = (typeof GRADES)[number];

export interface Fact {
  /** Stable id, cited by lessons (`cite('nested-walk-refs')`) and used as the panel's anchor. */
  id: string;
  /** What the figure is, as teaching-facts.md names it (its "figure" column, or a quoted sentence). */
  figure: string;
  /** The value, as teaching-facts.md gives it. */
  value: string;
  grade: Exclude<Grade, 'not found'>;
  /** What the file adds after the grade (e.g. "(abstract)"), or ''. */
  gradeNote: string;
  /** The source as teaching-facts.md names it ("same" resolved to the row above). */
  source: string;
  /** The figure stated in one sentence, per language (numbers only from `figure`/`value`). */
  say: Record<Locale, string>;
}

export const FACTS = [
  {
    id: 'vmx-transition-prescott',
    figure: 'VM entry / page-fault VM exit, Pentium 4 672 (Prescott, first VT-x)',
    value: '2409 / 1931 cycles (listed separately; a round trip is their sum)',
    grade: 'partly',
    gradeNote: '',
    source: 'Adams & Agesen, ASPLOS 2006, Table 1, as reproduced in secondary notes (this supersedes `paper-anchors.json`, which found none)',
    say: {
      en: 'On the first VT-x processor (Pentium 4 672, Prescott) a VM entry took 2409 cycles and a page-fault VM exit 1931.',
      'zh-CN': '在第一代 VT-x 处理器（Pentium 4 672，Prescott）上，一次 VM 进入需要 2409 个周期，一次缺页 VM 退出需要 1931 个周期。',
    },
  },
  {
    id: 'vmx-transition-merom',
    figure: 'same, Core 2 Duo 2.66 GHz (Merom)',
    value: '937 / 1186 cycles',
    grade: 'partly',
    gradeNote: '',
    source: 'Adams & Agesen, ASPLOS 2006, Table 1, as reproduced in secondary notes (this supersedes `paper-anchors.json`, which found none)',
    say: {
      en: 'On a 2.66 GHz Core 2 Duo (Merom) a VM entry took 937 cycles and a page-fault VM exit 1186.',
      'zh-CN': '在 2.66 GHz 的 Core 2 Duo（Merom）上，一次 VM 进入需要 937 个周期，一次缺页 VM 退出需要 1186 个周期。',
    },
  },
  {
    id: 'vmcs-access-cost',
    figure: 'VMCB read / write (their term for VMCS access), P4 672 vs Core 2',
    value: '178 / 171 vs 52 / 44 cycles',
    grade: 'partly',
    gradeNote: '',
    source: 'Adams & Agesen, ASPLOS 2006, Table 1, as reproduced in secondary notes (this supersedes `paper-anchors.json`, which found none)',
    say: {
      en: 'Reading or writing a VMCS field cost 178 / 171 cycles on the Pentium 4 672 and 52 / 44 on the Core 2.',
      'zh-CN': '读 / 写一个 VMCS 字段在 Pentium 4 672 上需要 178 / 171 个周期，在 Core 2 上需要 52 / 44 个周期。',
    },
  },
  {
    id: 'pf-exit-by-generation',
    figure: 'page-fault VM exit by generation (a different source and measurement from the row above: 1926 here, 1931 there)',
    value: 'Prescott 1926, Merom 1156, Penryn 858, Westmere 569, Sandy Bridge 507, Ivy Bridge 466, Haswell 512, Broadwell 531 cycles',
    grade: 'partly',
    gradeNote: '',
    source: 'Bugnion, Nieh, Tsafrir, *Hardware and Software Support for Virtualization* (2017), Table 4.3, via secondary notes',
    say: {
      en: 'A page-fault VM exit fell from 1926 cycles (Prescott) to 466 (Ivy Bridge), then rose slightly to 512 (Haswell) and 531 (Broadwell).',
      'zh-CN': '一次缺页 VM 退出的开销从 1926 个周期（Prescott）降到 466 个周期（Ivy Bridge），之后略有回升：512（Haswell）、531（Broadwell）。',
    },
  },
  {
    id: 'kvm-round-trip-amd',
    figure: 'KVM round trip on a recent AMD CPU (software + hardware path)',
    value: 'about 2528 cycles (VMRUN to #VMEXIT alone about 1350)',
    grade: 'verified',
    gradeNote: 'as a mailing-list quote; CPU model not stated',
    source: 'Linux kernel mailing list, Dec 2020',
    say: {
      en: 'A KVM round trip on a recent AMD CPU took about 2528 cycles, of which VMRUN to #VMEXIT alone about 1350.',
      'zh-CN': '在较新的 AMD CPU 上，KVM 的一次往返约需 2528 个周期，其中仅 VMRUN 到 #VMEXIT 约 1350 个周期。',
    },
  },
  {
    id: 'nanobench-syscall',
    figure: 'nanobenchmarks, native / BT / first-gen VT-x (cycles)',
    value:
      'in: 3209 / ~15× faster than native / 15826; call+ret: 11 / 51 / 11; pgfault: 1093 / 3927 / 11242; divzero: 889 / 3223 / 1014; ptemod: one store / 391 / 12733; syscall: BT ≈ native + 2000, VT-x at native speed; cr8wr: BT 35, VT-x similar to native',
    grade: 'partly',
    gradeNote: "(the paper's own prose, quoted in a public test suite's comments)",
    source: 'Adams & Agesen 2006 §6',
    say: {
      en: 'A guest page fault cost 1093 cycles natively, 3927 under binary translation and 11242 under first-generation VT-x; a system call ran at native speed under VT-x.',
      'zh-CN': '一次客户机缺页异常在本机上需 1093 个周期，在二进制翻译下需 3927 个，在第一代 VT-x 下需 11242 个；而系统调用在 VT-x 下以本机速度运行。',
    },
  },
  {
    id: 'forkwait',
    figure: 'forkwait (40,000 fork/wait)',
    value: 'native 6.0 s, BT 36.9 s, first-gen VT-x 106.4 s',
    grade: 'partly',
    gradeNote: '(two secondary sources)',
    source: 'Adams & Agesen 2006',
    say: {
      en: '40,000 fork/wait pairs took 6.0 s natively, 36.9 s under binary translation and 106.4 s under first-generation VT-x.',
      'zh-CN': '40,000 次 fork/wait 在本机上用时 6.0 秒，在二进制翻译下用时 36.9 秒，在第一代 VT-x 下用时 106.4 秒。',
    },
  },
  {
    id: 'exit-batching',
    figure: 'back-to-back exiting instructions handled in one exit',
    value: 'saves about 50% of transition cost',
    grade: 'verified',
    gradeNote: '(abstract)',
    source: 'Agesen et al., USENIX ATC 2012',
    say: {
      en: 'Handling back-to-back exiting instructions in one exit saves about 50% of the transition cost.',
      'zh-CN': '把连续的几条会引起退出的指令放在一次退出中处理，可节省约 50% 的切换开销。',
    },
  },
  {
    id: 'shadow-exit-share',
    figure: "shadow paging's share of exits without nested paging",
    value: '"as much as 90%" of VM exits are memory tracing',
    grade: 'partly',
    gradeNote: '',
    source: 'HSSV ch. 5, via reader notes',
    say: {
      en: 'Without nested paging, as much as 90% of VM exits can be the tracing that keeps shadow page tables up to date.',
      'zh-CN': '没有嵌套分页时，多达 90% 的 VM 退出可能是为了维护影子页表而进行的内存追踪。',
    },
  },
  {
    id: 'nested-walk-refs',
    figure: '2D walk references',
    value: 'n·m + n + m = (n+1)(m+1)−1; 24 for 4-level on 4-level (some texts add the final data access and say 25)',
    grade: 'verified',
    gradeNote: '(formula; "up to twenty-four" in ASPLOS 2022 abstract)',
    source: 'Bhargava et al. ASPLOS 2008; HSSV ch. 5',
    say: {
      en: 'A 2D walk of 4-level guest tables under 4-level nested tables makes up to 24 memory references, before the data access itself.',
      'zh-CN': '4 级客户机页表加 4 级嵌套页表的二维遍历最多需要 24 次内存访问，不含最终的数据访问本身。',
    },
  },
  {
    id: 'page-walk-caches',
    figure: 'page-walk caches for the nested dimension',
    value: '15–38% guest speed-up, plus 3–7% from a nested TLB',
    grade: 'verified',
    gradeNote: '(abstract)',
    source: 'Bhargava et al. ASPLOS 2008',
    say: {
      en: 'Caching the nested dimension in the page-walk cache sped guests up by 15–38%, and a nested TLB added 3–7%.',
      'zh-CN': '在页遍历缓存中缓存嵌套维度使客户机提速 15–38%，嵌套 TLB 再带来 3–7%。',
    },
  },
  {
    id: 'live-migration-downtime',
    figure: 'live migration downtime',
    value: 'as low as 60 ms; SPECweb 210 ms',
    grade: 'verified',
    gradeNote: '',
    source: 'Clark et al. NSDI 2005',
    say: {
      en: 'Live migration stopped a VM for as little as 60 ms, and a SPECweb server for 210 ms.',
      'zh-CN': '热迁移使虚拟机停机的时间可低至 60 毫秒，SPECweb 服务器为 210 毫秒。',
    },
  },
  {
    id: 'sensitive-unprivileged-count',
    figure: 'Classic x86 sensitive, unprivileged instructions (Robin & Irvine, USENIX Security 2000)',
    value: "That is 18 mnemonics against the paper's stated count of 17",
    grade: 'partly',
    gradeNote: '',
    source: 'Robin & Irvine, USENIX Security 2000',
    say: {
      en: 'Robin and Irvine listed about 17 sensitive but unprivileged x86 instructions (the list as reproduced names 18 mnemonics).',
      'zh-CN': 'Robin 与 Irvine 列出了约 17 条敏感但非特权的 x86 指令（转引的清单中有 18 个助记符）。',
    },
  },
] as const satisfies readonly Fact[];

export type FactId = (typeof FACTS)[number]['id'];

const byId = new Map<string, Fact>(FACTS.map((f) => [f.id, f]));

/** The fact with this id (ids are checked at compile time; a string from elsewhere may miss). */
export function fact(id: FactId): Fact;
export function fact(id: string): Fact | undefined;
export function fact(id: string): Fact | undefined {
  return byId.get(id);
}

/** teaching-facts.md's words without their Markdown marks (`code`, *emphasis*), for display. */
export const plain = (s: string): string => s.replace(/[`*]/g, '');

/** The anchor of a fact's entry in the Sources panel (`#source-<id>`). */
export const sourceAnchor = (id: string): string => `source-${id}`;
