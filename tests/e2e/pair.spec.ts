/**
 * The side-by-side pair (issue 7): opened from the comparison panel on the memory workload (by
 * default the first two hypervisor configurations: VT-x with shadow paging against VT-x with EPT), stepped together from the keyboard, both
 * sides at the same step with their counters and cost bars, back, the URL reopening at the same
 * step, a bad URL value ignored with a notice; English and Chinese, axe-clean. And (issue 9) a
 * software monitor on a side: VT-x with shadow paging against binary translation on a 32-bit
 * example, its traps, callouts and translation cache named as such and equal to what the pair
 * computes for the same steps (worker/pair.ts run here in Node), the rings and the translated
 * block drawn, the callout narrated.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, test, type Locator, type Page } from '@playwright/test';
import { PairSession } from '../../src/worker/pair.ts';
import type { PairSideView, PairView } from '../../src/worker/pair-types.ts';
import type { Json } from '../../src/worker/protocol.ts';
import { axeClean, noErrors } from './page-checks.ts';

// Each test builds two machines in the worker and opens the lab several times: more than the default 30 s on a busy machine.
test.describe.configure({ timeout: 120_000 });

const sideSteps = async (page: Page): Promise<string[]> =>
  page.getByTestId('pair-side-step').evaluateAll((els) => els.map((e) => e.getAttribute('data-step') ?? ''));

async function openFromCompare(page: Page, lang: 'en' | 'zh-CN'): Promise<void> {
  await page.goto(`/?lang=${lang}&scenario=mm-workload`);
  await expect(page.getByTestId('vm-planes')).toBeVisible();
  await page.getByTestId('vm-compare-run').click();
  await expect(page.getByTestId('vm-compare-pair')).toBeVisible({ timeout: 30_000 });
  // The first two hypervisor configurations by default.
  await expect(page.getByTestId('vm-compare-pair-left')).toHaveValue('vtx-shadow');
  await expect(page.getByTestId('vm-compare-pair-right')).toHaveValue('vtx-nested');
  const open = page.getByTestId('vm-compare-pair-open');
  await open.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('pair-side')).toHaveCount(2, { timeout: 30_000 });
}

test('open from the comparison, step together, back, reopen from the URL (English)', async ({ page }) => {
  const bad = noErrors(page);
  await openFromCompare(page, 'en');
  const pair = page.getByTestId('pair');
  await expect(pair.getByRole('heading', { level: 2 })).toHaveText('Side by side: VT-x, shadow page tables and VT-x, nested paging (EPT), tagged TLB (VPID)');
  const sides = page.getByTestId('pair-side');
  await expect(sides.nth(0)).toHaveAttribute('data-config', 'vtx-shadow');
  await expect(sides.nth(1)).toHaveAttribute('data-config', 'vtx-nested');
  expect(await sideSteps(page)).toEqual(['0', '0']);
  const mainStep = await page.getByTestId('step-counter').last().textContent();

  // Step, then step 10, from the keyboard.
  await page.getByRole('button', { name: 'Step', exact: true }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('pair-at')).toHaveText('Step 1');
  await page.getByTestId('pair-step10').focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('pair-at')).toHaveText('Step 11');
  expect(await sideSteps(page)).toEqual(['11', '11']);
  await expect(page.getByTestId('pair-live')).toContainText(/^Step 11\. VT-x, shadow page tables: [\d,]+ VM exits, [\d,]+ cycles so far\. VT-x, nested paging \(EPT\), tagged TLB \(VPID\): [\d,]+ VM exits, [\d,]+ cycles so far\.$/);
  for (const i of [0, 1]) {
    const s = sides.nth(i);
    await expect(s.getByTestId('vm-planes')).toBeVisible();
    await expect(s.getByTestId('pair-counters').getByRole('row', { name: /References per walk/ })).toBeVisible();
    await expect(s.getByTestId('pair-bar').locator('.seg')).toHaveCount(3);
    expect(Number(await s.getByTestId('pair-cycles').getAttribute('data-cycles'))).toBeGreaterThan(0);
  }
  // The larger total is the full width of its bar; cycles grow as the pair steps.
  const cyc11 = await sides.nth(0).getByTestId('pair-cycles').getAttribute('data-cycles');
  await page.getByTestId('pair-step10').click();
  await expect(page.getByTestId('pair-at')).toHaveText('Step 21');
  expect(Number(await sides.nth(0).getByTestId('pair-cycles').getAttribute('data-cycles'))).toBeGreaterThan(Number(cyc11));

  // Back one step.
  await page.getByTestId('pair-back').click();
  await expect(page.getByTestId('pair-at')).toHaveText('Step 20');
  expect(await sideSteps(page)).toEqual(['20', '20']);
  // The lab's own run is not touched.
  await expect(page.getByTestId('step-counter').last()).toHaveText(mainStep ?? '');
  await axeClean(page);

  // The URL holds the pair and its step; reopening it lands at the same step with the same figures.
  await expect.poll(() => new URL(page.url()).searchParams.get('pstep')).toBe('20');
  expect(new URL(page.url()).searchParams.get('pair')).toBe('vtx-shadow,vtx-nested');
  const exits = await page.getByTestId('pair-exits').allTextContents();
  const cycles = await page.getByTestId('pair-cycles').evaluateAll((els) => els.map((e) => e.getAttribute('data-cycles')));
  await page.goto(page.url());
  await expect(page.getByTestId('pair-at')).toHaveText('Step 20', { timeout: 30_000 });
  expect(await sideSteps(page)).toEqual(['20', '20']);
  expect(await page.getByTestId('pair-exits').allTextContents()).toEqual(exits);
  expect(await page.getByTestId('pair-cycles').evaluateAll((els) => els.map((e) => e.getAttribute('data-cycles')))).toEqual(cycles);

  // Run to the end: both guests halt; each side says so (in words, not only by colour).
  await page.getByTestId('pair-run').click();
  await expect(page.getByTestId('pair-step')).toBeDisabled({ timeout: 30_000 });
  for (const i of [0, 1]) await expect(sides.nth(i).getByTestId('pair-side-step')).toContainText(/Ended at step [\d,]+ \(hlt\)/);
  await expect(sides.nth(0).getByTestId('pair-narration')).toContainText('HLT');

  // Close: the pair leaves the page and the URL.
  await page.getByTestId('pair-close').click();
  await expect(page.getByTestId('pair')).toHaveCount(0);
  expect(new URL(page.url()).searchParams.has('pair')).toBe(false);
  expect(bad).toEqual([]);
});

test('side by side in Chinese, and a bad URL value ignored with a notice', async ({ page }) => {
  const bad = noErrors(page);
  await page.goto('/?lang=zh-CN&scenario=mm-workload&pair=svm-nested,vtx-nested&pstep=7');
  await expect(page.getByTestId('pair-at')).toHaveText('第 7 步', { timeout: 30_000 });
  await expect(page.getByTestId('pair').getByRole('heading', { level: 2 })).toHaveText('并排：AMD-V，嵌套分页（NPT），带标签的 TLB（ASID） 与 VT-x，嵌套分页（EPT），带标签的 TLB（VPID）');
  expect(await sideSteps(page)).toEqual(['7', '7']);
  await page.getByTestId('pair-step').click();
  await expect(page.getByTestId('pair-live')).toContainText(/^第 8 步。/);
  await expect(page.getByTestId('pair-side').first().getByTestId('pair-counters')).toContainText('每次遍历的内存访问');
  await axeClean(page);

  await page.goto('/?lang=en&scenario=mm-workload&pair=vtx-nested,warp-drive');
  await expect(page.getByRole('status').filter({ hasText: 'side by side' })).toContainText('The link asked for side by side "vtx-nested,warp-drive"', { timeout: 30_000 });
  await expect(page.getByTestId('pair')).toHaveCount(0);
  expect(new URL(page.url()).searchParams.has('pair')).toBe(false);
  await page.goto('/?lang=en&scenario=mm-workload&pair=nonsense&pstep=4');
  await expect(page.getByRole('status').filter({ hasText: 'side by side' })).toContainText('"nonsense"');
  await expect(page.getByTestId('vm-planes').first()).toBeVisible();
  await expect(page.getByTestId('pair')).toHaveCount(0);
  // A bad step opens the pair at step 0, saying so.
  await page.goto('/?lang=en&scenario=mm-workload&pair=vtx-nested,svm-nested&pstep=soon');
  await expect(page.getByRole('status').filter({ hasText: 'side by side' })).toContainText('at step "soon", which is not a step; it opened at step 0', { timeout: 30_000 });
  await expect(page.getByTestId('pair-at')).toHaveText('Step 0');
  await axeClean(page);
  expect(bad).toEqual([]);
});

/** The example's JSON, as the lab loads it. */
const example = (id: string): Json => JSON.parse(readFileSync(resolve(import.meta.dirname, `../../src/emu/scenario/examples/${id}.json`), 'utf8')) as Json;

/** The pair as the worker computes it (the same module, run here): `configs` on `scenario` at `step`. */
function reference(scenario: string, configs: [string, string], step: number): PairView {
  const p = new PairSession();
  const r = p.load(example(scenario), configs);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return p.goto(step);
}

/** Checks that a side shows its counters as the reference has them, in the page's number format. */
async function sameCounts(side: Locator, ref: PairSideView, lang: string): Promise<void> {
  const n = (x: number): string => x.toLocaleString(lang);
  const c = ref.counters;
  await expect(side.getByTestId('pair-side-step')).toHaveAttribute('data-step', String(ref.step));
  await expect(side.getByTestId('pair-cycles')).toHaveAttribute('data-cycles', String(c.cycles.total));
  await expect(side.getByTestId('pair-exits')).toHaveText(n(c.exits.total));
  for (const [name, count] of Object.entries(c.exits.byName)) await expect(side.locator(`td[data-name="${name}"]`)).toHaveText(n(count));
  for (const [kind, cycles] of Object.entries(c.cycles.byKind)) if (cycles > 0) await expect(side.locator(`td[data-kind="${kind}"]`)).toHaveText(n(cycles));
  if (c.monitor !== undefined) {
    await expect(side.locator('td[data-count="traps"]')).toHaveText(n(c.monitor.traps));
    if (ref.config.technique === 'bt') await expect(side.locator('td[data-count="callouts"]')).toHaveText(n(c.monitor.callouts));
    else await expect(side.locator('td[data-count="callouts"]')).toHaveCount(0);
  } else {
    await expect(side.locator('td[data-count="traps"]')).toHaveCount(0);
  }
  if (c.bt !== undefined) {
    await expect(side.locator('td[data-count="bt-blocks"]')).toHaveText(n(c.bt.blocks));
    await expect(side.locator('td[data-count="bt-hits"]')).toHaveText(n(c.bt.hits));
    await expect(side.locator('td[data-count="bt-misses"]')).toHaveText(n(c.bt.misses));
    await expect(side.locator('td[data-count="bt-hit-rate"]')).toHaveText(c.bt.hitRate.toLocaleString(lang, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }));
  }
}

for (const lang of ['en', 'zh-CN'] as const) {
  test(`a software monitor side by side: VT-x with shadow paging and binary translation on bt-popf (${lang})`, async ({ page }) => {
    const bad = noErrors(page);
    const configs: [string, string] = ['vtx-shadow', 'bt'];
    // The step of binary translation's POPF callout, and the pair one step before it.
    const probe = new PairSession();
    if (!probe.load(example('bt-popf'), configs).ok) throw new Error('bt-popf did not load');
    let popf = 0;
    for (let at = 1; at < 200 && popf === 0; at++) if (probe.goto(at).sides[1].events.some((e) => e.kind === 'vm/exit' && e.label === 'popfd')) popf = at;
    expect(popf).toBeGreaterThan(0);

    await page.goto(`/?lang=${lang}&scenario=bt-popf&pair=${configs.join(',')}&pstep=${popf - 1}`);
    const sides = page.getByTestId('pair-side');
    await expect(sides).toHaveCount(2, { timeout: 30_000 });
    await expect(page.getByTestId('pair-at')).toHaveText(lang === 'en' ? `Step ${popf - 1}` : `第 ${popf - 1} 步`);
    const hw = sides.nth(0);
    const bt = sides.nth(1);
    await expect(bt).toHaveAttribute('data-config', 'bt');
    // The names say what entered the hypervisor: VM exits on the VT-x side, traps and callouts on the other.
    await expect(hw.getByTestId('pair-counters')).toContainText(lang === 'en' ? 'VM exits' : 'VM 退出');
    await expect(bt.getByTestId('pair-counters')).not.toContainText(lang === 'en' ? 'VM exits' : 'VM 退出');
    await expect(bt.getByTestId('pair-counters')).toContainText(lang === 'en' ? 'Traps into the monitor' : '陷入虚拟机监控器');
    await expect(bt.getByTestId('pair-counters')).toContainText(lang === 'en' ? 'Callouts from translated code' : '从翻译后代码的调出');
    await expect(bt.getByTestId('pair-counters')).toContainText(lang === 'en' ? 'Translation-cache hit rate' : '翻译缓存命中率');
    // What binary translation's side holds: its rings (no root and non-root) and the translated block; VT-x's its planes.
    await expect(bt.getByTestId('te-rings')).toBeVisible();
    await expect(bt.getByTestId('bt-view')).toBeVisible();
    await expect(bt.getByTestId('bt-code')).toBeVisible();
    await expect(hw.getByTestId('vm-planes')).toBeVisible();

    // One step from the keyboard: the POPF callout, narrated; every figure as the pair computes it.
    await page.getByTestId('pair-step').focus();
    await page.keyboard.press('Enter');
    await expect(page.getByTestId('pair-at')).toHaveText(lang === 'en' ? `Step ${popf}` : `第 ${popf} 步`);
    const ref = reference('bt-popf', configs, popf);
    for (const i of [0, 1] as const) await sameCounts(sides.nth(i), ref.sides[i], lang);
    await expect(bt.getByTestId('pair-narration')).toContainText(lang === 'en' ? 'is a callout' : '调出');
    await expect(bt.getByTestId('pair-narration')).toContainText('popfd');
    const m = ref.sides[1].counters.monitor!;
    const num = (x: number): string => x.toLocaleString(lang);
    await expect(page.getByTestId('pair-live')).toContainText(
      lang === 'en' ? `${num(m.traps)} traps and ${num(m.callouts)} callouts, ${num(ref.sides[1].counters.cycles.total)} cycles so far.` : `到目前为止 ${num(m.traps)} 次陷入、${num(m.callouts)} 次调出，${num(ref.sides[1].counters.cycles.total)} 个周期。`,
    );
    await axeClean(page);

    // Step 10 and back one: still the pair's figures.
    await page.getByTestId('pair-step10').click();
    await expect(page.getByTestId('pair-at')).toHaveText(lang === 'en' ? `Step ${popf + 10}` : `第 ${popf + 10} 步`);
    await page.getByTestId('pair-back').click();
    const back = reference('bt-popf', configs, popf + 9);
    await expect(page.getByTestId('pair-at')).toHaveText(lang === 'en' ? `Step ${back.step}` : `第 ${back.step} 步`);
    for (const i of [0, 1] as const) await sameCounts(sides.nth(i), back.sides[i], lang);
    expect(bad).toEqual([]);
  });
}

