/**
 * Issue 8's comparison of the three ways to give a VM a network card (devio.ts): the same task
 * (io-guest.ts: send N frames and receive them back through the card's loopback) run by a VM of
 * the multi-VM host, and what it cost: the exits by what caused them, the copies the hypervisor's
 * processor made on the device model's behalf, the DMA the device made itself, and the cycles of
 * the cost model. Used by the tests, `lab io` and the views.
 *
 * Exits are classified from the vendor's own exit information: an I/O exit's port is bits 31:16 of
 * the exit qualification (VT-x, SDM Vol. 3C, Table 28-5) or of EXITINFO1 (AMD-V, APM Vol. 2,
 * 15.10.2); configuration space is 0xCF8..0xCFF, the device's I/O BAR is where the guest placed it;
 * an MMIO exit is an EPT violation or #VMEXIT(NPF) the hypervisor treated as MMIO.
 */
import { assemble } from '../asm/assembler.ts';
import type { DmaLogEntry } from '../dev/pci.ts';
import { Host, type HostGuest } from './host.ts';
import type { DeviceKind, DeviceWay, IommuKind } from './devio.ts';
import { BLOCK, blockByte, frameByte, frameLength, IO_IRQS, IO_LOAD, IO_OUT, IO_OUTLEN, IO_RBUF, IO_RECEIVED, IO_RESULT, IO_SLOT, nicDriver, nvmeDriver, virtioBlkDriver, virtioDriver, type NicAttack } from './io-guest.ts';
import type { HvLogEntry } from './types.ts';

export const IO_VM_MEM = 8 * 1024 * 1024;

/** How many guest steps a comparison run may take before it is stopped (a driver that never ends). */
export const IO_STEP_LIMIT = 20_000_000;

export interface IoTask {
  under: 'vtx' | 'svm';
  way: DeviceWay;
  /** The host's IOMMU (assigned only; default 'vtd'). */
  iommu?: IommuKind;
  /** A network card (the default: `frames` frames sent and received back) or a disk (`frames` blocks written and read back). */
  kind?: DeviceKind;
  frames: number;
  preset?: string;
  /**
   * The network driver waits for its card's interrupt after each frame (NicAttack.irq) instead of
   * looking at the descriptors at once; `posted` (VT-x, assigned, VT-d) delivers that interrupt as a
   * posted interrupt (HostOptions.postedInterrupts).
   */
  irq?: boolean;
  posted?: boolean;
}

/** What the device model (hypervisor) or the device (assigned) moved, from a bus's DMA log. */
export interface DmaTally {
  requests: number;
  bytes: number;
  /** Bytes of frames (the payload). */
  dataBytes: number;
  /** Bytes of descriptors and status write-backs. */
  ringBytes: number;
  blocked: number;
}

export interface IoExitTally {
  total: number;
  /** I/O exits at the configuration ports 0xCF8..0xCFF. */
  config: number;
  /** I/O exits at the device's own ports (its I/O BAR: a virtio notification). */
  devicePorts: number;
  /** MMIO exits (EPT violation, #VMEXIT(NPF) outside the guest's RAM). */
  mmio: number;
  /** External-interrupt exits (VT-x 1, #VMEXIT(INTR)): an assigned device's MSI reaching the host, or the host's own timer. */
  interrupts: number;
  /** The guest's EOIs that exited (WRMSR of the x2APIC EOI register, 80BH). */
  eoi: number;
  /** Everything else (the host's time slices, the final HLT). */
  other: number;
  byName: Record<string, { code: number; count: number }>;
}

export interface IoReport {
  under: 'vtx' | 'svm';
  way: DeviceWay;
  iommu: IommuKind;
  frames: number;
  end: 'ended' | 'limit';
  /** Frames the guest received and copied out. */
  received: number;
  /** Interrupts the interrupt-driven network driver's handler counted (IO_IRQS; 0 for the polling drivers and disks). */
  irqs: number;
  /** Every frame received equals the frame sent, byte for byte, in order. */
  dataOk: boolean;
  steps: number;
  exits: IoExitTally;
  /** Copies made by the hypervisor's processor (emulated and virtio device models). */
  hypervisor: DmaTally;
  /** DMA made by the device itself (assigned). */
  device: DmaTally;
  /** Payload copies the hypervisor made (its DMA requests of frame bytes: one per piece within a page). */
  copies: number;
  /** Exits the device caused: MMIO exits and exits at its own ports (configuration exits apart). */
  deviceExits: number;
  /** Cycles of the cost model for the whole run (every exit's round trip and the guest's own instructions). */
  cycles: number;
}

/** The driver for a way, assembled. */
export function driverCode(way: DeviceWay, frames: number, attack: NicAttack = {}, kind: DeviceKind = 'nic'): Uint8Array {
  const src = kind === 'disk' ? (way === 'virtio' ? virtioBlkDriver(frames) : nvmeDriver(frames)) : way === 'virtio' ? virtioDriver(frames) : nicDriver(frames, attack);
  const r = assemble(src, { bits: 32, origin: IO_LOAD });
  if (!r.ok) throw new Error(`driver for ${way}: ${r.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('; ')}`);
  return r.bytes;
}

/** The guest of the VM with the device. */
export function ioGuest(way: DeviceWay, frames: number, attack: NicAttack = {}, kind: DeviceKind = 'nic'): HostGuest {
  return { name: `${kind}-${way}`, mode: 'prot32', load: IO_LOAD, code: driverCode(way, frames, attack, kind), memSize: IO_VM_MEM, device: { way, kind } };
}

export function tallyDma(log: readonly DmaLogEntry[], rid?: number): DmaTally {
  const t: DmaTally = { requests: 0, bytes: 0, dataBytes: 0, ringBytes: 0, blocked: 0 };
  for (const e of log) {
    if (rid !== undefined && e.rid !== rid) continue;
    t.requests++;
    if (!e.ok) {
      t.blocked++;
      continue;
    }
    t.bytes += e.length;
    if (e.what === 'data') t.dataBytes += e.length;
    else if (e.what === 'ring') t.ringBytes += e.length;
  }
  return t;
}

/** The port of an I/O exit, from the vendor's exit information. */
export function ioExitPort(e: HvLogEntry): number | null {
  if (e.kind !== 'io') return null;
  const v = e.vendor === 'intel' ? e.raw.exit_qualification : e.raw.exit_info_1;
  return v === undefined ? null : Number((v >> 16n) & 0xffffn);
}

export function tallyExits(log: readonly HvLogEntry[], devicePort: (port: number) => boolean): IoExitTally {
  const t: IoExitTally = { total: 0, config: 0, devicePorts: 0, mmio: 0, interrupts: 0, eoi: 0, other: 0, byName: {} };
  for (const e of log) {
    t.total++;
    const b = (t.byName[e.name] ??= { code: e.code, count: 0 });
    b.count++;
    const port = ioExitPort(e);
    if (port !== null && port >= 0xcf8 && port < 0xd00) t.config++;
    else if (port !== null && devicePort(port)) t.devicePorts++;
    else if (e.kind === 'mmio') t.mmio++;
    else if (e.kind === 'external-interrupt') t.interrupts++;
    else if (e.kind === 'msr' && e.note.startsWith('x2APIC EOI')) t.eoi++;
    else t.other++;
  }
  return t;
}

/** Runs the task with the device given `way` and reports (the VM with the device is the host's only VM). */
export function runIoTask(task: IoTask): IoReport {
  const iommu = task.way === 'assigned' ? (task.iommu ?? 'vtd') : 'none';
  const kind = task.kind ?? 'nic';
  const host = new Host({
    under: task.under, guests: [ioGuest(task.way, task.frames, task.irq === true ? { irq: true } : {}, kind)], iommu,
    ...(task.preset !== undefined ? { preset: task.preset } : {}), ...(task.posted === true ? { postedInterrupts: true } : {}),
  });
  const end = host.run(IO_STEP_LIMIT);
  return ioReport(host, 0, task.way, iommu, task.frames, end, kind);
}

/**
 * The report of VM `vi` of `host`, which ran the driver for `frames` frames (a disk: blocks; then
 * `received` counts the blocks read back without an error status, and the data check compares
 * every block read back with the block written).
 */
export function ioReport(host: Host, vi: number, way: DeviceWay, iommu: IommuKind, frames: number, end: 'ended' | 'limit', kind: DeviceKind = 'nic'): IoReport {
  const v = host.vm(vi);
  const dev = host.deviceOf(vi);
  if (dev === null) throw new Error(`VM ${vi} has no device`);
  const mem = host.mem;
  const at = (gpa: number): number => v.hpaBase + gpa;
  let received: number;
  let dataOk: boolean;
  let irqs = 0;
  if (kind === 'disk') {
    // The driver keeps the status of a failed command at IO_RESULT + 16 (0: none failed).
    const failed = mem.read(at(IO_RESULT + 16), 4) !== 0;
    received = 0;
    for (let k = 0; k < frames; k++) {
      let same = true;
      for (let i = 0; i < BLOCK && same; i++) if (mem.read8(at(IO_RBUF + k * BLOCK + i)) !== blockByte(k, i)) same = false;
      if (same) received++;
    }
    dataOk = !failed && received === frames;
  } else {
    received = mem.read(at(IO_RECEIVED), 4);
    irqs = mem.read(at(IO_IRQS), 4);
    dataOk = received === frames;
    for (let k = 0; k < Math.min(received, frames) && dataOk; k++) {
      const len = mem.read(at(IO_OUTLEN + 4 * k), 4);
      if (len !== frameLength(k)) dataOk = false;
      for (let i = 0; i < len && dataOk; i++) if (mem.read8(at(IO_OUT + k * IO_SLOT + i)) !== frameByte(k, i)) dataOk = false;
    }
  }
  const log = v.hypervisors.flatMap((h) => h.log);
  const ioWindows = dev.bus.ioWindowsNow();
  const exits = tallyExits(log, (port) => ioWindows.some((w) => port >= w.base && port < w.base + w.size));
  const hypervisor = way === 'assigned' ? tallyDma([]) : tallyDma(dev.bus.dmaLog);
  const device = way === 'assigned' && host.pci !== null ? tallyDma(host.pci.dmaLog, dev.assigned!.rid) : tallyDma([]);
  return {
    under: host.under, way, iommu, frames, end, received, irqs, dataOk,
    steps: host.report()[vi]!.steps,
    exits, hypervisor, device,
    copies: way === 'assigned' ? 0 : payloadCopies(dev.bus.dmaLog),
    deviceExits: exits.mmio + exits.devicePorts,
    cycles: v.ledger.cycles,
  };
}

/** One way's cost per frame: the difference between a run of 2N frames and one of N, so set-up is left out. */
export interface IoPerFrame {
  way: DeviceWay;
  /** Both runs (N and 2N frames) delivered every frame byte for byte. */
  dataOk: boolean;
  deviceExits: number;
  configExits: number;
  /** Payload bytes the hypervisor's processor copied, and its copies (DMA requests of payload), per frame. */
  copiedBytes: number;
  copies: number;
  /** Payload bytes the device moved by DMA itself. */
  dmaBytes: number;
  cycles: number;
}

export interface IoComparison {
  under: 'vtx' | 'svm';
  iommu: IommuKind;
  frames: number;
  runs: IoReport[];
  perFrame: IoPerFrame[];
}

const payloadCopies = (log: readonly DmaLogEntry[]): number => log.filter((e) => e.ok && e.what === 'data').length;

/**
 * Runs every way with `frames` and 2 × `frames` frames; reports the runs of `frames` and the cost per
 * frame. Take `frames` a multiple of 8 (VIRTIO_BATCH): the virtio driver notifies once per batch of
 * up to 8, so with another count the two runs differ by a part of a batch.
 */
export function compareWays(under: 'vtx' | 'svm', frames: number, ways: readonly DeviceWay[] = ['emulated', 'virtio', 'assigned'], iommu: IommuKind = 'vtd', preset?: string, kind: DeviceKind = 'nic'): IoComparison {
  const runs: IoReport[] = [];
  const perFrame: IoPerFrame[] = [];
  for (const way of ways) {
    const task = (n: number): IoTask => ({ under, way, iommu, frames: n, kind, ...(preset !== undefined ? { preset } : {}) });
    const a = runIoTask(task(frames));
    const b = runIoTask(task(2 * frames));
    runs.push(a);
    const d = (f: (r: IoReport) => number): number => (f(b) - f(a)) / frames;
    perFrame.push({
      way,
      dataOk: a.dataOk && b.dataOk,
      deviceExits: d((r) => r.deviceExits),
      configExits: d((r) => r.exits.config),
      copiedBytes: d((r) => r.hypervisor.dataBytes),
      copies: d((r) => r.copies),
      dmaBytes: d((r) => r.device.dataBytes),
      cycles: d((r) => r.cycles),
    });
  }
  return { under, iommu, frames, runs, perFrame };
}

/** How a network card's interrupt reaches the guest in `compareInterrupts`. */
export type IrqWay = 'emulated' | 'assigned' | 'posted';

/** One delivery way's cost per frame (a run of 2N frames less a run of N), interrupt-driven against polling. */
export interface IrqPerFrame {
  way: IrqWay;
  /** The IOMMU the assigned card's MSI passes ('none': a plain message to the host vector). */
  iommu: IommuKind;
  dataOk: boolean;
  /** Every interrupt the driver waited for reached its handler (IO_IRQS = frames, both runs). */
  irqsOk: boolean;
  /** Per frame, interrupt-driven: every exit, the external-interrupt exits, the EOI exits, the device's MMIO exits. */
  exits: number;
  interruptExits: number;
  eoiExits: number;
  mmioExits: number;
  cycles: number;
  /** The same figures of the polling driver on the same way, for the difference. */
  pollExits: number;
  pollCycles: number;
}

export interface IrqComparison {
  under: 'vtx' | 'svm';
  iommu: IommuKind;
  frames: number;
  perFrame: IrqPerFrame[];
}

/**
 * The interrupt-driven network driver against the polling one (issue 8 item 4): an emulated card
 * (the hypervisor injects), an assigned card whose MSI reaches the host and is injected (through
 * `iommu`'s interrupt remapping, or plain without one), and, under VT-x with VT-d, the assigned card
 * with posted interrupts.
 */
export function compareInterrupts(under: 'vtx' | 'svm', frames: number, iommu: IommuKind = under === 'vtx' ? 'vtd' : 'amd-vi', preset?: string): IrqComparison {
  const ways: IrqWay[] = under === 'vtx' && iommu === 'vtd' ? ['emulated', 'assigned', 'posted'] : ['emulated', 'assigned'];
  const perFrame = ways.map((way): IrqPerFrame => {
    const base: IoTask = { under, way: way === 'emulated' ? 'emulated' : 'assigned', iommu, frames, ...(preset !== undefined ? { preset } : {}) };
    const run = (n: number, irq: boolean): IoReport => runIoTask({ ...base, frames: n, ...(irq ? { irq: true } : {}), ...(irq && way === 'posted' ? { posted: true } : {}) });
    const [a, b, pa, pb] = [run(frames, true), run(2 * frames, true), run(frames, false), run(2 * frames, false)];
    const d = (x: IoReport, y: IoReport, f: (r: IoReport) => number): number => (f(y) - f(x)) / frames;
    return {
      way, iommu: way === 'emulated' ? 'none' : iommu,
      dataOk: a.dataOk && b.dataOk && pa.dataOk && pb.dataOk,
      irqsOk: a.irqs === frames && b.irqs === 2 * frames,
      exits: d(a, b, (r) => r.exits.total),
      interruptExits: d(a, b, (r) => r.exits.interrupts),
      eoiExits: d(a, b, (r) => r.exits.eoi),
      mmioExits: d(a, b, (r) => r.exits.mmio),
      cycles: d(a, b, (r) => r.cycles),
      pollExits: d(pa, pb, (r) => r.exits.total),
      pollCycles: d(pa, pb, (r) => r.cycles),
    };
  });
  return { under, iommu, frames, perFrame };
}
