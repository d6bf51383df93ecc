/**
 * Lesson 6 (tagged TLBs) in the browser: a student completes it with the keyboard alone, first on
 * the lesson's tagged scenario (VT-x with VPID: the TLB keeps its 4 entries across the CPUID exit,
 * INVVPID removes one), then on the untagged one the lesson loads itself (every exit and entry
 * flushes); opened in Chinese at the untagged prediction, the untagged scenario is on screen; in
 * presenter mode at the INVVPID step, the lab is run to it; axe clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { answerNumber, choose, column, next, stepUntilDone, tabTo, type Where } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const here = (page: Page): Where => ({ page, root: page });
const rows = (page: Page) => page.getByTestId('tlb-view').locator('tbody tr[data-linear]');

test('a student completes lesson 6 with the keyboard alone, with and without VPID', async ({ page }) => {
  test.setTimeout(120_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=06-tagged-tlb&lang=en');
  await expect(column(w)).toContainText('Step 1 of 12');
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'tlb');
  await expect(page.getByTestId('scenario-picker')).toContainText('The same guest with VPID');
  await axeClean(page);
  await next(w);

  await choose(w, 1); // invalidate at every switch
  await next(w);
  await next(w); // tags
  await stepUntilDone(w, 8); // to the CPUID exit
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_CPUID');
  await expect(rows(page)).toHaveCount(4);
  await next(w);
  await answerNumber(w, '0');
  await next(w);
  await choose(w, 2); // INVVPID
  await next(w);
  await stepUntilDone(w, 8); // to the INVLPG exit
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_INVLPG');
  await expect(page.getByTestId('vm-inspector')).toContainText('INVVPID type 0 for VPID 1');
  await expect(rows(page)).toHaveCount(3);
  await next(w);

  // The lesson loads the untagged scenario itself.
  await expect(page.getByTestId('scenario-picker')).toContainText('The same guest without VPID');
  await answerNumber(w, '4');
  await next(w);
  await stepUntilDone(w, 12); // to the INVLPG exit, untagged
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_INVLPG');
  await expect(rows(page)).toHaveCount(0);
  await next(w);
  await answerNumber(w, '1');
  await next(w);
  await next(w); // PCID
  await axeClean(page);
  await tabTo(w, page.getByTestId('lesson-next')); // Finish
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 5 of 5.');
  expect(errors).toEqual([]);
});

test('lesson 6 in Chinese, opened at the untagged prediction: the untagged scenario is loaded, axe clean', async ({ page }) => {
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=06-tagged-tlb&lstep=8&lang=zh-CN');
  await expect(column(w)).toContainText('第 8 步，共 12 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('预测：不启用 VPID 的同一客户机');
  await expect(page.getByTestId('scenario-picker')).toContainText('未启用 VPID 的同一客户机');
  // A wrong prediction is locked and answered with the run's figures.
  await tabTo(w, page.getByTestId('lesson-number'));
  await page.keyboard.type('3');
  await page.keyboard.press('Enter');
  await expect(column(w)).toContainText('带标签的运行在同一位置是 0 次未命中');
  await axeClean(page);
  expect(errors).toEqual([]);
});

test('lesson 6 in presenter mode, opened at the INVVPID step: the lab is run to the CPUID exit, and on to INVLPG from the keyboard', async ({ page }) => {
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=06-tagged-tlb&lstep=7&lang=en&mode=presenter');
  await expect(page.locator('html')).toHaveAttribute('data-mode', 'presenter');
  await expect(column(w)).toContainText('Step 7 of 12');
  // The earlier wait (the CPUID exit) is behind the student; this step's own is not.
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_CPUID');
  await stepUntilDone(w, 8);
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_INVLPG');
  await expect(page.getByTestId('vm-inspector')).toContainText('INVVPID type 0 for VPID 1');
  await axeClean(page);
  expect(errors).toEqual([]);
});
