/**
 * The bars of the interrupt comparison (IoInterrupts.svelte) from the worker's answer
 * (emu/hv/io-compare.ts compareInterrupts): per frame, the exits with the interrupt-driven driver,
 * the exits the interrupt adds over polling, and the cycles; each bar's width relative to the
 * longest of its metric.
 */
import type { IrqComparison, IrqWay } from '../../emu/hv/io-compare.ts';

export const IRQ_METRICS = ['exits', 'extra', 'cycles'] as const;
export type IrqMetric = (typeof IRQ_METRICS)[number];

export interface IrqBar {
  way: IrqWay;
  value: number;
  /** 0..1 of the metric's largest value (0 when every value is 0). */
  width: number;
}

export function irqBars(c: IrqComparison): { metric: IrqMetric; bars: IrqBar[] }[] {
  return IRQ_METRICS.map((metric) => {
    const values = c.perFrame.map((p) => ({ way: p.way, value: metric === 'exits' ? p.exits : metric === 'extra' ? p.exits - p.pollExits : p.cycles }));
    const max = Math.max(0, ...values.map((v) => v.value));
    return { metric, bars: values.map((v) => ({ ...v, width: max > 0 ? Math.max(0, v.value) / max : 0 })) };
  });
}
