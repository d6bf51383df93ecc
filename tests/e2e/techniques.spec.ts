/**
 * The technique comparison chart (issue 9 item 5) under trap-and-emulate: run from the keyboard in
 * the worker, priced as first-generation VT-x and then as Broadwell; one panel per workload with a
 * bar per technique, the exits of the focused bar, every figure in the table; both languages,
 * axe-clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { axeClean, noErrors } from './page-checks.ts';

async function runChart(page: Page): Promise<void> {
  const run = page.getByTestId('techniques-run');
  await run.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('techniques-table')).toBeAttached({ timeout: 30_000 });
  await expect(run).toBeEnabled();
}

test('under trap-and-emulate the chart runs from the keyboard: first-generation VT-x loses to binary translation but for system calls (English)', async ({ page }) => {
  test.setTimeout(90_000);
  const bad = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lang=en&scenario=popf-trap');
  const chart = page.getByTestId('techniques');
  await expect(chart).toBeVisible();
  await expect(page.getByTestId('techniques-preset')).toHaveValue('vtx-prescott');
  await runChart(page);
  await expect(page.getByTestId('techniques-priced')).toContainText('First-generation VT-x (Pentium 4, Prescott)');
  // Eight techniques per workload; port I/O under PV is a line saying why, not a bar.
  for (const w of ['syscall', 'in', 'pgfault', 'ptemod', 'compute']) await expect(page.getByTestId(`techniques-${w}`).locator('li')).toHaveCount(8);
  await expect(page.getByTestId('techniques-in').getByRole('button')).toHaveCount(7);
  await expect(page.getByTestId('techniques-unavailable-in-pv')).toContainText('Paravirtualization (Xen-style): not available. The lab’s paravirtualized domain has no I/O privilege');
  await expect(page.getByTestId('techniques-bar-ptemod-pv')).toContainText('Paravirtualization (Xen-style): 2,378');
  await expect(page.getByTestId('techniques-bar-ptemod-vtx-shadow')).toContainText('VT-x, shadow page tables: 14,903');
  // The figures of technique-compare.ts under vtx-prescott (compare.test.ts checks the call; the model test the order).
  await expect(page.getByTestId('techniques-bar-in-bt')).toContainText('Binary translation: 1,414');
  await expect(page.getByTestId('techniques-bar-in-vtx-shadow')).toContainText('VT-x, shadow page tables: 8,157');
  await expect(page.getByTestId('techniques-fastest-in')).toHaveText('Fewest cycles after native: Binary translation.');
  await expect(page.getByTestId('techniques-fastest-syscall')).toHaveText('Fewest cycles after native: Trap-and-emulate; Paravirtualization (Xen-style); VT-x, shadow page tables; VT-x, nested paging (EPT); AMD-V, shadow page tables; AMD-V, nested paging (NPT).');
  await expect(page.getByTestId('techniques-note')).toContainText('native IN costs its one instruction');
  await expect(page.getByTestId('techniques-note-pv')).toContainText('a page-table edit is one hypercall (update_va_mapping)');

  // Focus shows the exits of the bar.
  await page.getByTestId('techniques-bar-pgfault-vtx-shadow').focus();
  await expect(page.getByTestId('techniques-bar-pgfault-vtx-shadow')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('techniques-detail-kinds')).toHaveText('Exits or traps per iteration: EXIT_REASON_EXCEPTION_NMI × 4, EXIT_REASON_INVLPG × 1.');
  await page.keyboard.press('Tab');
  await expect(page.getByTestId('techniques-detail')).toContainText('VT-x, nested paging (EPT), Page fault');
  await expect(page.getByTestId('techniques-detail-kinds')).toHaveText('No exit or trap per iteration: the loop runs as it does on the bare machine.');
  // The accessible name carries the workload and the exits.
  await expect(page.getByTestId('techniques-bar-in-trap-emulate')).toHaveAccessibleName(/Trap-and-emulate: 3,069 cycles per iteration; Port I\/O: IN from port 0x80; 1 exits or traps per iteration/);

  // The table has every figure.
  await page.getByTestId('techniques').locator('summary').focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('techniques-row-pgfault-bt')).toContainText('8,879');
  await expect(page.getByTestId('techniques-row-pgfault-bt')).toContainText('#PF × 2, page-table write × 2, invlpg × 1, iretd × 1');
  await expect(page.getByTestId('techniques-row-in-svm-shadow')).toContainText('amd-recent');
  await page.getByTestId('techniques-bar-pgfault-pv').focus();
  await expect(page.getByTestId('techniques-detail-kinds')).toHaveText('Exits or traps per iteration: update_va_mapping × 2, #PF × 1.');
  await expect(page.getByTestId('techniques-row-pgfault-pv')).toContainText('7,166');
  await expect(page.getByTestId('techniques-row-in-pv')).toContainText('Not available. The lab’s paravirtualized domain has no I/O privilege');
  await axeClean(page);

  // Priced as Broadwell, VT-x's I/O exit costs less.
  await page.getByTestId('techniques-preset').selectOption('intel-broadwell');
  await runChart(page);
  await expect(page.getByTestId('techniques-priced')).toContainText('Broadwell');
  await expect(page.getByTestId('techniques-bar-in-vtx-shadow')).toContainText('3,549');
  expect(bad).toEqual([]);
});

test('the chart in Chinese under the red pill, axe-clean', async ({ page }) => {
  test.setTimeout(90_000);
  const bad = noErrors(page);
  await page.goto('/?lang=zh-CN&scenario=red-pill');
  await expect(page.getByTestId('techniques')).toContainText('各种技术的比较：纳米基准测试');
  await runChart(page);
  await expect(page.getByTestId('techniques-bar-in-bt')).toContainText('二进制翻译：1,414');
  await expect(page.getByTestId('techniques-bar-ptemod-pv')).toContainText('半虚拟化（Xen 式）：2,378');
  await expect(page.getByTestId('techniques-unavailable-in-pv')).toContainText('不适用');
  await expect(page.getByTestId('techniques-note')).toContainText('成本模型');
  await axeClean(page);
  expect(bad).toEqual([]);
});

test('no chart under VT-x', async ({ page }) => {
  await page.goto('/?lang=en&scenario=vtx-first-exit');
  await expect(page.getByTestId('vm-charts')).toBeVisible();
  await expect(page.getByTestId('techniques')).toHaveCount(0);
});
