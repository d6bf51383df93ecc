/**
 * Lesson 14 (Where the hypervisor lives) in the browser: a student completes it with the keyboard
 * alone: the COM1 exit's path bare-metal and hosted and the host process's turn reached with "Next
 * VM exit", the system call with "Run to next", the panic and beta's fault with the event to run to
 * chosen in its list; the questions answered; opened in Chinese at the hosted path's step, the lab
 * run to it; axe clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { answerNumber, choose, column, next, runToNextRingChange, tabTo, type Where } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const here = (page: Page): Where => ({ page, root: page });
const done = async (page: Page): Promise<boolean> => (await page.getByTestId('lesson-task-status').textContent())?.includes('✓') ?? false;

/** "Next VM exit" from the keyboard (its button focused, Enter) until the lesson's task is done. */
async function vmExitUntilDone(w: Where, max: number): Promise<void> {
  const button = w.page.getByTestId('run-vm-exit');
  for (let i = 0; i < max && !(await done(w.page)); i++) {
    await expect.poll(async () => (await done(w.page)) || (await button.isEnabled())).toBe(true);
    if (await done(w.page)) break;
    await tabTo(w, button);
    const before = await w.page.getByTestId('step-counter').first().textContent();
    await w.page.keyboard.press('Enter');
    await expect(w.page.getByTestId('step-counter').first()).not.toHaveText(before ?? '');
  }
  await expect(w.page.getByTestId('lesson-task-status')).toContainText('✓');
}

/** Chooses the event to run to with the arrow keys (`downs` options below a ring change), then "Run to next". */
async function runTo(w: Where, downs: number, label: string): Promise<void> {
  const kind = w.page.getByTestId('run-kind');
  await expect(kind).toBeEnabled();
  await tabTo(w, kind);
  for (let i = 0; i < 12; i++) await w.page.keyboard.press('ArrowUp'); // to the first, a ring change (the list keeps the last choice)
  for (let i = 0; i < downs; i++) await w.page.keyboard.press('ArrowDown');
  await expect(kind.locator('option:checked')).toHaveText(label);
  await tabTo(w, w.page.getByTestId('run-to'));
  await w.page.keyboard.press('Enter');
  await expect(w.page.getByTestId('lesson-task-status')).toContainText('✓', { timeout: 30_000 });
}

const pointed = (page: Page) => page.locator('[data-lesson-pointed]');

test('a student completes lesson 14 with the keyboard alone', async ({ page }) => {
  test.setTimeout(300_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=14-hosting&lang=en');
  await expect(column(w)).toContainText('Step 1 of 16');
  await expect(pointed(page)).toHaveAttribute('data-lesson-target', 'hosting');
  await axeClean(page);
  await next(w);
  await vmExitUntilDone(w, 30); // bare-path
  await expect(page.locator('[data-lesson-target="hosting"]')).toContainText('Its path here: 4 hops');
  await next(w);
  await expect(page.getByTestId('scenario-picker')).toContainText('The same two VMs under a hosted hypervisor');
  await answerNumber(w, '2');
  await next(w);
  await vmExitUntilDone(w, 30); // hosted-path
  await expect(page.locator('[data-lesson-target="hosting"]')).toContainText('Its path here: 9 hops');
  await axeClean(page);
  await next(w);
  await choose(w, 2); // late, merged
  await next(w);
  await vmExitUntilDone(w, 20); // host-turn
  await expect(page.locator('[data-lesson-target="hosting"]')).toContainText('of its 2,000 steps left; no VM runs.');
  await next(w);
  await answerNumber(w, '1');
  await next(w);
  await expect(pointed(page)).toHaveAttribute('data-lesson-target', 'vm-inspector');
  await choose(w, 2); // the same VMCS
  await next(w); // same-vmcs
  await next(w); // predict-exits, on the containers
  await expect(page.getByTestId('scenario-picker')).toContainText('Two containers on one kernel');
  await expect(pointed(page)).toHaveAttribute('data-lesson-target', 'containers');
  await answerNumber(w, '0');
  await next(w);
  for (let i = 0; i < 4 && !(await done(page)); i++) {
    await tabTo(w, page.getByTestId('run-to'));
    await page.keyboard.press('Enter');
    await page.waitForTimeout(300);
  }
  await runToNextRingChange(w);
  await axeClean(page);
  await next(w);
  await choose(w, 1); // all stop
  await next(w);
  await runTo(w, 5, 'halt');
  await expect(page.locator('[data-lesson-target="containers"]')).toBeVisible();
  await next(w);
  await choose(w, 0); // only beta's VM
  await next(w);
  await runTo(w, 1, 'exception');
  await axeClean(page);
  await next(w); // summary
  await tabTo(w, page.getByTestId('lesson-next')); // Finish
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 7 of 7.');
  expect(errors).toEqual([]);
});

test('lesson 14 in Chinese, opened at the ticks question: the lab was run to the host process\u2019s turn', async ({ page }) => {
  test.setTimeout(120_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=14-hosting&lstep=7&lang=zh-CN');
  await expect(column(w)).toContainText('第 7 步，共 16 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('预测：ticker 的中断');
  await expect(page.locator('[data-lesson-target="hosting"]')).toContainText(/2,?000/, { timeout: 60_000 });
  await expect(page.getByTestId('step-counter').first()).toContainText('6035');
  await axeClean(page);
  expect(errors).toEqual([]);
});
