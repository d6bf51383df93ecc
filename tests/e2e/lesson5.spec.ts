/**
 * Lesson 5 (nested paging and the two-dimensional walk) in the browser: a student completes it
 * with the keyboard alone, the grid showing the first touch's references as the lesson predicts,
 * the EPT violation and the guest's #PF reached with the grid's own "run to" buttons; the cost step
 * quotes the 2D walk figure with its source. In Chinese and presenter mode, opened at the EPT
 * violation step, the machine stepped to it from the keyboard and the grid marks the fault. Axe clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { answerNumber, choose, column, next, tabTo, stepUntilDone, type Where } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const here = (page: Page): Where => ({ page, root: page });

/** → pressed `n` times with the focus on the step's title (it steps the lab), each step seen. */
async function stepLab(w: Where, n: number): Promise<void> {
  const counter = w.page.getByTestId('step-counter').first();
  for (let i = 0; i < n; i++) {
    const before = await counter.textContent();
    await w.page.keyboard.press('ArrowRight');
    await expect(counter).not.toHaveText(before ?? '');
  }
}

test('a student completes lesson 5 with the keyboard alone, the grid and its run buttons as the lesson says', async ({ page }) => {
  test.setTimeout(150_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=05-nested-walk&lang=en');
  await expect(column(w)).toContainText('Step 1 of 13');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('Two translations, one walk');
  await next(w);
  await choose(w, 1); // translate CR3 through the EPT
  await next(w);
  await answerNumber(w, '19');
  await next(w); // the walk in the grid: "press → twice" (next() leaves the focus on the step's title)
  await stepLab(w, 2);
  const count = page.getByTestId('nested-count');
  await expect(page.getByTestId('nested-source')).toHaveAttribute('data-source', 'walk');
  await expect(count).toHaveAttribute('data-made', '19');
  await expect(count).toHaveAttribute('data-full', '24');
  await expect(page.getByTestId('nested-grid').locator('td[data-why="nested-large"]')).toHaveCount(5);
  await next(w); // in order
  // The grid's references, one by one from the keyboard: the first is a nested reference (CR3's GPA).
  await tabTo(w, page.getByTestId('nested-prev'));
  await page.keyboard.press('Home');
  await expect(page.getByTestId('nested-position')).toContainText('1');
  await expect(page.getByTestId('nested-grid').locator('td[aria-current="step"]')).toHaveAttribute('data-n', '1');
  await next(w);
  await answerNumber(w, '0');
  // "Press → once": the arrow steps the lab from the step's title, not from the answer's field.
  await page.getByTestId('lesson-step-title').focus();
  await stepLab(w, 1);
  await expect(page.getByTestId('nested-source')).toHaveAttribute('data-source', 'tlb');
  await next(w);
  await choose(w, 1); // an EPT violation
  await next(w);
  await tabTo(w, page.getByTestId('nested-run-violation'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-task-status')).toContainText('✓');
  await expect(page.getByTestId('nested-fault')).toContainText('EPT violation');
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_EPT_VIOLATION');
  await next(w);
  await answerNumber(w, '0x181');
  await next(w);
  await choose(w, 0); // the guest's own #PF
  await next(w);
  await tabTo(w, page.getByTestId('nested-run-pf'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-task-status')).toContainText('✓');
  await expect(page.getByTestId('nested-count')).toHaveAttribute('data-made', '16');
  await next(w); // the cost
  await expect(page.getByTestId('lesson-fact').first()).toContainText('24');
  await next(w); // summary
  await tabTo(w, page.getByTestId('lesson-next'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 6 of 6.');
  await axeClean(page);
  expect(errors).toEqual([]);
});

test('lesson 5 in Chinese, presenter mode, opened at the EPT violation: stepped to it from the keyboard, the grid marks the fault', async ({ page }) => {
  test.setTimeout(120_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=05-nested-walk&lstep=8&lang=zh-CN&mode=presenter');
  await expect(page.locator('html')).toHaveAttribute('data-mode', 'presenter');
  await expect(column(w)).toContainText('第 8 步，共 13 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('EPT 违例');
  await expect(page.getByTestId('nested-walk')).toContainText('二维页表遍历');
  await page.getByTestId('lesson-step-title').focus();
  await stepUntilDone(w, 25);
  await expect(page.getByTestId('nested-fault')).toContainText('此处发生 EPT 违例');
  await axeClean(page);
  expect(errors).toEqual([]);
});
