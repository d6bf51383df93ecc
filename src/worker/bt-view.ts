/**
 * VmView.bt (bt-types.ts): binary translation at a step, read from the BtBackend (hv/bt/backend.ts).
 * The translated bytes are read from the cache in memory as they are now (chained exits patched
 * in) and disassembled at their linear address in the cache; the step's work is told against the
 * step before (`btBefore`, which vm-view.ts adds to the values it reads there).
 */
import { decode } from '../emu/cpu/decode.ts';
import { formatInsn } from '../emu/asm/disasm.ts';
import { CALLOUT_LINEAR, TC_LINEAR, TC_SIZE, type BtBackend, type BtBlock } from '../emu/hv/bt/backend.ts';
import type { HvExitRecord, HvMachine } from '../emu/hv/hv-machine.ts';
import { BT_LIST, type BtBlockView, type BtInsnView, type BtReason, type BtStatsView, type BtStepView, type VmBtView } from './bt-types.ts';

const hex = (v: number): string => `0x${(v >>> 0).toString(16)}`;
const hexBytes = (b: readonly number[]): string => b.map((x) => x.toString(16).padStart(2, '0')).join(' ');

/** The figures the next step's view compares with (stored in vm-view's `before` map). */
export function btBefore(b: BtBackend): [string, string][] {
  return [['bt.stats', JSON.stringify(statsOf(b))]];
}

function statsOf(b: BtBackend): BtStatsView {
  const s = b.stats;
  return {
    translated: s.blocks, cached: b.blocks.size, tcUsed: b.cacheUsed, tcSize: TC_SIZE, hits: s.hits, misses: s.misses, chains: s.chains,
    callouts: { ...s.callouts }, exitsThroughMonitor: s.exitsThroughMonitor, codeWrites: s.codeWrites, invalidations: s.invalidations,
    flushes: s.flushes, adaptive: s.adaptive,
  };
}

function blockView(x: BtBlock): BtBlockView {
  return {
    id: x.id, guestStart: hex(x.guestStart), size: x.guestEnd - x.guestStart, insns: x.insns.length, tc: hex(x.tc), tcSize: x.code.length,
    valid: x.valid, chained: x.chainedTo.filter((t) => t !== null).length, exits: x.exits.length,
  };
}

/** The cache's bytes at linear `tc` (`n` of them), as the processor would fetch them now. */
function cacheBytes(m: HvMachine, b: BtBackend, tc: number, n: number): number[] {
  const out: number[] = [];
  const base = b.cacheHost + (tc - TC_LINEAR);
  for (let i = 0; i < n; i++) out.push(m.mem.read(base + i, 1));
  return out;
}

/** The translated instructions in `bytes` at linear `at`, disassembled. */
function disassemble(bytes: readonly number[], at: number): string[] {
  const out: string[] = [];
  let off = 0;
  while (off < bytes.length) {
    const r = decode((i) => (off + i < bytes.length ? bytes[off + i]! : -1), 32);
    if (r.kind !== 'ok') {
      out.push(`db ${hexBytes(bytes.slice(off))}`);
      break;
    }
    out.push(formatInsn(r.insn, (at + off) >>> 0));
    off += r.insn.length;
  }
  return out;
}

function codeOf(m: HvMachine, b: BtBackend, x: BtBlock, current: number): BtInsnView[] {
  return x.insns.map((i, k) => {
    const at = x.tc + i.tc;
    const bytes = cacheBytes(m, b, at, i.tcLen);
    const exits = x.exits.flatMap((e, n) => (e.rel >= i.tc && e.rel < i.tc + i.tcLen ? [{ target: hex(e.target), chainedTo: x.chainedTo[n]?.id ?? null }] : []));
    return {
      guest: hex(i.guest), bytes: i.bytes, text: i.text, tc: hex(at), tcBytes: hexBytes(bytes), tcText: disassemble(bytes, at),
      how: i.how, reason: (i.reason ?? null) as BtReason | null, exits, current: k === current,
    };
  });
}

function stepOf(b: BtBackend, before: Map<string, string> | null, now: BtStatsView, stepExits: readonly HvExitRecord[]): BtStepView {
  const was = before?.get('bt.stats');
  const prev: BtStatsView | null = was === undefined ? null : (JSON.parse(was) as BtStatsView);
  const callouts: BtStepView['callouts'] = [];
  for (const r of stepExits) {
    const site = r.info['site'];
    if (r.log.name !== 'callout' || site === undefined) continue;
    const s = b.siteOf(Number(site));
    if (s === null || s.reason === null) continue;
    callouts.push({ insn: r.trap?.insn ?? s.block.insns[s.insn]!.text, reason: s.reason as BtReason, note: r.log.note });
  }
  if (prev === null) return { translated: [], chained: 0, callouts, codeWrites: 0, invalidated: 0, adaptive: 0 };
  const translated: number[] = [];
  // Block ids are given in translation order, one per translation (stats.blocks counts them).
  for (let id = prev.translated; id < now.translated; id++) translated.push(id);
  return {
    translated, chained: now.chains - prev.chains, callouts, codeWrites: now.codeWrites - prev.codeWrites,
    invalidated: now.invalidations - prev.invalidations, adaptive: now.adaptive - prev.adaptive,
  };
}

export function btView(m: HvMachine, b: BtBackend, before: Map<string, string> | null, stepExits: readonly HvExitRecord[]): VmBtView {
  const st = m.cpu.state;
  const stats = statsOf(b);
  let block: VmBtView['block'] = null;
  let where: VmBtView['where'];
  let g = b.inTranslation ? b.guestOfTc(st.ripLo) : null;
  // At a callout or exit site (a linear address the monitor keeps unmapped): the JMP to it retired, the fetch there enters the monitor next.
  const site = b.inTranslation && g === null && st.ripLo >= CALLOUT_LINEAR ? b.siteOf(st.ripLo - CALLOUT_LINEAR) : null;
  if (site !== null) g = { block: site.block, insn: site.insn };
  if (m.ended !== null) where = { kind: 'ended' };
  else if (site !== null) where = { kind: 'site', site: hex(st.ripLo), guest: hex(site.block.insns[site.insn]!.guest), exit: site.kind === 'exit' };
  else if (g !== null) where = { kind: 'tc', tc: hex(st.ripLo), guest: hex(g.block.insns[g.insn]!.guest) };
  else where = { kind: 'guest', guest: hex((st.seg[1]!.baseLo + st.ripLo) >>> 0), cpl: m.cpu.cpl() };
  if (g !== null) {
    // At a translated instruction's start the processor is at it; inside a callout's JMP it is too.
    block = { ...blockView(g.block), code: codeOf(m, b, g.block, g.insn), running: true };
  } else {
    const last = b.all.at(-1);
    if (last !== undefined) block = { ...blockView(last), code: codeOf(m, b, last, -1), running: false };
  }
  const blocks = b.all.slice(-BT_LIST).reverse().map(blockView);
  return { where, block, stats, blocks, blockTotal: b.all.length, step: stepOf(b, before, stats, stepExits) };
}
