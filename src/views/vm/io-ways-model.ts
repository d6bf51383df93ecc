/**
 * The bars of the three-ways comparison (IoWays.svelte) from the worker's answer
 * (emu/hv/io-compare.ts): per frame, the exits the card caused, the bytes the hypervisor copied,
 * and the cycles; each bar's width relative to the longest of its metric.
 */
import type { IoComparison } from '../../emu/hv/io-compare.ts';

export const IO_METRICS = ['exits', 'copied', 'cycles'] as const;
export type IoMetric = (typeof IO_METRICS)[number];

export interface IoBar {
  way: 'emulated' | 'virtio' | 'assigned';
  value: number;
  /** 0..1 of the metric's largest value (0 when every value is 0). */
  width: number;
}

export function ioBars(c: IoComparison): { metric: IoMetric; bars: IoBar[] }[] {
  return IO_METRICS.map((metric) => {
    const values = c.perFrame.map((p) => ({ way: p.way, value: metric === 'exits' ? p.deviceExits : metric === 'copied' ? p.copiedBytes : p.cycles }));
    const max = Math.max(0, ...values.map((v) => v.value));
    return { metric, bars: values.map((v) => ({ ...v, width: max > 0 ? v.value / max : 0 })) };
  });
}
