/**
 * ViewState.vm.bt under binary translation, through the session: the current block beside its
 * translation (the translated bytes read from the cache and disassembled there, branches with where
 * they lead, callouts with their reason), the cache's figures and what each step did to them, the
 * narration of a POPF callout, a translation, a chain, a code write and an adaptive rewrite; the
 * same view at a step however it was reached.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import btPopf from '../emu/scenario/examples/bt-popf.json' with { type: 'json' };
import btSmc from '../emu/scenario/examples/bt-smc.json' with { type: 'json' };
import btAdaptive from '../emu/scenario/examples/bt-adaptive.json' with { type: 'json' };
import { LabSession, prepareLoad } from './session.ts';
import type { Json, ViewState } from './protocol.ts';
import { narrateVm } from '../views/vm/narrate-vm.ts';
import { decode } from '../emu/cpu/decode.ts';

beforeAll(() => prepareLoad(btPopf));

function session(scenario: unknown, interval = 4): LabSession {
  const s = new LabSession({ interval });
  const r = s.load(scenario as Json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return s;
}

function all(s: LabSession): ViewState[] {
  const out: ViewState[] = [];
  let v: ViewState;
  do {
    v = s.step(1);
    out.push(v);
  } while (v.end === 'limit');
  return out;
}

const text = (segs: { text: string }[] | null): string => (segs ?? []).map((x) => x.text).join('');
const say = (v: ViewState, locale: 'en' | 'zh-CN' = 'en'): string => text(narrateVm(locale, v.events, [], v.vm!.te ?? null, v.vm!.bt ?? null));

describe('ViewState.vm.bt', () => {
  it('bt-popf: each guest instruction beside its translation; the POPF callout narrated with the IF it set', () => {
    const views = all(session(btPopf));
    expect(views.every((v) => v.vm!.technique === 'bt' && v.vm!.bt !== undefined)).toBe(true);
    const last = views.at(-1)!.vm!.bt!;
    expect(last.stats).toMatchObject({ callouts: { privileged: 9, sensitive: 6, indirect: 2 }, chains: 2, codeWrites: 0, tcSize: 0x40000 });
    expect(last.stats.tcUsed).toBe(111);
    // A step inside translated code: the processor's EIP is in the cache, at the translation of a guest instruction.
    const inTc = views.find((v) => v.vm!.bt!.where.kind === 'tc')!;
    const w = inTc.vm!.bt!.where as { kind: 'tc'; tc: string; guest: string };
    expect(Number(w.tc)).toBeGreaterThanOrEqual(0xffc20000);
    const b = inTc.vm!.bt!.block!;
    expect(b.running).toBe(true);
    const cur = b.code.find((i) => i.current)!;
    expect(cur.guest).toBe(w.guest);
    // Copied instructions: the translated bytes are the guest's, disassembled the same.
    for (const i of views.flatMap((v) => v.vm!.bt!.block?.code ?? []).filter((x) => x.how === 'copied' && x.exits.length === 0)) {
      expect(i.tcBytes).toBe(i.bytes);
      expect(i.tcText).toEqual([i.text]);
    }
    // A callout's translation is a JMP into the monitor's callout sites (0xffd00000 up), its reason given.
    const popfd = views.flatMap((v) => v.vm!.bt!.block?.code ?? []).find((x) => x.text === 'popfd')!;
    expect(popfd).toMatchObject({ how: 'callout', reason: 'sensitive' });
    expect(popfd.tcText[0]).toMatch(/^jmp 0xffd[0-9a-f]{5}$/);
    // The step of the POPF callout says what trap-and-emulate could not do, in both languages.
    const step = views.find((v) => v.vm!.bt!.step.callouts.some((c) => c.insn === 'popfd'))!;
    expect(step.vm!.te!.interruptsOn).toBe(true);
    expect(say(step)).toContain('The translated popfd is a callout: the monitor ran it in ring 1 and set the guest’s IF from the popped value (IF = 1), which trap-and-emulate cannot do.');
    expect(say(step, 'zh-CN')).toContain('翻译后的 popfd 是一次调出');
    // A translation and a chain are narrated at their steps.
    const translated = views.find((v) => v.vm!.bt!.step.translated.length > 0)!;
    expect(say(translated)).toMatch(/The monitor translated block \d+/);
    const chained = views.find((v) => v.vm!.bt!.step.chained > 0)!;
    expect(say(chained)).toContain('An exit was chained');
    // A branch chained to block N: its translated JMP leads to block N's translation.
    const withChain = views.flatMap((v) => (v.vm!.bt!.block?.code ?? []).map((i) => ({ i, blocks: v.vm!.bt!.blocks }))).find((x) => x.i.exits.some((e) => e.chainedTo !== null))!;
    const e = withChain.i.exits.find((x) => x.chainedTo !== null)!;
    const target = withChain.blocks.find((x) => x.id === e.chainedTo)!;
    expect(withChain.i.tcText.some((l) => l.endsWith(target.tc))).toBe(true);
    // At a site: the processor has just jumped to a callout or exit site, named with its guest instruction.
    const atSite = views.find((v) => v.vm!.bt!.where.kind === 'site')!;
    expect(Number((atSite.vm!.bt!.where as { site: string }).site)).toBeGreaterThanOrEqual(0xffd00000);
  });

  it('bt-smc: a chained exit’s bytes lead to its target block; a code write drops the block, narrated, and the block is translated again', () => {
    const views = all(session(btSmc));
    const writes = views.filter((v) => v.vm!.bt!.step.codeWrites > 0);
    expect(writes.length).toBe(3);
    expect(say(writes[0]!)).toContain('A code write was caught');
    expect(writes[0]!.vm!.bt!.blocks.some((x) => !x.valid)).toBe(true);
    // The block translated again after each write shows the immediate written: 3, then 2, then 1.
    const imms = [...new Set(views.flatMap((v) => v.vm!.bt!.block?.code ?? []).filter((i) => i.text.startsWith('mov eax, ')).map((i) => i.text))];
    expect(imms).toEqual(['mov eax, 0x11111111', 'mov eax, 0x3', 'mov eax, 0x2', 'mov eax, 0x1']);
    const end = views.at(-1)!.vm!.bt!;
    // Every translated instruction decodes as the view shows it.
    for (const i of end.block!.code) {
      const bytes = i.tcBytes.split(' ').map((x) => parseInt(x, 16));
      expect(decode((k) => bytes[k] ?? -1, 32).kind).toBe('ok');
    }
    expect(end.stats).toMatchObject({ codeWrites: 3, invalidations: 5, translated: 9 });
  });

  it('bt-adaptive: the step of the rewrite is narrated, then the store is a page-table-write callout', () => {
    const views = all(session(btAdaptive));
    const i = views.findIndex((v) => v.vm!.bt!.step.adaptive > 0);
    expect(i).toBeGreaterThan(0);
    expect(say(views[i]!)).toContain('Adaptive translation: this store kept faulting on a page table');
    expect(say(views[i]!, 'zh-CN')).toContain('自适应翻译');
    const later = views.slice(i).flatMap((v) => v.vm!.bt!.step.callouts);
    expect(later.filter((c) => c.reason === 'page-table-write').length).toBe(7);
    expect(views.at(-1)!.vm!.bt!.stats.callouts['page-table-write']).toBe(7);
  });

  it('the view at a step is the same stepping there or going back to it', () => {
    const s = session(btSmc);
    const views = all(s);
    for (const at of [3, 9, 17, views.length - 2]) {
      const v = s.goto(at);
      expect(v.vm!.bt).toEqual(views[at - 1]!.vm!.bt);
    }
  });
});
