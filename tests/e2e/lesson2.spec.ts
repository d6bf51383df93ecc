/**
 * Lesson 2 (paging, the page walk and the TLB) in the browser: a student completes it with the
 * keyboard alone, on the lesson's own scenario, picking the read-only entry in the page-walk view;
 * the figure the summary quotes links to its source; no axe violations at the walk-view steps.
 */
import { expect, test, type Page } from '@playwright/test';
import { answerNumber, choose, column, next, stepUntilDone, tabTo, type Where } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const here = (page: Page): Where => ({ page, root: page });

test('a student completes lesson 2 with the keyboard alone, picking the read-only entry in the walk view', async ({ page }) => {
  test.setTimeout(90_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=02-paging&lang=en');
  await expect(column(w)).toContainText('Step 1 of 14');
  // The lesson's own scenario, not the example: its first instruction loads DATA's address.
  await expect(page.getByTestId('code-view')).toContainText('mov esi, 0x40140000');
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'walk');
  await next(w);

  await answerNumber(w, '4');
  await next(w);
  await answerNumber(w, '0x140');
  await expect(page.getByTestId('lesson-feedback')).toContainText('0x140 (320)');
  await next(w);
  await stepUntilDone(w, 2);
  await expect(page.getByTestId('walk-view')).toContainText('00013a00');
  await next(w);
  await answerNumber(w, '0');
  await next(w);
  await stepUntilDone(w, 1);
  await next(w);
  await choose(w, 2);
  await next(w);
  await answerNumber(w, '7');
  await next(w);
  await stepUntilDone(w, 1);
  await expect(page.getByTestId('narration')).toContainText('#PF');
  await next(w);

  // The walk view's entries are the candidates: a wrong one is named, then the PTE.
  const pde = page.locator('[data-lesson-target="walk-pde"]');
  const pte = page.locator('[data-lesson-target="walk-pte"]');
  await expect(pte).toHaveAttribute('tabindex', '0');
  await axeClean(page);
  await tabTo(w, pde);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-task-status')).toContainText("the walk's PDE allows writes");
  await tabTo(w, pte);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-task-status')).toContainText('The PTE: its R/W is 0');
  await expect(column(w)).toContainText('Score: 5 of 7');
  await next(w);

  // Copy-on-write: run to the ring change back to ring 3, then step once.
  await tabTo(w, page.getByTestId('run-to'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('ring-view').locator('svg')).toHaveAttribute('data-cpl', '3');
  await stepUntilDone(w, 1);
  await expect(page.getByTestId('walk-view')).toContainText('00301007');
  await next(w);
  await choose(w, 1);
  await next(w);
  await stepUntilDone(w, 12);
  await next(w);

  // The summary quotes the nested-walk figure with its source and grade.
  await expect(page.getByTestId('lesson-fact')).toContainText('24');
  await expect(page.getByTestId('lesson-fact').getByTestId('cite')).toHaveAttribute('href', '#source-nested-walk-refs');
  await tabTo(w, page.getByTestId('lesson-next'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 6 of 7.');
  await axeClean(page);
  expect(errors).toEqual([]);
});

test('lesson 2 in Chinese, at the fault: the walk view names the entries, axe clean', async ({ page }) => {
  const w = here(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=02-paging&lstep=9&lang=zh-CN');
  await expect(column(w)).toContainText('第 9 步，共 14 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('缺页异常');
  await axeClean(page);
});
