/**
 * Giving a VM a PCI device (issue 8, item 2): the hypervisor's side of the three ways, used by the
 * multi-VM host (host.ts, `HostGuest.device`).
 *
 * - **Emulated** and **paravirtual**: the device is a model inside the hypervisor, on a PCI bus of
 *   the VM's own (a `PciBus` with `claimMmio: false`). The VM's configuration accesses (0xCF8 /
 *   0xCFC) and I/O BARs are I/O exits, its memory BARs MMIO exits (EPT violation, #VMEXIT(NPF)),
 *   all handed to that bus at their guest-physical addresses. What the model does as "DMA" is the
 *   hypervisor's processor reading and writing the guest's RAM: `GuestRamRemapper` turns a
 *   guest-physical address into the host-physical one of that VM's RAM and refuses anything
 *   outside it, as a hypervisor must (otherwise a guest could make its device model write the
 *   hypervisor's memory). Every byte it moves is a copy made by the host's CPU: the bus's DMA log is
 *   the count.
 * - **Assigned**: the device is a real function on the host's PCI bus (the physical one, behind
 *   the host's own MMIO), its BAR placed by the host in host-physical space. The guest sees it on
 *   its own bus through `AssignedFunction`, a proxy that shows the physical function's identity and
 *   BARs in a virtual configuration space (as VFIO does: configuration accesses still exit, and the
 *   guest's BAR addresses are guest-physical ones of its choosing), and the hypervisor maps the
 *   guest's BAR to the physical one in its nested tables (`mapMmio`): the guest's register
 *   accesses then reach the device with no exit. The device's DMA carries the guest's own
 *   addresses, guest-physical ones, and goes through the host's IOMMU. With a domain for the device
 *   that maps guest-physical [0, RAM) to the VM's host-physical RAM (`IommuDomains`), it lands where
 *   the guest meant; with no IOMMU the addresses are taken as host-physical, and land in whatever
 *   host memory has that address: another VM's RAM or the hypervisor's.
 *
 * - **A virtual function** (SR-IOV, dev/pci.ts and dev/sriov-nic.ts): assigned as above, but what
 *   the VM gets is one VF of a single SR-IOV card on the host's bus instead of a whole card. The
 *   hypervisor is the PF's driver (`enableVfs`): it sets NumVFs, places VF BAR0 and sets VF Enable
 *   and VF MSE, and each VF appears at its own routing ID with its own slice of the VF BAR. The
 *   proxy shows the VF to the guest with the PF's Vendor ID and the capability's VF Device ID (a
 *   VF's own ID registers read 0xFFFF), and with a memory-space bit the guest can set (a VF has none:
 *   VF MSE decides). Each VF's DMA carries its own requester ID, so the IOMMU gives each its own
 *   domain: one card, several VMs, each confined to its own RAM.
 *
 * Not modelled here (issue 8 goes on): interrupts from these devices (drivers poll; MSI, interrupt
 * remapping and posted interrupts are the next layer), several functions per VM.
 */
import type { PhysMem } from '../mem/physmem.ts';
import { checkRequest, type DmaOutcome, type DmaRemapper, type DmaRequest } from '../iommu/types.ts';
import { AMD_IRTE, AmdViRemapper, AMDVI_REG, CTRL_EVT_LOG_EN, CTRL_IOMMU_EN, DTE, DTE_INT, INT_CTL_REMAP, IOPTE } from '../iommu/amdvi.ts';
import { CTX_E, GCMD_IRE, GCMD_SIRTP, GCMD_SRTP, GCMD_TE, IR_ADDR, IRTA, IRTE, ROOT_E, SL_R, SL_W, SVT_SID, VTD_REG, VtdRemapper } from '../iommu/vtd.ts';
import { CFG, CMD, SRIOV, SRIOV_CAP_ID, SRIOV_CTRL, type PciBus, type PciFunctionModel, type PciFunctionPort, type PciFunctionSpec } from '../dev/pci.ts';
import { MSI_CAP_ID, MSI_CONTROL, MSI_REG } from '../dev/msi.ts';
import { Nic } from '../dev/nic.ts';
import { NvmeController } from '../dev/nvme.ts';
import { VirtioNet } from '../dev/virtio-net.ts';
import { VirtioBlk } from '../dev/virtio-blk.ts';

/** What the host's IOMMU is (`HostOptions.iommu`). */
export type IommuKind = 'none' | 'vtd' | 'amd-vi';
/** How a VM is given its device (`HostGuest.device.way`). */
export type DeviceWay = 'emulated' | 'virtio' | 'assigned';

/** What a VM is given: a network card or a disk controller. */
export type DeviceKind = 'nic' | 'disk';

/**
 * The device a way gives a VM: a network card (the 8254x-style card emulated or assigned, or the
 * virtio-net device) or a disk of 1,024 blocks (the NVMe-shaped controller emulated or assigned, or
 * the virtio-blk device).
 */
export function deviceModel(kind: DeviceKind, way: DeviceWay): PciFunctionModel {
  if (kind === 'nic') return nicModel(way);
  // The virtio disk's queue of 32 holds a batch of 8 requests of three descriptors each (io-guest.ts).
  if (way === 'virtio') return new VirtioBlk('virtio-blk', { queueSize: 32, sectors: 1024 });
  return new NvmeController(1024);
}

/** The network card a way gives a VM: the 8254x-style card (emulated or assigned), or the virtio-net device. */
export function nicModel(way: DeviceWay): PciFunctionModel {
  // The virtio device's loopback stands for the host's side of the bridge echoing each frame back;
  // 16 descriptors a queue hold 8 frames as chains of a header and a frame (io-guest.ts).
  return way === 'virtio' ? new VirtioNet('virtio-net', { loopback: true, queueSize: 16 }) : new Nic();
}

/**
 * The hypervisor's own access to a VM's RAM on behalf of a device model: guest-physical [0, size)
 * is host-physical [hpaBase, hpaBase + size); anything else is refused (a fault of vendor 'hv').
 */
export class GuestRamRemapper implements DmaRemapper {
  readonly vendor = 'hv' as const;
  constructor(
    readonly hpaBase: number,
    readonly size: number,
  ) {}

  translate(req: DmaRequest): DmaOutcome {
    checkRequest(req);
    const end = req.iova + BigInt(req.length);
    if (end > BigInt(this.size)) return { ok: false, fault: { vendor: 'hv', gpa: req.iova }, refs: [] };
    return { ok: true, hpa: this.hpaBase + Number(req.iova), domainId: -1, iotlbHit: false, pageSize: 4096, refs: [] };
  }
}

/**
 * The guest's view of an assigned function: the physical function's identity, BARs and command
 * bits in a configuration space of the VM's own bus (so BAR sizing, placement and the command
 * register behave as on hardware, at guest-physical addresses). Writes of the command register's
 * memory-space and bus-master bits are passed on to the physical function (the device needs bus
 * mastering for its DMA); `onConfig` tells the host to map the BAR again. A register access that
 * does exit (the BAR not mapped yet, or unmapped) is forwarded to the physical function: the slow
 * path a VFIO-style hypervisor also has. Capabilities are not shown (MSI comes later).
 */
export class AssignedFunction implements PciFunctionModel {
  readonly name: string;
  readonly spec: PciFunctionSpec;
  private port: PciFunctionPort | null = null;

  /**
   * `vf`: the function is a VF, shown with the IDs software takes from its PF (its own read 0xFFFF)
   * and a memory-space bit the guest can set, as on a function of its own.
   */
  constructor(
    readonly physical: PciFunctionModel,
    private readonly host: { bus: PciBus; device: number; fn: number },
    private readonly onCommand: () => void,
    vf?: { vendorId: number; deviceId: number },
  ) {
    this.name = physical.name;
    const { capabilities: caps, extendedCapabilities: _ext, sriov: _sriov, ...rest } = physical.spec;
    // The guest sees the function's MSI capability, virtual as VFIO shows it: what the guest writes
    // there stays in the proxy, and the host programs the real one (`guestMsi`, host.ts).
    const msi = (caps ?? []).filter((c) => c.id === MSI_CAP_ID);
    const spec: PciFunctionSpec = msi.length > 0 ? { ...rest, capabilities: msi } : rest;
    this.spec = vf === undefined ? spec : { ...spec, vendorId: vf.vendorId, deviceId: vf.deviceId, commandBits: spec.commandBits | CMD.MEMORY };
  }

  /** The guest's MSI capability as it programmed it (enable, address, data), or null without one. */
  guestMsi(): { enabled: boolean; address: number; addressHi: number; data: number } | null {
    const p = this.port;
    if (p === null) return null;
    const at = p.capability(MSI_CAP_ID);
    if (at < 0) return null;
    return {
      enabled: (p.config(at + MSI_REG.CONTROL, 2) & MSI_CONTROL.ENABLE) !== 0,
      address: p.config(at + MSI_REG.ADDRESS_LO, 4) >>> 0,
      addressHi: p.config(at + MSI_REG.ADDRESS_HI, 4) >>> 0,
      data: p.config(at + MSI_REG.DATA_64, 2),
    };
  }

  connect(port: PciFunctionPort): void {
    this.port = port;
  }

  /** The guest's command register now. */
  command(): number {
    return this.port?.command() ?? 0;
  }

  /** The guest's placement of BAR `bar` (its address bits), 0 if unplaced. */
  guestBar(bar: number): number {
    if (this.port === null) return 0;
    const b = this.spec.bars[bar];
    if (b === null || b === undefined || b.kind === 'io') return 0;
    return (this.port.config(CFG.BAR0 + 4 * bar, 4) & ~0xf) >>> 0;
  }

  /** Mirrors the guest's memory-space and bus-master bits to the physical function. */
  syncCommand(): void {
    const want = this.command() & (CMD.MEMORY | CMD.BUS_MASTER);
    const { bus, device, fn } = this.host;
    const now = bus.configRead(device, fn, CFG.COMMAND, 2);
    // The host keeps memory space on (its BAR is placed): only bus mastering follows the guest.
    const next = (now & ~CMD.BUS_MASTER) | (want & CMD.BUS_MASTER) | CMD.MEMORY;
    if (next !== now) bus.configWrite(device, fn, CFG.COMMAND, 2, next);
    this.onCommand();
  }

  barRead(bar: number, offset: number, size: 1 | 2 | 4): number {
    return this.physical.barRead(bar, offset, size);
  }

  barWrite(bar: number, offset: number, size: 1 | 2 | 4, value: number): void {
    this.physical.barWrite(bar, offset, size, value);
  }

  snapshot(): unknown {
    return null;
  }

  restore(_state: unknown): void {}
}

/** One VF a PF driver enabled: its routing ID, place on bus 0, and its BAR0's host-physical address and aperture. */
export interface VfSlot {
  index: number;
  rid: number;
  device: number;
  fn: number;
  bar: number;
  size: number;
}

/**
 * The hypervisor as the driver of the SR-IOV PF at 00:device.fn on the host's bus: `count` VFs with
 * 4-KByte system pages and VF BAR0 at `vfBar0` (aligned to the aperture), then VF Enable and VF MSE
 * (SR-IOV 1.1, 3.3.3, 3.3.7, 3.3.13-14). Returns each VF's place, from First VF Offset and VF Stride.
 */
export function enableVfs(bus: PciBus, device: number, fn: number, count: number, vfBar0: number): VfSlot[] {
  const at = bus.extendedCapability(device, fn, SRIOV_CAP_ID);
  if (at < 0) throw new RangeError(`00:${device.toString(16).padStart(2, '0')}.${fn} has no SR-IOV capability`);
  const rd = (off: number, size: 2 | 4) => bus.configRead(device, fn, at + off, size);
  const wr = (off: number, size: 2 | 4, v: number) => bus.configWrite(device, fn, at + off, size, v);
  const total = rd(SRIOV.TOTAL_VFS, 2);
  if (count < 1 || count > total) throw new RangeError(`${count} VFs: the card has ${total}`);
  wr(SRIOV.SYSTEM_PAGE_SIZE, 4, 1);
  wr(SRIOV.NUM_VFS, 2, count);
  // The size protocol on VF BAR0 gives each VF's aperture.
  wr(SRIOV.VF_BAR0, 4, 0xffffffff);
  const size = -(rd(SRIOV.VF_BAR0, 4) & ~0xf) >>> 0;
  if (vfBar0 % size !== 0) throw new RangeError(`VF BAR0 at 0x${vfBar0.toString(16)} is not aligned to its ${size}-byte aperture`);
  wr(SRIOV.VF_BAR0, 4, vfBar0);
  wr(SRIOV.CONTROL, 2, SRIOV_CTRL.VF_ENABLE | SRIOV_CTRL.VF_MSE);
  const first = rd(SRIOV.FIRST_VF_OFFSET, 2);
  const stride = rd(SRIOV.VF_STRIDE, 2);
  const pf = (device << 3) | fn;
  return Array.from({ length: count }, (_, k) => {
    const rid = pf + first + k * stride;
    return { index: k, rid, device: (rid >> 3) & 0x1f, fn: rid & 7, bar: vfBar0 + k * size, size };
  });
}

/** The Vendor ID and VF Device ID software gives the VFs of the PF at 00:device.fn (SR-IOV 1.1, 3.3.11, 3.4.1.1-2). */
export function vfIdentity(bus: PciBus, device: number, fn: number): { vendorId: number; deviceId: number } {
  const at = bus.extendedCapability(device, fn, SRIOV_CAP_ID);
  return { vendorId: bus.configRead(device, fn, CFG.VENDOR_ID, 2), deviceId: bus.configRead(device, fn, at + SRIOV.VF_DEVICE_ID, 2) };
}

const PAGE = 0x1000;

/** Host RAM the hypervisor's IOMMU structures need for these VMs' RAM sizes (4-KByte aligned). */
export function iommuAreaSize(kind: IommuKind, ramSizes: readonly number[]): number {
  if (kind === 'none') return 0;
  // VT-d: root table, bus 0's context table and the interrupt-remapping table; AMD-Vi: a device
  // table of 2 pages (DeviceIDs of bus 0) and a 1-page event log. Each domain: PML4, PDPT, PD, and a page table per 2 MiB.
  // Interrupt remapping: VT-d one table page, AMD-Vi a table page per device.
  const fixed = 3;
  return (fixed + ramSizes.reduce((n, s) => n + 3 + Math.ceil(s / 0x200000) + (kind === 'amd-vi' ? 1 : 0), 0)) * PAGE;
}

function put(mem: PhysMem, pa: number, v: bigint, dwords: number): void {
  for (let i = 0; i < dwords; i++) mem.write(pa + 4 * i, 4, Number((v >> BigInt(32 * i)) & 0xffffffffn));
}

const field = (lo: number, v: number | bigint | boolean): bigint => (typeof v === 'boolean' ? (v ? 1n : 0n) : BigInt(v)) << BigInt(lo);

/**
 * The hypervisor as the IOMMU's driver: it builds the remapping structures in its own memory
 * (`area`, `iommuAreaSize` bytes) and gives each assigned device a domain of its own whose I/O
 * page tables map guest-physical [0, size) to that VM's host-physical RAM in 4-KByte pages, read
 * and write, and nothing else. VT-d: a root table, bus 0's context table, context entries with
 * TT 0 (second-level translation), AW 2 (4-level, 48-bit) and the domain ID; second-level entries
 * with R and W. AMD-Vi: a device table, an event log, DTEs with V, TV, Mode 4, IR, IW and the
 * domain ID; I/O page-table entries with PR, Next Level, IR and IW. Then translation is switched
 * on (VT-d SRTP then TE; AMD-Vi IOMMU_EN with the event log on).
 */
export class IommuDomains {
  readonly remapper: VtdRemapper | AmdViRemapper;
  private next: number;
  private readonly end: number;
  private readonly root: number;
  private readonly ctx: number;

  constructor(
    readonly kind: 'vtd' | 'amd-vi',
    private readonly mem: PhysMem,
    area: number,
    size: number,
  ) {
    this.next = area;
    this.end = area + size;
    for (let i = 0; i < size; i += 4) mem.write(area + i, 4, 0);
    if (kind === 'vtd') {
      const u = new VtdRemapper(mem);
      this.remapper = u;
      this.root = this.page();
      this.ctx = this.page();
      put(mem, this.root + 0 * 16, field(ROOT_E.P, true) | BigInt(this.ctx), 4);
      u.write64(VTD_REG.RTADDR, BigInt(this.root));
      u.write32(VTD_REG.GCMD, 1 << GCMD_SRTP);
      u.write32(VTD_REG.GCMD, (1 << GCMD_TE) >>> 0);
      // Interrupt remapping on from the start, with an empty table: a function's MSI goes nowhere
      // until routeInterrupt writes its entry (and a compatibility-format one is blocked, 25H).
      this.irt = this.page();
      u.write64(VTD_REG.IRTA, BigInt(this.irt) | field(IRTA.S[1], 7)); // 2^(7+1) = 256 entries
      u.write32(VTD_REG.GCMD, ((1 << GCMD_TE) | (1 << GCMD_SIRTP)) >>> 0);
      u.write32(VTD_REG.GCMD, ((1 << GCMD_TE) | (1 << GCMD_IRE)) >>> 0);
    } else {
      const u = new AmdViRemapper(mem);
      this.remapper = u;
      this.root = this.page();
      this.page();
      this.ctx = this.page(); // the event log: 256 entries of 16 bytes
      u.write64(AMDVI_REG.DEV_TABLE_BASE, BigInt(this.root) | 1n); // Size: 2 pages
      u.write64(AMDVI_REG.EVENT_LOG_BASE, BigInt(this.ctx) | (8n << 56n)); // EventLen 8: 256 entries
      u.write64(AMDVI_REG.CONTROL, field(CTRL_IOMMU_EN, true) | field(CTRL_EVT_LOG_EN, true));
    }
  }

  private page(): number {
    const p = this.next;
    if (p + PAGE > this.end) throw new Error('the IOMMU area is full');
    this.next += PAGE;
    return p;
  }

  /** The event log's address (AMD-Vi) or null. */
  get eventLog(): number | null {
    return this.kind === 'amd-vi' ? this.ctx : null;
  }

  /** VT-d: the interrupt-remapping table (256 entries, one page); -1 under AMD-Vi. */
  private irt = -1;
  /** AMD-Vi: each device's interrupt table (one page, from `attach`). */
  private readonly intTables = new Map<number, number>();

  /**
   * Routes the MSI of requester `sid` through interrupt remapping (VT-d 5.1, 9.10; AMD IOMMU
   * "Interrupt Remapping"; on since construction / `attach`) and returns the message the function
   * must be programmed with. `remapped`: to host `vector`, fixed, edge, physical
   * destination APIC ID 0 (the one CPU). `posted` (VT-d only): `vector` is the guest's, set in the
   * posted-interrupt descriptor at host-physical `descriptor`. The entry checks the source ID (VT-d
   * SVT 01, SQ 0: all 16 bits); VT-d uses entry `index` of its one table, AMD-Vi entry 0 of a table
   * of the device's own. Cached entries are invalidated after the write.
   */
  routeInterrupt(sid: number, index: number, r: { kind: 'remapped'; vector: number } | { kind: 'posted'; vector: number; descriptor: number }): { address: number; data: number } {
    const mem = this.mem;
    if (this.kind === 'vtd') {
      const u = this.remapper as VtdRemapper;
      if (!Number.isInteger(index) || index < 0 || index > 255) throw new RangeError(`interrupt index ${index} is not 0..255`);
      let e = field(IRTE.P, true) | field(IRTE.VECTOR[1], r.vector) | field(IRTE.SID[1], sid) | field(IRTE.SVT[1], SVT_SID);
      if (r.kind === 'posted') {
        const pda = BigInt(r.descriptor);
        e |= field(IRTE.IM, true) | (((pda >> 6n) & ((1n << 26n) - 1n)) << BigInt(IRTE.PDA_LO[1])) | ((pda >> 32n) << BigInt(IRTE.PDA_HI[1]));
      } else {
        e |= field(IRTE.DST[1] + 8, 0); // xAPIC: the APIC ID in DST bits 15:8
      }
      put(mem, this.irt + index * 16, e, 4);
      u.invalidateInterruptEntryCache(false, index);
      // Remappable format: handle = index (bits 19:5, bit 15 in address bit 2), SHV 0, data 0.
      return { address: (0xfee00000 | ((index & 0x7fff) << IR_ADDR.HANDLE[1]) | (1 << IR_ADDR.FORMAT)) >>> 0, data: 0 };
    }
    if (r.kind === 'posted') throw new RangeError('posted interrupts are VT-d\'s (the lab has no AMD-Vi guest virtual APIC)');
    const u = this.remapper as AmdViRemapper;
    const table = this.intTables.get(sid);
    if (table === undefined) throw new Error(`requester ${sid} has no interrupt table (attach it first)`);
    mem.write(table, 4, Number(field(AMD_IRTE.REMAP_EN, true) | field(AMD_IRTE.VECTOR[1], r.vector)));
    u.invalidateInterruptTable(sid);
    // Index 0: MSI data bits 10:0 = 0 (delivery mode fixed); the address names APIC ID 0.
    return { address: 0xfee00000, data: 0 };
  }

  /** Gives requester `sid` domain `domainId`, mapping guest-physical [0, size) to [hpaBase, hpaBase + size). */
  attach(sid: number, domainId: number, size: number, hpaBase: number): void {
    const mem = this.mem;
    const top = this.page();
    const vtd = this.kind === 'vtd';
    const present = vtd ? field(SL_R, true) | field(SL_W, true) : field(IOPTE.PR, true) | field(IOPTE.IR, true) | field(IOPTE.IW, true);
    // The upper levels: PML4[0] → PDPT[0..] → PD, one PD per GiB.
    const pdpt = this.page();
    put(mem, top, BigInt(pdpt) | present | (vtd ? 0n : field(IOPTE.NL_LO, 3)), 2);
    let pd = -1;
    for (let off = 0; off < size; off += 0x200000) {
      if (off % 0x40000000 === 0) {
        pd = this.page();
        put(mem, pdpt + (off / 0x40000000) * 8, BigInt(pd) | present | (vtd ? 0n : field(IOPTE.NL_LO, 2)), 2);
      }
      const pt = this.page();
      put(mem, pd + ((off / 0x200000) % 512) * 8, BigInt(pt) | present | (vtd ? 0n : field(IOPTE.NL_LO, 1)), 2);
      for (let j = 0; j < 512 && off + j * PAGE < size; j++) put(mem, pt + j * 8, BigInt(hpaBase + off + j * PAGE) | present, 2);
    }
    if (vtd) {
      put(mem, this.ctx + (sid & 0xff) * 16, field(CTX_E.P, true) | BigInt(top) | field(CTX_E.AW[1], 2) | field(CTX_E.DID[1], domainId), 4);
    } else {
      // Interrupts: IV with a table of 2 entries (IntTabLen 1), all not remapped (RemapEn 0) until
      // routeInterrupt writes entry 0; IntCtl 10b: fixed and arbitrated messages are remapped.
      const table = this.page();
      this.intTables.set(sid, table);
      const ints =
        field(DTE_INT.IV, true) | field(DTE_INT.INT_TAB_LEN[1], 1) | ((BigInt(table) >> 6n) << BigInt(DTE_INT.INT_TABLE_ROOT[1])) | field(DTE_INT.INT_CTL[1], INT_CTL_REMAP);
      const dte = field(DTE.V, true) | field(DTE.TV, true) | field(DTE.MODE_LO, 4) | BigInt(top) | field(DTE.IR, true) | field(DTE.IW, true) | field(DTE.DOMAIN_LO, domainId) | ints;
      put(mem, this.root + sid * 32, dte, 8);
    }
  }
}
