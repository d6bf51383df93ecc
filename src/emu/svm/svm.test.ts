import { describe, expect, it } from 'vitest';
import { createBareMachine } from '../machine/bare.ts';
import { Vec } from '../cpu/core.ts';
import { Seg } from '../cpu/insn.ts';
import { EFER } from '../cpu/sys-util.ts';
import { MSR } from '../cpu/sys-ctl.ts';
import type { CpuState } from '../cpu/state.ts';
import type { PhysMem } from '../mem/physmem.ts';
import { CONSISTENCY_CHECKS, Svm, type SvmGuestState } from './svm.ts';
import { Vmcb, u64, VMCB_FIELDS, type VmcbField } from './vmcb.ts';
import { setIntercept } from './intercepts.ts';
import { encodeEvent, EventInfo, EventType, IntCtl, IntState, NestedCtl } from './exitinfo.ts';
import { SvmExit } from './exit-codes.ts';

const HSAVE = 0x200000;
const VMCB = 0x300000;
const IOPM = 0x310000;
const MSRPM = 0x320000;

/** A 64-bit host at CPL 0 on an AMD processor with EFER.SVME set and VM_HSAVE_PA written. */
function host() {
  const m = createBareMachine({ mode: 'long64', load: 0x100000, code: new Uint8Array([0xf4]) });
  const st = m.cpu.state;
  st.vendor = 'amd';
  st.efer |= EFER.SVME;
  st.regLo[0] = 0xaaaa0001;
  st.regHi[0] = 0x1;
  st.rflags = 0x202;
  m.cpu.modeChanged();
  const svm = new Svm(m.cpu);
  expect(svm.writeHsavePa(u64(HSAVE))).toEqual({ kind: 'done' });
  return { m, st, svm, mem: m.mem };
}

/** A valid VMCB for a flat 32-bit protected-mode guest without paging. */
function validGuest(mem: PhysMem, pa = VMCB): Vmcb {
  const v = new Vmcb(mem, pa);
  v.clear();
  setIntercept(mem, pa, 'VMRUN');
  setIntercept(mem, pa, 'HLT');
  v.write64('iopm_base_pa', u64(IOPM));
  v.write64('msrpm_base_pa', u64(MSRPM));
  v.write('asid', 1);
  v.write('tlb_ctl', 1);
  v.write('int_ctl', IntCtl.V_INTR_MASKING | 5);
  v.write64('event_inj', encodeEvent({ valid: true, vector: 0x20, type: EventType.INTR }));
  v.writeSegment('save.cs', { selector: 0x08, attrib: 0xc9b, limit: 0xffffffff, base: u64(0) });
  for (const s of ['save.ds', 'save.es', 'save.ss'] as const) v.writeSegment(s, { selector: 0x10, attrib: 0xc93, limit: 0xffffffff, base: u64(0) });
  v.writeDtr('save.gdtr', { limit: 0x17, base: u64(0x500) });
  v.writeDtr('save.idtr', { limit: 0x7ff, base: u64(0x800) });
  v.write64('save.efer', u64(EFER.SVME));
  v.write64('save.cr0', u64(0x11));
  v.write64('save.cr2', u64(0xdead000));
  v.write64('save.dr6', u64(0xffff0ff0));
  v.write64('save.dr7', u64(0x400));
  v.write64('save.rflags', u64(0x2));
  v.write64('save.rip', u64(0x1000));
  v.write64('save.rsp', u64(0x8000));
  v.write64('save.rax', u64(0x1234));
  v.write64('save.g_pat', u64(0x00070406, 0x00070406));
  return v;
}

/** What #VMEXIT must give back: the host registers VMRUN saved. */
function hostView(st: CpuState) {
  return {
    seg: [Seg.ES, Seg.CS, Seg.SS, Seg.DS].map((i) => ({ ...st.seg[i]! })),
    gdtr: { ...st.gdtr }, idtr: { ...st.idtr },
    cr0: st.cr0, cr3: [st.cr3Lo, st.cr3Hi], cr4: st.cr4, efer: st.efer, rflags: st.rflags,
    rip: [st.ripLo, st.ripHi], rsp: [st.regLo[4], st.regHi[4]], rax: [st.regLo[0], st.regHi[0]],
  };
}

function clobber(st: CpuState): void {
  st.ripLo = 0x4444;
  st.regLo[4] = 0x5555;
  st.regLo[0] = 0x6666;
  st.cr3Lo = 0x7000;
  st.rflags = 0x2;
  st.seg[Seg.CS]!.selector = 0x23;
  st.gdtr.baseLo = 0x9999;
}

describe('SVM instructions: #UD and #GP (APM Vol. 3)', () => {
  const all = (svm: Svm) => [svm.vmrun(VMCB), svm.vmload(VMCB), svm.vmsave(VMCB), svm.clgi(), svm.stgi()];

  it('#UD with EFER.SVME = 0, and on an Intel processor', () => {
    const { st, svm } = host();
    st.efer &= ~EFER.SVME;
    for (const r of all(svm)) expect(r).toMatchObject({ kind: 'fault', vector: Vec.UD, errorCode: -1 });
    st.efer |= EFER.SVME;
    st.vendor = 'intel';
    for (const r of all(svm)) expect(r).toMatchObject({ kind: 'fault', vector: Vec.UD });
  });

  it('#UD in real mode and in virtual-8086 mode', () => {
    const { m, st, svm } = host();
    st.efer &= ~(EFER.LMA | EFER.LME);
    st.cr0 = 0x10;
    m.cpu.modeChanged();
    expect(m.cpu.mode()).toBe('real');
    for (const r of all(svm)) expect(r).toMatchObject({ kind: 'fault', vector: Vec.UD });
    st.cr0 = 0x11;
    st.rflags |= 1 << 17;
    st.seg[Seg.CS]!.attr |= 1 << 14;
    m.cpu.modeChanged();
    for (const r of all(svm)) expect(r).toMatchObject({ kind: 'fault', vector: Vec.UD });
  });

  it('#GP(0) at CPL > 0', () => {
    const { m, st, svm } = host();
    st.seg[Seg.CS]!.selector = 0x0b;
    m.cpu.modeChanged();
    expect(m.cpu.cpl()).toBe(3);
    for (const r of all(svm)) expect(r).toMatchObject({ kind: 'fault', vector: Vec.GP, errorCode: 0 });
    expect(svm.gif).toBe(true);
  });

  it('#GP(0) for a VMCB address not 4-KByte aligned or at or above 2^MAXPHYADDR', () => {
    const { svm, mem } = host();
    for (const pa of [VMCB + 8, 2 ** 48]) {
      for (const r of [svm.vmrun(pa), svm.vmload(pa), svm.vmsave(pa)]) expect(r).toMatchObject({ kind: 'fault', vector: Vec.GP, errorCode: 0 });
    }
    expect(mem.read(HSAVE + 0x578, 4)).toBe(0); // nothing saved
  });
});

describe('VM_HSAVE_PA and the GIF', () => {
  it('VM_HSAVE_PA takes a page address below MAXPHYADDR', () => {
    const { svm } = host();
    expect(svm.writeHsavePa(u64(0x1234))).toMatchObject({ kind: 'fault', vector: Vec.GP, errorCode: 0 });
    expect(svm.writeHsavePa(u64(0, 0x10000))).toMatchObject({ kind: 'fault', vector: Vec.GP });
    expect(svm.readHsavePa()).toEqual({ lo: HSAVE, hi: 0 });
    expect(svm.writeHsavePa(u64(0xfffff000, 0xffff))).toEqual({ kind: 'done' });
    expect(svm.readHsavePa()).toEqual({ lo: 0xfffff000, hi: 0xffff });
  });

  it('GIF is 1 at reset; CLGI clears it and STGI sets it', () => {
    const { svm } = host();
    expect(svm.gif).toBe(true);
    expect(svm.clgi()).toEqual({ kind: 'done' });
    expect(svm.gif).toBe(false);
    expect(svm.stgi()).toEqual({ kind: 'done' });
    expect(svm.gif).toBe(true);
  });
});

describe('VMRUN', () => {
  it('enters a valid guest: host saved, guest state and controls returned, GIF set', () => {
    const { st, svm, mem } = host();
    validGuest(mem);
    svm.clgi();
    const before = hostView(st);
    const r = svm.vmrun(VMCB);
    expect(r.kind).toBe('entered');
    if (r.kind !== 'entered') return;
    expect(svm.gif).toBe(true);
    expect(svm.inGuest).toBe(true);
    expect(hostView(st)).toEqual(before); // VMRUN does not load the guest into the CPU: the next layer does
    const g = r.guest;
    expect(g.cs).toEqual({ selector: 8, attrib: 0xc9b, limit: 0xffffffff, base: { lo: 0, hi: 0 } });
    expect(g.rip).toEqual({ lo: 0x1000, hi: 0 });
    expect(g.rsp).toEqual({ lo: 0x8000, hi: 0 });
    expect(g.rax).toEqual({ lo: 0x1234, hi: 0 });
    expect(g.cr2).toEqual({ lo: 0xdead000, hi: 0 });
    expect(g.gdtr).toEqual({ limit: 0x17, base: { lo: 0x500, hi: 0 } });
    expect(g.cpl).toBe(0);
    const c = r.controls;
    expect(c.asid).toBe(1);
    expect(c.tlbControl).toBe(1);
    expect(c.iopmBasePa).toBe(IOPM);
    expect(c.msrpmBasePa).toBe(MSRPM);
    expect(c.vIntr).toMatchObject({ vTpr: 5, vIntrMasking: true, vIrq: false });
    expect(c.eventInj).toEqual({ valid: true, vector: 0x20, type: EventType.INTR });
    expect(c.npEnable).toBe(false);
    // the host save area holds the host in the state-save layout
    const h = new Vmcb(mem, HSAVE);
    expect(h.read64('save.rip')).toEqual({ lo: 0x100000, hi: 0 });
    expect(h.read64('save.rax')).toEqual({ lo: 0xaaaa0001, hi: 1 });
    expect(h.read64('save.rsp')).toEqual({ lo: 0x80000, hi: 0 });
    expect(h.read64('save.cr3')).toEqual({ lo: 0x1000, hi: 0 });
    expect(h.read64('save.efer')).toEqual({ lo: 0x500 | EFER.SVME, hi: 0 });
    expect(h.read64('save.rflags')).toEqual({ lo: 0x202, hi: 0 });
    expect(h.readSegment('save.cs')).toMatchObject({ selector: 8, attrib: 0xa9b });
  });

  it('the guest CPL is 0 in real mode and 3 in virtual-8086 mode, whatever the VMCB says', () => {
    const a = host();
    validGuest(a.mem).write('save.cpl', 2);
    const r0 = a.svm.vmrun(VMCB);
    expect(r0.kind === 'entered' && r0.guest.cpl).toBe(2);
    const b = host();
    const vb = validGuest(b.mem);
    vb.write('save.cpl', 3);
    vb.write64('save.cr0', u64(0x10));
    const r1 = b.svm.vmrun(VMCB);
    expect(r1.kind === 'entered' && r1.guest.cpl).toBe(0);
    expect(r1.kind === 'entered' && r1.guest.vmcbCpl).toBe(3);
    const c = host();
    const vc = validGuest(c.mem);
    vc.write64('save.rflags', u64(0x20002));
    const r2 = c.svm.vmrun(VMCB);
    expect(r2.kind === 'entered' && r2.guest.cpl).toBe(3);
  });

  /** Each check of APM 15.5.1, made to fail alone on an otherwise valid VMCB. */
  const breakers: Record<string, (v: Vmcb) => void> = {
    'efer-svme': (v) => v.write64('save.efer', u64(0)),
    'cr0-cd-nw': (v) => v.write64('save.cr0', u64(0x11 | (1 << 29))),
    'cr0-high': (v) => v.write64('save.cr0', u64(0x11, 1)),
    'cr3-mbz': (v) => v.write64('save.cr3', u64(0x1000, 1)),
    'cr4-mbz': (v) => v.write64('save.cr4', u64(1 << 13)), // VMXE: not an AMD bit
    'dr6-high': (v) => v.write64('save.dr6', u64(0xffff0ff0, 1)),
    'dr7-high': (v) => v.write64('save.dr7', u64(0x400, 1)),
    'efer-mbz': (v) => v.write64('save.efer', u64(EFER.SVME | (1 << 2))),
    'lme-pg-no-pae': (v) => {
      v.write64('save.efer', u64(EFER.SVME | EFER.LME | EFER.LMA));
      v.write64('save.cr0', u64(0x80000011));
      v.write64('save.cr3', u64(0x1000));
    },
    'lme-pg-no-pe': (v) => {
      v.write64('save.efer', u64(EFER.SVME | EFER.LME | EFER.LMA));
      v.write64('save.cr0', u64(0x80000010));
      v.write64('save.cr4', u64(0x20));
    },
    'cs-l-and-d': (v) => {
      v.write64('save.efer', u64(EFER.SVME | EFER.LME | EFER.LMA));
      v.write64('save.cr0', u64(0x80000011));
      v.write64('save.cr4', u64(0x20));
      v.writeSegment('save.cs', { selector: 8, attrib: 0xe9b, limit: 0xffffffff, base: u64(0) }); // L and D
    },
    'vmrun-intercept': (v) => setIntercept(v.mem, v.pa, 'VMRUN', false),
    'permission-maps': (v) => v.write64('iopm_base_pa', u64(0xffffe000, 0xffff)), // 12 KB from here pass 2^48
    'event-injection': (v) => v.write64('event_inj', encodeEvent({ valid: true, vector: 2, type: EventType.EXCEPTION })),
    'asid-zero': (v) => v.write('asid', 0),
  };

  it('has a failing case for every check it performs', () => {
    expect(Object.keys(breakers).sort()).toEqual(CONSISTENCY_CHECKS.map((c) => c.id).sort());
  });

  it('the valid VMCBs of these tests fail no check, in long mode too', () => {
    const { svm, mem } = host();
    const v = validGuest(mem);
    v.write64('save.efer', u64(EFER.SVME | EFER.LME | EFER.LMA));
    v.write64('save.cr0', u64(0x80000011));
    v.write64('save.cr4', u64(0x20));
    v.write64('save.cr3', u64(0x1000, 0xffff)); // bits 47:32 are allowed in long mode
    v.writeSegment('save.cs', { selector: 8, attrib: 0xa9b, limit: 0xffffffff, base: u64(0) });
    expect(svm.vmrun(VMCB).kind).toBe('entered');
  });

  it.each(Object.entries(breakers))('%s failing alone is a #VMEXIT with VMEXIT_INVALID', (id, brk) => {
    const { st, svm, mem } = host();
    const v = validGuest(mem);
    v.write64('exit_info_1', u64(0x1111, 0x2222));
    brk(v);
    const saveBefore = Array.from({ length: 0x300 }, (_, i) => mem.read8(VMCB + 0x400 + i));
    const before = hostView(st);
    svm.clgi();
    const r = svm.vmrun(VMCB);
    expect(r).toEqual({ kind: 'invalid', vmcbPa: VMCB, failed: [id], host: 'resumed', hostFailed: [] });
    expect(v.read64('exit_code')).toEqual({ lo: 0xffffffff, hi: 0xffffffff });
    expect(v.read64('exit_info_1')).toEqual({ lo: 0, hi: 0 });
    expect(v.read64('exit_info_2')).toEqual({ lo: 0, hi: 0 });
    // the guest was never loaded, so its save area is as the hypervisor left it
    expect(Array.from({ length: 0x300 }, (_, i) => mem.read8(VMCB + 0x400 + i))).toEqual(saveBefore);
    expect(hostView(st)).toEqual(before);
    expect(svm.gif).toBe(false);
    expect(svm.inGuest).toBe(false);
    expect(st.shutdown).toBe(false);
  });

  it('the IOPM/MSRPM bases ignore bits 11:0, and the MSRPM range is checked too', () => {
    const { svm, mem } = host();
    const v = validGuest(mem);
    v.write64('iopm_base_pa', u64(IOPM | 0xabc));
    v.write64('msrpm_base_pa', u64(0xfffff000, 0xffff)); // 8 KB from here pass 2^48
    const r = svm.vmrun(VMCB);
    expect(r.kind === 'invalid' && r.failed).toEqual(['permission-maps']);
    const b = host();
    const vb = validGuest(b.mem);
    vb.write64('msrpm_base_pa', u64(0xffffe000 | 0xfff, 0xffff)); // the last 8 KB below 2^48
    const rb = b.svm.vmrun(VMCB);
    expect(rb.kind === 'entered' && rb.controls.msrpmBasePa).toBe(0xffff_ffffe000);
  });

  it('a guest running cannot VMRUN again through the API (its VMRUN is intercepted)', () => {
    const { svm, mem } = host();
    validGuest(mem);
    expect(svm.vmrun(VMCB).kind).toBe('entered');
    expect(() => svm.vmrun(VMCB)).toThrow(/intercepted/);
  });
});

describe('#VMEXIT (APM 15.6)', () => {
  function entered() {
    const h = host();
    const v = validGuest(h.mem);
    v.write64('nested_ctl', u64(NestedCtl.NP_ENABLE));
    v.write64('nested_cr3', u64(0x400000));
    const before = hostView(h.st);
    const r = h.svm.vmrun(VMCB);
    if (r.kind !== 'entered') throw new Error('not entered');
    return { ...h, v, before, guest: r.guest };
  }

  it('writes the exit information and the guest state to the VMCB and reloads the host, GIF = 0', () => {
    const { st, svm, v, before, guest } = entered();
    expect(svm.gif).toBe(true);
    clobber(st); // what running the guest on this CPU would have done
    const now: SvmGuestState = {
      ...guest, rip: u64(0x1005), rax: u64(0xfeed), rflags: u64(0x246), cr2: u64(0xbad000), interruptShadow: true,
      gPat: u64(0x06060606, 0x06060606), cpl: 3,
    };
    const r = svm.vmexit({
      exitCode: SvmExit.IOIO, exitInfo1: u64(0x03f80210), exitInfo2: u64(0x1006), nextRip: u64(0x1006),
      exitIntInfo: encodeEvent({ valid: true, vector: 14, type: EventType.EXCEPTION, errorCode: 2 }), vIntr: { vTpr: 9, vIrq: true },
    }, now);
    expect(r).toEqual({ kind: 'host', failed: [] });
    expect(v.read64('exit_code')).toEqual({ lo: 0x7b, hi: 0 });
    expect(v.read64('exit_info_1')).toEqual({ lo: 0x03f80210, hi: 0 });
    expect(v.read64('exit_info_2')).toEqual({ lo: 0x1006, hi: 0 });
    expect(v.read64('next_rip')).toEqual({ lo: 0x1006, hi: 0 });
    expect(v.read64('exit_int_info')).toEqual({ lo: 0x80000b0e, hi: 2 });
    expect(v.read64('save.rip')).toEqual({ lo: 0x1005, hi: 0 });
    expect(v.read64('save.rax')).toEqual({ lo: 0xfeed, hi: 0 });
    expect(v.read64('save.rflags')).toEqual({ lo: 0x246, hi: 0 });
    expect(v.read64('save.cr2')).toEqual({ lo: 0xbad000, hi: 0 });
    expect(v.read('save.cpl')).toBe(3);
    expect(v.read64('save.g_pat')).toEqual({ lo: 0x06060606, hi: 0x06060606 }); // written back with nested paging on
    expect(v.read('int_state') & IntState.INTERRUPT_SHADOW).toBe(1);
    // GUEST_INTERRUPT_MASK: the guest's RFLAGS.IF (0x246 has IF set).
    expect(v.read('int_state') & IntState.GUEST_INTERRUPT_MASK).toBe(IntState.GUEST_INTERRUPT_MASK);
    expect(v.read('int_ctl')).toBe((IntCtl.V_INTR_MASKING | IntCtl.V_IRQ | 9) >>> 0);
    expect(v.read64('event_inj').lo & EventInfo.V).toBe(0);
    expect(v.read64('event_inj').lo & 0xff).toBe(0x20);
    expect(hostView(st)).toEqual(before);
    expect(svm.gif).toBe(false);
    expect(svm.inGuest).toBe(false);
  });

  it('changes nothing in the VMCB outside the fields #VMEXIT writes', () => {
    const { mem, svm, guest } = entered();
    const page = (): number[] => Array.from({ length: 4096 }, (_, i) => mem.read8(VMCB + i));
    const a = page();
    svm.vmexit({ exitCode: SvmExit.HLT, nextRip: u64(0x1001) }, { ...guest, rip: u64(0x1001) });
    const b = page();
    const written: VmcbField[] = [
      'exit_code', 'exit_info_1', 'exit_info_2', 'exit_int_info', 'next_rip', 'event_inj', 'int_state', 'save.rip',
    ];
    const inWritten = (i: number): boolean => written.some((f) => i >= VMCB_FIELDS[f].offset && i < VMCB_FIELDS[f].offset + VMCB_FIELDS[f].size);
    const changed = a.map((x, i) => (x !== b[i] ? i : -1)).filter((i) => i >= 0);
    expect(changed.filter((i) => !inWritten(i))).toEqual([]);
    expect(changed.length).toBeGreaterThan(0);
  });

  it('forces CR0.PE and CPL 0 on the host', () => {
    const { st, svm, mem, guest } = entered();
    new Vmcb(mem, HSAVE).write64('save.cr0', u64(0x80010000)); // a hypervisor scribbled on the save area
    clobber(st);
    expect(svm.vmexit({ exitCode: SvmExit.HLT }, guest).kind).toBe('host');
    expect(st.cr0 & 1).toBe(1);
    expect(st.seg[Seg.CS]!.selector & 3).toBe(0);
  });

  it('shuts down when the reloaded host state is illegal', () => {
    const { st, svm, mem, guest } = entered();
    new Vmcb(mem, HSAVE).write64('save.cr0', u64(0x80000011 | (1 << 29))); // NW without CD
    const r = svm.vmexit({ exitCode: SvmExit.HLT }, guest);
    expect(r).toEqual({ kind: 'shutdown', failed: ['cr0-cd-nw'] });
    expect(st.shutdown).toBe(true);
  });

  it('is an error of the caller with no guest running', () => {
    const { svm } = host();
    expect(() => svm.vmexit({ exitCode: SvmExit.HLT }, {} as SvmGuestState)).toThrow(/no guest/);
  });
});

describe('VMLOAD and VMSAVE', () => {
  const MSRS = [
    ['save.kernel_gs_base', MSR.IA32_KERNEL_GS_BASE], ['save.star', MSR.IA32_STAR], ['save.lstar', MSR.IA32_LSTAR],
    ['save.cstar', MSR.IA32_CSTAR], ['save.sfmask', MSR.IA32_FMASK], ['save.sysenter_cs', MSR.IA32_SYSENTER_CS],
    ['save.sysenter_esp', MSR.IA32_SYSENTER_ESP], ['save.sysenter_eip', MSR.IA32_SYSENTER_EIP],
  ] as const;
  const MOVED: VmcbField[] = ['save.fs', 'save.gs', 'save.tr', 'save.ldtr', ...MSRS.map(([f]) => f)];

  it('VMSAVE stores exactly FS, GS, TR, LDTR and the eight MSRs', () => {
    const { st, svm, mem } = host();
    st.seg[Seg.FS] = { selector: 0x2b, baseLo: 0x7000, baseHi: 0x7fff, limit: 0xfffff, attr: 0x93 | 0x8000, valid: true };
    st.seg[Seg.GS] = { selector: 0, baseLo: 0x1000, baseHi: 0xffff8000, limit: 0, attr: 0x93, valid: false };
    st.tr = { selector: 0x40, baseLo: 0x3000, baseHi: 0, limit: 0x67, attr: 0x8b, valid: true };
    MSRS.forEach(([, index], i) => st.msr.set(index, [0x100 + i, 0x200 + i]));
    for (let i = 0; i < 4096; i += 4) mem.write(VMCB + i, 4, 0xa5a5a5a5);
    expect(svm.vmsave(VMCB)).toEqual({ kind: 'done' });
    const v = new Vmcb(mem, VMCB);
    expect(v.readSegment('save.fs')).toEqual({ selector: 0x2b, attrib: 0x893, limit: 0xfffff, base: { lo: 0x7000, hi: 0x7fff } });
    expect(v.readSegment('save.gs')).toEqual({ selector: 0, attrib: 0x13, limit: 0, base: { lo: 0x1000, hi: 0xffff8000 } });
    expect(v.readSegment('save.tr')).toEqual({ selector: 0x40, attrib: 0x8b, limit: 0x67, base: { lo: 0x3000, hi: 0 } });
    expect(v.readSegment('save.ldtr').attrib & 0x80).toBe(0); // the bare machine's LDTR is unusable
    MSRS.forEach(([f], i) => expect(v.read64(f)).toEqual({ lo: 0x100 + i, hi: 0x200 + i }));
    const inMoved = (i: number): boolean => MOVED.some((f) => i >= VMCB_FIELDS[f].offset && i < VMCB_FIELDS[f].offset + VMCB_FIELDS[f].size);
    for (let i = 0; i < 4096; i++) if (!inMoved(i)) expect(mem.read8(VMCB + i), `byte ${i.toString(16)}`).toBe(0xa5);
  });

  it('VMLOAD loads exactly that state, and VMSAVE of it gives the same bytes back', () => {
    const { st, svm, mem } = host();
    const v = new Vmcb(mem, VMCB);
    v.writeSegment('save.fs', { selector: 0x33, attrib: 0xc93, limit: 0xffffffff, base: u64(0x1234000, 0x7f) });
    v.writeSegment('save.gs', { selector: 0x3b, attrib: 0x093, limit: 0xffff, base: u64(0x5678000) });
    v.writeSegment('save.tr', { selector: 0x28, attrib: 0x08b, limit: 0x2067, base: u64(0xfffff000, 0xffffffff) });
    v.writeSegment('save.ldtr', { selector: 0x30, attrib: 0x082, limit: 0xff, base: u64(0x9000) });
    MSRS.forEach(([f], i) => v.write64(f, u64(0x300 + i, i)));
    const others = { cs: { ...st.seg[Seg.CS]! }, ds: { ...st.seg[Seg.DS]! }, rip: st.ripLo, rax: st.regLo[0], cr3: st.cr3Lo, efer: st.efer };
    expect(svm.vmload(VMCB)).toEqual({ kind: 'done' });
    expect(st.seg[Seg.FS]).toEqual({ selector: 0x33, baseLo: 0x1234000, baseHi: 0x7f, limit: 0xffffffff, attr: 0xc093, valid: true });
    expect(st.tr).toEqual({ selector: 0x28, baseLo: 0xfffff000, baseHi: 0xffffffff, limit: 0x2067, attr: 0x8b, valid: true });
    expect(st.ldtr.valid).toBe(true);
    MSRS.forEach(([, index], i) => expect(st.msr.get(index)).toEqual([0x300 + i, i]));
    expect({ cs: st.seg[Seg.CS], ds: st.seg[Seg.DS], rip: st.ripLo, rax: st.regLo[0], cr3: st.cr3Lo, efer: st.efer }).toEqual(others);
    const page = (pa: number): number[] => Array.from({ length: 4096 }, (_, i) => mem.read8(pa + i));
    expect(svm.vmsave(VMCB + 0x1000)).toEqual({ kind: 'done' });
    expect(page(VMCB + 0x1000)).toEqual(page(VMCB));
  });
});
