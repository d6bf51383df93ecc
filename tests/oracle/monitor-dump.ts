/** Comparing guest memory after a run under a software monitor (trap-and-emulate, binary translation) with the bare run. */

/**
 * The one difference a software monitor leaves in guest memory: the accessed and dirty flags of the
 * page-table entry mapping the guest's GDT, IDT and TSS (linear page 0 in these programs). Bare, the
 * processor reads those tables through the guest's paging and writes the descriptors' accessed and
 * TSS busy bits; under the monitor it reads and writes the monitor's shadow copies instead.
 */
export const DESCRIPTOR_PAGE_AD = [{ entry: 'PTE of linear page 0', bare: 0x60, monitor: 0 }];

/** Words of the dump that differ, each as the PTE it is (of the guest's CR3) and its A/D bits on both sides. */
export function dumpDiff(mem: { read(a: number, size: 4): number }, dump: { addr: number; len: number }, bareHex: string, cr3: number): { entry: string; bare: number; monitor: number }[] {
  const bare = Buffer.from(bareHex, 'hex');
  const out: { entry: string; bare: number; monitor: number }[] = [];
  for (let i = 0; i < dump.len; i += 4) {
    const a = dump.addr + i;
    const v = mem.read(a, 4) >>> 0;
    const w = bare.readUInt32LE(i);
    if (v === w) continue;
    let entry = `word at 0x${a.toString(16)}`;
    for (let d = 0; d < 1024; d++) {
      const pde = mem.read(cr3 + d * 4, 4) >>> 0;
      if ((pde & 1) !== 0 && (pde & 0x80) === 0 && (pde & ~0xfff) === (a & ~0xfff)) entry = `PTE of linear page ${(d << 10) + ((a & 0xfff) >>> 2)}`;
    }
    out.push(entry.startsWith('PTE') && (v ^ w) === ((v ^ w) & 0x60) ? { entry, bare: w & 0x60, monitor: v & 0x60 } : { entry, bare: w, monitor: v });
  }
  return out;
}

