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
  const bars = chart.locator('.bars li:not([data-unavailable])');
  await expect(bars).toHaveCount(7);
  // The software monitors cannot run this 64-bit guest: each says so, with the validator's reason.
  const unavailable = chart.locator('.bars li[data-unavailable]');
  await expect(unavailable).toHaveCount(2);
  await expect(unavailable.nth(0)).toHaveText(/^⊘ Trap-and-emulate, shadow page tables \(no VT-x or AMD-V\): not run\. paging: trap-emulate runs a 32-bit protected-mode guest/);
  await expect(unavailable.nth(1)).toHaveAttribute('data-config', 'bt');
  // Offered in the chooser, but not to be chosen.
  await expect(page.getByTestId('vm-compare-pair-left').locator('option[value="bt"]')).toBeDisabled();
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

test('the software monitors in the comparison: traps and callouts, the translation cache, and where trap-and-emulate differs (English and Chinese)', async ({ page }) => {
  const bad = noErrors(page);
  for (const lang of ['en', 'zh-CN'] as const) {
    await page.goto(`/?lang=${lang}&scenario=bt-popf`);
    await expect(page.getByTestId('bt-view')).toBeVisible();
    await page.getByTestId('vm-compare-run').click();
    const chart = page.getByTestId('vm-compare-chart');
    await expect(chart).toBeVisible({ timeout: 30_000 });
    await expect(chart.locator('.bars li')).toHaveCount(9);
    await expect(chart.locator('.bars li[data-unavailable]')).toHaveCount(0);
    // POPF in ring 1 under trap-and-emulate leaves IF as it was: the guest ends differently; binary translation's callout does not.
    const te = chart.locator('.bars li[data-config="te"]');
    const bt = chart.locator('.bars li[data-config="bt"]');
    await expect(te).toContainText(lang === 'en' ? 'Trap-and-emulate, shadow page tables (no VT-x or AMD-V)' : '陷入并模拟，影子页表（不用 VT-x 或 AMD-V）');
    await expect(te.locator('.differs')).toHaveCount(1);
    await expect(bt.locator('.differs')).toHaveCount(0);
    const table = page.getByTestId('vm-compare-table');
    const cells = async (row: string): Promise<string[]> => table.locator(`tr[data-row="${row}"] td`).allTextContents();
    // Nine columns; VM exits do not apply to the monitors, traps and callouts not to the hardware.
    const exits = await cells('vm-exits');
    const traps = await cells('traps');
    const callouts = await cells('callouts');
    expect(exits).toHaveLength(9);
    const na = lang === 'en' ? '–does not apply' : '–不适用';
    expect(exits.slice(7)).toEqual([na, na]);
    expect(traps.slice(0, 7)).toEqual(Array(7).fill(na));
    expect(traps.slice(7).every((x) => /^[\d,]+$/.test(x) && Number(x.replace(/,/g, '')) > 0)).toBe(true);
    // Trap-and-emulate makes no callouts; binary translation does (its POPF among them).
    expect(callouts[7]).toBe('0');
    expect(Number(callouts[8]!.replace(/,/g, ''))).toBeGreaterThan(0);
    expect((await table.locator('tr', { has: page.locator('code', { hasText: /^popfd$/ }) }).locator('td').allTextContents()).slice(7)).toEqual(['0', '1']);
    await expect(table.locator('tr[data-row="bt-hit-rate"] td').nth(8)).toHaveText(lang === 'en' ? /^\d+\.\d% of \d+ lookups$/ : /^\d+ 次查找中的 \d+\.\d%$/);
    await expect(page.getByTestId('vm-compare-pair-left').locator('option[value="bt"]')).toBeEnabled();
    await axeClean(page);
  }
  expect(bad).toEqual([]);
});

