/**
 * The comparison chart (issue 7): the memory workload's guest run bare and under each hypervisor
 * configuration in the worker, on request; the stacked bars name each configuration with its cycles
 * and its multiple of the bare run, and the table lists every figure; in English and Chinese,
 * keyboard only, axe-clean; the run on screen is left where it was.
 */
import { expect, test, type Page } from '@playwright/test';
import { axeClean, noErrors } from './page-checks.ts';

async function open(page: Page, lang: 'en' | 'zh-CN'): Promise<void> {
  await page.goto(`/?lang=${lang}&scenario=mm-workload`);
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('vm-planes')).toBeVisible();
}

test('compare configurations from the keyboard: bars and the table (English)', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, 'en');
  const before = await page.getByTestId('step-counter').last().textContent();
  const run = page.getByTestId('vm-compare-run');
  await run.focus();
  await page.keyboard.press('Enter');
  const chart = page.getByTestId('vm-compare-chart');
  await expect(chart).toBeVisible({ timeout: 30_000 });
  const bars = chart.locator('.bars li');
  await expect(bars).toHaveCount(7);
  await expect(bars.nth(0)).toContainText(/^Bare \(no hypervisor\): [\d,]+ cycles, 1\.0× bare/);
  await expect(bars.nth(1)).toContainText(/VT-x, shadow page tables: [\d,]+ cycles, \d+\.\d× bare/);
  await expect(bars.nth(2)).toContainText(/VT-x, nested paging \(EPT\), tagged TLB \(VPID\): [\d,]+ cycles, \d+\.\d× bare/);
  await expect(bars.nth(5)).toContainText(/AMD-V, nested paging \(NPT\), tagged TLB \(ASID\)/);
  const table = page.getByTestId('vm-compare-table');
  await expect(table.getByRole('row', { name: /References per walk/ })).toBeVisible();
  // A 4-level guest's walks read at most 4 entries bare and under shadow paging; a 2D walk reads many more.
  const perWalk = (await table.getByRole('row', { name: /References per walk/ }).locator('td').allTextContents()).map(Number);
  expect(perWalk[0]).toBeLessThanOrEqual(4);
  expect(perWalk[1]).toBeLessThanOrEqual(4);
  expect(perWalk[2]).toBeGreaterThan(10);
  await expect(run).toHaveText('Compare again');
  await expect(page.getByTestId('step-counter').last()).toHaveText(before ?? '');
  await axeClean(page);
  expect(bad).toEqual([]);
});

test('compare configurations in Chinese', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, 'zh-CN');
  await page.getByTestId('vm-compare-run').click();
  const chart = page.getByTestId('vm-compare-chart');
  await expect(chart).toBeVisible({ timeout: 30_000 });
  await expect(chart.locator('.bars li').nth(2)).toContainText(/VT-x，嵌套分页（EPT），带标签的 TLB（VPID）：[\d,]+ 个周期，是裸机的 \d+\.\d 倍/);
  await expect(page.getByTestId('vm-compare-table')).toContainText('每次遍历的内存访问');
  await axeClean(page);
  expect(bad).toEqual([]);
});
