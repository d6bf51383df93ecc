/**
 * Lesson 9 (DMA and the IOMMU) in the browser: a student completes it with the keyboard alone,
 * running to DMA requests with the run-to list: the stolen read landing in the victim's RAM with no
 * IOMMU, then the lesson's VT-d scenario and the blocked read with its fault record; opened in
 * Chinese at the blocked read; axe clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { answerNumber, choose, column, next, tabTo, type Where } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const here = (page: Page): Where => ({ page, root: page });

/** Picks "DMA request" in the run-to list and presses "Run to next" until the lesson's task is done. */
async function runToDmaUntilDone(w: Where, max: number): Promise<void> {
  const status = w.page.getByTestId('lesson-task-status');
  await tabTo(w, w.page.getByTestId('run-kind'));
  await w.page.getByTestId('run-kind').selectOption('iommu/dma');
  for (let i = 0; i < max && !((await status.textContent())?.includes('✓') ?? false); i++) {
    await tabTo(w, w.page.getByTestId('run-to'));
    const before = await w.page.getByTestId('step-counter').first().textContent();
    await w.page.keyboard.press('Enter');
    await expect(w.page.getByTestId('step-counter').first()).not.toHaveText(before ?? '');
  }
  await expect(status).toContainText('✓');
}

test('a student completes lesson 9 with the keyboard alone', async ({ page }) => {
  test.setTimeout(120_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=09-iommu&lang=en');
  await expect(column(w)).toContainText('Step 1 of 8');
  await expect(page.getByTestId('scenario-picker')).toContainText('An assigned card with a hostile driver, no IOMMU (one frame)');
  await next(w);
  await choose(w, 1); // the victim's secret
  await next(w);
  await runToDmaUntilDone(w, 4);
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'iommu');
  await expect(page.getByTestId('iommu-unit')).toHaveAttribute('data-iommu', 'none');
  await expect(page.getByTestId('iommu-owner').first()).toHaveAttribute('data-owner', 'vm1');
  await axeClean(page);
  await next(w);
  await choose(w, 1); // blocked
  await next(w);
  await runToDmaUntilDone(w, 4);
  await expect(page.getByTestId('iommu-unit')).toHaveAttribute('data-iommu', 'vtd');
  await expect(page.getByTestId('iommu-blocked')).toBeVisible();
  await expect(page.getByTestId('iommu-fr')).toContainText('6');
  await expect(page.getByTestId('iommu-sid')).toHaveText('00:08.0');
  await next(w);
  await answerNumber(w, '3');
  await next(w);
  await next(w); // AMD-Vi
  await tabTo(w, page.getByTestId('lesson-next')); // Finish
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 3 of 3.');
  expect(errors).toEqual([]);
});

test('lesson 9 in Chinese, opened at the entries question: the lab was run to the blocked read', async ({ page }) => {
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=09-iommu&lstep=6&lang=zh-CN');
  await expect(column(w)).toContainText('第 6 步，共 8 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('预测：读了多少个表项？');
  await expect(page.getByTestId('iommu-blocked')).toBeVisible();
  await expect(page.getByTestId('iommu-sid')).toHaveText('00:08.0');
  await axeClean(page);
  expect(errors).toEqual([]);
});
