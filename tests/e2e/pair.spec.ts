/**
 * The side-by-side pair (issue 7): opened from the comparison panel on the memory workload (by
 * default the first two hypervisor configurations: VT-x with shadow paging against VT-x with EPT), stepped together from the keyboard, both
 * sides at the same step with their counters and cost bars, back, the URL reopening at the same
 * step, a bad URL value ignored with a notice; English and Chinese, axe-clean.
 */
import { expect, test, type Page } from '@playwright/test';
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
