/**
 * The tagged TLB (issue 7) against a reference model written here from the manuals' invalidation
 * rules (SDM Vol. 3A 4.10.4.1 and Vol. 3C 29.4.3.1; APM Vol. 2 15.16), by fast-check: random
 * sequences of host and guest fills and lookups, world switches (VT-x with or without VPID, AMD-V
 * VMRUN with each TLB_CONTROL and #VMEXIT), the guest's INVLPG, MOV to CR3, CR4.PGE toggles and
 * INVPCID, and the hypervisor's INVVPID, INVEPT and INVLPGA.
 *
 * The reference keeps every translation filled and not yet invalidated by a rule that requires it
 * (the least a processor must invalidate). Checked after every operation:
 * - soundness: every TLB entry is one the reference still keeps (no entry survives a flush the
 *   manuals require);
 * - tags: an operation scoped to some tags (or EP4TAs) leaves every entry outside that scope in
 *   place, so a world switch with tags, or a guest's flush, keeps the other tags' translations;
 * - lookups hit exactly the entries of the current tag and EP4TA for the page, PCID or global.
 * The TLB is fully associative and larger than any sequence's fills, so nothing is evicted.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INVEPT_TYPE, INVPCID_TYPE, INVVPID_TYPE, NO_EP4TA, TLB_FLAG, Tlb } from './tlb.ts';

interface Mapping {
  tag: number;
  ep: number;
  pcid: number;
  /** Linear 4-KByte page number of the piece. */
  vpn: number;
  shift: 12 | 21;
  global: boolean;
  pa: number;
}

const EPS = [0x1000, 0x2000] as const;
const TAGS = [1, 2, 3] as const;

type Op =
  | { op: 'fill'; vpn: number; pcid: number; shift: 12 | 21; global: boolean }
  | { op: 'lookup'; vpn: number; pcid: number }
  | { op: 'vmx-entry'; vpid: number; ept: number }
  | { op: 'vmx-exit' }
  | { op: 'vmrun'; asid: number; ctl: 0 | 1 | 3 | 7 }
  | { op: 'vmexit' }
  | { op: 'invlpg'; vpn: number; pcid: number }
  | { op: 'mov-cr3'; pcid: number }
  | { op: 'cr4-pge' }
  | { op: 'invpcid'; type: 0 | 1 | 2 | 3; pcid: number; vpn: number }
  | { op: 'invvpid'; type: 0 | 1 | 2 | 3; vpid: number; vpn: number }
  | { op: 'invept'; type: 1 | 2; ep: number }
  | { op: 'invlpga'; asid: number; vpn: number };

const vpnArb = fc.integer({ min: 0, max: 2047 });
const pcidArb = fc.integer({ min: 0, max: 2 });
const tagArb = fc.constantFrom(...TAGS);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('fill' as const), vpn: vpnArb, pcid: pcidArb, shift: fc.constantFrom(12 as const, 12 as const, 21 as const), global: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('lookup' as const), vpn: vpnArb, pcid: pcidArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('vmx-entry' as const), vpid: fc.constantFrom(0, ...TAGS), ept: fc.constantFrom(NO_EP4TA, ...EPS) }) },
  { weight: 2, arbitrary: fc.constant({ op: 'vmx-exit' as const }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('vmrun' as const), asid: tagArb, ctl: fc.constantFrom(0 as const, 0 as const, 1 as const, 3 as const, 7 as const) }) },
  { weight: 2, arbitrary: fc.constant({ op: 'vmexit' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('invlpg' as const), vpn: vpnArb, pcid: pcidArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('mov-cr3' as const), pcid: pcidArb }) },
  { weight: 1, arbitrary: fc.constant({ op: 'cr4-pge' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('invpcid' as const), type: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const), pcid: pcidArb, vpn: vpnArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('invvpid' as const), type: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const), vpid: tagArb, vpn: vpnArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('invept' as const), type: fc.constantFrom(1 as const, 2 as const), ep: fc.constantFrom(...EPS) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('invlpga' as const), asid: tagArb, vpn: vpnArb }) },
);

/** The page an address (as a 4-KByte page number) falls in, for a piece of a page of `shift`. */
const samePage = (m: Mapping, vpn: number): boolean => m.vpn >>> (m.shift - 12) === vpn >>> (m.shift - 12);

/**
 * What the manuals require an operation to invalidate, as a predicate on a kept translation, and
 * the scope outside which the lab promises to leave entries alone (null: nothing is touched).
 */
function rules(o: Op, cur: { tag: number; ep: number }): { required: (m: Mapping) => boolean; scope: ((m: Mapping) => boolean) | null } {
  const none = { required: () => false, scope: null };
  const ofTag = (t: number) => (m: Mapping): boolean => m.tag === t;
  switch (o.op) {
    case 'fill':
    case 'lookup':
    case 'vmexit':
      return none;
    // SDM 29.4.3.1: without VPID, VM entries and exits invalidate VPID 0000H's linear and combined mappings, every PCID and EP4TA.
    case 'vmx-entry':
      return o.vpid === 0 ? { required: ofTag(0), scope: ofTag(0) } : none;
    case 'vmx-exit':
      return cur.tag === 0 ? { required: ofTag(0), scope: ofTag(0) } : none;
    // APM 15.16.1: 1 every ASID, 3 this ASID, 7 its non-global entries.
    case 'vmrun':
      if (o.ctl === 0) return none;
      if (o.ctl === 1) return { required: () => true, scope: () => true };
      return { required: (m) => m.tag === o.asid && (o.ctl === 3 || !m.global), scope: ofTag(o.asid) };
    // 4.10.4.1 with 29.4.3.1 (current VPID, every EP4TA): the page's entries of the current PCID and global ones.
    case 'invlpg':
      return { required: (m) => m.tag === cur.tag && samePage(m, o.vpn) && (m.pcid === o.pcid || m.global), scope: ofTag(cur.tag) };
    // MOV to CR3 with CR4.PCIDE = 1 (bit 63 clear): the new PCID's non-global entries.
    case 'mov-cr3':
      return { required: (m) => m.tag === cur.tag && m.pcid === o.pcid && !m.global, scope: ofTag(cur.tag) };
    // Toggling CR4.PGE: everything of the current VPID, globals included.
    case 'cr4-pge':
      return { required: ofTag(cur.tag), scope: ofTag(cur.tag) };
    case 'invpcid': {
      const t = cur.tag;
      const req =
        o.type === INVPCID_TYPE.INDIVIDUAL_ADDRESS ? (m: Mapping) => m.tag === t && m.pcid === o.pcid && !m.global && samePage(m, o.vpn)
        : o.type === INVPCID_TYPE.SINGLE_CONTEXT ? (m: Mapping) => m.tag === t && m.pcid === o.pcid && !m.global
        : o.type === INVPCID_TYPE.ALL_CONTEXT_INCLUDING_GLOBALS ? ofTag(t)
        : (m: Mapping) => m.tag === t && !m.global;
      return { required: req, scope: ofTag(t) };
    }
    // 29.4.3.1 INVVPID: 0 the page of that VPID (every PCID, every EP4TA), 1 all of it, 2 every VPID but 0000H, 3 all but globals.
    case 'invvpid': {
      const v = o.vpid;
      if (o.type === INVVPID_TYPE.ALL_CONTEXT) return { required: (m) => m.tag !== 0, scope: (m) => m.tag !== 0 };
      const req =
        o.type === INVVPID_TYPE.INDIVIDUAL_ADDRESS ? (m: Mapping) => m.tag === v && samePage(m, o.vpn)
        : o.type === INVVPID_TYPE.SINGLE_CONTEXT ? ofTag(v)
        : (m: Mapping) => m.tag === v && !m.global;
      return { required: req, scope: ofTag(v) };
    }
    // 29.4.3.1 INVEPT: combined mappings of that EP4TA (1) or of every one (2), every VPID and PCID; linear mappings stay.
    case 'invept':
      return o.type === INVEPT_TYPE.SINGLE_CONTEXT
        ? { required: (m) => m.ep === o.ep, scope: (m) => m.ep === o.ep }
        : { required: (m) => m.ep !== NO_EP4TA, scope: (m) => m.ep !== NO_EP4TA };
    // APM INVLPGA: the page of that ASID.
    case 'invlpga':
      return { required: (m) => m.tag === o.asid && samePage(m, o.vpn), scope: ofTag(o.asid) };
  }
}

/** Applies an operation to the TLB the way the lab's layers do (vmx/run.ts, svm/guest-run.ts, svm.ts, the MMU). */
function apply(tlb: Tlb, o: Op, pa: number): number {
  switch (o.op) {
    case 'fill': {
      const lin = o.vpn * 0x1000;
      return tlb.fill(lin, 0, o.pcid, pa, TLB_FLAG.RW | (o.global ? TLB_FLAG.G : 0), o.shift, 0);
    }
    case 'lookup':
      return tlb.lookup(o.vpn * 0x1000, 0, o.pcid);
    case 'vmx-entry':
      if (o.vpid === 0) tlb.flushTag(0, true);
      tlb.current = o.vpid;
      tlb.currentEp = o.ept;
      return -1;
    case 'vmx-exit':
      if (tlb.current === 0) tlb.flushTag(0, true);
      tlb.current = 0;
      tlb.currentEp = NO_EP4TA;
      return -1;
    case 'vmrun':
      expect(tlb.tlbControl(o.ctl, o.asid)).toBe(true);
      tlb.current = o.asid;
      tlb.currentEp = NO_EP4TA;
      return -1;
    case 'vmexit':
      tlb.current = 0;
      tlb.currentEp = NO_EP4TA;
      return -1;
    case 'invlpg':
      tlb.invalidatePage(o.vpn * 0x1000, 0, o.pcid, true);
      return -1;
    case 'mov-cr3':
      // What the CPU does (sys-ctl.ts): every non-global entry of the current tag, more than the new PCID's.
      tlb.flushAll(false);
      return -1;
    case 'cr4-pge':
      tlb.flushAll(true);
      return -1;
    case 'invpcid':
      tlb.invpcid(o.type, o.pcid, o.vpn * 0x1000, 0);
      return -1;
    case 'invvpid':
      tlb.invvpid(o.type, o.vpid, o.vpn * 0x1000, 0);
      return -1;
    case 'invept':
      tlb.invept(o.type, o.ep);
      return -1;
    case 'invlpga':
      tlb.invlpga(o.asid, o.vpn * 0x1000, 0);
      return -1;
  }
}

const key = (e: { tag: number; ep4ta: number; pcid: number; pageLo: number; pa: number }): string => `${e.tag}/${e.ep4ta}/${e.pcid}/${e.pageLo}/${e.pa}`;
const mkey = (m: Mapping): string => `${m.tag}/${m.ep}/${m.pcid}/${m.vpn}/${m.pa}`;

function check(ops: Op[]): void {
  const tlb = new Tlb({ entries: 512, ways: 512 });
  let kept: Mapping[] = [];
  let nextPa = 0x100000;
  for (const o of ops) {
    const cur = { tag: tlb.current, ep: tlb.currentEp };
    const before = tlb.entries();
    const r = rules(o, cur);
    const pa = (nextPa += 0x1000);
    const slot = apply(tlb, o, pa);
    if (o.op === 'fill') {
      // A fill replaces the entry for the same page and tags with the same PCID, or a global one (tlb.ts).
      kept = kept.filter((m) => !(m.tag === cur.tag && m.ep === cur.ep && m.vpn === o.vpn && (m.pcid === o.pcid || m.global)));
      kept.push({ tag: cur.tag, ep: cur.ep, pcid: o.pcid, vpn: o.vpn, shift: o.shift, global: o.global, pa });
    } else kept = kept.filter((m) => !r.required(m));
    const after = tlb.entries();
    // Soundness: nothing survives what the manuals require.
    const live = new Set(kept.map(mkey));
    for (const e of after) expect(live.has(key(e)), `${JSON.stringify(o)}: stale ${key(e)}`).toBe(true);
    // Tags: entries outside the operation's scope are untouched (fills replace only within their own tag).
    const now = new Set(after.map(key));
    for (const e of before) {
      const m: Mapping = { tag: e.tag, ep: e.ep4ta, pcid: e.pcid, vpn: e.pageLo, shift: e.pageSize === 0x200000 ? 21 : 12, global: e.global, pa: e.pa };
      const touchable = o.op === 'fill' ? m.tag === cur.tag && m.ep === cur.ep && m.vpn === o.vpn : r.scope !== null && r.scope(m);
      if (!touchable) expect(now.has(key(e)), `${JSON.stringify(o)}: lost ${key(e)} outside the operation's scope`).toBe(true);
    }
    // Lookups: a hit exactly when an entry of the current tag and EP4TA holds the page for the PCID or globally.
    if (o.op === 'lookup') {
      const want = after.find((e) => e.tag === cur.tag && e.ep4ta === cur.ep && e.pageLo === o.vpn && (e.pcid === o.pcid || e.global));
      expect(slot >= 0, `${JSON.stringify(o)} under ${JSON.stringify(cur)}`).toBe(want !== undefined);
      if (want !== undefined) expect(tlb.pa[slot]).toBe(want.pa);
    }
  }
}

describe('the tagged TLB against the manuals\u2019 invalidation rules', () => {
  it('keeps no entry a required invalidation removes, and every entry outside an operation\u2019s tags (fast-check)', () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 80, size: 'max' }), (ops) => check(ops)), { numRuns: 300 });
  });

  it('keeps the guests\u2019 translations across world switches with tags, and loses them without', () => {
    const tlb = new Tlb({ entries: 64, ways: 64 });
    const fillAt = (vpn: number): void => void tlb.fill(vpn * 0x1000, 0, 0, vpn * 0x1000, TLB_FLAG.RW, 12, 0);
    // Host fills, then a guest with VPID 1 under EPT fills, exits, and comes back: both kept.
    fillAt(1);
    apply(tlb, { op: 'vmx-entry', vpid: 1, ept: EPS[0] }, 0);
    fillAt(2);
    apply(tlb, { op: 'vmx-exit' }, 0);
    expect(tlb.lookup(0x1000, 0, 0)).toBeGreaterThanOrEqual(0);
    expect(tlb.lookup(0x2000, 0, 0)).toBe(-1);
    apply(tlb, { op: 'vmx-entry', vpid: 1, ept: EPS[0] }, 0);
    expect(tlb.lookup(0x2000, 0, 0)).toBeGreaterThanOrEqual(0);
    // The same VPID under another EPTP does not see them (SDM 29.4.1: combined mappings are tagged by EP4TA).
    apply(tlb, { op: 'vmx-exit' }, 0);
    apply(tlb, { op: 'vmx-entry', vpid: 1, ept: EPS[1] }, 0);
    expect(tlb.lookup(0x2000, 0, 0)).toBe(-1);
    // Without VPID the entry flushes VPID 0000H: the host's entry goes.
    apply(tlb, { op: 'vmx-exit' }, 0);
    apply(tlb, { op: 'vmx-entry', vpid: 0, ept: EPS[0] }, 0);
    apply(tlb, { op: 'vmx-exit' }, 0);
    expect(tlb.lookup(0x1000, 0, 0)).toBe(-1);
    expect(tlb.countTag(1)).toBe(1);
  });
});
