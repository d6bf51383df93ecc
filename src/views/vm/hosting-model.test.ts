import { describe, expect, it } from 'vitest';
import { hopsOf, type HostHop } from '../../emu/hv/hosting.ts';
import type { VmHostHop } from '../../worker/vm-types.ts';
import { GEOMETRY, hopKey, isWorldSwitch, LAYERS, layerOf, otherHosting, pathLayout } from './hosting-model.ts';
import { hostingEn } from '../../i18n/parts/hosting.ts';

const ALL: readonly HostHop[] = ['exit', 'world-out', 'to-user', 'device-model', 'host-syscall', 'driver', 'from-user', 'world-in', 'host-irq', 'host-scheduler', 'hv-scheduler', 'entry'];
// The view's hop names are the emulator's (vm-types.ts repeats hosting.ts's union).
const same: readonly VmHostHop[] = ALL;

describe('the hosted and bare-metal view\u2019s model', () => {
  it('stacks the layers of each arrangement, guest on top, hardware at the bottom', () => {
    expect(LAYERS.hosted).toEqual(['guest', 'vmm-process', 'host-kernel', 'vmm-world', 'hardware']);
    expect(LAYERS['bare-metal']).toEqual(['guest', 'hypervisor', 'hardware']);
    expect(otherHosting('hosted')).toBe('bare-metal');
    expect(otherHosting('bare-metal')).toBe('hosted');
  });

  it('puts each hop where the component that makes it lives, and names every hop in the catalog', () => {
    for (const h of same) {
      for (const hosting of ['hosted', 'bare-metal'] as const) {
        expect(LAYERS[hosting]).toContain(layerOf(hosting, h));
        expect(hostingEn[hopKey(hosting, h) as keyof typeof hostingEn], `${hosting} ${h}`).toBeDefined();
      }
    }
    expect(['world-out', 'host-syscall', 'driver', 'from-user', 'host-irq', 'host-scheduler'].map((h) => layerOf('hosted', h as HostHop))).toEqual(Array(6).fill('host-kernel'));
    expect(['to-user', 'device-model'].map((h) => layerOf('hosted', h as HostHop))).toEqual(['vmm-process', 'vmm-process']);
    expect([layerOf('hosted', 'exit'), layerOf('hosted', 'world-in'), layerOf('hosted', 'entry')]).toEqual(['vmm-world', 'vmm-world', 'guest']);
    expect(ALL.filter((h) => h !== 'entry').every((h) => layerOf('bare-metal', h) === 'hypervisor')).toBe(true);
    expect(ALL.filter(isWorldSwitch)).toEqual(['world-out', 'world-in']);
  });

  it('lays a path out left to right from the guest, one column a hop, each point in its layer\u2019s band, the byte\u2019s drop at the driver', () => {
    const hops = hopsOf('hosted', 'device', true, false);
    const l = pathLayout('hosted', hops, true);
    expect(l.points.map((p) => p.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(l.points[0]).toMatchObject({ hop: null, layer: 'guest' });
    expect(l.points.slice(1).map((p) => p.hop)).toEqual(hops);
    for (const [i, p] of l.points.entries()) {
      expect(p.x).toBe(GEOMETRY.x0 + i * GEOMETRY.column);
      const band = l.bands.find((b) => b.layer === p.layer)!;
      expect(p.y).toBeGreaterThan(band.y);
      expect(p.y).toBeLessThan(band.y + GEOMETRY.band);
    }
    expect(l.points.filter((p) => p.world).map((p) => p.hop)).toEqual(['world-out', 'world-in']);
    expect(l.points.filter((p) => p.out).map((p) => p.hop)).toEqual(['driver']);
    expect(pathLayout('hosted', hops, false).points.some((p) => p.out)).toBe(false);
    expect(l.d.startsWith(`M${GEOMETRY.x0},`)).toBe(true);
    expect(l.d.split('L')).toHaveLength(hops.length + 1);
    // The longest path fits the drawing, which is as wide for both arrangements (their lengths compare).
    expect(l.points.at(-1)!.x + 10).toBeLessThan(l.width);
    expect(pathLayout('bare-metal', hopsOf('bare-metal', 'device', true, false), true).width).toBe(l.width);
    expect(l.height).toBeGreaterThan(pathLayout('bare-metal', [], false).height);
  });
});
