import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
// Tests may cross the layer boundary: the app's checked list of facts is the reference for ids and grades.
import { FACTS } from '../../lessons/sources.ts';
import { EXIT_REASONS } from '../vmx/exit-reasons.ts';
import { SVM_EXIT } from '../svm/exit-codes.ts';
import { type Cited, COST_FACT_IDS, type Figure, type Illustrative, illustrative, isCited } from './figure.ts';
import { COST_KIND_IDS, COST_KINDS, HANDLER_WORK, type HandlerWork } from './kinds.ts';
import { Ledger } from './ledger.ts';
import { type FlatKind, preset, PRESETS, type Preset, withFigures } from './presets.ts';
import { cyclesOf, figureFor, price, roundTrip, UnpricedCharge } from './price.ts';

const md = readFileSync(resolve(import.meta.dirname, '../../../tests/reference/teaching-facts.md'), 'utf8');

/** The cells of teaching-facts.md's table row whose figure column is exactly `figure`. */
function row(figure: string): { value: string; grade: string } {
  const line = md.split('\n').find((l) => l.startsWith(`| ${figure} | `));
  if (line === undefined) throw new Error(`teaching-facts.md has no row "${figure}"`);
  const cells = line.slice(2, -2).split(' | ');
  expect(cells, figure).toHaveLength(4);
  return { value: cells[1] ?? '', grade: cells[2] ?? '' };
}

const numbers = (s: string): number[] => (s.match(/\d+(?:\.\d+)?/g) ?? []).map(Number);

const factOf = (id: string) => FACTS.find((f) => f.id === id);

/** Every figure of a preset with where it sits, the bases of illustrative figures included. */
function figuresOf(p: Preset): [string, Figure][] {
  const out: [string, Figure][] = [];
  const push = (where: string, f: Figure): void => {
    out.push([where, f]);
    if (!isCited(f)) f.basis.forEach((b, i) => out.push([`${where}.basis[${i}]`, b]));
  };
  for (const [k, f] of Object.entries(p.figures)) push(`${p.id}.figures.${k}`, f);
  for (const [k, f] of Object.entries(p.exitBy)) push(`${p.id}.exitBy.${k}`, f);
  for (const [k, f] of Object.entries(p.handlers)) push(`${p.id}.handlers.${k}`, f);
  return out;
}

/** A preset's figure for a kind, which the test expects it to have. */
function fig(p: Preset, k: FlatKind): Figure {
  const f = p.figures[k];
  if (f === undefined) throw new Error(`${p.id} does not price ${k}`);
  return f;
}

/** The same, expected to be illustrative. */
function illus(p: Preset, k: FlatKind): Illustrative {
  const f = fig(p, k);
  if (isCited(f)) throw new Error(`${p.id} cites ${k}`);
  return f;
}

const intel = PRESETS.filter((p) => p.vendor === 'intel');
const prescott = preset('vtx-prescott');
const merom = preset('core2-merom');
const broadwell = preset('intel-broadwell');
const amd = preset('amd-recent');

describe('every preset figure is cited from teaching-facts.md or labelled illustrative', () => {
  it('has the four presets the issue names, each with its vendor', () => {
    expect(PRESETS.map((p) => [p.id, p.vendor])).toEqual([
      ['vtx-prescott', 'intel'],
      ['core2-merom', 'intel'],
      ['intel-broadwell', 'intel'],
      ['amd-recent', 'amd'],
    ]);
  });

  it('holds no number that is not a figure’s cycles (or a citation’s pick): walking the data', () => {
    const bad: string[] = [];
    const walk = (v: unknown, path: string): void => {
      if (typeof v === 'number') bad.push(`${path} = ${v}`);
      else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
      else if (typeof v === 'object' && v !== null) {
        const o = v as Record<string, unknown>;
        if ('cycles' in o) {
          const cited = typeof o.fact === 'string' && typeof o.grade === 'string' && typeof o.quote === 'string' && Number.isInteger(o.pick);
          const illus = typeof o.illustrative === 'string' && o.illustrative.trim().length > 20 && Array.isArray(o.basis);
          if (cited === illus) bad.push(`${path}: neither cited nor illustrative (or both)`);
          if (typeof o.cycles !== 'number' || !(o.cycles >= 0)) bad.push(`${path}: cycles ${String(o.cycles)}`);
          for (const [k, x] of Object.entries(o)) if (k !== 'cycles' && k !== 'pick') walk(x, `${path}.${k}`);
        } else for (const [k, x] of Object.entries(o)) walk(x, `${path}.${k}`);
      }
    };
    for (const p of PRESETS) walk(p, p.id);
    expect(bad).toEqual([]);
  });

  it('cites only facts of src/lessons/sources.ts, with their grade', () => {
    for (const id of COST_FACT_IDS) expect(factOf(id), id).toBeDefined();
    for (const p of PRESETS) {
      for (const [where, f] of figuresOf(p)) {
        if (!isCited(f)) continue;
        const fact = factOf(f.fact);
        expect(fact, where).toBeDefined();
        expect(f.grade, where).toBe(fact?.grade);
      }
    }
  });

  it('cites each number exactly as teaching-facts.md’s row gives it, with the row’s grade', () => {
    let checked = 0;
    for (const p of PRESETS) {
      for (const [where, f] of figuresOf(p)) {
        if (!isCited(f)) continue;
        const r = row(factOf(f.fact)?.figure ?? '');
        expect(r.grade === f.grade || r.grade.startsWith(`${f.grade} `), `${where}: grade ${r.grade}`).toBe(true);
        expect(r.value, where).toContain(f.quote);
        expect(numbers(f.quote)[f.pick], `${where}: number ${f.pick} of "${f.quote}"`).toBe(f.cycles);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(20);
  });

  it('cites the sources’ numbers where they exist: the transitions and VMCS accesses of Prescott and Merom, the exits measured', () => {
    const cited = (f: Figure | undefined): number | undefined => (f !== undefined && isCited(f) ? f.cycles : undefined);
    expect([prescott, merom].map((p) => [cited(p.figures['vm-entry']), cited(p.exitBy[0]), cited(p.figures.vmread), cited(p.figures.vmwrite)])).toEqual([
      [2409, 1931, 178, 171],
      [937, 1186, 52, 44],
    ]);
    expect(cited(broadwell.exitBy[0])).toBe(531);
  });

  it('derives illustrative figures from their cited basis as they say', () => {
    // A split of a round trip adds up to the whole.
    const vmrun = illus(amd, 'vmrun');
    const vmexit = illus(amd, 'vmexit');
    expect(vmrun.cycles + vmexit.cycles).toBe(1350);
    expect(vmrun.basis.map((b) => b.cycles)).toEqual([1350]);
    const dispatch = illus(amd, 'hv-dispatch');
    expect(dispatch.cycles + vmrun.cycles + vmexit.cycles).toBe(2528);
    // Broadwell's estimates: Merom's figure × 531 / 1156, rounded.
    for (const k of ['vm-entry', 'vmread', 'vmwrite'] as const) {
      const f = illus(broadwell, k);
      const [base, from, to] = f.basis as readonly Cited[];
      expect(base?.cycles, k).toBe(fig(merom, k).cycles);
      expect([from?.cycles, to?.cycles]).toEqual([1156, 531]);
      expect(f.cycles, k).toBe(Math.round(((base?.cycles ?? 0) * 531) / 1156));
    }
    // An exit reason or code that no source measured costs the measured exit, labelled so.
    for (const p of intel) {
      const other = illus(p, 'vm-exit');
      expect(other.cycles).toBe(p.exitBy[0]?.cycles);
    }
  });

  it('prices every kind of its own vendor and the shared ones now charged, and no kind of the other vendor', () => {
    for (const p of PRESETS) {
      for (const k of COST_KIND_IDS) {
        if (k === 'handler') continue;
        const info: { vendor: string; pendingIssue?: number } = COST_KINDS[k];
        const own = info.vendor === 'any' || info.vendor === p.vendor;
        const expected = own && info.pendingIssue === undefined;
        expect(k in p.figures, `${p.id} ${k}`).toBe(expected);
      }
      for (const w of HANDLER_WORK) expect(p.handlers[w], `${p.id} ${w}`).toBeDefined();
    }
  });

  it('names and describes each preset in both languages, stating no number its sources do not give', () => {
    for (const p of PRESETS) {
      const sources = figuresOf(p)
        .map(([, f]) => f)
        .filter(isCited)
        .map((f) => {
          const fact = factOf(f.fact);
          return `${fact?.figure ?? ''} ${fact?.value ?? ''} ${fact?.source ?? ''}`;
        })
        .join(' ');
      for (const l of ['en', 'zh-CN'] as const) {
        expect(p.name[l].trim().length, `${p.id} ${l}`).toBeGreaterThan(5);
        expect(p.description[l].trim().length, `${p.id} ${l}`).toBeGreaterThan(40);
        for (const n of `${p.name[l]} ${p.description[l]}`.match(/\d+(?:\.\d+)?/g) ?? []) expect(sources, `${p.id} ${l} says ${n}`).toContain(n);
      }
      expect(p.name['zh-CN'] + p.description['zh-CN'], p.id).toMatch(/\p{Script=Han}/u);
      expect(p.description.en, p.id).not.toMatch(/\p{Script=Han}/u);
    }
  });
});

describe('the presets reproduce what teaching-facts.md says every preset must', () => {
  const pfHardware = (p: Preset): number => cyclesOf(p, [{ kind: 'vm-exit', reason: 0 }, { kind: 'vm-entry' }]);

  it('a page-fault exit’s hardware round trip falls from Prescott to Merom to the recent Intel core', () => {
    expect(pfHardware(prescott)).toBe(2409 + 1931);
    expect(pfHardware(merom)).toBe(937 + 1186);
    expect(pfHardware(prescott)).toBeGreaterThan(pfHardware(merom));
    expect(pfHardware(merom)).toBeGreaterThan(pfHardware(broadwell));
    // AMD's whole VMRUN-to-#VMEXIT is also far below the first generation's.
    expect(cyclesOf(amd, [{ kind: 'vmexit', code: SVM_EXIT.EXCP14 ?? -2 }, { kind: 'vmrun' }])).toBeLessThan(pfHardware(prescott));
  });

  it('ranks the Intel presets as the by-generation row of teaching-facts.md does', () => {
    const gen = row(factOf('pf-exit-by-generation')?.figure ?? '').value;
    const at = (name: string): number => Number(new RegExp(`${name} (\\d+)`).exec(gen)?.[1]);
    expect([at('Prescott'), at('Merom'), at('Broadwell')]).toEqual([1926, 1156, 531]);
    const exit = (p: Preset): number => price(p, { kind: 'vm-exit', reason: 0 });
    expect(Math.sign(exit(prescott) - exit(merom))).toBe(Math.sign(at('Prescott') - at('Merom')));
    expect(Math.sign(exit(merom) - exit(broadwell))).toBe(Math.sign(at('Merom') - at('Broadwell')));
  });

  it('first-generation VT-x is slower per exit than every later preset, whatever the handler does', () => {
    const works: (HandlerWork | undefined)[] = [undefined, ...HANDLER_WORK];
    const vmxExits = [0, 10, 12, 18, 28, 30, 31, 48];
    for (const later of [merom, broadwell, amd]) {
      for (const work of works) {
        for (const reason of vmxExits) {
          const first = cyclesOf(prescott, roundTrip(prescott, { exit: reason, work, reads: 4, writes: 1 }));
          const code = later.vendor === 'amd' ? SVM_EXIT.CPUID ?? -2 : reason;
          const then = cyclesOf(later, roundTrip(later, { exit: code, work, reads: 4, writes: 1 }));
          expect(first, `${later.id} ${work ?? 'no work'} ${reason}`).toBeGreaterThan(then);
        }
      }
    }
  });

  it('the hardware part of the first generation’s page-fault round trip fits inside the measured guest page fault under first-generation VT-x', () => {
    const nano = row(factOf('nanobench-syscall')?.figure ?? '').value;
    const vtxPgfault = Number(/pgfault: \d+ \/ \d+ \/ (\d+)/.exec(nano)?.[1]);
    expect(vtxPgfault).toBe(11242);
    expect(pfHardware(prescott)).toBeLessThan(vtxPgfault);
  });

  it('system calls run at native speed under hardware assist: no VM exit or #VMEXIT exists for them', () => {
    const nano = row(factOf('nanobench-syscall')?.figure ?? '').value;
    expect(nano).toContain('VT-x at native speed');
    const fast = /SYSCALL|SYSRET|SYSENTER|SYSEXIT/i;
    expect(EXIT_REASONS.filter((r) => fast.test(r.name) || fast.test(r.title))).toEqual([]);
    expect(Object.keys(SVM_EXIT).filter((n) => fast.test(n))).toEqual([]);
    // So a system call is charged as the guest instructions it runs, the same as natively, on every preset.
    const syscallPath = { kind: 'guest-insn', count: 40 } as const;
    const native = 40 * fig(prescott, 'guest-insn').cycles;
    for (const p of PRESETS) {
      const l = new Ledger(p);
      l.charge(syscallPath);
      expect(l.cycles, p.id).toBe(native);
      expect(l.data().exits).toEqual({});
    }
  });
});

describe('pricing', () => {
  it('charges a measured exit reason its cited figure and other reasons the labelled one', () => {
    expect(figureFor(prescott, { kind: 'vm-exit', reason: 0 })).toBe(prescott.exitBy[0]);
    expect(figureFor(prescott, { kind: 'vm-exit', reason: 10 })).toBe(prescott.figures['vm-exit']);
    expect(price(merom, { kind: 'vmread', count: 5 })).toBe(5 * 52);
  });

  it('refuses the other vendor’s kinds, naming why (every kind of the software techniques is priced since issue 9)', () => {
    expect(() => price(amd, { kind: 'vmread' })).toThrow(UnpricedCharge);
    expect(() => price(amd, { kind: 'vmread' })).toThrow(/amd-recent does not price vmread \(an Intel VT-x kind\)/);
    expect(() => price(prescott, { kind: 'vmexit', code: 0x72 })).toThrow(/AMD-V/);
    for (const k of ['trap', 'bt-step', 'bt-callout'] as const) expect(price(prescott, { kind: k })).toBeGreaterThan(0);
    expect(() => price(prescott, { kind: 'vmread', count: -1 })).toThrow(RangeError);
  });

  it('lets a later layer add its own figures, never replace one', () => {
    const flush = illustrative(500, 'a test figure for a translation step, labelled as such');
    const { 'bt-step': _drop, ...rest } = prescott.figures;
    const without = { ...prescott, id: 'vtx-prescott-no-bt', figures: rest };
    const p = withFigures(without, 'vtx-prescott-bt', { figures: { 'bt-step': flush } });
    expect(price(p, { kind: 'bt-step', count: 2 })).toBe(1000);
    expect(p.figures['vm-entry']).toBe(prescott.figures['vm-entry']);
    expect(() => price(without, { kind: 'bt-step' })).toThrow(UnpricedCharge);
    expect(() => withFigures(prescott, 'x', { figures: { 'vm-entry': flush } })).toThrow(/already prices kind vm-entry/);
    expect(() => withFigures(prescott, 'x', { exitBy: { 0: flush } })).toThrow(/already prices exit 0/);
  });

  it('orders a round trip’s charges as a hypervisor incurs them, for each vendor', () => {
    expect(roundTrip(prescott, { exit: 10, work: 'cpuid', reads: 3, writes: 1 })).toEqual([
      { kind: 'vm-exit', reason: 10 },
      { kind: 'hv-dispatch' },
      { kind: 'vmread', count: 3 },
      { kind: 'handler', work: 'cpuid' },
      { kind: 'vmwrite', count: 1 },
      { kind: 'vm-entry' },
    ]);
    expect(roundTrip(amd, { exit: 0x7b, reads: 2, writes: 0 })).toEqual([{ kind: 'vmexit', code: 0x7b }, { kind: 'hv-dispatch' }, { kind: 'vmcb-read', count: 2 }, { kind: 'vmrun' }]);
  });
});

describe('the light table of preset vendors (pick.ts)', () => {
  it('lists every preset, in order, with its vendor', async () => {
    const { PRESET_VENDORS } = await import('./pick.ts');
    expect(Object.entries(PRESET_VENDORS)).toEqual(PRESETS.map((p) => [p.id, p.vendor]));
  });
});
