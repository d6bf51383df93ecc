/**
 * What the hosted and bare-metal view draws (HostingPanel, HostingPath): the software stack of each
 * arrangement as layers, top to bottom, the layer each hop of an exit's path lands in, and the path
 * laid out as numbered points, one column per hop, in its layer's band. Plain TS, tested beside.
 *
 * The layers follow the arrangement (hv/hosting.ts): hosted, the guest above the user-level VMM
 * process, the host kernel (its VMDriver, scheduler and drivers), the VMM world (the monitor, which
 * runs on the processor directly while the host OS is switched out) and the hardware; bare-metal,
 * the guest above the hypervisor (its scheduler, device models and drivers) and the hardware.
 */
import type { MessageKey } from '../../i18n/messages.ts';
import type { VmHostHop, VmHostingView } from '../../worker/vm-types.ts';

export type Hosting = VmHostingView['hosting'];
export type HostingLayer = 'guest' | 'vmm-process' | 'host-kernel' | 'vmm-world' | 'hypervisor' | 'hardware';

export const LAYERS: Readonly<Record<Hosting, readonly HostingLayer[]>> = {
  hosted: ['guest', 'vmm-process', 'host-kernel', 'vmm-world', 'hardware'],
  'bare-metal': ['guest', 'hypervisor', 'hardware'],
};

/** The arrangement an exit would take the other way. */
export function otherHosting(h: Hosting): Hosting {
  return h === 'hosted' ? 'bare-metal' : 'hosted';
}

/** Where hop `hop` lands (the component that does it) under `hosting`. */
export function layerOf(hosting: Hosting, hop: VmHostHop): HostingLayer {
  if (hop === 'entry') return 'guest';
  if (hosting === 'bare-metal') return 'hypervisor';
  switch (hop) {
    case 'exit':
    case 'world-in':
    case 'hv-scheduler':
      return 'vmm-world';
    case 'to-user':
    case 'device-model':
      return 'vmm-process';
    case 'world-out':
    case 'host-syscall':
    case 'driver':
    case 'from-user':
    case 'host-irq':
    case 'host-scheduler':
      return 'host-kernel';
  }
}

/** A world switch between the VMM world and the host world (drawn as a diamond). */
export function isWorldSwitch(hop: VmHostHop): boolean {
  return hop === 'world-out' || hop === 'world-in';
}

/** The sentence that names hop `hop` under `hosting` in the ordered list. */
export function hopKey(hosting: Hosting, hop: VmHostHop): MessageKey {
  switch (hop) {
    case 'exit':
    case 'device-model':
    case 'driver':
    case 'host-irq':
      return `hosting.hop.${hop}.${hosting}`;
    default:
      return `hosting.hop.${hop}`;
  }
}

/** The drawing's size and spacing (viewBox units). */
export const GEOMETRY = {
  width: 360,
  /** Each layer's band: its name on the first line, the path's points on the second. */
  band: 38,
  top: 4,
  /** The start (the guest running) and the first hop's column. */
  x0: 22,
  column: 32,
  /** From a band's top to its label's baseline and to its points. */
  labelDy: 13,
  pointDy: 27,
} as const;

export interface PathPoint {
  /** 1-based; 0 for the start (the guest, before its exit). */
  n: number;
  hop: VmHostHop | null;
  layer: HostingLayer;
  x: number;
  y: number;
  world: boolean;
  /** Output leaves for the hardware here (the driver's hop of an exit that sent data). */
  out: boolean;
}

export interface PathLayout {
  width: number;
  height: number;
  bands: { layer: HostingLayer; y: number }[];
  points: PathPoint[];
  /** The polyline through the points. */
  d: string;
  /** Where the hardware band's points line is (for the output's drop), or null. */
  hardwareY: number | null;
}

/** The path `hops` under `hosting` as points in their layers' bands, left to right in order. */
export function pathLayout(hosting: Hosting, hops: readonly VmHostHop[], output: boolean): PathLayout {
  const g = GEOMETRY;
  const layers = LAYERS[hosting];
  const bands = layers.map((layer, i) => ({ layer, y: g.top + i * g.band }));
  const yOf = (layer: HostingLayer): number => g.top + layers.indexOf(layer) * g.band + g.pointDy;
  const points: PathPoint[] = [{ n: 0, hop: null, layer: 'guest', x: g.x0, y: yOf('guest'), world: false, out: false }];
  hops.forEach((hop, i) => {
    const layer = layerOf(hosting, hop);
    points.push({ n: i + 1, hop, layer, x: g.x0 + (i + 1) * g.column, y: yOf(layer), world: isWorldSwitch(hop), out: output && hop === 'driver' });
  });
  const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x},${p.y}`).join(' ');
  return { width: g.width, height: g.top + layers.length * g.band + 2, bands, points, d, hardwareY: layers.includes('hardware') ? yOf('hardware') : null };
}

/** A host process as the views count them (from 1). */
export function procNumber(proc: number): number {
  return proc + 1;
}
