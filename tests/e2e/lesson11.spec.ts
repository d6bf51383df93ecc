/**
 * Lesson 11 (binary translation) in the browser: a student completes it with the keyboard alone,
 * running to the monitor's next entry with "Next VM exit": the POPFD callout on bt-popf, a code
 * write on bt-smc, the page-table-write callout on bt-adaptive; opened in Chinese at the cost
 * question; axe clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { answerNumber, choose, column, next, tabTo, type Where } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const here = (page: Page): Where => ({ page, root: page });

/** Presses "Next VM exit" (the monitor's next callout or trap) until the lesson's task is done. */
async function exitUntilDone(w: Where, max: number): Promise<void> {
  const status = w.page.getByTestId('lesson-task-status');
  for (let i = 0; i < max && !((await status.textContent())?.includes('✓') ?? false); i++) {
    await tabTo(w, w.page.getByTestId('run-vm-exit'));
    const before = await w.page.getByTestId('step-counter').first().textContent();
    await w.page.keyboard.press('Enter');
    await expect(w.page.getByTestId('step-counter').first()).not.toHaveText(before ?? '');
  }
  await expect(status).toContainText('✓');
}

test('a student completes lesson 11 with the keyboard alone', async ({ page }) => {
  test.setTimeout(180_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=11-binary-translation&lang=en');
  await expect(column(w)).toContainText('Step 1 of 9');
  await expect(page.getByTestId('bt-view')).toBeVisible();
  await next(w);
  await choose(w, 2); // a callout
  await next(w);
  await exitUntilDone(w, 30);
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'bt');
  await expect(page.getByTestId('narration')).toContainText('The translated popfd is a callout');
  await expect(page.locator('[data-testid="bt-insn"][data-reason="sensitive"]')).toContainText('popfd');
  await axeClean(page);
  await next(w);
  await answerNumber(w, '3');
  await next(w);
  await choose(w, 1); // dropped and translated again
  await next(w);
  await exitUntilDone(w, 10);
  await expect(page.getByTestId('narration')).toContainText('A code write was caught');
  await next(w);
  await choose(w, 0); // the callout
  await next(w);
  await exitUntilDone(w, 20);
  await expect(page.locator('[data-testid="bt-insn"][data-reason="page-table-write"]')).toHaveCount(1);
  await next(w);
  await tabTo(w, page.getByTestId('lesson-next')); // Finish
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 4 of 4.');
  expect(errors).toEqual([]);
});

test('lesson 11 in Chinese, opened at the cost question', async ({ page }) => {
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=11-binary-translation&lstep=7&lang=zh-CN');
  await expect(column(w)).toContainText('第 7 步，共 9 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('预测：调出还是 VM 退出');
  await expect(page.getByTestId('bt-view')).toBeVisible();
  await axeClean(page);
  expect(errors).toEqual([]);
});
