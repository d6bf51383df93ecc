/**
 * Lesson 10 (why classic x86 could not be trap-and-emulated) in the browser: a student completes it
 * with the keyboard alone, running to the STI's trap and to the guest's end with "Next VM exit"
 * (the trap list, the console's P0), then on the red pill predicting SIDT's base and reading the
 * monitor's values in the registers, and ending at the comparison chart; opened in Chinese at the
 * SIDT question; axe clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { answerNumber, choose, column, next, tabTo, type Where } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const here = (page: Page): Where => ({ page, root: page });

/** Presses "Next VM exit" from the keyboard until the lesson's task is done. */
async function exitsUntilDone(w: Where, max: number): Promise<void> {
  const status = w.page.getByTestId('lesson-task-status');
  for (let i = 0; i < max && !((await status.textContent())?.includes('✓') ?? false); i++) {
    await tabTo(w, w.page.getByTestId('run-vm-exit'));
    const before = await w.page.getByTestId('step-counter').first().textContent();
    await w.page.keyboard.press('Enter');
    await expect(w.page.getByTestId('step-counter').first()).not.toHaveText(before ?? '');
  }
  await expect(status).toContainText('✓');
}

test('a student completes lesson 10 with the keyboard alone', async ({ page }) => {
  test.setTimeout(180_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=10-trap-emulate&lang=en');
  await expect(column(w)).toContainText('Step 1 of 11');
  await expect(page.getByTestId('scenario-picker')).toContainText('A guest kernel in ring 1: STI and CLI trap, POPF does not');
  await next(w);
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'vm-planes');
  await expect(page.getByTestId('te-rings')).toContainText('Guest kernel: ring 1');
  await next(w);
  await choose(w, 1); // traps
  await next(w);
  await exitsUntilDone(w, 2);
  await expect(page.getByTestId('te-trap-head')).toContainText('sti');
  await next(w);
  await choose(w, 2); // IF stays 0
  await next(w);
  await exitsUntilDone(w, 12);
  await expect(page.getByTestId('vm-console-0')).toContainText('P0');
  await expect(page.getByTestId('te-trap-table')).not.toContainText('popf');
  await axeClean(page);
  await next(w); // the red pill loads
  await expect(page.getByTestId('scenario-picker')).toContainText('The red pill: SIDT, SGDT, SMSW and STR in ring 1');
  await next(w);
  await answerNumber(w, '0xffc10000');
  await next(w);
  await exitsUntilDone(w, 25);
  await expect(page.getByTestId('vm-console-0')).toContainText('inside a monitor');
  await expect(page.locator('[data-reg="rdi"]')).toContainText(/ffc10000/i);
  await expect(page.locator('[data-reg="rsi"]')).toContainText(/ffc00000/i);
  await next(w);
  await expect(page.getByTestId('lesson-fact').first().getByTestId('cite')).toHaveAttribute('href', '#source-sensitive-unprivileged-count');
  await next(w);
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'techniques');
  await expect(page.getByTestId('techniques')).toBeVisible();
  await tabTo(w, page.getByTestId('lesson-next')); // Finish
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 3 of 3.');
  await axeClean(page);
  expect(errors).toEqual([]);
});

test('lesson 10 in Chinese, opened at the SIDT question', async ({ page }) => {
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=10-trap-emulate&lstep=8&lang=zh-CN');
  await expect(column(w)).toContainText('第 8 步，共 11 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('预测：SIDT 读到的基址');
  await expect(page.getByTestId('te-rings')).toBeVisible();
  await answerNumber(w, '0xFFC10000');
  await expect(page.getByTestId('lesson-feedback')).toContainText('虚拟机监控器的 IDT');
  await axeClean(page);
  expect(errors).toEqual([]);
});
