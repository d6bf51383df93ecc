/**
 * ViewState.io (io-types.ts) for a multi-VM host whose VMs have devices (hv/host.ts, issue 8): the
 * devices and how each was given, the DMA requests of the step that led here (or of the last step
 * before it that made any: DmaStepIndex says which), each decoded from its bus's DMA log entry with
 * the IOMMU's walk field by field, where it landed and whose memory that is, and the fault record
 * or event of a blocked one; each device's rings; running counts. Everything is read at the current
 * step without side effects (the logs and rings are the machine's, restored with it; structures
 * the IOMMU's caches answered for are read from memory, not through the unit). A function of
 * (scenario, step). Part of the worker's hypervisor chunk (hv-part.ts); null for a host without
 * devices.
 */
import type { HostMachine } from '../emu/hv/host-machine.ts';
import { GUEST_DEVICE } from '../emu/hv/host.ts';
import type { DmaLogEntry, DmaLogRef, DmaLogRecord, IrLogRef, PciBus } from '../emu/dev/pci.ts';
import type { MsiMessage } from '../emu/dev/msi.ts';
import { PI_DESC } from '../emu/vmx/apicv.ts';
import { Nic, type RingView } from '../emu/dev/nic.ts';
import { VirtioNet, type VirtqView } from '../emu/dev/virtio-net.ts';
import { VirtioBlk } from '../emu/dev/virtio-blk.ts';
import { NvmeController, NVM, type QueueView } from '../emu/dev/nvme.ts';
import { SQ_IGNORED, VtdRemapper } from '../emu/iommu/vtd.ts';
import { AMDVI_REG, AmdViRemapper } from '../emu/iommu/amdvi.ts';
import type { DmaRef, DmaStepIndex } from './dma-index.ts';
import {
  MAX_IO_INTERRUPTS, MAX_IO_REQUESTS, MAX_RING_SLOTS,
  type IoDeviceView, type IoMsiView, type IoField, type IoOwner, type IoRecordView, type IoRequestView, type IoRing, type IoSlot, type IoWalkEntry, type StepIo,
} from './io-types.ts';

const hexN = (v: number | bigint): string => `0x${BigInt(v).toString(16)}`;
const bits = (v: bigint, hi: number, lo: number): bigint => (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
const bit = (v: bigint, b: number): string => String(bits(v, b, b));

/** bus:device.function of a requester ID, as lspci writes it (hex). */
export function bdf(rid: number): string {
  return bdfOf(rid);
}

function bdfOf(rid: number): string {
  const h = (v: number, n: number): string => v.toString(16).padStart(n, '0');
  return `${h((rid >> 8) & 0xff, 2)}:${h((rid >> 3) & 0x1f, 2)}.${(rid & 7).toString(16)}`;
}

/**
 * An entry's fields by the specification's names. VT-d (spec 9.1, 9.3, 9.8): root entry P, CTP;
 * context entry P, FPD, TT, AW, DID, SLPTPTR; second-level entry R, W, SP (levels 2 and 3),
 * address. AMD-Vi (#48882, 2.2.2.1 and 2.2.3): DTE V, TV, Mode, Page Table Root Pointer, IR, IW,
 * DomainID; I/O page-table entry PR, Next Level, address, IR, IW.
 */
export function entryFields(vendor: 'vtd' | 'amd-vi', kind: IoWalkEntry['kind'], level: number, raw: bigint): { present: boolean; fields: IoField[] } {
  const f = (name: string, value: string): IoField => ({ name, value });
  if (vendor === 'vtd') {
    if (kind === 'root-entry') return { present: bits(raw, 0, 0) === 1n, fields: [f('P', bit(raw, 0)), f('CTP', hexN(bits(raw, 63, 12) << 12n))] };
    if (kind === 'context-entry') {
      return {
        present: bits(raw, 0, 0) === 1n,
        fields: [f('P', bit(raw, 0)), f('FPD', bit(raw, 1)), f('TT', String(bits(raw, 3, 2))), f('AW', String(bits(raw, 66, 64))), f('DID', String(bits(raw, 87, 72))), f('SLPTPTR', hexN(bits(raw, 63, 12) << 12n))],
      };
    }
    if (kind === 'irte') {
      // VT-d IRTE (spec 9.10 remapped format, 9.11 posted format): IM picks the format.
      const posted = bits(raw, 15, 15) === 1n;
      const common = [f('P', bit(raw, 0)), f('FPD', bit(raw, 1)), f('IM', bit(raw, 15)), f('Vector', hexN(bits(raw, 23, 16)))];
      const source = [f('SID', bdfOf(Number(bits(raw, 79, 64)))), f('SQ', String(bits(raw, 81, 80))), f('SVT', String(bits(raw, 83, 82)))];
      if (posted) {
        const pda = (bits(raw, 127, 96) << 32n) | (bits(raw, 63, 38) << 6n);
        return { present: bits(raw, 0, 0) === 1n, fields: [...common, f('URG', bit(raw, 14)), f('PDA', hexN(pda)), ...source] };
      }
      // xAPIC mode: the APIC ID in DST bits 15:8 (bits 47:40 of the entry).
      return {
        present: bits(raw, 0, 0) === 1n,
        fields: [...common, f('DST', String(bits(raw, 47, 40))), f('DM', bit(raw, 2)), f('RH', bit(raw, 3)), f('TM', bit(raw, 4)), f('DLM', String(bits(raw, 7, 5))), ...source],
      };
    }
    const fields = [f('R', bit(raw, 0)), f('W', bit(raw, 1))];
    if (level === 2 || level === 3) fields.push(f('SP', bit(raw, 7)));
    fields.push(f('ADDR', hexN(bits(raw, 51, 12) << 12n)));
    return { present: bits(raw, 1, 0) !== 0n, fields };
  }
  if (kind === 'irte') {
    // AMD-Vi legacy 32-bit IRTE (#48882 2.2.5.1): RemapEn, SupIOPF, IntType, DM, Destination, Vector.
    return {
      present: bits(raw, 0, 0) === 1n,
      fields: [f('RemapEn', bit(raw, 0)), f('SupIOPF', bit(raw, 1)), f('IntType', String(bits(raw, 4, 2))), f('DM', bit(raw, 6)), f('Destination', String(bits(raw, 15, 8))), f('Vector', hexN(bits(raw, 23, 16)))],
    };
  }
  if (kind === 'device-table-entry') {
    return {
      present: bits(raw, 0, 0) === 1n,
      fields: [
        f('V', bit(raw, 0)), f('TV', bit(raw, 1)), f('Mode', String(bits(raw, 11, 9))), f('Root', hexN(bits(raw, 51, 12) << 12n)), f('IR', bit(raw, 61)), f('IW', bit(raw, 62)), f('DomainID', String(bits(raw, 79, 64))),
        // The interrupt fields (amd-vi.json dte_256bit): IV, IntTabLen, the interrupt table root, IntCtl.
        f('IV', bit(raw, 128)), f('IntTabLen', String(bits(raw, 132, 129))), f('IntTableRoot', hexN(bits(raw, 179, 134) << 6n)), f('IntCtl', String(bits(raw, 189, 188))),
      ],
    };
  }
  return {
    present: bits(raw, 0, 0) === 1n,
    fields: [f('PR', bit(raw, 0)), f('NL', String(bits(raw, 11, 9))), f('ADDR', hexN(bits(raw, 51, 12) << 12n)), f('IR', bit(raw, 61)), f('IW', bit(raw, 62))],
  };
}

function readRaw(m: HostMachine, pa: number, bytes: number): bigint {
  let v = 0n;
  for (let i = bytes - 4; i >= 0; i -= 4) v = (v << 32n) | BigInt(m.mem.read(pa + i, 4) >>> 0);
  return v;
}

function walkEntry(vendor: 'vtd' | 'amd-vi', r: Pick<DmaLogRef, 'level' | 'index' | 'pa'> & { kind: IoWalkEntry['kind']; decision: IoWalkEntry['decision']; raw: bigint }): IoWalkEntry {
  const { present, fields } = entryFields(vendor, r.kind, r.level, r.raw);
  return { kind: r.kind, level: r.level, index: r.index, pa: hexN(r.pa), raw: hexN(r.raw), decision: r.decision, present, fields };
}

/**
 * The structures before the page tables that the request did not read (its context entry or DTE
 * came from the unit's cache): the root and context entries, or the DTE, read from memory now.
 */
function cachedHead(m: HostMachine, rid: number): IoWalkEntry[] {
  const u = m.host.iommu?.remapper ?? null;
  if (u instanceof VtdRemapper) {
    const root = u.rootTable;
    if (root === null) return [];
    const bus = (rid >> 8) & 0xff;
    const rootPa = root + bus * 16;
    const re = readRaw(m, rootPa, 16);
    const out = [walkEntry('vtd', { kind: 'root-entry', level: 0, index: bus, pa: rootPa, decision: 'cached', raw: re })];
    if ((re & 1n) === 1n) {
      const ctxPa = Number(bits(re, 63, 12) << 12n) + (rid & 0xff) * 16;
      out.push(walkEntry('vtd', { kind: 'context-entry', level: 0, index: rid & 0xff, pa: ctxPa, decision: 'cached', raw: readRaw(m, ctxPa, 16) }));
    }
    return out;
  }
  if (u instanceof AmdViRemapper) {
    const base = Number(bits(u.read64(AMDVI_REG.DEV_TABLE_BASE), 51, 12) << 12n);
    const pa = base + rid * 32;
    return [walkEntry('amd-vi', { kind: 'device-table-entry', level: 0, index: rid, pa, decision: 'cached', raw: readRaw(m, pa, 32) })];
  }
  return [];
}

/** Whose host memory `hpa` is. */
export function ownerOf(m: HostMachine, hpa: number): IoOwner {
  for (let i = 0; i < m.host.vmCount; i++) {
    const v = m.host.vm(i);
    if (hpa >= v.hpaBase && hpa < v.hpaBase + v.memSize) return { kind: 'vm', vm: i, name: v.name };
  }
  return hpa >= 0 && hpa < m.mem.ramSize ? { kind: 'hypervisor' } : { kind: 'none' };
}

function recordView(e: DmaLogEntry): IoRecordView | null {
  const r = e.record;
  if (r === null) return null;
  if (r.vendor === 'vtd') {
    const recorded = e.fault?.vendor === 'vtd' ? e.fault.recorded : false;
    return { vendor: 'vtd', reason: r.reason, sid: bdf(r.sid), pageAddress: r.pageAddress, type: r.type, recorded };
  }
  const logged = e.fault?.vendor === 'amd-vi' ? e.fault.logged : false;
  return { vendor: 'amd-vi', code: r.code, deviceId: bdf(r.deviceId), domainId: r.domainId, address: r.address, flags: r.flags, logged };
}

function requestView(m: HostMachine, vm: number, bus: 'vm' | 'host', e: DmaLogEntry): IoRequestView {
  const kind = m.host.iommu?.kind ?? 'none';
  const via: IoRequestView['via'] = bus === 'vm' ? 'hypervisor' : kind === 'none' ? 'none' : 'iommu';
  let walk: IoWalkEntry[] = [];
  if (via === 'iommu' && kind !== 'none') {
    walk = e.refs.map((r) => walkEntry(kind, { ...r, raw: BigInt(r.raw) }));
    // The cache answered for the context entry or DTE: show it (and the root entry) as the tables hold them.
    const head = e.refs.some((r) => r.kind !== 'page-table-entry');
    if (!head) walk = [...cachedHead(m, e.rid), ...walk];
  }
  const f = e.fault;
  const fault: IoRequestView['fault'] =
    f === null ? null
      : f.vendor === 'vtd' ? { vendor: 'vtd', reason: f.reason }
        : f.vendor === 'amd-vi' ? { vendor: 'amd-vi', code: f.code }
          : f.vendor === 'none' ? { vendor: 'none', reason: 'beyond-host' }
            : { vendor: 'hv', reason: 'not-guest-ram' };
  return {
    vm, bus, seq: e.seq, device: e.device, rid: bdf(e.rid), access: e.access, what: e.what, iova: e.iova, length: e.length, ok: e.ok, via,
    hpa: e.hpa === null ? null : hexN(e.hpa), owner: e.hpa === null ? null : ownerOf(m, e.hpa),
    domainId: e.domainId === null || e.domainId < 0 ? null : e.domainId, iotlbHit: e.iotlbHit, walk, fault, record: recordView(e),
  };
}


/** VT-d's source-ID check of an IRTE against the request's (spec 9.10 SVT, SQ): off, passed, failed. */
function sourceCheck(raw: bigint, rid: number): 'off' | 'passed' | 'failed' {
  const svt = Number(bits(raw, 83, 82));
  const sid = Number(bits(raw, 79, 64));
  if (svt === 1) {
    const mask = 0xffff & ~SQ_IGNORED[Number(bits(raw, 81, 80))]!;
    return (sid & mask) === (rid & mask) ? 'passed' : 'failed';
  }
  if (svt === 2) {
    const bus = (rid >> 8) & 0xff;
    return bus >= ((sid >> 8) & 0xff) && bus <= (sid & 0xff) ? 'passed' : 'failed';
  }
  return 'off';
}

function msiRecord(r: DmaLogRecord, fault: Extract<NonNullable<MsiMessage['remap']>, { kind: 'blocked' }>['fault']): IoRecordView {
  if (r.vendor === 'vtd') {
    const out: IoRecordView = { vendor: 'vtd', reason: r.reason, sid: bdf(r.sid), pageAddress: r.pageAddress, type: r.type, recorded: fault.vendor === 'vtd' && fault.recorded };
    if (r.interruptIndex !== undefined) out.interruptIndex = r.interruptIndex;
    return out;
  }
  return { vendor: 'amd-vi', code: r.code, deviceId: bdf(r.deviceId), domainId: r.domainId, address: r.address, flags: r.flags, logged: fault.vendor === 'amd-vi' && fault.logged };
}

/** The guest vector VM `vm` receives for a message (null: none). */
function guestVectorOf(m: HostMachine, vm: number, bus: 'vm' | 'host', msg: MsiMessage): number | null {
  const r = msg.remap;
  if (bus === 'vm') return msg.delivered ? msg.vector : null;
  if (r?.kind === 'posted') return r.vector;
  if (!msg.delivered) return null;
  return m.host.interruptsOf(vm).msi?.guestVector ?? null;
}

/** One interrupt message of a bus's MSI log, decoded (the IRTE read from memory now when the cache answered). */
export function msiView(m: HostMachine, vm: number, bus: 'vm' | 'host', msg: MsiMessage): IoMsiView {
  const r = msg.remap;
  const unit = m.host.iommu?.remapper ?? null;
  const vendor = unit instanceof VtdRemapper ? 'vtd' : unit instanceof AmdViRemapper ? 'amd-vi' : null;
  const entry = (x: IrLogRef, decision: IoWalkEntry['decision']): IoWalkEntry => {
    const w = walkEntry(vendor ?? 'vtd', { kind: x.kind as IoWalkEntry['kind'], level: x.level, index: x.index, pa: x.pa, decision, raw: BigInt(x.raw) });
    if (x.kind === 'irte' && vendor === 'vtd') w.sourceCheck = sourceCheck(BigInt(x.raw), msg.rid);
    return w;
  };
  let walk: IoWalkEntry[] = [];
  if (r !== null && r.kind !== 'passed' && vendor !== null) {
    walk = r.refs.map((x) => entry(x, x.decision));
    const index = r.kind === 'aborted' ? null : r.index;
    // The interrupt entry cache answered (VT-d): the IRTE as the table holds it now.
    const table = unit instanceof VtdRemapper ? unit.interruptTable : null;
    if (!walk.some((w) => w.kind === 'irte') && index !== null && table !== null && index < table.entries) {
      const pa = table.base + index * 16;
      walk.push(entry({ kind: 'irte', level: 0, index, pa, raw: hexN(readRaw(m, pa, 16)), decision: 'leaf' }, 'cached'));
    }
    // AMD-Vi's device-table cache answered (the DTE was read for an earlier request): the DTE as the
    // table holds it now, first, as the DMA path shows it.
    if (vendor === 'amd-vi' && !walk.some((w) => w.kind === 'device-table-entry')) walk = [...cachedHead(m, msg.rid), ...walk];
  }
  const target = msg.delivered || r?.kind === 'remapped' ? { vector: msg.vector, destinationId: msg.destinationId, deliveryMode: msg.deliveryMode, trigger: msg.trigger } : null;
  let posted: IoMsiView['posted'] = null;
  if (r?.kind === 'posted') {
    const d = r.descriptor;
    const control = m.mem.read(d + PI_DESC.CONTROL, 4) >>> 0;
    posted = {
      vector: r.vector, descriptor: hexN(d), notification: r.notification?.vector ?? null,
      now: {
        pir: ((m.mem.read(d + PI_DESC.PIR + (r.vector >>> 5) * 4, 4) >>> (r.vector & 31)) & 1) === 1,
        on: ((control >>> PI_DESC.ON_BIT) & 1) === 1, sn: ((control >>> PI_DESC.SN_BIT) & 1) === 1,
        nv: m.mem.read(d + PI_DESC.NV, 1), ndst: m.mem.read(d + PI_DESC.NDST, 4) >>> 0,
      },
    };
  }
  const fault: IoMsiView['fault'] = r?.kind !== 'blocked' ? null : r.fault.vendor === 'vtd' ? { vendor: 'vtd', reason: r.fault.reason } : r.fault.vendor === 'amd-vi' ? { vendor: 'amd-vi', code: r.fault.code } : null;
  return {
    vm, bus, seq: msg.seq, device: msg.device, rid: bdf(msg.rid), address: hexN(msg.address), data: hexN(msg.data),
    remappable: ((msg.address >>> 4) & 1) === 1,
    outcome: r === null ? 'direct' : r.kind,
    why: r?.kind === 'passed' || r?.kind === 'aborted' ? r.why : null,
    index: r === null || r.kind === 'passed' || r.kind === 'aborted' ? null : r.index,
    cacheHit: r?.kind === 'remapped' || r?.kind === 'posted' ? r.cacheHit : false,
    walk, target, posted, guestVector: guestVectorOf(m, vm, bus, msg), delivered: msg.delivered, fault,
    record: r?.kind === 'blocked' ? msiRecord(r.record, r.fault) : null,
  };
}

/** What `index` holds for the step that led to `step` (made at step − 1), else for the last step before it that has any (`fresh` false), with that step. */
function stepRefs(index: DmaStepIndex, step: number): { at: number; refs: DmaRef[]; fresh: boolean } {
  const at = step > 0 ? step - 1 : -1;
  const refs = at >= 0 ? index.at(at) : [];
  if (refs.length > 0) return { at, refs, fresh: true };
  const before = index.lastBefore(Math.max(0, at));
  return { at: before ?? -1, refs: before === null ? [] : index.at(before), fresh: false };
}

/** The messages of the step that led here (made at step − 1), else of the last step before it that sent any. */
function stepInterrupts(m: HostMachine, step: number, index: DmaStepIndex): StepIo['interrupts'] {
  const { at, refs, fresh } = stepRefs(index, step);
  const all = refs.flatMap((r) => {
    const bus = r.bus === 'host' ? m.host.pci : m.host.deviceOf(r.vm)?.bus ?? null;
    const msg = bus?.msiLog[r.seq];
    return msg === undefined ? [] : [msiView(m, r.vm, r.bus, msg)];
  });
  const list = all.slice(-MAX_IO_INTERRUPTS);
  return { step: at >= 0 ? at : null, fresh, list, dropped: all.length - list.length };
}

function slotWindow(count: number, head: number): [number, number] {
  if (count <= MAX_RING_SLOTS) return [0, count];
  const from = Math.max(0, Math.min(count - MAX_RING_SLOTS, head - MAX_RING_SLOTS / 2));
  return [from, from + MAX_RING_SLOTS];
}

/** The card's ring (dev/nic.ts RingView), with the slot its last ring DMA touched. */
function nicRing(name: 'tx' | 'rx', r: RingView, last: { iova: bigint } | null): IoRing {
  const base = BigInt(r.base);
  const lastIndex = last !== null && last.iova >= base && last.iova < base + BigInt(16 * r.count) ? Number((last.iova - base) / 16n) : -1;
  const [from, to] = slotWindow(r.count, r.head);
  const slots: IoSlot[] = r.slots.slice(from, to).map((s) => ({
    index: s.index, owner: s.owner, addr: s.seen?.addr ?? null, length: s.seen?.length ?? null, done: s.done, end: s.eop, last: s.index === lastIndex,
  }));
  return { name, base: r.base, count: r.count, enabled: r.enabled, head: r.head, tail: r.tail, slots, hidden: r.count - slots.length, usedIdx: null };
}

/** A virtqueue (dev/virtio-net.ts VirtqView): its descriptor table, owners by the available chains, with the slot the last ring DMA touched. */
function virtqRing(q: VirtqView, last: { iova: bigint } | null, blk = false): IoRing {
  const name = blk ? 'requestq' : q.queue === 0 ? 'receiveq' : 'transmitq';
  const desc = BigInt(q.desc);
  const lastIndex = last !== null && last.iova >= desc && last.iova < desc + BigInt(16 * q.size) ? Number((last.iova - desc) / 16n) : -1;
  const tail = q.availRing === null ? q.lastAvail % Math.max(1, q.size) : q.availRing.idx % q.size;
  const head = q.lastAvail % Math.max(1, q.size);
  const [from, to] = slotWindow(q.size, head);
  const slots: IoSlot[] = (q.descriptors ?? []).slice(from, to).map((d) => ({
    index: d.index, owner: d.owner, addr: d.addr, length: d.len, done: false, end: (d.flags & 1) === 0, last: d.index === lastIndex,
  }));
  return { name, base: q.desc, count: q.size, enabled: q.enabled, head, tail, slots, hidden: q.size - slots.length, usedIdx: q.usedRing?.idx ?? null };
}

/** An NVMe queue (dev/nvme.ts QueueView): 64-byte commands or 16-byte completions, with the slot the last queue DMA touched. */
function nvmeRing(q: QueueView, last: { iova: bigint } | null): IoRing {
  const entry = q.kind === 'sq' ? 64 : 16;
  const base = BigInt(q.base);
  const lastIndex = last !== null && last.iova >= base && last.iova < base + BigInt(entry * q.size) ? Number((last.iova - base) / BigInt(entry)) : -1;
  const [from, to] = slotWindow(q.size, q.head);
  const slots: IoSlot[] = q.slots.slice(from, to).map((s) => {
    const c = s.command;
    const io = c !== null && q.qid !== 0 && (c.opcode === NVM.READ || c.opcode === NVM.WRITE);
    return {
      index: s.index, owner: s.owner, addr: io ? c.prp1 : null, length: io ? ((c.cdw12 & 0xffff) + 1) * 512 : null,
      done: false, end: false, last: s.index === lastIndex,
      nvme: c !== null
        ? { kind: 'command', admin: q.qid === 0, opcode: c.opcode, lba: c.cdw10 >>> 0, completed: c.status !== null }
        : s.completion !== null
          ? { kind: 'completion', cid: s.completion.cid, sqhd: s.completion.sqhd, sct: s.completion.sct, sc: s.completion.sc, phase: s.completion.phase }
          : null,
    };
  });
  return { name: q.kind, qid: q.qid, base: q.base, count: q.size, enabled: true, head: q.head, tail: q.tail, slots, hidden: q.size - slots.length, usedIdx: null };
}

function deviceView(m: HostMachine, vm: number, lastRing: DmaLogEntry | null): IoDeviceView | null {
  const d = m.host.deviceOf(vm);
  if (d === null) return null;
  const v = m.host.vm(vm);
  const assigned = d.assigned;
  const hostBus: PciBus | null = assigned === null ? null : m.host.pci;
  const model = assigned === null ? d.bus.function(GUEST_DEVICE, 0) : hostBus?.function(assigned.device, assigned.fn) ?? null;
  const rid = assigned === null ? (GUEST_DEVICE << 3) : assigned.rid;
  const log = assigned === null ? d.bus.dmaLog : (hostBus?.dmaLog ?? []).filter((e) => e.rid === rid);
  const last = lastRing === null ? null : { iova: BigInt(lastRing.iova) };
  // Virtqueues as the VM's memory holds them: guest-physical [0, memSize) is host-physical from hpaBase.
  const guestRead = (addr: bigint, length: number): Uint8Array | null => {
    const a = Number(addr);
    if (addr < 0n || a + length > v.memSize) return null;
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = m.mem.read8(v.hpaBase + a + i);
    return out;
  };
  let rings: IoRing[] = [];
  if (model instanceof Nic) {
    const r = model.ringView();
    rings = [nicRing('tx', r.tx, last), nicRing('rx', r.rx, last)];
  } else if (model instanceof VirtioNet) {
    rings = model.ringView(guestRead).queues.map((q) => virtqRing(q, last));
  } else if (model instanceof VirtioBlk) {
    rings = [virtqRing(model.ringView(guestRead).queue, last, true)];
  } else if (model instanceof NvmeController) {
    rings = model.ringView().queues.map((q) => nvmeRing(q, last));
  }
  const domain = assigned !== null && m.host.iommu !== null ? vm + 1 : null;
  return {
    vm, vmName: v.name, way: d.way, device: model?.name ?? '', guestBdf: bdf(GUEST_DEVICE << 3), hostBdf: assigned === null ? null : bdf(assigned.rid), rid: bdf(rid),
    domainId: domain, hostBar: assigned === null ? null : hexN(assigned.bar), guestBar: assigned === null || assigned.mapped === null ? null : hexN(assigned.mapped),
    rings, requests: log.length, blocked: log.filter((e) => !e.ok).length,
  };
}

function entryOf(m: HostMachine, r: DmaRef): DmaLogEntry | null {
  const bus = r.bus === 'host' ? m.host.pci : m.host.deviceOf(r.vm)?.bus ?? null;
  return bus?.dmaLog[r.seq] ?? null;
}

/** ViewState.io at the machine's current step `step` (null: no VM has a device). */
export function stepIo(m: HostMachine, step: number, index: DmaStepIndex, msi: DmaStepIndex): StepIo | null {
  const vms = Array.from({ length: m.host.vmCount }, (_, i) => i).filter((i) => m.host.deviceOf(i) !== null);
  if (vms.length === 0) return null;
  // The requests of the step that led here (made at step − 1); else those of the last step before it that made any.
  const { at, refs, fresh } = stepRefs(index, step);
  const entries = refs.flatMap((r) => {
    const e = entryOf(m, r);
    return e === null ? [] : [{ r, e }];
  });
  const kept = entries.slice(-MAX_IO_REQUESTS);
  const requests = kept.map(({ r, e }) => requestView(m, r.bus === 'host' ? (m.host.vmOfHostRid(e.rid) ?? r.vm) : r.vm, r.bus, e));
  // Each device's latest ring request so far, for its rings' highlight.
  const lastRing = (vm: number): DmaLogEntry | null => {
    const d = m.host.deviceOf(vm)!;
    const log = d.assigned === null ? d.bus.dmaLog : m.host.pci?.dmaLog ?? [];
    const rid = d.assigned === null ? GUEST_DEVICE << 3 : d.assigned.rid;
    for (let i = log.length - 1; i >= 0; i--) if (log[i]!.rid === rid && log[i]!.what === 'ring') return log[i]!;
    return null;
  };
  const devices = vms.flatMap((i) => deviceView(m, i, lastRing(i)) ?? []);
  const count = (logs: readonly (readonly DmaLogEntry[])[]) => ({ requests: logs.reduce((n, l) => n + l.length, 0), blocked: logs.reduce((n, l) => n + l.filter((e) => !e.ok).length, 0) });
  return {
    iommu: m.host.iommu?.kind ?? 'none',
    devices,
    step: at >= 0 ? at : null,
    fresh,
    requests,
    dropped: entries.length - kept.length,
    stoppedAt: index.fullAt === null ? msi.fullAt : msi.fullAt === null ? index.fullAt : Math.min(index.fullAt, msi.fullAt),
    interrupts: stepInterrupts(m, step, msi),
    counts: {
      host: count(m.host.pci === null ? [] : [m.host.pci.dmaLog]),
      vm: count(vms.flatMap((i) => (m.host.deviceOf(i)!.assigned === null ? [m.host.deviceOf(i)!.bus.dmaLog] : []))),
    },
  };
}
