/**
 * Lesson 7 (shadow page tables) in the browser: a student completes it with the keyboard alone on
 * the lesson's own scenario (lesson 5's guest with nested paging off): the first hidden fault in
 * the shadow view, the CR3 read in the inspector, the emulated page-table write and INVLPG, the
 * true fault; opened in Chinese at the page-table write, the lab is run through the earlier waits;
 * embedded in a frame, the shadow view it points at is there; axe clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { answerNumber, choose, column, next, stepUntilDone, tabTo, type Where } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const here = (page: Page): Where => ({ page, root: page });

test('a student completes lesson 7 with the keyboard alone', async ({ page }) => {
  test.setTimeout(120_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=07-shadow-paging&lang=en');
  await expect(column(w)).toContainText('Step 1 of 13');
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'shadow');
  await expect(page.getByTestId('scenario-picker')).toContainText('Lesson 5\'s guest under VT-x with nested paging off');
  await axeClean(page);
  await next(w);

  await choose(w, 2); // a hidden fault
  await next(w);
  await stepUntilDone(w, 3);
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_EXCEPTION_NMI');
  await expect(page.getByTestId('shadow-mark')).toHaveAttribute('data-op', 'fill');
  // Under shadow paging there is no two-dimensional walk to show.
  await expect(page.getByTestId('nested-walk')).toHaveCount(0);
  await expect(page.getByTestId('shadow-records')).toContainText('Hidden page fault at 0x00100000 (error code 0x10)');
  await next(w);
  await answerNumber(w, '1');
  await next(w);
  await next(w); // the fill and the dirty flag
  await choose(w, 0); // the guest's own CR3
  await next(w);
  await stepUntilDone(w, 10);
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_CR_ACCESS');
  await next(w);
  await choose(w, 1); // emulate the write
  await next(w);
  await stepUntilDone(w, 15);
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_INVLPG');
  await expect(page.getByTestId('vm-inspector')).toContainText('no shadow entry for that page');
  await expect(page.getByTestId('shadow-mark')).toHaveAttribute('data-op', 'emulated-write');
  await expect(page.getByTestId('shadow-when')).toHaveAttribute('data-fresh', '0');
  await axeClean(page);
  await next(w);
  await choose(w, 2); // inject #PF
  await next(w);
  await stepUntilDone(w, 10);
  await expect(page.getByTestId('shadow-records')).toContainText('True page fault at 0x80004000');
  await next(w);
  await next(w); // the cost
  await tabTo(w, page.getByTestId('lesson-next')); // Finish
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 5 of 5.');
  expect(errors).toEqual([]);
});

test('lesson 7 in Chinese, opened at the page-table write: the lab is run to the CR3 read, and on to INVLPG', async ({ page }) => {
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=07-shadow-paging&lstep=9&lang=zh-CN');
  await expect(column(w)).toContainText('第 9 步，共 13 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('写入，然后是 INVLPG');
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_CR_ACCESS');
  // The planes name the guest in the reader's language (the scenario's JSON names it in English only).
  await expect(page.locator('[data-lesson-target="vm-planes"]')).toContainText('关闭嵌套分页的 VT-x 下第 5 课的客户机');
  await stepUntilDone(w, 15);
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_INVLPG');
  await expect(page.getByTestId('shadow-view')).toContainText('只读：这一页存放客户机页表');
  await axeClean(page);
  expect(errors).toEqual([]);
});
