/** `lab io`: the three ways of giving a VM a network card, run and compared (hv/io-compare.ts). */
import { describe, expect, it } from 'vitest';
import { main } from './lab.ts';
import type { IoComparison, IrqComparison } from '../emu/hv/io-compare.ts';

function call(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(args, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

describe('lab io', () => {
  it('--format json: each way delivers the same frames; per frame, emulated 2 device exits, virtio 1 per 4 frames, assigned none', () => {
    const r = call(['io', '--frames', '8', '--format', 'json']);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const c = JSON.parse(r.out) as IoComparison;
    expect(c).toMatchObject({ under: 'vtx', iommu: 'vtd', frames: 8 });
    expect(c.runs.map((x) => [x.way, x.dataOk, x.received])).toEqual([['emulated', true, 8], ['virtio', true, 8], ['assigned', true, 8]]);
    expect(c.perFrame.map((p) => [p.way, p.deviceExits])).toEqual([['emulated', 2], ['virtio', 0.25], ['assigned', 0]]);
    expect(c.perFrame[2]!.copiedBytes).toBe(0);
    expect(c.perFrame[2]!.dmaBytes).toBe(c.perFrame[0]!.copiedBytes);
  });

  it('the table names the vendor and the IOMMU, and says every way\u2019s data is the same', () => {
    const r = call(['io', '--under', 'svm', '--iommu', 'amd-vi', '--frames', '4']);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe("4 frames sent and received back through a network card's loopback, under AMD-V, the assigned card behind AMD-Vi");
    for (const way of ['emulated', 'virtio', 'assigned']) expect(lines.find((l) => l.startsWith(way) && l.includes(' same '))).toBeDefined();
    expect(r.out).toContain('per frame (a run of 2N less a run of N: set-up left out)');
  });

  it('--device disk: the NVMe-shaped disk emulated and assigned, virtio-blk paravirtual: 4 exits per block emulated, 0.25 virtio, none assigned', () => {
    const r = call(['io', '--device', 'disk', '--frames', '8', '--format', 'json']);
    expect(r.code).toBe(0);
    const c = JSON.parse(r.out) as IoComparison;
    expect(c.runs.map((x) => [x.way, x.dataOk])).toEqual([['emulated', true], ['virtio', true], ['assigned', true]]);
    expect(c.perFrame.map((p) => [p.way, p.deviceExits, p.copiedBytes])).toEqual([['emulated', 4, 1024], ['virtio', 0.25, 1058], ['assigned', 0, 0]]);
    expect(call(['io', '--device', 'disk', '--frames', '8']).out.split('\n')[0]).toBe('8 blocks written to a disk and read back (NVMe-shaped, or virtio-blk), under VT-x, the assigned controller behind VT-d');
  });

  it('--interrupts: per frame, the emulated card costs an EOI exit and an ICR read, the remapped one an interrupt exit and an EOI exit, the posted one nothing over polling', () => {
    const r = call(['io', '--interrupts', '--frames', '8', '--format', 'json']);
    expect(r.code).toBe(0);
    const c = JSON.parse(r.out) as IrqComparison;
    expect(c).toMatchObject({ under: 'vtx', iommu: 'vtd', frames: 8 });
    expect(c.perFrame.map((p) => [p.way, p.dataOk, p.irqsOk, p.interruptExits, p.eoiExits, p.mmioExits])).toEqual([
      ['emulated', true, true, 0, 1, 3],
      ['assigned', true, true, 1, 1, 0],
      ['posted', true, true, 0, 0, 0],
    ]);
    expect(c.perFrame[2]!.exits).toBe(c.perFrame[2]!.pollExits);
    const svm = call(['io', '--interrupts', '--under', 'svm', '--frames', '8']);
    expect(svm.code).toBe(0);
    expect(svm.out.split('\n')[0]).toBe("8 frames through a network card's loopback, under AMD-V: the driver waits for the card's interrupt after each frame");
    expect(svm.out).toContain('AMD-Vi remapped IRTE');
    expect(svm.out).not.toContain('posted ');
  });

  it.each([
    [['io', '--interrupts', '--device', 'disk'], "--interrupts: the interrupt-driven driver is the network card's"],
    [['io', '--interrupts=yes'], '--interrupts takes no value'],
    [['io', '--interrupts', '--under', 'svm', '--iommu', 'vtd'], "--iommu: vtd is Intel's"],
    [['io', '--device', 'tape'], "--device: 'tape' is not nic or disk"],
    [['io', '--under', 'kvm'], "--under: 'kvm' is not vtx or svm"],
    [['io', '--frames', '0'], '--frames: 0 is not 1..64'],
    [['io', '--frames', '65'], '--frames: 65 is not 1..64'],
    [['io', '--iommu', 'smmu'], "--iommu: 'smmu' is not vtd, amd-vi or none"],
    [['io', '--under', 'svm', '--cost-preset', 'intel-broadwell'], '--cost-preset:'],
    [['io', 'extra'], "unexpected argument 'extra'"],
  ])('%j is refused with exit code 2 and the usage', (args, msg) => {
    const r = call(args);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain(msg);
    expect(r.err).toContain('usage: lab io');
  });
});
