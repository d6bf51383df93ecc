/**
 * The network card of nic.ts as an SR-IOV device (pci.ts; the PCI-SIG's Single Root I/O
 * Virtualization and Sharing Specification 1.1): a physical function that is itself the full card,
 * with up to SRIOV_NIC_TOTAL_VFS virtual functions, each a card of its own (a `Nic` with its own
 * registers, rings, loopback, MSI and bus-master bit) behind one VF BAR0 of the card's BAR size.
 *
 * Routing IDs: First VF Offset 1 and VF Stride 1 put VF k at the PF's function number + 1 + k, on
 * the PF's own device number (00:10.1, 00:10.2, … for a PF at 00:10.0): no ARI is needed as long
 * as the VFs stay within functions 1..7, hence TotalVFs 7 for a PF at function 0.
 *
 * VF Device ID. A real card's VFs usually have a register set of their own and a device ID of their
 * own (the driver in a VM is a "VF driver"). Here each VF is the whole card's register set, so the
 * VF Device ID is the card's own, 0x4E43: the same guest driver (hv/io-guest.ts nicDriver, which
 * looks for 1234:4E43) binds to a VF a hypervisor shows with the PF's vendor ID and this device ID.
 */
import { Nic, NIC_BAR_SIZE, NIC_DEVICE } from './nic.ts';
import type { PciFunctionModel, PciFunctionSpec } from './pci.ts';

export const SRIOV_NIC_TOTAL_VFS = 7;
/** The VF Device ID the PF's capability gives (see above: the card's own). */
export const NIC_VF_DEVICE = NIC_DEVICE;

export class SriovNic extends Nic {
  override readonly spec: PciFunctionSpec;
  /** The VF models, made once each and reset whenever VF Enable makes them appear again. */
  private readonly vfs: Nic[] = [];

  constructor(name = 'nic-pf') {
    super(name);
    const base = new Nic().spec;
    this.spec = {
      ...base,
      sriov: {
        totalVfs: SRIOV_NIC_TOTAL_VFS,
        firstVfOffset: 1,
        vfStride: 1,
        vfDeviceId: NIC_VF_DEVICE,
        vfBars: [{ kind: 'mem32', size: NIC_BAR_SIZE }, null, null, null, null, null],
      },
    };
  }

  virtualFunction(index: number): PciFunctionModel {
    if (!Number.isInteger(index) || index < 0 || index >= SRIOV_NIC_TOTAL_VFS) throw new RangeError(`VF ${index}: 0..${SRIOV_NIC_TOTAL_VFS - 1}`);
    let vf = this.vfs[index];
    if (vf === undefined) {
      vf = new Nic(`${this.name.replace(/-pf$/, '')}-vf${index}`);
      this.vfs[index] = vf;
    } else {
      // A VF that appears again starts from reset: its earlier registers and rings are gone.
      vf.restore(new Nic().snapshot());
    }
    return vf;
  }
}
