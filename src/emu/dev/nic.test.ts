/**
 * The network card driven by real guest code: a 32-bit driver, assembled by the lab's assembler,
 * runs bare on the CPU with the port bus as its I/O and the PCI bus behind PhysMem's MMIO. It
 * finds the card on bus 0, sizes and places BAR0, enables memory space and bus mastering
 * (optionally MSI), lays out a receive ring of buffers and an empty transmit ring, turns on MAC
 * loopback, then sends N frames (prepared by the test at FRAMES) through the transmit ring and
 * collects what the receive ring gives back, copying each frame to OUT as a driver hands data up.
 *
 * Two ways of collecting: 'interleave' drains the receive ring after each send (the rings wrap
 * when N exceeds their size); 'burst' sends everything first and drains after, so frames beyond
 * the free receive descriptors are dropped by the card (MPC).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assemble } from '../asm/assembler.ts';
import { createBareMachine } from '../machine/bare.ts';
import { machineFrom } from '../machine/machine.ts';
import { PageAlloc, VtdKit } from '../iommu/testkit.ts';
import { VTD_FAULT } from '../iommu/vtd.ts';
import { requesterId, type DmaRemapper } from '../iommu/types.ts';
import type { PhysMem } from '../mem/physmem.ts';
import { PortBus } from './bus.ts';
import { MsiInterruptSink } from './msi.ts';
import { DESC_SIZE, deviceOwns, ICR, Nic, NIC_BAR_SIZE, NIC_DEVICE, NIC_REG, NIC_VENDOR, RCTL, RX_STA, TCTL, TX_CMD, TX_STA } from './nic.ts';
import { CFG, CMD, PciBus } from './pci.ts';
import { DESCRIPTOR_POINTERS, findAndPlaceBar0, gdtAndMsiGate, msiSetup, setCommand } from './pci-guest.ts';

const LOAD = 0x100000;
const RESULT = 0x600;
const VARS = RESULT + 0x40; // TXTAIL, RXNEXT, RXCOUNT, MSICOUNT, ICRACC
const BAR_BASE = 0xe0000000;
const TXR = 0x200000;
const RXR = 0x201000;
const LENS = 0x208000;
const OUTLEN = 0x209000;
const FRAMES = 0x210000;
const RXB = 0x230000;
const OUT = 0x250000;
const VICTIM = 0x400000;
const SLOT = 0x800;
const DEVICE = 3;
const RID = requesterId(0, DEVICE, 0);

interface Drive {
  tn: number;
  rn: number;
  lens: number[];
  mode: 'interleave' | 'burst';
  msiVector?: number;
  /** This frame's TX descriptor points at VICTIM instead of its buffer. */
  badFrame?: number;
}

function program(d: Drive): string {
  const msi = d.msiVector !== undefined;
  const vec = d.msiVector ?? 0x40;
  const n = d.lens.length;
  return `bits 32
org ${LOAD}
${gdtAndMsiGate(vec)}${findAndPlaceBar0(NIC_VENDOR, NIC_DEVICE, RESULT, BAR_BASE)}
${msi ? msiSetup(vec, RESULT + 40) : ''}
${setCommand(CMD.MEMORY | CMD.BUS_MASTER)}  mov edi, ${BAR_BASE}
  mov eax, [edi + ${NIC_REG.RAL0}]
  mov [${RESULT + 8}], eax
  mov eax, [edi + ${NIC_REG.RAH0}]
  mov [${RESULT + 12}], eax
  ; the receive ring: descriptor i holds buffer RXB + i*SLOT
  xor ecx, ecx
rx_init:
  mov eax, ecx
  shl eax, 4
  add eax, ${RXR}
  mov edx, ecx
  shl edx, 11
  add edx, ${RXB}
  mov [eax], edx
  mov dword [eax + 4], 0
  mov dword [eax + 8], 0
  mov dword [eax + 12], 0
  inc ecx
  cmp ecx, ${d.rn}
  jb rx_init
  mov dword [edi + ${NIC_REG.RDBAL}], ${RXR}
  mov dword [edi + ${NIC_REG.RDBAH}], 0
  mov dword [edi + ${NIC_REG.RDLEN}], ${d.rn * DESC_SIZE}
  mov dword [edi + ${NIC_REG.RDH}], 0
  mov dword [edi + ${NIC_REG.RDT}], ${d.rn - 1}
  mov dword [edi + ${NIC_REG.TDBAL}], ${TXR}
  mov dword [edi + ${NIC_REG.TDBAH}], 0
  mov dword [edi + ${NIC_REG.TDLEN}], ${d.tn * DESC_SIZE}
  mov dword [edi + ${NIC_REG.TDH}], 0
  mov dword [edi + ${NIC_REG.TDT}], 0
  ${msi ? `mov dword [edi + ${NIC_REG.IMS}], ${ICR.TXDW | ICR.RXT0}` : ''}
  mov dword [edi + ${NIC_REG.RCTL}], ${RCTL.EN | RCTL.LBM_MAC}
  mov dword [edi + ${NIC_REG.TCTL}], ${TCTL.EN}
  ${msi ? 'sti' : ''}
  xor ebx, ebx
send:
  mov ecx, [${VARS}]
  ; the slot after the tail must not be the head (the ring would look empty)
  mov edx, ecx
  inc edx
  cmp edx, ${d.tn}
  jb no_wrap
  xor edx, edx
no_wrap:
tx_full:
  cmp edx, [edi + ${NIC_REG.TDH}]
  je tx_full
  mov eax, ecx
  shl eax, 4
  add eax, ${TXR}
  mov ebp, ebx
  shl ebp, 11
  add ebp, ${FRAMES}
  ${d.badFrame !== undefined ? `cmp ebx, ${d.badFrame}\n  jne good_buf\n  mov ebp, ${VICTIM}\ngood_buf:` : ''}
  mov [eax], ebp
  mov dword [eax + 4], 0
  mov ebp, [${LENS} + ebx*4]
  or ebp, ${((TX_CMD.EOP | TX_CMD.IFCS | TX_CMD.RS) << 24) >>> 0}
  mov [eax + 8], ebp
  mov dword [eax + 12], 0
  mov [${VARS}], edx
  mov [edi + ${NIC_REG.TDT}], edx
${msi ? `  mov eax, ebx\n  inc eax\nwait_msi:\n  cmp [${VARS + 12}], eax\n  jb wait_msi` : ''}
${d.mode === 'interleave' ? '  call drain' : ''}
  inc ebx
  cmp ebx, ${n}
  jb send
  call drain
  cli
  mov eax, [edi + ${NIC_REG.MPC}]
  mov [${RESULT + 16}], eax
  mov eax, [edi + ${NIC_REG.GPTC}]
  mov [${RESULT + 20}], eax
  mov eax, [edi + ${NIC_REG.GPRC}]
  mov [${RESULT + 24}], eax
  mov eax, [edi + ${NIC_REG.TDH}]
  mov [${RESULT + 28}], eax
  mov eax, [edi + ${NIC_REG.RDH}]
  mov [${RESULT + 32}], eax
  mov eax, [edi + ${NIC_REG.ICR}]
  mov [${RESULT + 36}], eax
  hlt

; takes every frame the card finished (DD) from RXNEXT on, copies it to OUT, gives the slot back
drain:
  mov ecx, [${VARS + 4}]
  mov eax, ecx
  shl eax, 4
  add eax, ${RXR}
  test byte [eax + 12], ${RX_STA.DD}
  jz drain_done
  push edi
  movzx edx, word [eax + 8]
  mov ebp, [${VARS + 8}]
  mov [${OUTLEN} + ebp*4], edx
  mov esi, [eax]
  mov edi, ebp
  shl edi, 11
  add edi, ${OUT}
  push ecx
  mov ecx, edx
  rep movsb
  pop ecx
  pop edi
  mov byte [eax + 12], 0
  inc dword [${VARS + 8}]
  mov [edi + ${NIC_REG.RDT}], ecx
  inc ecx
  cmp ecx, ${d.rn}
  jb rx_nowrap
  xor ecx, ecx
rx_nowrap:
  mov [${VARS + 4}], ecx
  jmp drain
drain_done:
  ret

on_msi:
  push eax
  mov eax, [${BAR_BASE + NIC_REG.ICR}]
  or [${VARS + 16}], eax
  inc dword [${VARS + 12}]
  pop eax
  iretd
${DESCRIPTOR_POINTERS}`;
}


/** Frame k's bytes: a pattern that differs per frame and per byte. */
const frameByte = (k: number, i: number) => (k * 31 + i * 7 + (i >> 8)) & 0xff;
const frameBytes = (k: number, len: number) => Array.from({ length: len }, (_, i) => frameByte(k, i));
const bytesAt = (mem: PhysMem, pa: number, n: number) => Array.from({ length: n }, (_, i) => mem.read8(pa + i));

function assembleDrive(d: Drive): Uint8Array {
  const asm = assemble(program(d));
  if (!asm.ok) throw new Error(asm.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n'));
  return asm.bytes;
}

function prepare(mem: PhysMem, d: Drive): void {
  d.lens.forEach((len, k) => {
    mem.write(LENS + 4 * k, 4, len);
    frameBytes(k, len).forEach((b, i) => mem.write8(FRAMES + k * SLOT + i, b));
  });
  for (let i = 0; i < 0x1000; i++) mem.write8(VICTIM + i, 0x5e);
}

function boot(d: Drive, remapper?: (mem: PhysMem) => DmaRemapper) {
  const m = createBareMachine({ mode: 'prot32', load: LOAD, code: assembleDrive(d) });
  const ports = new PortBus();
  const sink = new MsiInterruptSink();
  const pci = new PciBus({ mem: m.mem, ports, msiSink: sink, ...(remapper ? { remapper: remapper(m.mem) } : {}) });
  const nic = new Nic();
  pci.add(DEVICE, 0, nic);
  m.cpu.io = ports;
  m.cpu.interrupts = sink;
  prepare(m.mem, d);
  const run = () => {
    const end = m.cpu.run(3_000_000);
    const r = (k: number) => m.mem.read(RESULT + 4 * k, 4);
    const v = (k: number) => m.mem.read(VARS + 4 * k, 4);
    const received = v(2);
    const frames = Array.from({ length: received }, (_, j) => bytesAt(m.mem, OUT + j * SLOT, m.mem.read(OUTLEN + 4 * j, 4)));
    return { end, device: r(0), barSize: r(1), ral: r(2), rah: r(3), mpc: r(4), gptc: r(5), gprc: r(6), tdh: r(7), rdh: r(8), icr: r(9), msiCap: r(10), received, frames, msiCount: v(3), icrSeen: v(4) };
  };
  return { m, pci, nic, sink, run };
}

/** VT-d: a domain for the card mapping only its rings, the frames and the receive buffers. */
function vtdFor(d: Drive) {
  return (mem: PhysMem): DmaRemapper => {
    const kit = new VtdKit(mem, new PageAlloc(0x3000000));
    const slpt = kit.context(RID, { did: 2 });
    const pages = [TXR, RXR];
    for (let p = FRAMES; p < FRAMES + d.lens.length * SLOT; p += 0x1000) pages.push(p);
    for (let p = RXB; p < RXB + d.rn * SLOT; p += 0x1000) pages.push(p);
    for (const base of pages) kit.map(slpt, 4, BigInt(base), base, { r: true, w: true });
    kit.enable();
    return kit.iommu;
  };
}

describe('a guest driver sends frames in loopback and receives them back', () => {
  it('finds the card, sets up both rings, and gets every frame back in order with its bytes', () => {
    const lens = [60, 64, 1514, 100, 2048, 1, 333, 1000];
    const d: Drive = { tn: 16, rn: 16, lens, mode: 'interleave' };
    const { pci, nic, run } = boot(d);
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.device).toBe(DEVICE);
    expect(r.barSize).toBe(NIC_BAR_SIZE);
    expect([r.ral, r.rah]).toEqual([0x00000002, (0x434e | 0x80000000) >>> 0]);
    expect(r.received).toBe(lens.length);
    r.frames.forEach((f, k) => expect(f).toEqual(frameBytes(k, lens[k]!)));
    expect(nic.state.sent.map((f) => [f.seq, f.data.length, f.loopback])).toEqual(lens.map((l, k) => [k, l, true]));
    expect([r.gptc, r.gprc, r.mpc]).toEqual([lens.length, lens.length, 0]);
    expect([r.tdh, r.rdh]).toEqual([lens.length, lens.length]);
    expect(r.icr).toBe(ICR.TXDW | ICR.RXT0); // polled: causes pile up until read
    expect(pci.memoryWindows()).toEqual([{ devfn: DEVICE << 3, device: 'nic', bar: 0, base: BAR_BASE, size: NIC_BAR_SIZE }]);
    // per frame: TX descriptor read, buffer read(s), loopback RX descriptor read, buffer write, RX write-back, TX DD write-back
    const first = pci.dmaLog.slice(0, 6).map((e) => [e.access, e.iova, e.length]);
    expect(first).toEqual([
      ['read', `0x${TXR.toString(16)}`, 16],
      ['read', `0x${FRAMES.toString(16)}`, 60],
      ['read', `0x${RXR.toString(16)}`, 16],
      ['write', `0x${RXB.toString(16)}`, 60],
      ['write', `0x${(RXR + 8).toString(16)}`, 8],
      ['write', `0x${(TXR + 12).toString(16)}`, 1],
    ]);
    expect(pci.dmaLog.every((e) => e.ok && e.rid === RID)).toBe(true);
    // one buffer read per frame: every frame's buffer lies within one page (SLOT-aligned, at most 2048 bytes)
    expect(pci.dmaLog.filter((e) => e.access === 'read' && Number(e.iova) >= FRAMES).map((e) => [e.iova, e.length])).toEqual(lens.map((l, k) => [`0x${(FRAMES + k * SLOT).toString(16)}`, l]));
  });

  it('head and tail wrap past the ring end on both rings (20 frames through 8-slot rings)', () => {
    const lens = Array.from({ length: 20 }, (_, k) => 40 + k * 13);
    const { nic, run } = boot({ tn: 8, rn: 8, lens, mode: 'interleave' });
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.received).toBe(20);
    r.frames.forEach((f, k) => expect(f).toEqual(frameBytes(k, lens[k]!)));
    expect([r.tdh, r.rdh]).toEqual([20 % 8, 20 % 8]);
    const v = nic.ringView();
    expect(v.tx).toMatchObject({ count: 8, head: 4, tail: 4 });
    expect(v.tx.slots.every((s) => s.owner === 'driver' && s.done && s.eop && s.seen?.last === 'written')).toBe(true);
    // slot 3 last carried frame 19 (slots 0..3 took frames 16..19)
    expect(v.tx.slots[3]!.seen).toEqual({ addr: `0x${(FRAMES + 19 * SLOT).toString(16)}`, length: lens[19], cmd: TX_CMD.EOP | TX_CMD.IFCS | TX_CMD.RS, status: TX_STA.DD, last: 'written' });
    // the driver gave slot 3 back last (RDT = 3): the card owns 4..2, the driver keeps 3
    expect(v.rx).toMatchObject({ count: 8, head: 4, tail: 3 });
    expect(v.rx.slots.map((s) => s.owner)).toEqual(['device', 'device', 'device', 'driver', 'device', 'device', 'device', 'device']);
    expect(v.rx.slots[3]!.seen).toMatchObject({ length: lens[19], status: RX_STA.DD | RX_STA.EOP });
  });

  it('a burst beyond the free receive descriptors: the rest are dropped and counted in MPC', () => {
    const lens = Array.from({ length: 12 }, (_, k) => 64 + k);
    const { nic, run } = boot({ tn: 16, rn: 8, lens, mode: 'burst' });
    const r = run();
    expect(r.end).toBe('hlt');
    // RDT = 7 leaves the card 7 descriptors: frames 0..6 land, 7..11 are missed
    expect(r.received).toBe(7);
    r.frames.forEach((f, k) => expect(f).toEqual(frameBytes(k, lens[k]!)));
    expect([r.gptc, r.gprc, r.mpc]).toEqual([12, 7, 5]);
    expect(r.icr & ICR.RXO).toBe(ICR.RXO);
    expect(nic.state.totals).toMatchObject({ sent: 12, received: 7, dropped: 5, dmaErrors: 0 });
  });
});

describe('MSI', () => {
  it('each send raises TXDW and RXT0; one message per send; the handler reads and clears ICR', () => {
    const lens = [64, 128, 256, 512, 1024];
    const { pci, nic, sink, run } = boot({ tn: 8, rn: 8, lens, mode: 'interleave', msiVector: 0x52 });
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.msiCap).toBe(0x40);
    expect(r.msiCount).toBe(5);
    expect(r.icrSeen).toBe(ICR.TXDW | ICR.RXT0);
    expect(r.icr).toBe(0); // the handler read everything
    expect(pci.msiLog.map((m) => [m.vector, m.delivered, m.rid])).toEqual(lens.map(() => [0x52, true, RID]));
    expect(sink.state.taken).toEqual(lens.map(() => 0x52));
    expect(nic.state.totals.msi).toBe(5);
    expect(r.received).toBe(5);
  });
});

describe('under VT-d: a domain with only the rings and buffers', () => {
  it('the same driver works; every request is translated by domain 2', () => {
    const lens = [60, 1514, 700, 64, 2000, 90];
    const d: Drive = { tn: 8, rn: 8, lens, mode: 'interleave' };
    const { pci, run } = boot(d, vtdFor(d));
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.received).toBe(6);
    r.frames.forEach((f, k) => expect(f).toEqual(frameBytes(k, lens[k]!)));
    expect(pci.dmaLog.length).toBeGreaterThan(30);
    expect(pci.dmaLog.every((e) => e.ok && e.domainId === 2)).toBe(true);
  });

  it('a descriptor pointing outside the domain: the read is blocked and recorded, the frame not sent, TDH stays', () => {
    const lens = [60, 61, 62, 63, 64, 65];
    const d: Drive = { tn: 8, rn: 8, lens, mode: 'interleave', badFrame: 3 };
    const { pci, nic, run } = boot(d, vtdFor(d));
    const r = run();
    expect(r.end).toBe('hlt');
    expect(nic.state.sent.map((f) => f.data.length)).toEqual([60, 61, 62]);
    expect(r.received).toBe(3);
    expect(nic.state.sent.some((f) => f.data.includes(0x5e) && f.data.every((b) => b === 0x5e))).toBe(false);
    // the card stopped at slot 3; the driver's later tails (4, 5, 6) made it retry and fault again
    expect([r.tdh, nic.state.tdt]).toEqual([3, 6]);
    const faults = pci.dmaLog.filter((e) => !e.ok);
    expect(faults.map((e) => [e.access, e.iova, e.length])).toEqual([0, 1, 2].map(() => ['read', `0x${VICTIM.toString(16)}`, 63]));
    expect(faults[0]!.fault).toEqual({ vendor: 'vtd', reason: VTD_FAULT.READ, recorded: true });
    // each fault came right after a good read of descriptor 3 in the ring
    for (const f of faults) expect(pci.dmaLog[f.seq - 1]).toMatchObject({ access: 'read', iova: `0x${(TXR + 48).toString(16)}`, ok: true });
    expect(r.icr & ICR.DMA_ERROR).toBe(ICR.DMA_ERROR);
    expect(nic.state.totals.dmaErrors).toBe(3);
    const v = nic.ringView();
    expect(v.tx.slots.map((s) => s.owner)).toEqual(['driver', 'driver', 'driver', 'device', 'device', 'device', 'driver', 'driver']);
    expect(v.tx.slots[3]!.seen).toMatchObject({ addr: `0x${VICTIM.toString(16)}`, status: 0, last: 'read' });
    expect(v.tx.slots[4]!.seen).toBeNull(); // never fetched
  });

  it('without an IOMMU the same driver sends the page it was not given (the escape)', () => {
    const lens = [60, 61, 62, 63];
    const { nic, run } = boot({ tn: 8, rn: 8, lens, mode: 'interleave', badFrame: 3 });
    expect(run().received).toBe(4);
    expect(nic.state.sent[3]!.data).toEqual(new Array(63).fill(0x5e));
  });
});

describe('time travel', () => {
  it('a checkpoint between frames (machine + bus snapshots) replays to the same frames, logs and registers', () => {
    const lens = Array.from({ length: 12 }, (_, k) => 50 + 17 * k);
    const d: Drive = { tn: 8, rn: 8, lens, mode: 'interleave', msiVector: 0x61 };
    const m = machineFrom(createBareMachine({ mode: 'prot32', load: LOAD, code: assembleDrive(d) }));
    prepare(m.mem, d);
    const ports = new PortBus();
    const sink = new MsiInterruptSink();
    const pci = new PciBus({ mem: m.mem, ports, msiSink: sink });
    const nic = new Nic();
    pci.add(DEVICE, 0, nic);
    m.cpu.io = ports;
    m.cpu.interrupts = sink;
    while (nic.state.totals.sent < 5) expect(m.cpu.run(1)).toBe('limit');
    const cpuSnap = m.snapshot();
    const busSnap = JSON.parse(JSON.stringify(pci.snapshot())) as ReturnType<PciBus['snapshot']>;
    const sinkSnap = JSON.parse(JSON.stringify(sink.snapshot())) as ReturnType<MsiInterruptSink['snapshot']>;
    const outcome = () => ({ end: m.cpu.run(3_000_000), bus: JSON.stringify(pci.snapshot()), out: bytesAt(m.mem, OUT, 12 * SLOT), rings: nic.ringView(), steps: m.cpu.state.steps, taken: sink.state.taken.slice() });
    const first = outcome();
    expect(first.end).toBe('hlt');
    expect(nic.state.totals).toMatchObject({ sent: 12, received: 12, msi: 12 });
    m.restore(cpuSnap);
    pci.restore(busSnap);
    sink.restore(sinkSnap);
    expect(nic.state.totals.sent).toBe(5);
    expect(outcome()).toEqual(first);
  });
});

// ---- register semantics and the receive path, driven from the host ----------------------------------

function hostRig() {
  const m = createBareMachine({ mode: 'prot32', load: LOAD, code: new Uint8Array([0xf4]) });
  const sink = new MsiInterruptSink();
  const pci = new PciBus({ mem: m.mem, ports: new PortBus(), msiSink: sink });
  const nic = new Nic();
  pci.add(DEVICE, 0, nic);
  pci.configWrite(DEVICE, 0, CFG.BAR0, 4, BAR_BASE);
  pci.configWrite(DEVICE, 0, CFG.COMMAND, 2, CMD.MEMORY | CMD.BUS_MASTER);
  const reg = (off: number, v?: number) => (v === undefined ? m.mem.read(BAR_BASE + off, 4) >>> 0 : (m.mem.write(BAR_BASE + off, 4, v), 0));
  return { mem: m.mem, pci, nic, sink, reg };
}

describe('registers', () => {
  it('ICR reads clear; IMS / IMC set and clear the mask; ICS raises; MSI on each new unmasked request only', () => {
    const { pci, reg } = hostRig();
    pci.configWrite(DEVICE, 0, 0x44, 4, 0xfee00000);
    pci.configWrite(DEVICE, 0, 0x4c, 2, 0x33);
    pci.configWrite(DEVICE, 0, 0x42, 2, 1);
    reg(NIC_REG.ICS, ICR.RXT0);
    expect(pci.msiLog).toHaveLength(0); // masked
    reg(NIC_REG.IMS, ICR.RXT0 | ICR.TXDW);
    expect(pci.msiLog).toHaveLength(1); // unmasking a pending cause
    expect(reg(NIC_REG.IMS)).toBe(ICR.RXT0 | ICR.TXDW);
    reg(NIC_REG.ICS, ICR.TXDW);
    expect(pci.msiLog).toHaveLength(1); // the request was already up
    expect(reg(NIC_REG.ICR)).toBe(ICR.RXT0 | ICR.TXDW);
    expect(reg(NIC_REG.ICR)).toBe(0);
    reg(NIC_REG.ICS, ICR.TXDW);
    expect(pci.msiLog).toHaveLength(2);
    reg(NIC_REG.IMC, ICR.TXDW);
    expect(reg(NIC_REG.IMS)).toBe(ICR.RXT0);
    reg(NIC_REG.ICR);
    reg(NIC_REG.ICS, ICR.TXDW);
    expect(pci.msiLog).toHaveLength(2);
    expect(pci.msiLog.map((x) => x.vector)).toEqual([0x33, 0x33]);
  });

  it('ring bases and lengths keep their alignment, head and tail 16 bits, narrow accesses merge, RST resets', () => {
    const { mem, nic, reg } = hostRig();
    reg(NIC_REG.TDBAL, 0x12345678);
    reg(NIC_REG.TDLEN, 0x1ff);
    reg(NIC_REG.RDLEN, 0xffffffff);
    reg(NIC_REG.RDH, 0x12345);
    expect([reg(NIC_REG.TDBAL), reg(NIC_REG.TDLEN), reg(NIC_REG.RDLEN), reg(NIC_REG.RDH)]).toEqual([0x12345670, 0x180, 0xfff80, 0x2345]);
    mem.write(BAR_BASE + NIC_REG.RAL0 + 1, 1, 0xab);
    expect(reg(NIC_REG.RAL0)).toBe(0x0000ab02);
    expect(mem.read(BAR_BASE + NIC_REG.RAH0 + 2, 2)).toBe(0x8000);
    expect(reg(NIC_REG.STATUS)).toBe(0x83);
    reg(NIC_REG.CTRL, 1 << 26);
    expect([reg(NIC_REG.TDBAL), reg(NIC_REG.TDLEN), reg(NIC_REG.RDH), reg(NIC_REG.RAL0)]).toEqual([0, 0, 0, 2]);
    expect(JSON.parse(JSON.stringify(nic.snapshot()))).toEqual(nic.snapshot());
  });

  it('a frame longer than one buffer takes several descriptors, EOP on the last; bus mastering off drops', () => {
    const { mem, nic, pci, reg } = hostRig();
    for (let i = 0; i < 8; i++) mem.write(RXR + 16 * i, 4, RXB + i * SLOT);
    reg(NIC_REG.RDBAL, RXR);
    reg(NIC_REG.RDLEN, 8 * DESC_SIZE);
    reg(NIC_REG.RDT, 7);
    reg(NIC_REG.RCTL, RCTL.EN | (3 << RCTL.BSIZE_SHIFT)); // 256-byte buffers
    const frame = Uint8Array.from(frameBytes(9, 600));
    expect(nic.receive(frame)).toBe('received');
    expect([0, 1, 2].map((i) => [mem.read(RXR + 16 * i + 8, 2), mem.read8(RXR + 16 * i + 12)])).toEqual([[256, RX_STA.DD], [256, RX_STA.DD], [88, RX_STA.DD | RX_STA.EOP]]);
    expect([...bytesAt(mem, RXB, 256), ...bytesAt(mem, RXB + SLOT, 256), ...bytesAt(mem, RXB + 2 * SLOT, 88)]).toEqual(Array.from(frame));
    expect(reg(NIC_REG.RDH)).toBe(3);
    // four slots left (3..6): a 1100-byte frame needs five
    expect(nic.receive(new Uint8Array(1100))).toBe('no-descriptor');
    expect(reg(NIC_REG.MPC)).toBe(1);
    pci.configWrite(DEVICE, 0, CFG.COMMAND, 2, CMD.MEMORY);
    const before = pci.dmaLog.length;
    expect(nic.receive(new Uint8Array(10))).toBe('bus-master-off');
    expect(pci.dmaLog.length).toBe(before);
    reg(NIC_REG.RCTL, 0);
    expect(nic.receive(new Uint8Array(10))).toBe('rx-disabled');
  });

  it('a frame gathered from two TX descriptors (EOP on the second), one buffer crossing a page: read in pieces', () => {
    const { mem, nic, pci, reg } = hostRig();
    const a = FRAMES + 0xf80; // 0x100 bytes: 0x80 in one page, 0x80 in the next
    const b = FRAMES + 0x3000;
    frameBytes(1, 0x100).forEach((x, i) => mem.write8(a + i, x));
    frameBytes(2, 0x20).forEach((x, i) => mem.write8(b + i, x));
    mem.write(TXR, 4, a);
    mem.write(TXR + 8, 4, 0x100); // no EOP, no RS: no write-back
    mem.write(TXR + 16, 4, b);
    mem.write(TXR + 24, 4, 0x20 | ((TX_CMD.EOP | TX_CMD.RS) << 24));
    reg(NIC_REG.TDBAL, TXR);
    reg(NIC_REG.TDLEN, 8 * DESC_SIZE);
    reg(NIC_REG.TDT, 2);
    expect(nic.state.sent).toEqual([]); // TCTL.EN is clear: the descriptors wait
    expect(pci.dmaLog).toEqual([]);
    reg(NIC_REG.TCTL, TCTL.EN);
    expect(nic.state.sent.map((f) => f.data)).toEqual([[...frameBytes(1, 0x100), ...frameBytes(2, 0x20)]]);
    expect(pci.dmaLog.map((e) => [e.access, e.iova, e.length])).toEqual([
      ['read', `0x${TXR.toString(16)}`, 16],
      ['read', `0x${a.toString(16)}`, 0x80],
      ['read', `0x${(a + 0x80).toString(16)}`, 0x80],
      ['read', `0x${(TXR + 16).toString(16)}`, 16],
      ['read', `0x${b.toString(16)}`, 0x20],
      ['write', `0x${(TXR + 28).toString(16)}`, 1],
    ]);
    expect([mem.read8(TXR + 12), mem.read8(TXR + 28)]).toEqual([0, TX_STA.DD]);
    expect(reg(NIC_REG.TDH)).toBe(2);
    expect(reg(NIC_REG.ICR)).toBe(ICR.TXDW);
  });

  it('under VT-d, an RX buffer outside the domain: the write is blocked, the frame dropped, RDH stays, DMA_ERROR', () => {
    const m = createBareMachine({ mode: 'prot32', load: LOAD, code: new Uint8Array([0xf4]) });
    const kit = new VtdKit(m.mem, new PageAlloc(0x3000000));
    const slpt = kit.context(RID, { did: 5 });
    kit.map(slpt, 4, BigInt(RXR), RXR, { r: true, w: true });
    kit.map(slpt, 4, BigInt(RXB), RXB, { r: true, w: true });
    kit.enable();
    const pci = new PciBus({ mem: m.mem, ports: new PortBus(), remapper: kit.iommu });
    const nic = new Nic();
    pci.add(DEVICE, 0, nic);
    pci.configWrite(DEVICE, 0, CFG.BAR0, 4, BAR_BASE);
    pci.configWrite(DEVICE, 0, CFG.COMMAND, 2, CMD.MEMORY | CMD.BUS_MASTER);
    const reg = (off: number, v: number) => m.mem.write(BAR_BASE + off, 4, v);
    m.mem.write(RXR, 4, RXB);
    m.mem.write(RXR + 16, 4, VICTIM);
    reg(NIC_REG.RDBAL, RXR);
    reg(NIC_REG.RDLEN, 8 * DESC_SIZE);
    reg(NIC_REG.RDT, 3);
    reg(NIC_REG.RCTL, RCTL.EN);
    expect(nic.receive(Uint8Array.from([1, 2, 3]))).toBe('received');
    expect(nic.receive(Uint8Array.from([4, 5, 6]))).toBe('dma-blocked');
    expect(bytesAt(m.mem, VICTIM, 4)).toEqual([0x00, 0x00, 0x00, 0x00]);
    expect(m.mem.read8(RXR + 16 + 12)).toBe(0); // no DD
    expect(nic.state.rdh).toBe(1);
    expect(nic.state.icr & ICR.DMA_ERROR).toBe(ICR.DMA_ERROR);
    expect(pci.dmaLog.at(-1)).toMatchObject({ access: 'write', iova: `0x${VICTIM.toString(16)}`, ok: false, fault: { vendor: 'vtd', reason: VTD_FAULT.WRITE, recorded: true } });
    expect(nic.state.totals).toMatchObject({ received: 1, dropped: 1, dmaErrors: 1 });
  });

  it('two linked cards: one sends, the other receives', () => {
    const a = hostRig();
    const b = hostRig();
    a.nic.link(b.nic);
    b.mem.write(RXR, 4, RXB);
    b.reg(NIC_REG.RDBAL, RXR);
    b.reg(NIC_REG.RDLEN, 8 * DESC_SIZE);
    b.reg(NIC_REG.RDT, 1);
    b.reg(NIC_REG.RCTL, RCTL.EN);
    a.mem.write(FRAMES, 4, 0xdeadbeef);
    a.mem.write(TXR, 4, FRAMES);
    a.mem.write(TXR + 8, 4, 4 | ((TX_CMD.EOP | TX_CMD.RS) << 24));
    a.reg(NIC_REG.TDBAL, TXR);
    a.reg(NIC_REG.TDLEN, 8 * DESC_SIZE);
    a.reg(NIC_REG.TCTL, TCTL.EN);
    a.reg(NIC_REG.TDT, 1);
    expect(a.nic.state.sent).toEqual([{ seq: 0, data: [0xef, 0xbe, 0xad, 0xde], loopback: false }]);
    expect(b.mem.read(RXB, 4) >>> 0).toBe(0xdeadbeef);
    expect(b.reg(NIC_REG.RDH)).toBe(1);
  });
});

describe('property: loopback delivers every frame once, in order, or counts the drop', () => {
  it('random frame sizes, ring sizes and drain points (host driver)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ len: fc.integer({ min: 1, max: 3000 }), drain: fc.boolean() }), { minLength: 1, maxLength: 30 }),
        (tx8, rx8, frames) => {
          const { mem, nic, reg } = hostRig();
          const tn = tx8 * 8;
          const rn = rx8 * 8;
          for (let i = 0; i < rn; i++) mem.write(RXR + 16 * i, 4, RXB + i * SLOT);
          reg(NIC_REG.RDBAL, RXR);
          reg(NIC_REG.RDLEN, rn * DESC_SIZE);
          reg(NIC_REG.RDT, rn - 1);
          reg(NIC_REG.TDBAL, TXR);
          reg(NIC_REG.TDLEN, tn * DESC_SIZE);
          reg(NIC_REG.RCTL, RCTL.EN | RCTL.LBM_MAC); // 2048-byte buffers: frames above take two
          reg(NIC_REG.TCTL, TCTL.EN);
          let tail = 0;
          let next = 0;
          const got: number[][] = [];
          let gathering: number[] = [];
          const drain = () => {
            for (;;) {
              const at = RXR + 16 * next;
              if ((mem.read8(at + 12) & RX_STA.DD) === 0) return;
              gathering.push(...bytesAt(mem, RXB + next * SLOT, mem.read(at + 8, 2)));
              if ((mem.read8(at + 12) & RX_STA.EOP) !== 0) {
                got.push(gathering);
                gathering = [];
              }
              mem.write8(at + 12, 0);
              reg(NIC_REG.RDT, next);
              next = (next + 1) % rn;
            }
          };
          // the model's own account of which frames it could place, to compare with
          const expected: number[][] = [];
          let dropped = 0;
          frames.forEach(({ len, drain: d }, k) => {
            const data = frameBytes(k, len);
            data.forEach((b, i) => mem.write8(FRAMES + (k % 8) * 0x1000 + i, b));
            mem.write(TXR + 16 * tail, 4, FRAMES + (k % 8) * 0x1000);
            mem.write(TXR + 16 * tail + 8, 4, len | ((TX_CMD.EOP | TX_CMD.RS) << 24));
            mem.write8(TXR + 16 * tail + 12, 0);
            tail = (tail + 1) % tn;
            const free = (reg(NIC_REG.RDT) - reg(NIC_REG.RDH) + rn) % rn;
            const need = Math.ceil(len / 2048);
            if (free >= need) expected.push(data);
            else dropped++;
            reg(NIC_REG.TDT, tail);
            expect(mem.read8(TXR + 16 * ((tail + tn - 1) % tn) + 12)).toBe(TX_STA.DD);
            if (d) drain();
          });
          drain();
          expect(got).toEqual(expected);
          expect(nic.state.totals).toMatchObject({ sent: frames.length, received: expected.length, dropped, dmaErrors: 0 });
          expect(reg(NIC_REG.MPC)).toBe(dropped);
          expect(reg(NIC_REG.TDH)).toBe(tail);
          // ownership by head and tail partitions each ring
          const v = nic.ringView();
          expect(v.rx.slots.filter((s) => s.owner === 'device').length).toBe((v.rx.tail - v.rx.head + rn) % rn);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('deviceOwns is the half-open range head..tail modulo the ring', () => {
    expect([0, 1, 2, 3].map((i) => deviceOwns(i, 1, 3, 4))).toEqual([false, true, true, false]);
    expect([0, 1, 2, 3].map((i) => deviceOwns(i, 3, 1, 4))).toEqual([true, false, false, true]);
    expect([0, 1, 2, 3].map((i) => deviceOwns(i, 2, 2, 4))).toEqual([false, false, false, false]);
  });
});
