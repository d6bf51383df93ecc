/**
 * The virtio-blk device driven by real guest code: a 32-bit legacy virtio block driver, assembled
 * by the lab's assembler, runs bare on the CPU with the port bus as its I/O (the registers are an
 * I/O BAR) and the PCI bus doing the device's DMA. It finds 1AF4:1001 on bus 0, sizes and places
 * BAR0, enables I/O space and bus mastering, resets the device, sets ACKNOWLEDGE and DRIVER, accepts
 * SEG_MAX and FLUSH, reads the capacity and seg_max from the configuration, sets up queue 0 (checks
 * its size, zeroes the rings, gives the page frame number) and sets DRIVER_OK. Then, for each round,
 * it writes N requests of PER sectors in ONE batch (N chains in the available ring, one notify),
 * waits for the used ring, and reads the same sectors back into another buffer in a second batch;
 * finally it compares the two buffers with REPE CMPSB. Each request is the legacy framing: header
 * descriptor (16 bytes, device-readable) → data descriptor → status descriptor (1 byte,
 * device-writable). The driver keeps every status byte and every used length it got back.
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
import { queueLayout, VIRTIO_ISR, VIRTIO_REG, VIRTIO_STATUS, VIRTIO_VENDOR, VIRTQ_AVAIL_NO_INTERRUPT, VIRTQ_DESC, type RingReader } from './virtio-net.ts';
import {
  BLK_CONFIG,
  BLK_HDR_BYTES,
  SECTOR,
  VIRTIO_BLK_BAR_SIZE,
  VIRTIO_BLK_DEVICE,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_S,
  VIRTIO_BLK_T,
  VirtioBlk,
  type VirtioBlkOptions,
  type VirtioBlkState,
} from './virtio-blk.ts';

const LOAD = 0x100000;
const RESULT = 0x600;
const VARS = RESULT + 0x80; // AVAIL, BATCH, ROUND, TYPE, DFLAGS, BUF, SECTOR
const IO_BASE = 0xc000;
const QBASE = 0x200000;
const HDR = 0x210000;
const STAT = 0x211000; // status byte of request k of batch b at STAT + 64b + k
const ULEN = 0x212000; // used length of request k of batch b at ULEN + 4(64b + k)
const SRC = 0x300000;
const DST = 0x400000;
const VICTIM = 0x600000;
const DEVICE = 5;
const RID = requesterId(0, DEVICE, 0);
const V = { AVAIL: VARS, BATCH: VARS + 4, ROUND: VARS + 8, TYPE: VARS + 12, DFLAGS: VARS + 16, BUF: VARS + 20, SECTOR: VARS + 24 };

interface Drive {
  /** The device's queue size (the driver checks it). */
  q: number;
  /** Requests per batch (3 descriptors each: at most q / 3). */
  n: number;
  /** Sectors per request. */
  per: number;
  /** Rounds of (write batch, read batch). */
  rounds: number;
  /** First sector written. */
  start: number;
  /** The device's capacity in sectors. */
  capacity: number;
  /** In the first write batch, request k asks for sectors running past the capacity. */
  badSector?: number;
  /** In the first write batch, request k has type 7 (no such request). */
  badType?: number;
  /** In the first write batch, request k's data descriptor points at VICTIM. */
  victim?: number;
}

const io = (off: number) => IO_BASE + off;

function program(d: Drive): string {
  if (3 * d.n > d.q) throw new Error('a batch needs 3 descriptors per request');
  const lay = queueLayout(BigInt(QBASE), d.q);
  const AVAIL = Number(lay.avail);
  const USED = Number(lay.used);
  const bytes = d.per * SECTOR;
  /** Guest code replacing a value for request `k` of the first batch only (nothing if `k` is undefined). */
  const over = (name: string, k: number | undefined, body: string) =>
    k === undefined ? '' : `  cmp dword [${V.BATCH}], 0\n  jne skip_${name}\n  cmp ebx, ${k}\n  jne skip_${name}\n${body}skip_${name}:\n`;
  return `bits 32
org ${LOAD}
${findAndPlaceBar0(VIRTIO_VENDOR, VIRTIO_BLK_DEVICE, RESULT, IO_BASE, true)}
${setCommand(CMD.IO | CMD.BUS_MASTER)}  ; reset, ACKNOWLEDGE, DRIVER
  mov dx, ${io(VIRTIO_REG.STATUS)}
  xor al, al
  out dx, al
  mov al, ${VIRTIO_STATUS.ACKNOWLEDGE}
  out dx, al
  mov al, ${VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER}
  out dx, al
  ; features: accept SEG_MAX and FLUSH of what is offered
  mov dx, ${io(VIRTIO_REG.DEVICE_FEATURES)}
  in eax, dx
  mov [${RESULT + 8}], eax
  and eax, ${VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH}
  mov dx, ${io(VIRTIO_REG.DRIVER_FEATURES)}
  out dx, eax
  in eax, dx
  mov [${RESULT + 12}], eax
  ; the configuration: capacity (u64) and seg_max
  mov dx, ${io(BLK_CONFIG.CAPACITY)}
  in eax, dx
  mov [${RESULT + 16}], eax
  mov dx, ${io(BLK_CONFIG.CAPACITY + 4)}
  in eax, dx
  mov [${RESULT + 20}], eax
  mov dx, ${io(BLK_CONFIG.SEG_MAX)}
  in eax, dx
  mov [${RESULT + 24}], eax
  ; queue 0: select, check its size, zero the rings, give the page frame number
  mov dx, ${io(VIRTIO_REG.QUEUE_SELECT)}
  xor ax, ax
  out dx, ax
  mov dx, ${io(VIRTIO_REG.QUEUE_SIZE)}
  in ax, dx
  movzx eax, ax
  mov [${RESULT + 28}], eax
  cmp eax, ${d.q}
  jne wrong_size
  mov edi, ${QBASE}
  mov ecx, ${Math.ceil(lay.bytes / 4)}
  xor eax, eax
  rep stosd
  mov dx, ${io(VIRTIO_REG.QUEUE_PFN)}
  mov eax, ${QBASE >>> 12}
  out dx, eax
  mov dx, ${io(VIRTIO_REG.STATUS)}
  mov al, ${VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.DRIVER_OK}
  out dx, al

round:
  ; write: N requests from SRC + round * N * PER * 512 to sectors START + round * N * PER
  mov dword [${V.TYPE}], ${VIRTIO_BLK_T.OUT}
  mov dword [${V.DFLAGS}], 0
  mov eax, [${V.ROUND}]
  imul eax, eax, ${d.n * bytes}
  add eax, ${SRC}
  mov [${V.BUF}], eax
  mov eax, [${V.ROUND}]
  imul eax, eax, ${d.n * d.per}
  add eax, ${d.start}
  mov [${V.SECTOR}], eax
  call submit
  ; read them back into DST
  mov dword [${V.TYPE}], ${VIRTIO_BLK_T.IN}
  mov dword [${V.DFLAGS}], ${VIRTQ_DESC.WRITE}
  mov eax, [${V.ROUND}]
  imul eax, eax, ${d.n * bytes}
  add eax, ${DST}
  mov [${V.BUF}], eax
  call submit
  inc dword [${V.ROUND}]
  cmp dword [${V.ROUND}], ${d.rounds}
  jb round
  ; compare what was written with what came back
  mov esi, ${SRC}
  mov edi, ${DST}
  mov ecx, ${d.rounds * d.n * bytes}
  repe cmpsb
  setne al
  movzx eax, al
  mov [${RESULT + 40}], eax
finish:
  mov dx, ${io(VIRTIO_REG.ISR)}
  in al, dx
  mov [${RESULT + 48}], al
  mov dx, ${io(VIRTIO_REG.STATUS)}
  in al, dx
  mov [${RESULT + 52}], al
  hlt
wrong_size:
  mov dword [${RESULT + 36}], 1
  hlt
broken:
  mov dword [${RESULT + 32}], 1
  jmp finish

; N chains of TYPE over BUF and SECTOR up, in the available ring; one notify; wait for all
submit:
  xor ebx, ebx
fill:
  ; header k at HDR + 16k: type, reserved 0, sector
  mov edi, ebx
  shl edi, 4
  add edi, ${HDR}
  mov eax, [${V.TYPE}]
${over('type', d.badType, '  mov eax, 7\n')}  mov [edi], eax
  mov dword [edi + 4], 0
  mov eax, ebx
  imul eax, eax, ${d.per}
  add eax, [${V.SECTOR}]
${over('sector', d.badSector, `  mov eax, ${d.capacity - d.per + 1}\n`)}  mov [edi + 8], eax
  mov dword [edi + 12], 0
  ; status byte: STAT + 64 * batch + k, preset to 0xFF so that the device's answer shows
  mov esi, [${V.BATCH}]
  shl esi, 6
  add esi, ebx
  add esi, ${STAT}
  mov byte [esi], 0xff
  ; data: BUF + k * PER * 512
  mov ecx, ebx
  imul ecx, ecx, ${bytes}
  add ecx, [${V.BUF}]
${over('victim', d.victim, `  mov ecx, ${VICTIM}\n`)}  ; descriptors 3k (header), 3k+1 (data), 3k+2 (status) at QBASE + 48k
  mov eax, ebx
  imul eax, eax, 48
  add eax, ${QBASE}
  lea ebp, [ebx + ebx*2]
  mov [eax], edi
  mov dword [eax + 4], 0
  mov dword [eax + 8], ${BLK_HDR_BYTES}
  lea edx, [ebp + 1]
  shl edx, 16
  or edx, ${VIRTQ_DESC.NEXT}
  mov [eax + 12], edx
  mov [eax + 16], ecx
  mov dword [eax + 20], 0
  mov dword [eax + 24], ${bytes}
  lea edx, [ebp + 2]
  shl edx, 16
  or edx, ${VIRTQ_DESC.NEXT}
  or edx, [${V.DFLAGS}]
  mov [eax + 28], edx
  mov [eax + 32], esi
  mov dword [eax + 36], 0
  mov dword [eax + 40], 1
  mov dword [eax + 44], ${VIRTQ_DESC.WRITE}
  ; avail.ring[avail % size] = 3k
  mov eax, [${V.AVAIL}]
  and eax, ${d.q - 1}
  mov [${AVAIL + 4} + eax*2], bp
  inc dword [${V.AVAIL}]
  inc ebx
  cmp ebx, ${d.n}
  jb fill
  ; publish the batch and notify once
  mov eax, [${V.AVAIL}]
  mov [${AVAIL + 2}], ax
  mov dx, ${io(VIRTIO_REG.QUEUE_NOTIFY)}
  xor ax, ax
  out dx, ax
wait:
  mov dx, ${io(VIRTIO_REG.STATUS)}
  in al, dx
  test al, ${VIRTIO_STATUS.DEVICE_NEEDS_RESET}
  jnz broken_pop
  mov ax, [${USED + 2}]
  cmp ax, [${V.AVAIL}]
  jne wait
  ; keep the used lengths: entry (avail - N + k) % size for k = 0..N-1
  xor ebx, ebx
lens:
  mov eax, [${V.AVAIL}]
  sub eax, ${d.n}
  add eax, ebx
  and eax, ${d.q - 1}
  mov edx, [${USED + 8} + eax*8]
  mov eax, [${V.BATCH}]
  shl eax, 6
  add eax, ebx
  mov [${ULEN} + eax*4], edx
  inc ebx
  cmp ebx, ${d.n}
  jb lens
  inc dword [${V.BATCH}]
  ret
broken_pop:
  add esp, 4
  jmp broken
`;
}

/** The byte written at offset i of the source buffer (differs per sector and per byte). */
const srcByte = (i: number) => ((i >> 9) * 37 + i * 13 + 1) & 0xff;
const bytesAt = (mem: PhysMem, pa: number, n: number) => Array.from({ length: n }, (_, i) => mem.read8(pa + i));
const memReader =
  (mem: PhysMem): RingReader =>
  (addr, length) =>
    Uint8Array.from(bytesAt(mem, Number(addr), length));

function assembleDrive(d: Drive): Uint8Array {
  const asm = assemble(program(d));
  if (!asm.ok) throw new Error(asm.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n'));
  return asm.bytes;
}

function prepare(mem: PhysMem, d: Drive): void {
  const total = d.rounds * d.n * d.per * SECTOR;
  for (let i = 0; i < total; i++) mem.write8(SRC + i, srcByte(i));
  for (let i = 0; i < 0x1000; i++) mem.write8(VICTIM + i, 0x5e);
}

function wire(m: ReturnType<typeof machineFrom> | ReturnType<typeof createBareMachine>, d: Drive, remapper?: (mem: PhysMem) => DmaRemapper, opts: VirtioBlkOptions = {}) {
  const ports = new PortBus();
  const pci = new PciBus({ mem: m.mem, ports, ...(remapper ? { remapper: remapper(m.mem) } : {}) });
  const dev = new VirtioBlk('virtio-blk', { queueSize: d.q, sectors: d.capacity, ...opts });
  pci.add(DEVICE, 0, dev);
  m.cpu.io = ports;
  prepare(m.mem, d);
  return { ports, pci, dev };
}

function boot(d: Drive, remapper?: (mem: PhysMem) => DmaRemapper, opts: VirtioBlkOptions = {}) {
  const m = createBareMachine({ mode: 'prot32', load: LOAD, code: assembleDrive(d) });
  const { ports, pci, dev } = wire(m, d, remapper, opts);
  const r = (k: number) => m.mem.read(RESULT + 4 * k, 4) >>> 0;
  const batches = 2 * d.rounds;
  const result = () => ({
    device: r(0),
    barSize: r(1),
    features: r(2),
    accepted: r(3),
    capacity: r(4) + r(5) * 2 ** 32,
    segMax: r(6),
    size: r(7),
    broken: r(8),
    wrongSize: r(9),
    differ: r(10),
    isr: m.mem.read8(RESULT + 48),
    status: m.mem.read8(RESULT + 52),
    /** Per batch (write, read, write, read, ...), each request's status byte and used length. */
    statuses: Array.from({ length: batches }, (_, b) => bytesAt(m.mem, STAT + 64 * b, d.n)),
    usedLens: Array.from({ length: batches }, (_, b) => Array.from({ length: d.n }, (_, k) => m.mem.read(ULEN + 4 * (64 * b + k), 4) >>> 0)),
  });
  const run = (steps = 20_000_000) => ({ end: m.cpu.run(steps), ...result() });
  return { m, ports, pci, dev, run };
}

const base: Drive = { q: 16, n: 5, per: 2, rounds: 1, start: 100, capacity: 2048 };
const OK = VIRTIO_BLK_S.OK;

describe('a legacy virtio-blk driver writes N blocks in one batch and reads them back', () => {
  it('finds 1AF4:1001, negotiates, reads the capacity; 5 requests of 2 sectors: one notify each way, the data round-trips', () => {
    const d = base;
    const { m, pci, dev, run } = boot(d);
    const r = run();
    expect(r.end).toBe('hlt');
    expect([r.broken, r.wrongSize, r.differ]).toEqual([0, 0, 0]);
    expect([r.device, r.barSize]).toEqual([DEVICE, VIRTIO_BLK_BAR_SIZE]);
    expect(pci.ioWindowsNow()).toEqual([{ devfn: DEVICE << 3, device: 'virtio-blk', bar: 0, base: IO_BASE, size: VIRTIO_BLK_BAR_SIZE }]);
    expect([r.features, r.accepted]).toEqual([VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH]);
    expect([r.capacity, r.segMax, r.size]).toEqual([2048, 14, 16]);
    expect(r.statuses).toEqual([new Array(5).fill(OK), new Array(5).fill(OK)]);
    // used.len: what the device wrote into the driver's buffers (the status byte; for reads the data too)
    expect(r.usedLens).toEqual([new Array(5).fill(1), new Array(5).fill(2 * SECTOR + 1)]);
    // the disk holds what was written, sector by sector, and nothing else
    for (let k = 0; k < 10; k++) expect([...dev.sector(100 + k)]).toEqual(bytesAt(m.mem, SRC + k * SECTOR, SECTOR));
    expect(Object.keys(dev.state.sectors).map(Number)).toEqual(Array.from({ length: 10 }, (_, k) => 100 + k));
    expect(bytesAt(m.mem, DST, 10 * SECTOR)).toEqual(bytesAt(m.mem, SRC, 10 * SECTOR));
    // a batch is one notify: two in all
    expect(dev.state.notifies).toBe(2);
    expect(dev.state.chains).toBe(10);
    expect(dev.state.requests).toEqual({ in: 5, out: 5, flush: 0, getId: 0, other: 0, unread: 0 });
    expect(dev.state.statuses).toEqual({ ok: 10, ioerr: 0, unsupp: 0 });
    expect([dev.state.sectorsWritten, dev.state.sectorsRead, dev.state.errors]).toEqual([10, 10, 0]);
    expect(dev.state.dma).toEqual({
      // per batch avail flags+idx (4); per request its entry (2) and three descriptors (48)
      ringRead: 2 * 4 + 10 * (2 + 48),
      // per request a used element (8); per batch used.idx (2)
      ringWritten: 10 * 8 + 2 * 2,
      // headers of every request, the data of the writes
      dataRead: 10 * BLK_HDR_BYTES + 5 * 2 * SECTOR,
      // the data of the reads, every status byte
      dataWritten: 5 * 2 * SECTOR + 10,
    });
    expect(r.isr).toBe(VIRTIO_ISR.QUEUE);
    expect(r.status).toBe(VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.DRIVER_OK);
    // the first requests in order: avail head, entry 0, its three descriptors, header, data, status, used element
    const lay = queueLayout(BigInt(QBASE), 16);
    expect(pci.dmaLog.slice(0, 10).map((e) => [e.access, e.what, e.iova, e.length])).toEqual([
      ['read', 'ring', hex(lay.avail), 4],
      ['read', 'ring', hex(lay.avail + 4n), 2],
      ['read', 'ring', hex(lay.desc), 16],
      ['read', 'ring', hex(lay.desc + 16n), 16],
      ['read', 'ring', hex(lay.desc + 32n), 16],
      ['read', 'data', `0x${HDR.toString(16)}`, 16],
      ['read', 'data', `0x${SRC.toString(16)}`, 1024],
      ['write', 'data', `0x${STAT.toString(16)}`, 1],
      ['write', 'ring', hex(lay.used + 4n), 8],
      ['read', 'ring', hex(lay.avail + 6n), 2],
    ]);
    expect(pci.dmaLog.every((e) => e.ok && e.rid === RID)).toBe(true);
  });

  it('many rounds through a queue of 64 (21 requests a batch): the indices wrap the ring and every sector comes back', () => {
    const d: Drive = { q: 64, n: 21, per: 1, rounds: 7, start: 0, capacity: 4096 };
    const { m, dev, run } = boot(d);
    const r = run(60_000_000);
    expect(r.end).toBe('hlt');
    expect([r.broken, r.differ]).toEqual([0, 0]);
    expect(r.statuses.flat().every((s) => s === OK)).toBe(true);
    expect(dev.state.notifies).toBe(14);
    expect(dev.state.queue).toMatchObject({ lastAvail: 14 * 21, usedIdx: 14 * 21 });
    expect(dev.ringView(memReader(m.mem)).queue.usedRing!.idx).toBe(14 * 21);
    expect(Object.keys(dev.state.sectors)).toHaveLength(147);
  });

  it('a request running past the capacity: IOERR in its status byte, nothing stored; the others of the batch succeed', () => {
    const d: Drive = { ...base, capacity: 200, badSector: 2 };
    const { dev, run } = boot(d);
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.broken).toBe(0);
    expect(r.statuses[0]).toEqual([OK, OK, VIRTIO_BLK_S.IOERR, OK, OK]);
    expect(r.statuses[1]).toEqual(new Array(5).fill(OK));
    // request 2 asked for sectors 199 and 200 of 200: not written, so its read returns zeros and the compare fails
    expect(dev.state.sectors[199]).toBeUndefined();
    expect(r.differ).toBe(1);
    expect(dev.state.statuses).toEqual({ ok: 9, ioerr: 1, unsupp: 0 });
    expect(dev.state.sectorsWritten).toBe(8);
    expect(r.usedLens[0]).toEqual([1, 1, 1, 1, 1]);
  });

  it('a request of an unknown type: UNSUPP, and the device goes on', () => {
    const { dev, run } = boot({ ...base, badType: 0 });
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.statuses[0]).toEqual([VIRTIO_BLK_S.UNSUPP, OK, OK, OK, OK]);
    expect(dev.state.requests.other).toBe(1);
    expect(dev.state.sectors[100]).toBeUndefined();
    expect(dev.state.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET).toBe(0);
  });
});

/** VT-d: a domain for the device mapping only its queue, headers, status bytes and the two buffers. */
function vtdFor(d: Drive) {
  return (mem: PhysMem): DmaRemapper => {
    const kit = new VtdKit(mem, new PageAlloc(0x3000000));
    const slpt = kit.context(RID, { did: 3 });
    const pages: number[] = [HDR, STAT];
    for (let p = 0; p < queueLayout(0n, d.q).bytes; p += 0x1000) pages.push(QBASE + p);
    const total = d.rounds * d.n * d.per * SECTOR;
    for (let p = 0; p < total; p += 0x1000) pages.push(SRC + p, DST + p);
    for (const b of pages) kit.map(slpt, 4, BigInt(b), b, { r: true, w: true });
    kit.enable();
    return kit.iommu;
  };
}

describe('under VT-d: a domain with only the queue and the buffers', () => {
  it('the same driver works; every request is translated by domain 3', () => {
    const { pci, run } = boot(base, vtdFor(base));
    const r = run();
    expect([r.end, r.broken, r.differ]).toEqual(['hlt', 0, 0]);
    expect(pci.dmaLog.length).toBeGreaterThan(50);
    expect(pci.dmaLog.every((e) => e.ok && e.domainId === 3)).toBe(true);
  });

  it('a data buffer outside the domain: the read is blocked and recorded, that request fails with IOERR, the rest succeed', () => {
    const d: Drive = { ...base, victim: 3 };
    const { pci, dev, run } = boot(d, vtdFor(d));
    const r = run();
    expect(r.end).toBe('hlt');
    expect(r.broken).toBe(0);
    expect(r.statuses[0]).toEqual([OK, OK, OK, VIRTIO_BLK_S.IOERR, OK]);
    const faults = pci.dmaLog.filter((e) => !e.ok);
    expect(faults.map((e) => [e.access, e.what, e.iova, e.length])).toEqual([['read', 'data', `0x${VICTIM.toString(16)}`, 1024]]);
    expect(faults[0]!.fault).toEqual({ vendor: 'vtd', reason: VTD_FAULT.READ, recorded: true });
    // the victim's bytes never reached the disk: request 3's sectors (106, 107) stay empty
    expect([dev.state.sectors[106], dev.state.sectors[107]]).toEqual([undefined, undefined]);
    expect(dev.state.errors).toBe(0);
    expect(dev.state.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET).toBe(0);
  });

  it('without an IOMMU the same driver writes the page it was not given to the disk (the escape)', () => {
    const { dev, run } = boot({ ...base, victim: 3 });
    expect(run().statuses[0]).toEqual(new Array(5).fill(OK));
    expect([...dev.sector(106)]).toEqual(new Array(SECTOR).fill(0x5e));
  });
});

describe('time travel', () => {
  it('a checkpoint mid-run (machine + bus snapshots) replays to the same disk, logs and memory', () => {
    const d: Drive = { ...base, n: 4, rounds: 6 };
    const m = machineFrom(createBareMachine({ mode: 'prot32', load: LOAD, code: assembleDrive(d) }));
    const { ports, pci, dev } = wire(m, d);
    while (dev.state.notifies < 5) expect(m.cpu.run(1)).toBe('limit');
    expect(dev.state.chains).toBe(20);
    const cpuSnap = m.snapshot();
    const busSnap = JSON.parse(JSON.stringify(pci.snapshot())) as ReturnType<PciBus['snapshot']>;
    const logLength = ports.logLength;
    const outcome = () => ({ end: m.cpu.run(20_000_000), bus: JSON.stringify(pci.snapshot()), ports: JSON.stringify(ports.log), dst: bytesAt(m.mem, DST, 6 * 4 * 2 * SECTOR), stat: bytesAt(m.mem, STAT, 12 * 64), rings: dev.ringView(memReader(m.mem)), steps: m.cpu.state.steps });
    const first = outcome();
    expect(first.end).toBe('hlt');
    expect(m.mem.read(RESULT + 40, 4)).toBe(0);
    expect(dev.state.notifies).toBe(12);
    m.restore(cpuSnap);
    pci.restore(busSnap);
    ports.restoreLog(ports.log, logLength);
    expect(dev.state.chains).toBe(20);
    expect(outcome()).toEqual(first);
  });
});

// ---- registers and requests, driven from the host -------------------------------------------------

const BUF = 0x300000;
const HBUF = 0x280000;

function hostRig(opts: VirtioBlkOptions = {}, remapper?: (mem: PhysMem) => DmaRemapper) {
  const m = createBareMachine({ mode: 'prot32', load: LOAD, code: new Uint8Array([0xf4]) });
  const ports = new PortBus();
  const pci = new PciBus({ mem: m.mem, ports, ...(remapper ? { remapper: remapper(m.mem) } : {}) });
  const dev = new VirtioBlk('virtio-blk', { queueSize: 16, sectors: 64, ...opts });
  pci.add(DEVICE, 0, dev);
  pci.configWrite(DEVICE, 0, CFG.BAR0, 4, IO_BASE);
  pci.configWrite(DEVICE, 0, CFG.COMMAND, 2, CMD.IO | CMD.BUS_MASTER);
  const rd = (off: number, size: 1 | 2 | 4) => ports.portIn(io(off), size);
  const wr = (off: number, size: 1 | 2 | 4, v: number) => ports.portOut(io(off), size, v);
  return { mem: m.mem, ports, pci, dev, rd, wr };
}

type Rig = ReturnType<typeof hostRig>;

/** A driver in TypeScript, for the cases guest code makes long-winded. */
class HostDriver {
  readonly lay: ReturnType<typeof queueLayout>;
  avail = 0;
  constructor(
    readonly rig: Rig,
    readonly size = 16,
  ) {
    const { wr } = rig;
    wr(VIRTIO_REG.STATUS, 1, 0);
    wr(VIRTIO_REG.STATUS, 1, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER);
    wr(VIRTIO_REG.DRIVER_FEATURES, 4, VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH);
    wr(VIRTIO_REG.QUEUE_SELECT, 2, 0);
    wr(VIRTIO_REG.QUEUE_PFN, 4, QBASE >>> 12);
    this.lay = queueLayout(BigInt(QBASE), size);
    for (let i = 0; i < this.lay.bytes; i++) rig.mem.write8(QBASE + i, 0);
    wr(VIRTIO_REG.STATUS, 1, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.DRIVER_OK);
  }
  desc(i: number, addr: number, len: number, flags: number, next = 0): void {
    const at = Number(this.lay.desc) + 16 * i;
    const mem = this.rig.mem;
    mem.write(at, 4, addr);
    mem.write(at + 4, 4, 0);
    mem.write(at + 8, 4, len);
    mem.write(at + 12, 2, flags);
    mem.write(at + 14, 2, next);
  }
  /** A chain of descriptors from `first` on: [addr, len, writable] each, linked in order. */
  chain(first: number, parts: [number, number, boolean][]): number {
    parts.forEach(([addr, len, w], k) => this.desc(first + k, addr, len, (w ? VIRTQ_DESC.WRITE : 0) | (k < parts.length - 1 ? VIRTQ_DESC.NEXT : 0), first + k + 1));
    return first;
  }
  header(at: number, type: number, sector: bigint | number): void {
    const mem = this.rig.mem;
    mem.write(at, 4, type);
    mem.write(at + 4, 4, 0);
    const s = BigInt(sector);
    mem.write(at + 8, 4, Number(s & 0xffffffffn));
    mem.write(at + 12, 4, Number(s >> 32n));
  }
  /** A legacy request at descriptors first.. with its header at `hdr`, data parts, status at `stat`. */
  request(first: number, hdr: number, type: number, sector: bigint | number, data: [number, number][], stat: number): number {
    this.header(hdr, type, sector);
    this.rig.mem.write8(stat, 0xff);
    const w = type !== VIRTIO_BLK_T.OUT;
    return this.chain(first, [[hdr, 16, false], ...data.map(([a, l]): [number, number, boolean] => [a, l, w]), [stat, 1, true]]);
  }
  offer(head: number): void {
    this.rig.mem.write(Number(this.lay.avail) + 4 + 2 * (this.avail % this.size), 2, head);
    this.avail = (this.avail + 1) & 0xffff;
  }
  publish(notify = true): void {
    this.rig.mem.write(Number(this.lay.avail) + 2, 2, this.avail);
    if (notify) this.rig.wr(VIRTIO_REG.QUEUE_NOTIFY, 2, 0);
  }
  used(n: number): { id: number; len: number } {
    const at = Number(this.lay.used) + 4 + 8 * (n % this.size);
    return { id: this.rig.mem.read(at, 4), len: this.rig.mem.read(at + 4, 4) };
  }
  usedIdx(): number {
    return this.rig.mem.read(Number(this.lay.used) + 2, 2);
  }
}

const fill = (mem: PhysMem, at: number, n: number, f: (i: number) => number) => {
  for (let i = 0; i < n; i++) mem.write8(at + i, f(i) & 0xff);
};

describe('registers', () => {
  it('identity in configuration space: transitional block device, mass storage class, I/O BAR of 64 bytes', () => {
    const { pci } = hostRig();
    const c = (off: number, size: 1 | 2 | 4) => pci.configRead(DEVICE, 0, off, size);
    expect([c(CFG.VENDOR_ID, 2), c(CFG.DEVICE_ID, 2), c(CFG.REVISION, 1), c(CFG.REVISION, 4) >>> 8]).toEqual([0x1af4, 0x1001, 0, 0x010000]);
    expect([c(CFG.SUBSYS_VENDOR_ID, 2), c(CFG.SUBSYS_ID, 2), c(CFG.INTERRUPT_PIN, 1), c(CFG.STATUS, 2)]).toEqual([0x1af4, 2, 1, 0]);
    expect(c(CFG.BAR0, 4)).toBe(IO_BASE | 1);
    pci.configWrite(DEVICE, 0, CFG.BAR0, 4, 0xffffffff);
    expect(c(CFG.BAR0, 4) >>> 0).toBe(0xffffffc1);
  });

  it('features, the queue registers, the configuration at any width inside it; odd accesses read all ones and are counted; a reset clears', () => {
    const { rd, wr, dev } = hostRig({ sectors: 0x12345, queueSize: 32 });
    expect(rd(VIRTIO_REG.DEVICE_FEATURES, 4)).toBe(VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH);
    wr(VIRTIO_REG.DRIVER_FEATURES, 4, 0xffffffff);
    expect(rd(VIRTIO_REG.DRIVER_FEATURES, 4)).toBe(VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH);
    expect([rd(VIRTIO_REG.QUEUE_SIZE, 2), rd(VIRTIO_REG.QUEUE_PFN, 4)]).toEqual([32, 0]);
    wr(VIRTIO_REG.QUEUE_PFN, 4, QBASE >>> 12);
    wr(VIRTIO_REG.QUEUE_SELECT, 2, 1); // there is one queue
    expect([rd(VIRTIO_REG.QUEUE_SIZE, 2), rd(VIRTIO_REG.QUEUE_PFN, 4)]).toEqual([0, 0]);
    wr(VIRTIO_REG.QUEUE_PFN, 4, 0x999); // ignored
    wr(VIRTIO_REG.QUEUE_SELECT, 2, 0);
    expect(rd(VIRTIO_REG.QUEUE_PFN, 4)).toBe(QBASE >>> 12);
    // capacity 0x12345 sectors, size_max 0 (not offered), seg_max 30
    expect([rd(0x14, 4), rd(0x18, 4), rd(0x1c, 4), rd(0x20, 4)]).toEqual([0x12345, 0, 0, 30]);
    expect([rd(0x14, 1), rd(0x15, 2), rd(0x16, 1), rd(0x1f, 2), rd(0x22, 2)]).toEqual([0x45, 0x0123, 0x01, 0x1e00, 0]);
    wr(0x14, 4, 0); // read-only
    expect(rd(0x14, 4)).toBe(0x12345);
    expect(dev.state.oddAccesses).toBe(0);
    expect(rd(0x24, 4) >>> 0).toBe(0xffffffff); // past seg_max
    expect(rd(0x22, 4) >>> 0).toBe(0xffffffff); // runs past it
    expect(rd(VIRTIO_REG.QUEUE_NOTIFY, 4) >>> 0).toBe(0xffffffff);
    wr(VIRTIO_REG.STATUS, 2, 0x0707);
    expect(dev.state.oddAccesses).toBe(4);
    wr(VIRTIO_REG.STATUS, 1, 7);
    dev.state.isr = VIRTIO_ISR.QUEUE;
    expect([rd(VIRTIO_REG.STATUS, 1), rd(VIRTIO_REG.ISR, 1), rd(VIRTIO_REG.ISR, 1)]).toEqual([7, 1, 0]);
    wr(VIRTIO_REG.STATUS, 1, 0);
    expect([rd(VIRTIO_REG.STATUS, 1), rd(VIRTIO_REG.DRIVER_FEATURES, 4), rd(VIRTIO_REG.QUEUE_PFN, 4)]).toEqual([0, 0, 0]);
  });

  it('a read-only disk offers RO; a write completes with IOERR and stores nothing, a read works', () => {
    const rig = hostRig({ readOnly: true });
    expect(rig.rd(VIRTIO_REG.DEVICE_FEATURES, 4)).toBe(VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_RO);
    rig.dev.load(3, new Uint8Array(SECTOR).fill(9));
    const drv = new HostDriver(rig);
    fill(rig.mem, BUF, SECTOR, () => 1);
    drv.offer(drv.request(0, HBUF, VIRTIO_BLK_T.OUT, 3, [[BUF, SECTOR]], HBUF + 0x100));
    drv.offer(drv.request(3, HBUF + 16, VIRTIO_BLK_T.IN, 3, [[BUF + 0x1000, SECTOR]], HBUF + 0x101));
    drv.publish();
    expect([rig.mem.read8(HBUF + 0x100), rig.mem.read8(HBUF + 0x101)]).toEqual([VIRTIO_BLK_S.IOERR, OK]);
    expect([...rig.dev.sector(3)]).toEqual(new Array(SECTOR).fill(9));
    expect(bytesAt(rig.mem, BUF + 0x1000, SECTOR)).toEqual(new Array(SECTOR).fill(9));
  });
});

describe('requests', () => {
  it('FLUSH succeeds; GET_ID writes the 20-byte ID; data across pages is split; used.len counts what was written', () => {
    const rig = hostRig({ id: 'disk-7' });
    const drv = new HostDriver(rig);
    const { mem, pci } = rig;
    drv.offer(drv.chain(0, [[HBUF, 16, false], [HBUF + 0x100, 1, true]]));
    drv.header(HBUF, VIRTIO_BLK_T.FLUSH, 0);
    fill(mem, BUF, 0x40, () => 0xee);
    drv.offer(drv.request(2, HBUF + 16, VIRTIO_BLK_T.GET_ID, 0, [[BUF, 20]], HBUF + 0x101));
    // a write of 2 sectors from a buffer that starts 0x100 before a page boundary: two requests on the bus
    const at = BUF + 0x1f00;
    fill(mem, at, 2 * SECTOR, (i) => i * 7 + 3);
    drv.offer(drv.request(5, HBUF + 32, VIRTIO_BLK_T.OUT, 10, [[at, 2 * SECTOR]], HBUF + 0x102));
    drv.publish();
    expect(bytesAt(mem, HBUF + 0x100, 3)).toEqual([OK, OK, OK]);
    expect(bytesAt(mem, BUF, 21)).toEqual([...'disk-7'].map((c) => c.charCodeAt(0)).concat(new Array(14).fill(0), [0xee]));
    expect([drv.used(0), drv.used(1), drv.used(2), drv.usedIdx()]).toEqual([{ id: 0, len: 1 }, { id: 2, len: 21 }, { id: 5, len: 1 }, 3]);
    expect(pci.dmaLog.filter((e) => e.what === 'data' && e.length > 20).map((e) => [e.iova, e.length])).toEqual([
      [`0x${at.toString(16)}`, 0x100],
      [`0x${(at + 0x100).toString(16)}`, 2 * SECTOR - 0x100],
    ]);
    expect([...rig.dev.sector(11)]).toEqual(bytesAt(mem, at + SECTOR, SECTOR));
    expect(rig.dev.state.requests).toMatchObject({ flush: 1, getId: 1, out: 1 });
  });

  it('an IN scattered over three descriptors fills them in order; writing a zero sector leaves the disk sparse', () => {
    const rig = hostRig();
    const drv = new HostDriver(rig);
    const img = Uint8Array.from({ length: 3 * SECTOR }, (_, i) => (i % 251) + 1);
    rig.dev.load(20, img);
    drv.offer(drv.request(0, HBUF, VIRTIO_BLK_T.IN, 20, [[BUF, 100], [BUF + 0x800, 900], [BUF + 0x2000, 3 * SECTOR - 1000]], HBUF + 0x100));
    drv.publish();
    expect(rig.mem.read8(HBUF + 0x100)).toBe(OK);
    expect([...bytesAt(rig.mem, BUF, 100), ...bytesAt(rig.mem, BUF + 0x800, 900), ...bytesAt(rig.mem, BUF + 0x2000, 3 * SECTOR - 1000)]).toEqual([...img]);
    expect(drv.used(0)).toEqual({ id: 0, len: 3 * SECTOR + 1 });
    expect(Object.keys(rig.dev.state.sectors)).toEqual(['20', '21', '22']);
    fill(rig.mem, BUF + 0x3000, SECTOR, () => 0);
    drv.offer(drv.request(5, HBUF, VIRTIO_BLK_T.OUT, 21, [[BUF + 0x3000, SECTOR]], HBUF + 0x101));
    drv.publish();
    expect(Object.keys(rig.dev.state.sectors)).toEqual(['20', '22']);
    expect([...rig.dev.sector(21)]).toEqual(new Array(SECTOR).fill(0));
  });

  const refused: [string, (drv: HostDriver) => number, number, string][] = [
    // legacy framing without ANY_LAYOUT: the header alone in the first descriptor
    ['the header and the data in one descriptor', (drv) => (drv.header(BUF + 0x4000, VIRTIO_BLK_T.OUT, 0), drv.chain(0, [[BUF + 0x4000, 16 + SECTOR, false], [HBUF + 0x100, 1, true]])), VIRTIO_BLK_S.UNSUPP, 'unread'],
    ['the data and the status in one descriptor', (drv) => (drv.header(HBUF, VIRTIO_BLK_T.IN, 0), drv.chain(0, [[HBUF, 16, false], [HBUF + 0x100 - SECTOR, SECTOR + 1, true]])), VIRTIO_BLK_S.UNSUPP, 'unread'],
    ['a device-writable header', (drv) => drv.chain(0, [[HBUF, 16, true], [HBUF + 0x100, 1, true]]), VIRTIO_BLK_S.UNSUPP, 'unread'],
    ['a SCSI command (type 2)', (drv) => drv.request(0, HBUF, 2, 0, [[BUF, SECTOR]], HBUF + 0x100), VIRTIO_BLK_S.UNSUPP, 'other'],
    ['the BARRIER bit', (drv) => drv.request(0, HBUF, 0x80000001, 0, [[BUF, SECTOR]], HBUF + 0x100), VIRTIO_BLK_S.UNSUPP, 'other'],
    ['a length not a multiple of 512', (drv) => drv.request(0, HBUF, VIRTIO_BLK_T.OUT, 0, [[BUF, 500]], HBUF + 0x100), VIRTIO_BLK_S.IOERR, 'out'],
    ['a read into a device-readable buffer', (drv) => (drv.request(0, HBUF, VIRTIO_BLK_T.IN, 0, [[BUF, SECTOR]], HBUF + 0x100), drv.desc(1, BUF, SECTOR, VIRTQ_DESC.NEXT, 2), 0), VIRTIO_BLK_S.IOERR, 'in'],
    ['a sector beyond 2^32', (drv) => drv.request(0, HBUF, VIRTIO_BLK_T.IN, 1n << 40n, [[BUF, SECTOR]], HBUF + 0x100), VIRTIO_BLK_S.IOERR, 'in'],
    ['a GET_ID of 16 bytes', (drv) => drv.request(0, HBUF, VIRTIO_BLK_T.GET_ID, 0, [[BUF, 16]], HBUF + 0x100), VIRTIO_BLK_S.IOERR, 'getId'],
  ];
  it.each(refused)('%s: the status says so, no data moves, the device goes on', (_name, build, status, counted) => {
    const rig = hostRig();
    rig.dev.load(0, new Uint8Array(SECTOR).fill(4));
    const drv = new HostDriver(rig);
    fill(rig.mem, BUF, 0x1000, () => 0x77);
    drv.offer(build(drv));
    drv.publish();
    expect(rig.mem.read8(HBUF + 0x100)).toBe(status);
    expect(drv.used(0)).toEqual({ id: 0, len: 1 });
    expect(bytesAt(rig.mem, BUF, 0x1000).every((b) => b === 0x77)).toBe(true);
    expect([...rig.dev.sector(0)]).toEqual(new Array(SECTOR).fill(4));
    expect(rig.dev.state.requests[counted as keyof VirtioBlkState['requests']]).toBe(1);
    expect(rig.dev.state.errors).toBe(0);
    // a good request after it works
    drv.offer(drv.request(4, HBUF + 16, VIRTIO_BLK_T.IN, 0, [[BUF + 0x2000, SECTOR]], HBUF + 0x101));
    drv.publish();
    expect(rig.mem.read8(HBUF + 0x101)).toBe(OK);
    expect(bytesAt(rig.mem, BUF + 0x2000, SECTOR)).toEqual(new Array(SECTOR).fill(4));
  });

  it('NO_INTERRUPT leaves the ISR alone; bus mastering off and before DRIVER_OK a notify leaves the chains for later', () => {
    const rig = hostRig();
    const drv = new HostDriver(rig);
    rig.mem.write(Number(drv.lay.avail), 2, VIRTQ_AVAIL_NO_INTERRUPT);
    drv.offer(drv.request(0, HBUF, VIRTIO_BLK_T.FLUSH, 0, [], HBUF + 0x100));
    drv.publish();
    expect([drv.usedIdx(), rig.rd(VIRTIO_REG.ISR, 1)]).toEqual([1, 0]);
    rig.mem.write(Number(drv.lay.avail), 2, 0);
    rig.pci.configWrite(DEVICE, 0, CFG.COMMAND, 2, CMD.IO);
    drv.offer(drv.request(2, HBUF, VIRTIO_BLK_T.FLUSH, 0, [], HBUF + 0x101));
    const before = rig.pci.dmaLog.length;
    drv.publish();
    expect([drv.usedIdx(), rig.pci.dmaLog.length]).toEqual([1, before]);
    rig.pci.configWrite(DEVICE, 0, CFG.COMMAND, 2, CMD.IO | CMD.BUS_MASTER);
    rig.wr(VIRTIO_REG.STATUS, 1, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER);
    rig.wr(VIRTIO_REG.QUEUE_NOTIFY, 2, 0);
    expect(drv.usedIdx()).toBe(1);
    rig.wr(VIRTIO_REG.STATUS, 1, 7);
    rig.wr(VIRTIO_REG.QUEUE_NOTIFY, 2, 0);
    expect([drv.usedIdx(), rig.mem.read8(HBUF + 0x101), rig.rd(VIRTIO_REG.ISR, 1)]).toEqual([2, OK, VIRTIO_ISR.QUEUE]);
    rig.wr(VIRTIO_REG.QUEUE_NOTIFY, 2, 3);
    expect([rig.dev.state.notifies, rig.dev.state.badNotifies]).toEqual([4, 1]);
  });

  const broken: [string, (drv: HostDriver) => number, string][] = [
    ['a chain that loops', (drv) => (drv.desc(0, HBUF, 16, VIRTQ_DESC.NEXT, 1), drv.desc(1, HBUF + 0x100, 1, VIRTQ_DESC.WRITE | VIRTQ_DESC.NEXT, 0), 0), 'chain-loop'],
    ['next beyond the table', (drv) => (drv.desc(0, HBUF, 16, VIRTQ_DESC.NEXT, 16), 0), 'bad-next'],
    ['an indirect descriptor', (drv) => (drv.desc(0, HBUF, 16, VIRTQ_DESC.INDIRECT), 0), 'indirect'],
    ['no room for the status (the last descriptor device-readable)', (drv) => drv.chain(0, [[HBUF, 16, false], [BUF, SECTOR, false]]), 'no-status'],
    ['an available entry beyond the table', () => 16, 'bad-head'],
    ['avail.idx more than a queue ahead', (drv) => ((drv.avail = 16), 0), 'avail-too-far'],
  ];
  it.each(broken)('%s: DEVICE_NEEDS_RESET and the configuration ISR bit; a reset brings the device back', (_name, build, kind) => {
    const rig = hostRig();
    const drv = new HostDriver(rig);
    drv.header(HBUF, VIRTIO_BLK_T.FLUSH, 0);
    drv.offer(build(drv));
    drv.publish();
    expect(rig.dev.state.lastError?.kind).toBe(kind);
    expect([rig.dev.state.errors, rig.dev.state.chains, drv.usedIdx()]).toEqual([1, 0, 0]);
    if (kind === 'chain-loop') expect(rig.pci.dmaLog.filter((e) => e.length === 16).length).toBe(16);
    expect(rig.rd(VIRTIO_REG.STATUS, 1)).toBe(7 | VIRTIO_STATUS.DEVICE_NEEDS_RESET);
    rig.wr(VIRTIO_REG.STATUS, 1, 7);
    expect(rig.rd(VIRTIO_REG.STATUS, 1)).toBe(7 | VIRTIO_STATUS.DEVICE_NEEDS_RESET);
    expect(rig.rd(VIRTIO_REG.ISR, 1)).toBe(VIRTIO_ISR.CONFIG);
    const before = rig.pci.dmaLog.length;
    rig.wr(VIRTIO_REG.QUEUE_NOTIFY, 2, 0);
    expect(rig.pci.dmaLog.length).toBe(before);
    const again = new HostDriver(rig);
    again.offer(again.request(0, HBUF, VIRTIO_BLK_T.FLUSH, 0, [], HBUF + 0x100));
    again.publish();
    expect([rig.rd(VIRTIO_REG.STATUS, 1), rig.mem.read8(HBUF + 0x100), again.usedIdx()]).toEqual([7, OK, 1]);
  });

  it('under VT-d a status byte outside the domain: the request was carried out but cannot be answered, so the device needs a reset', () => {
    const rig = hostRig({}, (mem) => {
      const kit = new VtdKit(mem, new PageAlloc(0x3000000));
      const slpt = kit.context(RID, { did: 4 });
      for (const b of [QBASE, QBASE + 0x1000, HBUF, BUF]) kit.map(slpt, 4, BigInt(b), b, { r: true, w: true });
      kit.enable();
      return kit.iommu;
    });
    const drv = new HostDriver(rig);
    fill(rig.mem, BUF, SECTOR, () => 0x31);
    drv.offer(drv.request(0, HBUF, VIRTIO_BLK_T.OUT, 7, [[BUF, SECTOR]], HBUF + 0x100));
    drv.offer(drv.request(3, HBUF + 16, VIRTIO_BLK_T.OUT, 8, [[BUF, SECTOR]], VICTIM));
    drv.offer(drv.request(6, HBUF + 32, VIRTIO_BLK_T.OUT, 9, [[BUF, SECTOR]], HBUF + 0x102));
    drv.publish();
    expect(rig.mem.read8(HBUF + 0x100)).toBe(OK);
    expect(rig.pci.dmaLog.filter((e) => !e.ok).map((e) => [e.access, e.what, e.iova])).toEqual([['write', 'data', `0x${VICTIM.toString(16)}`]]);
    expect(rig.dev.state.lastError?.kind).toBe('dma-blocked');
    expect([drv.usedIdx(), rig.dev.state.chains]).toEqual([1, 1]);
    // sector 8 was written all the same; the third request was never started
    expect([rig.dev.state.sectors[8] !== undefined, rig.dev.state.sectors[9]]).toEqual([true, undefined]);
    expect(rig.dev.ringView(memReader(rig.mem)).queue.pending).toEqual([3, 6]);
  });
});

describe('ringView and snapshots', () => {
  it('the view reads guest memory now: chains offered and not yet used belong to the device', () => {
    const rig = hostRig();
    const drv = new HostDriver(rig);
    drv.offer(drv.request(0, HBUF, VIRTIO_BLK_T.IN, 0, [[BUF, SECTOR]], HBUF + 0x100));
    drv.offer(drv.request(5, HBUF + 16, VIRTIO_BLK_T.FLUSH, 0, [], HBUF + 0x101));
    drv.publish(false);
    const v = rig.dev.ringView(memReader(rig.mem));
    expect([v.capacity, v.readOnly, v.usedSectors]).toEqual([64, false, 0]);
    expect(v.queue.pending).toEqual([0, 5]);
    expect(v.queue.descriptors!.map((d) => d.owner).join(',')).toBe('device,device,device,driver,driver,device,device' + ',driver'.repeat(9));
    expect(v.queue.descriptors![1]).toEqual({ index: 1, addr: `0x${BUF.toString(16)}`, len: SECTOR, flags: VIRTQ_DESC.NEXT | VIRTQ_DESC.WRITE, next: 2, owner: 'device' });
    expect(rig.pci.dmaLog).toEqual([]);
    rig.wr(VIRTIO_REG.QUEUE_NOTIFY, 2, 0);
    const after = rig.dev.ringView(memReader(rig.mem));
    expect(after.queue.pending).toEqual([]);
    expect(after.queue.usedRing!.ring.slice(0, 2)).toEqual([
      { id: 0, len: SECTOR + 1 },
      { id: 5, len: 1 },
    ]);
    expect(rig.dev.ringView(() => null).queue.descriptors).toBeNull();
  });

  it('property: snapshot → JSON → restore, then the same requests give the same disk, memory and log', () => {
    type Op = { kind: 'write'; sector: number; n: number; fillWith: number } | { kind: 'read'; sector: number; n: number } | { kind: 'flush' } | { kind: 'id' } | { kind: 'bad' } | { kind: 'isr' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), sector: fc.integer({ min: 0, max: 66 }), n: fc.integer({ min: 0, max: 4 }), fillWith: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('read' as const), sector: fc.integer({ min: 0, max: 66 }), n: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ kind: fc.constant('flush' as const) }),
      fc.record({ kind: fc.constant('id' as const) }),
      fc.record({ kind: fc.constant('bad' as const) }),
      fc.record({ kind: fc.constant('isr' as const) }),
    );
    fc.assert(
      fc.property(fc.array(fc.array(op, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 12 }), fc.nat(), (batches, cutAt) => {
        const rig = hostRig();
        const drv = new HostDriver(rig);
        let seq = 0;
        const apply = (batch: Op[]) => {
          batch.forEach((o, k) => {
            const hdr = HBUF + 16 * k;
            const stat = HBUF + 0x100 + k;
            const buf = BUF + 0x1000 * k;
            const first = 3 * k;
            if (o.kind === 'isr') {
              rig.rd(VIRTIO_REG.ISR, 1);
              return;
            }
            if (o.kind === 'write') fill(rig.mem, buf, o.n * SECTOR, (i) => (o.fillWith === 0 ? 0 : o.fillWith + i + seq));
            seq++;
            const head =
              o.kind === 'write' ? drv.request(first, hdr, VIRTIO_BLK_T.OUT, o.sector, o.n ? [[buf, o.n * SECTOR]] : [], stat)
              : o.kind === 'read' ? drv.request(first, hdr, VIRTIO_BLK_T.IN, o.sector, o.n ? [[buf, o.n * SECTOR]] : [], stat)
              : o.kind === 'flush' ? drv.request(first, hdr, VIRTIO_BLK_T.FLUSH, 0, [], stat)
              : o.kind === 'id' ? drv.request(first, hdr, VIRTIO_BLK_T.GET_ID, 0, [[buf, 20]], stat)
              : drv.request(first, hdr, 3, 0, [], stat);
            drv.offer(head);
          });
          drv.publish();
        };
        const cut = cutAt % (batches.length + 1);
        batches.slice(0, cut).forEach(apply);
        const snap = JSON.parse(JSON.stringify(rig.pci.snapshot())) as ReturnType<PciBus['snapshot']>;
        expect(JSON.parse(JSON.stringify(rig.dev.snapshot()))).toEqual(rig.dev.snapshot());
        const regions: [number, number][] = [[QBASE, 0x2000], [HBUF, 0x200], [BUF, 0x5000]];
        const memBefore = regions.map(([a, n]) => bytesAt(rig.mem, a, n));
        const driverBefore = { avail: drv.avail, seq };
        const rest = batches.slice(cut);
        rest.forEach(apply);
        const outcome = () => ({ dev: JSON.stringify(rig.dev.snapshot()), log: JSON.stringify(rig.pci.dmaLog), mem: regions.map(([a, n]) => bytesAt(rig.mem, a, n)) });
        const first = outcome();
        rig.pci.restore(snap);
        regions.forEach(([a], i) => memBefore[i]!.forEach((b, j) => rig.mem.write8(a + j, b)));
        drv.avail = driverBefore.avail;
        seq = driverBefore.seq;
        rest.forEach(apply);
        expect(outcome()).toEqual(first);
        // sectors past 64 are refused, never stored; the device never needs a reset here
        expect(Object.keys(rig.dev.state.sectors).every((s) => Number(s) < 64)).toBe(true);
        expect(rig.dev.state.errors).toBe(0);
      }),
      { numRuns: 60 },
    );
  });
});

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}
