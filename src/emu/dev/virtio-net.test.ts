/**
 * The virtio-net device driven by real guest code: a 32-bit legacy virtio driver, assembled by the
 * lab's assembler, runs bare on the CPU with the port bus as its I/O (the device's registers are an
 * I/O BAR) and the PCI bus doing the device's DMA. It finds 1AF4:1000 on bus 0, sizes and places
 * BAR0, enables I/O space and bus mastering, resets the device, sets ACKNOWLEDGE and DRIVER,
 * accepts the MAC feature, sets up both queues (size, zeroed rings, page frame number), fills the
 * receive queue with buffers, sets DRIVER_OK and notifies queue 0, then sends frames (prepared by the test) in batches:
 * a batch is several chains put in the available ring and ONE notify. It polls the transmit used
 * ring, and copies what the receive used ring gives back (the device is in loopback) to OUT, giving
 * each receive chain back to the device.
 *
 * Layouts: a transmit chain is either one descriptor (header right before the data) or two (header
 * descriptor, NEXT, data descriptor); a receive chain likewise one buffer or header + buffer.
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
import { CFG, CMD, PciBus } from './pci.ts';
import { findAndPlaceBar0, setCommand } from './pci-guest.ts';
import {
  NET_HDR_BYTES,
  queueLayout,
  VIRTIO_BAR_SIZE,
  VIRTIO_ISR,
  VIRTIO_NET_DEVICE,
  VIRTIO_NET_F_MAC,
  VIRTIO_REG,
  VIRTIO_STATUS,
  VIRTIO_VENDOR,
  VirtioNet,
  VIRTQ_AVAIL_NO_INTERRUPT,
  VIRTQ_DESC,
  type RingReader,
  type VirtioNetOptions,
} from './virtio-net.ts';

const LOAD = 0x100000;
const RESULT = 0x600;
const VARS = RESULT + 0x80; // TXAVAIL, RXAVAIL, RXLAST, RECEIVED, REFILL
const IO_BASE = 0xc000;
const RXQ = 0x200000;
const TXQ = 0x210000;
const TXH = 0x220000;
const RXH = 0x221000;
const LENS = 0x228000;
const OUTLEN = 0x229000;
const FRAMES = 0x300000;
const OUT = 0x340000;
const RXB = 0x380000;
const VICTIM = 0x500000;
const SLOT = 0x800;
/** Frames are prepared in 64 slots; frame k uses slot k % 64 (and lands in OUT slot k % 64). */
const PREPARED = 64;
const DEVICE = 4;
const RID = requesterId(0, DEVICE, 0);
const DEFAULT_MAC = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

interface Drive {
  /** The device's queue size (the driver checks it reads this). */
  q: number;
  /** Receive chains given at the start. */
  rn: number;
  /** Frames to send. */
  n: number;
  /** Lengths of the prepared slots (slot j: lens[j % lens.length]). */
  lens: number[];
  /** Chains per notify. */
  batch: number;
  txSplit: boolean;
  rxSplit: boolean;
  /** 'interleave': drain the receive ring after each batch; 'end': only after the last. */
  mode: 'interleave' | 'end';
  /** This frame's data descriptor points at VICTIM. */
  badFrame?: number;
}

const lenOf = (d: Drive, slot: number) => d.lens[slot % d.lens.length]!;
const io = (off: number) => IO_BASE + off;

function program(d: Drive): string {
  const rx = queueLayout(BigInt(RXQ), d.q);
  const tx = queueLayout(BigInt(TXQ), d.q);
  const RX_AVAIL = Number(rx.avail);
  const RX_USED = Number(rx.used);
  const TX_AVAIL = Number(tx.avail);
  const TX_USED = Number(tx.used);
  const qmask = d.q - 1;
  const setupQueue = (index: number, base: number, store: number) => `  ; queue ${index}: select, read its size, zero the rings, give the page frame number
  mov dx, ${io(VIRTIO_REG.QUEUE_SELECT)}
  mov ax, ${index}
  out dx, ax
  mov dx, ${io(VIRTIO_REG.QUEUE_SIZE)}
  in ax, dx
  movzx eax, ax
  mov [${store}], eax
  cmp eax, ${d.q}
  jne wrong_size
  mov edi, ${base}
  mov ecx, ${Math.ceil(rx.bytes / 4)}
  xor eax, eax
  rep stosd
  mov dx, ${io(VIRTIO_REG.QUEUE_PFN)}
  mov eax, ${base >>> 12}
  out dx, eax
`;
  const rxChain = d.rxSplit
    ? `  ; chain ecx: descriptor 2ecx (the header, 10 bytes at RXH + 16ecx) -> 2ecx+1 (the buffer)
  mov eax, ecx
  shl eax, 5
  add eax, ${RXQ}
  mov edx, ecx
  shl edx, 4
  add edx, ${RXH}
  mov [eax], edx
  mov dword [eax + 4], 0
  mov dword [eax + 8], ${NET_HDR_BYTES}
  mov edx, ecx
  shl edx, 1
  inc edx
  shl edx, 16
  or edx, ${VIRTQ_DESC.WRITE | VIRTQ_DESC.NEXT}
  mov [eax + 12], edx
  mov edx, ecx
  shl edx, 11
  add edx, ${RXB}
  mov [eax + 16], edx
  mov dword [eax + 20], 0
  mov dword [eax + 24], ${SLOT}
  mov dword [eax + 28], ${VIRTQ_DESC.WRITE}
  mov edx, ecx
  shl edx, 1
`
    : `  ; chain ecx: descriptor ecx, the buffer RXB + ecx*SLOT for header and frame
  mov eax, ecx
  shl eax, 4
  add eax, ${RXQ}
  mov edx, ecx
  shl edx, 11
  add edx, ${RXB}
  mov [eax], edx
  mov dword [eax + 4], 0
  mov dword [eax + 8], ${SLOT}
  mov dword [eax + 12], ${VIRTQ_DESC.WRITE}
  mov edx, ecx
`;
  const txChain = d.txSplit
    ? `  ; chain of slot esi: descriptor 2esi (header at TXH + 16esi) -> 2esi+1 (data)
  mov eax, esi
  shl eax, 5
  add eax, ${TXQ}
  mov edi, esi
  shl edi, 4
  add edi, ${TXH}
  mov dword [edi], 0
  mov dword [edi + 4], 0
  mov word [edi + 8], 0
  mov [eax], edi
  mov dword [eax + 4], 0
  mov dword [eax + 8], ${NET_HDR_BYTES}
  mov edi, esi
  shl edi, 1
  inc edi
  shl edi, 16
  or edi, ${VIRTQ_DESC.NEXT}
  mov [eax + 12], edi
  mov [eax + 16], ecx
  mov dword [eax + 20], 0
  mov [eax + 24], edx
  mov dword [eax + 28], 0
  mov edi, esi
  shl edi, 1
`
    : `  ; chain of slot esi: descriptor esi, the header written right before the data
  mov eax, esi
  shl eax, 4
  add eax, ${TXQ}
  sub ecx, ${NET_HDR_BYTES}
  mov dword [ecx], 0
  mov dword [ecx + 4], 0
  mov word [ecx + 8], 0
  mov [eax], ecx
  mov dword [eax + 4], 0
  add edx, ${NET_HDR_BYTES}
  mov [eax + 8], edx
  mov dword [eax + 12], 0
  mov edi, esi
`;
  return `bits 32
org ${LOAD}
${findAndPlaceBar0(VIRTIO_VENDOR, VIRTIO_NET_DEVICE, RESULT, IO_BASE, true)}
${setCommand(CMD.IO | CMD.BUS_MASTER)}  ; reset the device, then ACKNOWLEDGE and DRIVER
  mov dx, ${io(VIRTIO_REG.STATUS)}
  xor al, al
  out dx, al
  mov al, ${VIRTIO_STATUS.ACKNOWLEDGE}
  out dx, al
  mov al, ${VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER}
  out dx, al
  ; features: accept the MAC feature only, read back what was accepted
  mov dx, ${io(VIRTIO_REG.DEVICE_FEATURES)}
  in eax, dx
  mov [${RESULT + 8}], eax
  and eax, ${VIRTIO_NET_F_MAC}
  mov dx, ${io(VIRTIO_REG.DRIVER_FEATURES)}
  out dx, eax
  in eax, dx
  mov [${RESULT + 12}], eax
  ; the MAC address from the device configuration
  mov dx, ${io(VIRTIO_REG.CONFIG)}
  in eax, dx
  mov [${RESULT + 16}], eax
  mov dx, ${io(VIRTIO_REG.CONFIG + 4)}
  in ax, dx
  mov [${RESULT + 20}], ax
${setupQueue(0, RXQ, RESULT + 24)}${setupQueue(1, TXQ, RESULT + 28)}
  ; receive chains, all made available at once
  xor ecx, ecx
rx_fill:
${rxChain}  mov [${RX_AVAIL + 4} + ecx*2], dx
  inc ecx
  cmp ecx, ${d.rn}
  jb rx_fill
  mov [${VARS + 4}], ecx
  mov [${RX_AVAIL + 2}], cx
  mov dx, ${io(VIRTIO_REG.STATUS)}
  mov al, ${VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.DRIVER_OK}
  out dx, al
  ; then the notify of queue 0 (a driver sends none before DRIVER_OK, virtio 1.1 3.1.1)
  mov dx, ${io(VIRTIO_REG.QUEUE_NOTIFY)}
  xor ax, ax
  out dx, ax

  ; send: ebx = next frame, esi = chains in this batch
  xor ebx, ebx
batch:
  xor esi, esi
fill:
  cmp ebx, ${d.n}
  jae flush
  cmp esi, ${d.batch}
  jae flush
  mov ebp, ebx
  and ebp, ${PREPARED - 1}
  mov ecx, ebp
  shl ecx, 11
  add ecx, ${FRAMES + 16}
  ${d.badFrame !== undefined ? `cmp ebx, ${d.badFrame}\n  jne good_buf\n  mov ecx, ${VICTIM}\ngood_buf:` : ''}
  mov edx, [${LENS} + ebp*4]
${txChain}  ; avail.ring[txAvail % size] = head (edi)
  mov eax, [${VARS}]
  and eax, ${qmask}
  mov [${TX_AVAIL + 4} + eax*2], di
  inc dword [${VARS}]
  inc ebx
  inc esi
  jmp fill
flush:
  test esi, esi
  jz finish
  ; publish the batch (avail.idx after the entries) and notify once
  mov eax, [${VARS}]
  mov [${TX_AVAIL + 2}], ax
  mov dx, ${io(VIRTIO_REG.QUEUE_NOTIFY)}
  mov ax, 1
  out dx, ax
wait_tx:
  mov dx, ${io(VIRTIO_REG.STATUS)}
  in al, dx
  test al, ${VIRTIO_STATUS.DEVICE_NEEDS_RESET}
  jnz broken
  mov ax, [${TX_USED + 2}]
  cmp ax, [${VARS}]
  jne wait_tx
${d.mode === 'interleave' ? '  call drain\n' : ''}  jmp batch
broken:
  mov dword [${RESULT + 40}], 1
finish:
  call drain
  mov dx, ${io(VIRTIO_REG.ISR)}
  in al, dx
  mov [${RESULT + 32}], al
  in al, dx
  mov [${RESULT + 33}], al
  mov dx, ${io(VIRTIO_REG.STATUS)}
  in al, dx
  mov [${RESULT + 36}], al
  hlt
wrong_size:
  mov dword [${RESULT + 44}], 1
  hlt

; copies every used receive chain from RXLAST on to OUT, gives it back, notifies queue 0 once
drain:
  mov ecx, [${VARS + 8}]
  mov ax, [${RX_USED + 2}]
  cmp ax, cx
  je drain_done
  mov eax, ecx
  and eax, ${qmask}
  mov edx, [${RX_USED + 4} + eax*8]
  mov ebp, [${RX_USED + 8} + eax*8]
  sub ebp, ${NET_HDR_BYTES}
  ; a length the buffer cannot hold (or below the header) is the device's error: copy nothing
  cmp ebp, ${SLOT - NET_HDR_BYTES}
  jbe len_ok
  mov dword [${RESULT + 48}], 1
  xor ebp, ebp
len_ok:
  mov eax, [${VARS + 12}]
  and eax, ${PREPARED - 1}
  mov [${OUTLEN} + eax*4], ebp
  mov edi, eax
  shl edi, 11
  add edi, ${OUT}
  mov esi, edx
${d.rxSplit ? '  shr esi, 1\n  shl esi, 11\n  add esi, ' + RXB : '  shl esi, 11\n  add esi, ' + (RXB + NET_HDR_BYTES)}
  push ecx
  mov ecx, ebp
  rep movsb
  pop ecx
  inc dword [${VARS + 12}]
  mov eax, [${VARS + 4}]
  and eax, ${qmask}
  mov [${RX_AVAIL + 4} + eax*2], dx
  inc dword [${VARS + 4}]
  mov eax, [${VARS + 4}]
  mov [${RX_AVAIL + 2}], ax
  inc ecx
  mov [${VARS + 8}], ecx
  mov byte [${VARS + 16}], 1
  jmp drain
drain_done:
  cmp byte [${VARS + 16}], 0
  je drain_ret
  mov byte [${VARS + 16}], 0
  mov dx, ${io(VIRTIO_REG.QUEUE_NOTIFY)}
  xor ax, ax
  out dx, ax
drain_ret:
  ret
`;
}

/** Frame k's bytes: a pattern that differs per frame and per byte. */
const frameByte = (k: number, i: number) => (k * 29 + i * 11 + (i >> 8)) & 0xff;
const frameBytes = (k: number, len: number) => Array.from({ length: len }, (_, i) => frameByte(k, i));
const bytesAt = (mem: PhysMem, pa: number, n: number) => Array.from({ length: n }, (_, i) => mem.read8(pa + i));
/** What frame k of the drive carries. */
const expectedFrame = (d: Drive, k: number) => frameBytes(k % PREPARED, lenOf(d, k % PREPARED));

function assembleDrive(d: Drive): Uint8Array {
  const asm = assemble(program(d));
  if (!asm.ok) throw new Error(asm.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n'));
  return asm.bytes;
}

function prepare(mem: PhysMem, d: Drive): void {
  for (let j = 0; j < PREPARED; j++) {
    const len = lenOf(d, j);
    mem.write(LENS + 4 * j, 4, len);
    frameBytes(j, len).forEach((b, i) => mem.write8(FRAMES + j * SLOT + 16 + i, b));
  }
  for (let i = 0; i < 0x1000; i++) mem.write8(VICTIM + i, 0x5e);
}

const memReader =
  (mem: PhysMem): RingReader =>
  (addr, length) =>
    Uint8Array.from(bytesAt(mem, Number(addr), length));

function boot(d: Drive, remapper?: (mem: PhysMem) => DmaRemapper, opts: VirtioNetOptions = {}) {
  const m = createBareMachine({ mode: 'prot32', load: LOAD, code: assembleDrive(d) });
  const ports = new PortBus();
  const pci = new PciBus({ mem: m.mem, ports, ...(remapper ? { remapper: remapper(m.mem) } : {}) });
  const dev = new VirtioNet('virtio-net', { queueSize: d.q, loopback: true, ...opts });
  pci.add(DEVICE, 0, dev);
  m.cpu.io = ports;
  prepare(m.mem, d);
  const result = () => {
    const r = (k: number) => m.mem.read(RESULT + 4 * k, 4) >>> 0;
    const v = (k: number) => m.mem.read(VARS + 4 * k, 4) >>> 0;
    const received = v(3);
    const kept = Math.min(received, PREPARED);
    const frames = Array.from({ length: kept }, (_, j) => bytesAt(m.mem, OUT + j * SLOT, m.mem.read(OUTLEN + 4 * j, 4)));
    return {
      device: r(0),
      barSize: r(1),
      features: r(2),
      accepted: r(3),
      mac: [...bytesAt(m.mem, RESULT + 16, 6)],
      sizes: [r(6), r(7)],
      isr: [m.mem.read8(RESULT + 32), m.mem.read8(RESULT + 33)],
      status: m.mem.read8(RESULT + 36),
      broken: r(10),
      wrongSize: r(11),
      badLength: r(12),
      received,
      frames,
    };
  };
  const run = (steps = 5_000_000) => ({ end: m.cpu.run(steps), ...result() });
  return { m, ports, pci, dev, run, result };
}

/** VT-d: a domain for the device mapping only its rings, headers, frames and receive buffers. */
function vtdFor(d: Drive) {
  return (mem: PhysMem): DmaRemapper => {
    const kit = new VtdKit(mem, new PageAlloc(0x3000000));
    const slpt = kit.context(RID, { did: 2 });
    const bytes = queueLayout(0n, d.q).bytes;
    const pages: number[] = [TXH, RXH];
    for (let p = 0; p < bytes; p += 0x1000) pages.push(RXQ + p, TXQ + p);
    for (let p = FRAMES; p < FRAMES + PREPARED * SLOT; p += 0x1000) pages.push(p);
    for (let p = RXB; p < RXB + d.rn * SLOT; p += 0x1000) pages.push(p);
    for (const base of pages) kit.map(slpt, 4, BigInt(base), base, { r: true, w: true });
    kit.enable();
    return kit.iommu;
  };
}

const base: Drive = { q: 8, rn: 8, n: 8, lens: [60], batch: 8, txSplit: false, rxSplit: false, mode: 'interleave' };

describe('a legacy virtio driver sends a batch in loopback and receives it back', () => {
  it('finds 1AF4:1000, negotiates, sets up both queues; N frames in one batch cost one notify', () => {
    const lens = [60, 64, 1514, 100, 1000, 1, 333, 1200];
    const d: Drive = { ...base, lens };
    const { pci, dev, run } = boot(d);
    const r = run();
    expect(r.end).toBe('hlt');
    expect([r.broken, r.wrongSize, r.badLength]).toEqual([0, 0, 0]);
    expect(r.device).toBe(DEVICE);
    expect(r.barSize).toBe(VIRTIO_BAR_SIZE);
    expect(pci.ioWindowsNow()).toEqual([{ devfn: DEVICE << 3, device: 'virtio-net', bar: 0, base: IO_BASE, size: VIRTIO_BAR_SIZE }]);
    expect([r.features, r.accepted]).toEqual([VIRTIO_NET_F_MAC, VIRTIO_NET_F_MAC]);
    expect(r.mac).toEqual(DEFAULT_MAC);
    expect(r.sizes).toEqual([8, 8]);
    expect(r.received).toBe(8);
    r.frames.forEach((f, k) => expect(f).toEqual(frameBytes(k, lens[k]!)));
    expect(dev.state.sent.map((f) => [f.seq, f.data.length, f.loopback])).toEqual(lens.map((l, k) => [k, l, true]));
    // the whole batch: one notify of the transmit queue; queue 0 was notified at set-up and after the drain
    expect(dev.state.notifies).toEqual([2, 1]);
    expect(dev.state.chains).toEqual([8, 8]);
    expect([dev.state.received, dev.state.rxDropped, dev.state.txDropped, dev.state.errors]).toEqual([8, 0, 0, 0]);
    // ISR bit 0 was set by the used buffers; the first read returned and cleared it
    expect(r.isr).toEqual([VIRTIO_ISR.QUEUE, 0]);
    expect(r.status).toBe(VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.DRIVER_OK);
    // the ring structure bytes and the packet bytes, apart
    const total = lens.reduce((a, b) => a + b, 0);
    expect(dev.state.dma).toEqual({
      // TX: avail flags+idx once (4), per chain entry (2) and descriptor (16); RX per frame: flags+idx (4), entry (2), descriptor (16)
      ringRead: 4 + 8 * 18 + 8 * 22,
      // TX: 8 used elements and used.idx once; RX: per frame a used element and used.idx
      ringWritten: 8 * 8 + 2 + 8 * 10,
      packetRead: total + 8 * NET_HDR_BYTES,
      packetWritten: total + 8 * NET_HDR_BYTES,
    });
    // the first requests, in order: avail head, entry 0, descriptor 0, its buffer, the used element; then the loopback receive
    const tx = queueLayout(BigInt(TXQ), 8);
    const rx = queueLayout(BigInt(RXQ), 8);
    expect(pci.dmaLog.slice(0, 11).map((e) => [e.access, e.iova, e.length])).toEqual([
      ['read', hex(tx.avail), 4],
      ['read', hex(tx.avail + 4n), 2],
      ['read', hex(tx.desc), 16],
      ['read', `0x${(FRAMES + 6).toString(16)}`, 70],
      ['write', hex(tx.used + 4n), 8],
      ['read', hex(rx.avail), 4],
      ['read', hex(rx.avail + 4n), 2],
      ['read', hex(rx.desc), 16],
      ['write', `0x${RXB.toString(16)}`, 70],
      ['write', hex(rx.used + 4n), 8],
      ['write', hex(rx.used + 2n), 2],
    ]);
    expect(pci.dmaLog.every((e) => e.ok && e.rid === RID)).toBe(true);
  });

  it('header and data in separate descriptors on both queues (NEXT chains)', () => {
    const lens = [60, 1514, 7, 900];
    const d: Drive = { ...base, n: 4, lens, batch: 4, txSplit: true, rxSplit: true, rn: 4 };
    const { m, dev, pci, run } = boot(d);
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.received).toBe(4);
    r.frames.forEach((f, k) => expect(f).toEqual(frameBytes(k, lens[k]!)));
    expect(dev.state.notifies[1]).toBe(1);
    // frame 0: header read from TXH (10 bytes), data from its slot; written as header into RXH, data into RXB
    const reads = pci.dmaLog.filter((e) => e.access === 'read' && e.length !== 2 && e.length !== 4 && e.length !== 16).slice(0, 2);
    expect(reads.map((e) => [e.iova, e.length])).toEqual([
      [`0x${TXH.toString(16)}`, NET_HDR_BYTES],
      [`0x${(FRAMES + 16).toString(16)}`, 60],
    ]);
    const writes = pci.dmaLog.filter((e) => e.access === 'write' && e.length !== 2 && e.length !== 8).slice(0, 2);
    expect(writes.map((e) => [e.iova, e.length])).toEqual([
      [`0x${RXH.toString(16)}`, NET_HDR_BYTES],
      [`0x${RXB.toString(16)}`, 60],
    ]);
    // used elements: transmit len 0, receive 10 + frame, ids are the chain heads
    const view = dev.ringView(memReader(m.mem));
    expect(view.queues[1].usedRing!.ring.slice(0, 4)).toEqual([0, 2, 4, 6].map((id) => ({ id, len: 0 })));
    expect(view.queues[0].usedRing!.ring.slice(0, 4)).toEqual(lens.map((l, k) => ({ id: 2 * k, len: NET_HDR_BYTES + l })));
  });

  it('more frames than the queue size, in several batches: the rings and their indices wrap', () => {
    const lens = Array.from({ length: 40 }, (_, k) => 40 + 13 * k);
    const d: Drive = { ...base, n: 40, lens, batch: 3, txSplit: true };
    const { m, dev, run } = boot(d);
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.received).toBe(40);
    r.frames.forEach((f, k) => expect(f).toEqual(frameBytes(k, lens[k]!)));
    expect(dev.state.notifies[1]).toBe(Math.ceil(40 / 3));
    expect(dev.state.queues.map((q) => [q.lastAvail, q.usedIdx])).toEqual([
      [40, 40],
      [40, 40],
    ]);
    const v = dev.ringView(memReader(m.mem));
    expect(v.queues[1].availRing!.idx).toBe(40);
    expect(v.queues[1].usedRing!.idx).toBe(40);
    // the last batch (frame 39 alone, the 14th) used descriptor 0 at avail slot 39 % 8
    expect(v.queues[1].availRing!.ring[39 % 8]).toBe(0);
    expect(v.queues[1].pending).toEqual([]);
    // every receive buffer was given back: the device holds all 8, in the order the driver returned them
    expect(v.queues[0].pending).toHaveLength(8);
    expect(v.queues[0].descriptors!.every((x) => x.owner === 'device')).toBe(true);
    expect(v.queues[1].descriptors!.every((x) => x.owner === 'driver')).toBe(true);
  });

  it('a batch larger than the receive buffers: the rest are dropped and counted', () => {
    const lens = Array.from({ length: 8 }, (_, k) => 64 + k);
    const d: Drive = { ...base, rn: 3, lens, mode: 'end' };
    const { dev, run } = boot(d);
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.received).toBe(3);
    r.frames.forEach((f, k) => expect(f).toEqual(frameBytes(k, lens[k]!)));
    expect(dev.state.sent).toHaveLength(8);
    expect([dev.state.received, dev.state.rxDropped, dev.state.notifies[1]]).toEqual([3, 5, 1]);
  });
});

describe('the 16-bit indices wrap', () => {
  it('65,600 frames through a queue of 64: avail.idx and used.idx pass 0xFFFF and every frame comes back in order', () => {
    const d: Drive = { q: 64, rn: 64, n: 65_600, lens: [1, 2, 3, 5, 8, 13, 21, 34], batch: 64, txSplit: false, rxSplit: false, mode: 'interleave' };
    const { m, dev, pci, run } = boot(d);
    const r = run(200_000_000);
    expect(r.end).toBe('hlt');
    expect(r.broken).toBe(0);
    expect(r.received).toBe(65_600);
    // OUT keeps the last 64 frames (slot k % 64): frames 65536..65599
    for (let k = 65_536; k < 65_600; k++) expect(r.frames[k % PREPARED]).toEqual(expectedFrame(d, k));
    expect(dev.state.queues.map((q) => [q.lastAvail, q.usedIdx])).toEqual([
      [65_600 & 0xffff, 65_600 & 0xffff],
      [65_600 & 0xffff, 65_600 & 0xffff],
    ]);
    expect(dev.state.chains).toEqual([65_600, 65_600]);
    expect(dev.state.notifies[1]).toBe(65_600 / 64);
    expect(dev.state.errors).toBe(0);
    const v = dev.ringView(memReader(m.mem));
    expect(v.queues[1].usedRing!.idx).toBe(64);
    expect(pci.dmaLog.every((e) => e.ok)).toBe(true);
  });
});

describe('under VT-d: a domain with only the rings and buffers', () => {
  it('the same driver works; every request is translated by domain 2', () => {
    const lens = [60, 1514, 700, 64, 1200, 90];
    const d: Drive = { ...base, n: 6, lens, batch: 4, txSplit: true, rn: 8 };
    const { pci, run } = boot(d, vtdFor(d));
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.received).toBe(6);
    r.frames.forEach((f, k) => expect(f).toEqual(frameBytes(k, lens[k]!)));
    expect(pci.dmaLog.length).toBeGreaterThan(40);
    expect(pci.dmaLog.every((e) => e.ok && e.domainId === 2)).toBe(true);
  });

  it('a descriptor pointing outside the domain: blocked and recorded, the device needs a reset, the chains before it are used', () => {
    const lens = [60, 61, 62, 63, 64, 65];
    const d: Drive = { ...base, n: 6, lens, batch: 4, txSplit: true, badFrame: 2 };
    const { m, pci, dev, run } = boot(d, vtdFor(d));
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.broken).toBe(1);
    expect(r.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET).toBe(VIRTIO_STATUS.DEVICE_NEEDS_RESET);
    expect(r.isr[0]! & VIRTIO_ISR.CONFIG).toBe(VIRTIO_ISR.CONFIG);
    expect(dev.state.sent.map((f) => f.data.length)).toEqual([60, 61]);
    expect(r.received).toBe(2);
    const faults = pci.dmaLog.filter((e) => !e.ok);
    expect(faults.map((e) => [e.access, e.iova, e.length])).toEqual([['read', `0x${VICTIM.toString(16)}`, 62]]);
    expect(faults[0]!.fault).toEqual({ vendor: 'vtd', reason: VTD_FAULT.READ, recorded: true });
    expect(dev.state.errors).toBe(1);
    expect(dev.state.lastError).toMatchObject({ kind: 'dma-blocked', queue: 1 });
    // the two chains before were returned and used.idx published; the third is still the device's
    const v = dev.ringView(memReader(m.mem));
    expect(v.queues[1].usedRing!.idx).toBe(2);
    expect(v.queues[1].pending).toEqual([4, 6]);
    expect(v.queues[1].descriptors!.map((x) => x.owner)).toEqual(['driver', 'driver', 'driver', 'driver', 'device', 'device', 'device', 'device']);
    // the device is stopped: a further notify is counted and does nothing
    const before = pci.dmaLog.length;
    m.cpu.io!.portOut(io(VIRTIO_REG.QUEUE_NOTIFY), 2, 1);
    expect(pci.dmaLog.length).toBe(before);
    expect(dev.state.notifies[1]).toBe(2);
  });

  it('without an IOMMU the same driver sends the page it was not given (the escape)', () => {
    const lens = [60, 61, 62, 63];
    const { dev, run } = boot({ ...base, n: 4, lens, batch: 4, txSplit: true, badFrame: 2 });
    expect(run().received).toBe(4);
    expect(dev.state.sent[2]!.data).toEqual(new Array(62).fill(0x5e));
  });
});

describe('time travel', () => {
  it('a checkpoint mid-run (machine + bus snapshots) replays to the same frames, logs and counters', () => {
    const lens = Array.from({ length: 30 }, (_, k) => 50 + 17 * k);
    const d: Drive = { ...base, n: 30, lens, batch: 3, txSplit: true };
    const m = machineFrom(createBareMachine({ mode: 'prot32', load: LOAD, code: assembleDrive(d) }));
    prepare(m.mem, d);
    const ports = new PortBus();
    const pci = new PciBus({ mem: m.mem, ports });
    const dev = new VirtioNet('virtio-net', { queueSize: 8, loopback: true });
    pci.add(DEVICE, 0, dev);
    m.cpu.io = ports;
    while (dev.state.sent.length < 10) expect(m.cpu.run(1)).toBe('limit');
    const sentAtCheckpoint = dev.state.sent.length; // 12: the fourth batch of 3 went in one notify
    const cpuSnap = m.snapshot();
    const busSnap = JSON.parse(JSON.stringify(pci.snapshot())) as ReturnType<PciBus['snapshot']>;
    const logLength = ports.logLength;
    const outcome = () => ({ end: m.cpu.run(5_000_000), bus: JSON.stringify(pci.snapshot()), ports: JSON.stringify(ports.log), out: bytesAt(m.mem, OUT, 30 * SLOT), rings: dev.ringView(memReader(m.mem)), steps: m.cpu.state.steps });
    const first = outcome();
    expect(first.end).toBe('hlt');
    expect(dev.state.received).toBe(30);
    m.restore(cpuSnap);
    pci.restore(busSnap);
    ports.restoreLog(ports.log, logLength);
    expect(dev.state.sent).toHaveLength(sentAtCheckpoint);
    expect(sentAtCheckpoint).toBe(12);
    expect(outcome()).toEqual(first);
  });
});

// ---- registers and queue mechanics, driven from the host -----------------------------------------

function hostRig(opts: VirtioNetOptions = {}) {
  const m = createBareMachine({ mode: 'prot32', load: LOAD, code: new Uint8Array([0xf4]) });
  const ports = new PortBus();
  const pci = new PciBus({ mem: m.mem, ports });
  const dev = new VirtioNet('virtio-net', { queueSize: 8, ...opts });
  pci.add(DEVICE, 0, dev);
  pci.configWrite(DEVICE, 0, CFG.BAR0, 4, IO_BASE);
  pci.configWrite(DEVICE, 0, CFG.COMMAND, 2, CMD.IO | CMD.BUS_MASTER);
  const rd = (off: number, size: 1 | 2 | 4) => ports.portIn(io(off), size);
  const wr = (off: number, size: 1 | 2 | 4, v: number) => ports.portOut(io(off), size, v);
  return { mem: m.mem, ports, pci, dev, rd, wr };
}

type Rig = ReturnType<typeof hostRig>;

/** A driver written in TypeScript, for the cases guest code makes long-winded. */
class HostDriver {
  readonly lay: ReturnType<typeof queueLayout>[];
  readonly avail = [0, 0];
  constructor(
    readonly rig: Rig,
    readonly size = 8,
  ) {
    const { wr } = rig;
    wr(VIRTIO_REG.STATUS, 1, 0);
    wr(VIRTIO_REG.STATUS, 1, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER);
    wr(VIRTIO_REG.DRIVER_FEATURES, 4, VIRTIO_NET_F_MAC);
    this.lay = [RXQ, TXQ].map((b, qi) => {
      wr(VIRTIO_REG.QUEUE_SELECT, 2, qi);
      wr(VIRTIO_REG.QUEUE_PFN, 4, b >>> 12);
      return queueLayout(BigInt(b), size);
    });
    wr(VIRTIO_REG.STATUS, 1, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.DRIVER_OK);
  }
  desc(qi: number, i: number, addr: number, len: number, flags: number, next = 0): void {
    const at = Number(this.lay[qi]!.desc) + 16 * i;
    const mem = this.rig.mem;
    mem.write(at, 4, addr);
    mem.write(at + 4, 4, 0);
    mem.write(at + 8, 4, len);
    mem.write(at + 12, 2, flags);
    mem.write(at + 14, 2, next);
  }
  /** Makes chain `head` available (not yet published). */
  offer(qi: number, head: number): void {
    this.rig.mem.write(Number(this.lay[qi]!.avail) + 4 + 2 * (this.avail[qi]! % this.size), 2, head);
    this.avail[qi] = (this.avail[qi]! + 1) & 0xffff;
  }
  publish(qi: number, notify = true): void {
    this.rig.mem.write(Number(this.lay[qi]!.avail) + 2, 2, this.avail[qi]!);
    if (notify) this.rig.wr(VIRTIO_REG.QUEUE_NOTIFY, 2, qi);
  }
  usedIdx(qi: number): number {
    return this.rig.mem.read(Number(this.lay[qi]!.used) + 2, 2);
  }
  used(qi: number, n: number): { id: number; len: number } {
    const at = Number(this.lay[qi]!.used) + 4 + 8 * (n % this.size);
    return { id: this.rig.mem.read(at, 4), len: this.rig.mem.read(at + 4, 4) };
  }
}

/** Writes a zero header and `data` at `at`; returns the chain length. */
function putPacket(mem: PhysMem, at: number, data: readonly number[], hdr: readonly number[] = new Array(NET_HDR_BYTES).fill(0)): number {
  hdr.forEach((b, i) => mem.write8(at + i, b));
  data.forEach((b, i) => mem.write8(at + NET_HDR_BYTES + i, b));
  return NET_HDR_BYTES + data.length;
}

describe('registers', () => {
  it('identity in configuration space: transitional network device, I/O BAR of 32 bytes, no capabilities', () => {
    const { pci } = hostRig();
    const c = (off: number, size: 1 | 2 | 4) => pci.configRead(DEVICE, 0, off, size);
    expect([c(CFG.VENDOR_ID, 2), c(CFG.DEVICE_ID, 2), c(CFG.REVISION, 1), c(CFG.REVISION, 4) >>> 8]).toEqual([0x1af4, 0x1000, 0, 0x020000]);
    expect([c(CFG.SUBSYS_VENDOR_ID, 2), c(CFG.SUBSYS_ID, 2), c(CFG.INTERRUPT_PIN, 1), c(CFG.STATUS, 2)]).toEqual([0x1af4, 1, 1, 0]);
    expect(c(CFG.BAR0, 4)).toBe(IO_BASE | 1);
    pci.configWrite(DEVICE, 0, CFG.BAR0, 4, 0xffffffff);
    expect(c(CFG.BAR0, 4) >>> 0).toBe(0xffffffe1);
  });

  it('feature negotiation keeps only what was offered; queue select, size and PFN; a reset clears it all', () => {
    const { rd, wr, dev } = hostRig();
    expect(rd(VIRTIO_REG.DEVICE_FEATURES, 4)).toBe(VIRTIO_NET_F_MAC);
    wr(VIRTIO_REG.DEVICE_FEATURES, 4, 0xffffffff);
    expect(rd(VIRTIO_REG.DEVICE_FEATURES, 4)).toBe(VIRTIO_NET_F_MAC);
    wr(VIRTIO_REG.DRIVER_FEATURES, 4, 0xffffffff);
    expect(rd(VIRTIO_REG.DRIVER_FEATURES, 4)).toBe(VIRTIO_NET_F_MAC);
    wr(VIRTIO_REG.DRIVER_FEATURES, 4, 1 << 16);
    expect(rd(VIRTIO_REG.DRIVER_FEATURES, 4)).toBe(0);
    wr(VIRTIO_REG.DRIVER_FEATURES, 4, VIRTIO_NET_F_MAC);
    expect([rd(VIRTIO_REG.QUEUE_SELECT, 2), rd(VIRTIO_REG.QUEUE_SIZE, 2)]).toEqual([0, 8]);
    wr(VIRTIO_REG.QUEUE_PFN, 4, RXQ >>> 12);
    wr(VIRTIO_REG.QUEUE_SELECT, 2, 1);
    expect([rd(VIRTIO_REG.QUEUE_SIZE, 2), rd(VIRTIO_REG.QUEUE_PFN, 4)]).toEqual([8, 0]);
    wr(VIRTIO_REG.QUEUE_PFN, 4, TXQ >>> 12);
    wr(VIRTIO_REG.QUEUE_SELECT, 2, 2); // no control queue
    expect([rd(VIRTIO_REG.QUEUE_SIZE, 2), rd(VIRTIO_REG.QUEUE_PFN, 4)]).toEqual([0, 0]);
    wr(VIRTIO_REG.QUEUE_PFN, 4, 0x123); // ignored
    wr(VIRTIO_REG.QUEUE_SELECT, 2, 0);
    expect(rd(VIRTIO_REG.QUEUE_PFN, 4)).toBe(RXQ >>> 12);
    wr(VIRTIO_REG.STATUS, 1, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.DRIVER_OK);
    expect(rd(VIRTIO_REG.STATUS, 1)).toBe(7);
    wr(VIRTIO_REG.QUEUE_SELECT, 2, 1);
    wr(VIRTIO_REG.STATUS, 1, 0);
    expect([rd(VIRTIO_REG.STATUS, 1), rd(VIRTIO_REG.DRIVER_FEATURES, 4), rd(VIRTIO_REG.QUEUE_SELECT, 2), rd(VIRTIO_REG.QUEUE_PFN, 4)]).toEqual([0, 0, 0, 0]);
    expect(dev.state.queues.map((q) => q.pfn)).toEqual([0, 0]);
  });

  it('ISR reads clear; the MAC reads at any width inside the configuration; other widths read all ones and are counted', () => {
    const rig = hostRig({ mac: [2, 0, 0, 0xaa, 0xbb, 0xcc] });
    const { rd, wr, dev } = rig;
    dev.state.isr = VIRTIO_ISR.QUEUE | VIRTIO_ISR.CONFIG;
    expect(rd(VIRTIO_REG.ISR, 1)).toBe(3);
    expect(rd(VIRTIO_REG.ISR, 1)).toBe(0);
    wr(VIRTIO_REG.ISR, 1, 3); // read-only
    expect(rd(VIRTIO_REG.ISR, 1)).toBe(0);
    expect([rd(0x14, 1), rd(0x15, 2), rd(0x16, 4) >>> 0, rd(0x18, 2)]).toEqual([2, 0, 0xccbbaa00, 0xccbb]);
    wr(0x14, 4, 0xffffffff); // the configuration is read-only
    expect(rd(0x14, 4) >>> 0).toBe(0xaa000002);
    expect(dev.state.oddAccesses).toBe(0);
    dev.state.isr = 1;
    // a dword at 0x10 would span notify, status and ISR: it reaches none of them
    expect(rd(0x10, 4) >>> 0).toBe(0xffffffff);
    expect(rd(VIRTIO_REG.DEVICE_FEATURES, 2)).toBe(0xffff);
    expect(rd(VIRTIO_REG.QUEUE_SIZE, 4) >>> 0).toBe(0xffffffff);
    expect(rd(0x1a, 2)).toBe(0xffff); // past the MAC
    wr(VIRTIO_REG.STATUS, 2, 0x0707); // status is a byte
    expect(rd(VIRTIO_REG.STATUS, 1)).toBe(0);
    expect(dev.state.oddAccesses).toBe(5);
    expect(rd(VIRTIO_REG.ISR, 1)).toBe(1);
    expect(rd(VIRTIO_REG.QUEUE_NOTIFY, 2)).toBe(0);
    // a dword at 0x1E runs past the BAR: the port bus splits it into bytes, each odd here, the last unclaimed
    expect(rig.ports.portIn(io(0x1e), 4) >>> 0).toBe(0xffffffff);
    expect(dev.state.oddAccesses).toBe(7);
  });

  it('a notify of a queue that does not exist is counted apart; notifies before DRIVER_OK do nothing', () => {
    const rig = hostRig();
    const { wr, dev, pci, mem } = rig;
    wr(VIRTIO_REG.QUEUE_NOTIFY, 2, 5);
    expect([dev.state.badNotifies, ...dev.state.notifies]).toEqual([1, 0, 0]);
    const drv = new HostDriver(rig);
    wr(VIRTIO_REG.STATUS, 1, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER);
    drv.desc(1, 0, FRAMES, putPacket(mem, FRAMES, [1, 2, 3]), 0);
    drv.offer(1, 0);
    drv.publish(1);
    expect(pci.dmaLog).toEqual([]);
    expect(dev.state.notifies).toEqual([0, 1]);
    // DRIVER_OK by itself does not start the queue: the next notify does
    wr(VIRTIO_REG.STATUS, 1, 7);
    expect(dev.state.sent).toEqual([]);
    wr(VIRTIO_REG.QUEUE_NOTIFY, 2, 1);
    expect(dev.state.sent.map((f) => f.data)).toEqual([[1, 2, 3]]);
  });
});

describe('queue mechanics', () => {
  it('a buffer crossing a page is read in two pieces; the header asking for an offload drops the frame but returns the chain', () => {
    const rig = hostRig();
    const { mem, pci, dev } = rig;
    const drv = new HostDriver(rig);
    const a = FRAMES + 0xff0;
    const len = putPacket(mem, a, frameBytes(3, 100));
    drv.desc(1, 0, a, len, 0);
    const bad = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]; // VIRTIO_NET_HDR_F_NEEDS_CSUM: not offered
    drv.desc(1, 1, FRAMES + 0x2000, putPacket(mem, FRAMES + 0x2000, [9, 9], bad), 0);
    drv.offer(1, 0);
    drv.offer(1, 1);
    drv.publish(1);
    expect(dev.state.sent.map((f) => f.data)).toEqual([frameBytes(3, 100)]);
    expect(pci.dmaLog.filter((e) => e.iova.startsWith('0x30')).map((e) => [e.iova, e.length])).toEqual([
      [`0x${a.toString(16)}`, 0x10],
      [`0x${(a + 0x10).toString(16)}`, len - 0x10],
      [`0x${(FRAMES + 0x2000).toString(16)}`, 12],
    ]);
    expect([drv.usedIdx(1), drv.used(1, 0), drv.used(1, 1)]).toEqual([2, { id: 0, len: 0 }, { id: 1, len: 0 }]);
    expect([dev.state.txDropped, dev.state.errors]).toEqual([1, 0]);
  });

  it('NO_INTERRUPT in avail.flags leaves the ISR alone', () => {
    const rig = hostRig();
    const drv = new HostDriver(rig);
    rig.mem.write(Number(drv.lay[1]!.avail), 2, VIRTQ_AVAIL_NO_INTERRUPT);
    drv.desc(1, 0, FRAMES, putPacket(rig.mem, FRAMES, [5]), 0);
    drv.offer(1, 0);
    drv.publish(1);
    expect(drv.usedIdx(1)).toBe(1);
    expect(rig.rd(VIRTIO_REG.ISR, 1)).toBe(0);
    rig.mem.write(Number(drv.lay[1]!.avail), 2, 0);
    drv.offer(1, 0);
    drv.publish(1);
    expect(rig.rd(VIRTIO_REG.ISR, 1)).toBe(VIRTIO_ISR.QUEUE);
  });

  it('receive: a chain too small is left for later; none available drops; bus mastering off drops; a chain across descriptors is filled in order', () => {
    const rig = hostRig();
    const { mem, dev, pci } = rig;
    const drv = new HostDriver(rig);
    expect(dev.receive(Uint8Array.of(1))).toBe('no-buffer');
    drv.desc(0, 0, RXB, 20, VIRTQ_DESC.WRITE);
    drv.offer(0, 0);
    drv.publish(0);
    expect(dev.receive(new Uint8Array(11))).toBe('buffer-too-small');
    expect(dev.receive(Uint8Array.of(7, 8, 9))).toBe('received');
    expect(bytesAt(mem, RXB, 13)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 8, 9]);
    expect(drv.used(0, 0)).toEqual({ id: 0, len: 13 });
    // three descriptors of 4, 8 and 100 bytes: header spills into the second, the frame into the third
    drv.desc(0, 3, RXB + 0x100, 4, VIRTQ_DESC.WRITE | VIRTQ_DESC.NEXT, 5);
    drv.desc(0, 5, RXB + 0x200, 8, VIRTQ_DESC.WRITE | VIRTQ_DESC.NEXT, 6);
    drv.desc(0, 6, RXB + 0x300, 100, VIRTQ_DESC.WRITE);
    drv.offer(0, 3);
    drv.publish(0);
    const f = frameBytes(1, 30);
    expect(dev.receive(Uint8Array.from(f))).toBe('received');
    expect([...bytesAt(mem, RXB + 0x100, 4), ...bytesAt(mem, RXB + 0x200, 8), ...bytesAt(mem, RXB + 0x300, 28)]).toEqual([...new Array(10).fill(0), ...f]);
    expect(drv.used(0, 1)).toEqual({ id: 3, len: 40 });
    drv.offer(0, 0);
    drv.publish(0);
    pci.configWrite(DEVICE, 0, CFG.COMMAND, 2, CMD.IO);
    const before = pci.dmaLog.length;
    expect(dev.receive(Uint8Array.of(1))).toBe('bus-master-off');
    expect(pci.dmaLog.length).toBe(before);
    expect([dev.state.received, dev.state.rxDropped]).toEqual([2, 3]);
  });

  it('with bus mastering off a transmit notify leaves the chains; the next notify finds them', () => {
    const rig = hostRig();
    const drv = new HostDriver(rig);
    drv.desc(1, 0, FRAMES, putPacket(rig.mem, FRAMES, [1]), 0);
    drv.offer(1, 0);
    rig.pci.configWrite(DEVICE, 0, CFG.COMMAND, 2, CMD.IO);
    drv.publish(1);
    expect([rig.dev.state.sent.length, rig.pci.dmaLog.length]).toEqual([0, 0]);
    rig.pci.configWrite(DEVICE, 0, CFG.COMMAND, 2, CMD.IO | CMD.BUS_MASTER);
    rig.wr(VIRTIO_REG.QUEUE_NOTIFY, 2, 1);
    expect(rig.dev.state.sent.map((f) => f.data)).toEqual([[1]]);
  });

  const broken: [string, (drv: HostDriver) => void, string, number][] = [
    ['a chain that loops', (drv) => (drv.desc(1, 0, FRAMES, 10, VIRTQ_DESC.NEXT, 1), drv.desc(1, 1, FRAMES, 10, VIRTQ_DESC.NEXT, 0)), 'chain-loop', 0],
    ['next beyond the table', (drv) => drv.desc(1, 0, FRAMES, 10, VIRTQ_DESC.NEXT, 8), 'bad-next', 0],
    ['an indirect descriptor', (drv) => drv.desc(1, 0, FRAMES, 16, VIRTQ_DESC.INDIRECT), 'indirect', 0],
    ['a device-writable descriptor in a transmit chain', (drv) => drv.desc(1, 0, FRAMES, 10, VIRTQ_DESC.WRITE), 'wrong-direction', 0],
    ['a chain shorter than the header', (drv) => drv.desc(1, 0, FRAMES, 9, 0), 'short-chain', 0],
    ['an available entry beyond the table', () => {}, 'bad-head', 9],
    ['avail.idx more than a queue ahead', (drv) => (drv.desc(1, 0, FRAMES, 10, 0), (drv.avail[1] = 8)), 'avail-too-far', 0],
  ];
  it.each(broken)('%s: DEVICE_NEEDS_RESET and the configuration ISR bit; a reset brings the device back', (_name, setup, kind, head) => {
    const rig = hostRig({ loopback: true });
    const { dev, mem, rd, wr } = rig;
    const drv = new HostDriver(rig);
    setup(drv);
    drv.offer(1, head);
    drv.publish(1);
    expect(dev.state.lastError?.kind).toBe(kind);
    expect(dev.state.errors).toBe(1);
    // a looping chain is given up after as many descriptors as the queue has
    if (kind === 'chain-loop') expect(rig.pci.dmaLog.filter((e) => e.length === 16).length).toBe(8);
    expect(dev.state.sent).toEqual([]);
    expect(rd(VIRTIO_REG.STATUS, 1)).toBe(7 | VIRTIO_STATUS.DEVICE_NEEDS_RESET);
    wr(VIRTIO_REG.STATUS, 1, 7); // the driver cannot clear the device's bit
    expect(rd(VIRTIO_REG.STATUS, 1)).toBe(7 | VIRTIO_STATUS.DEVICE_NEEDS_RESET);
    expect(rd(VIRTIO_REG.ISR, 1)).toBe(VIRTIO_ISR.CONFIG);
    expect(dev.receive(Uint8Array.of(1))).toBe('needs-reset');
    // reset and start again with a good chain
    mem.write(Number(drv.lay[1]!.avail), 4, 0);
    const again = new HostDriver(rig);
    again.desc(1, 0, FRAMES, putPacket(mem, FRAMES, [4, 2]), 0);
    again.offer(1, 0);
    again.publish(1);
    expect(dev.state.sent.map((f) => f.data)).toEqual([[4, 2]]);
    expect(rd(VIRTIO_REG.STATUS, 1)).toBe(7);
  });
});

describe('ringView and snapshots', () => {
  it('the view reads guest memory now: chains offered and not yet used belong to the device', () => {
    const rig = hostRig();
    const drv = new HostDriver(rig);
    drv.desc(0, 0, RXB, 64, VIRTQ_DESC.WRITE | VIRTQ_DESC.NEXT, 2);
    drv.desc(0, 2, RXB + 64, 64, VIRTQ_DESC.WRITE);
    drv.desc(0, 5, RXB + 128, 64, VIRTQ_DESC.WRITE);
    drv.offer(0, 0);
    drv.offer(0, 5);
    drv.publish(0, false);
    const v0 = rig.dev.ringView(memReader(rig.mem)).queues[0];
    expect(v0.pending).toEqual([0, 5]);
    expect(v0.descriptors!.map((d) => d.owner)).toEqual(['device', 'driver', 'device', 'driver', 'driver', 'device', 'driver', 'driver']);
    expect(v0.descriptors![0]).toEqual({ index: 0, addr: `0x${RXB.toString(16)}`, len: 64, flags: VIRTQ_DESC.WRITE | VIRTQ_DESC.NEXT, next: 2, owner: 'device' });
    expect(v0.availRing).toMatchObject({ flags: 0, idx: 2 });
    expect(rig.pci.dmaLog).toEqual([]); // the view made no request
    expect(rig.dev.receive(Uint8Array.of(1, 2))).toBe('received');
    const v1 = rig.dev.ringView(memReader(rig.mem)).queues[0];
    expect(v1.pending).toEqual([5]);
    expect(v1.usedRing).toMatchObject({ idx: 1 });
    expect(v1.usedRing!.ring[0]).toEqual({ id: 0, len: 12 });
    expect(rig.dev.ringView(() => null).queues[0].descriptors).toBeNull();
  });

  it('property: snapshot → JSON → restore, then the same operations give the same device, memory and log', () => {
    type Op = { kind: 'send'; len: number; split: boolean } | { kind: 'offer-rx' } | { kind: 'rx'; len: number } | { kind: 'isr' } | { kind: 'loopback'; on: boolean };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('send' as const), len: fc.integer({ min: 0, max: 3000 }), split: fc.boolean() }),
      fc.record({ kind: fc.constant('offer-rx' as const) }),
      fc.record({ kind: fc.constant('rx' as const), len: fc.integer({ min: 1, max: 2100 }) }),
      fc.record({ kind: fc.constant('isr' as const) }),
      fc.record({ kind: fc.constant('loopback' as const), on: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), fc.nat(), (ops, cutAt) => {
        const rig = hostRig();
        const drv = new HostDriver(rig);
        let sendNo = 0;
        let rxFree = 0;
        const apply = (o: Op) => {
          if (o.kind === 'send') {
            const k = sendNo++;
            const slot = k % 4;
            const at = FRAMES + slot * 0x1000;
            const len = putPacket(rig.mem, at, frameBytes(k, o.len));
            const head = slot * 2;
            if (o.split) {
              drv.desc(1, head, at, NET_HDR_BYTES, VIRTQ_DESC.NEXT, head + 1);
              drv.desc(1, head + 1, at + NET_HDR_BYTES, len - NET_HDR_BYTES, 0);
            } else drv.desc(1, head, at, len, 0);
            drv.offer(1, head);
            drv.publish(1);
          } else if (o.kind === 'offer-rx') {
            // at most a queue's worth outstanding (more would be the driver's error)
            if (((drv.avail[0]! - rig.dev.state.queues[0].lastAvail) & 0xffff) >= 8) return;
            const id = rxFree++ % 8;
            drv.desc(0, id, RXB + id * SLOT, 1200, VIRTQ_DESC.WRITE);
            drv.offer(0, id);
            drv.publish(0);
          } else if (o.kind === 'rx') rig.dev.receive(Uint8Array.from(frameBytes(100 + o.len, o.len)));
          else if (o.kind === 'isr') rig.rd(VIRTIO_REG.ISR, 1);
          else rig.dev.state.loopback = o.on;
        };
        const cut = cutAt % (ops.length + 1);
        ops.slice(0, cut).forEach(apply);
        const snap = JSON.parse(JSON.stringify(rig.pci.snapshot())) as ReturnType<PciBus['snapshot']>;
        expect(JSON.parse(JSON.stringify(rig.dev.snapshot()))).toEqual(rig.dev.snapshot());
        const memBefore = bytesAt(rig.mem, RXQ, 0x2000).concat(bytesAt(rig.mem, TXQ, 0x2000), bytesAt(rig.mem, RXB, 8 * SLOT));
        const driverBefore = { avail: drv.avail.slice(), sendNo, rxFree };
        const rest = ops.slice(cut);
        rest.forEach(apply);
        const first = { dev: JSON.stringify(rig.dev.snapshot()), log: JSON.stringify(rig.pci.dmaLog), mem: bytesAt(rig.mem, RXB, 8 * SLOT) };
        // back: device and bus from the snapshot, guest memory and the driver's own counters as they were
        rig.pci.restore(snap);
        memBefore.forEach((b, i) => rig.mem.write8(i < 0x2000 ? RXQ + i : i < 0x4000 ? TXQ + i - 0x2000 : RXB + i - 0x4000, b));
        drv.avail.splice(0, 2, ...driverBefore.avail);
        sendNo = driverBefore.sendNo;
        rxFree = driverBefore.rxFree;
        rest.forEach(apply);
        expect({ dev: JSON.stringify(rig.dev.snapshot()), log: JSON.stringify(rig.pci.dmaLog), mem: bytesAt(rig.mem, RXB, 8 * SLOT) }).toEqual(first);
        // the driver never exceeds what it offered, so the device never needs a reset here
        expect(rig.dev.state.errors).toBe(0);
      }),
      { numRuns: 60 },
    );
  });
});

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}
