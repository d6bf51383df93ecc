/**
 * Lesson 13 (myths of the VT-x era) in the browser: a student completes it with the keyboard
 * alone: the guest kernel in ring 0 of non-root operation after VMLAUNCH, the CPUID exit and the
 * hypervisor's name on the console, then the comparison chart run from the keyboard to answer where
 * first-generation VT-x beats binary translation, the forkwait figures with their source; opened in
 * Chinese at the chart question; axe clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { choose, column, next, stepUntilDone, tabTo, type Where } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const here = (page: Page): Where => ({ page, root: page });

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

/** Runs the comparison chart from the keyboard (priced as first-generation VT-x, its default). */
async function runChart(w: Where): Promise<void> {
  await expect(w.page.getByTestId('techniques-preset')).toHaveValue('vtx-prescott');
  await tabTo(w, w.page.getByTestId('techniques-run'));
  await w.page.keyboard.press('Enter');
  await expect(w.page.getByTestId('techniques-table')).toBeAttached({ timeout: 30_000 });
}

test('a student completes lesson 13 with the keyboard alone', async ({ page }) => {
  test.setTimeout(180_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=13-vtx-myths&lang=en');
  await expect(column(w)).toContainText('Step 1 of 11');
  await expect(page.getByTestId('vm-planes')).toBeVisible();
  await next(w);
  await choose(w, 1); // ring 0 of non-root operation
  await next(w);
  await stepUntilDone(w, 1); // VMLAUNCH
  await expect(page.getByTestId('vm-now')).toContainText('VMX non-root operation');
  await expect(page.getByTestId('vm-now')).toContainText('ring 0');
  await next(w);
  await choose(w, 1); // set
  await next(w);
  await exitsUntilDone(w, 1);
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_CPUID');
  await next(w);
  await exitsUntilDone(w, 20);
  await expect(page.getByTestId('vm-console-0')).toContainText('RingMinus1');
  await expect(page.locator('[data-reg="rdi"]')).toContainText(/80020000/);
  await axeClean(page);
  await next(w); // the red pill under trap-and-emulate loads
  await expect(page.getByTestId('te-rings')).toBeVisible();
  await next(w);
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'techniques');
  await runChart(w);
  await expect(page.getByTestId('techniques-bar-syscall-vtx-shadow')).toContainText(': 4');
  await expect(page.getByTestId('techniques-bar-syscall-bt')).toContainText('3,082');
  await choose(w, 0); // the system call
  await next(w);
  await expect(page.getByTestId('lesson-fact').first().getByTestId('cite')).toHaveAttribute('href', '#source-forkwait');
  await expect(page.getByTestId('lesson-fact').first()).toContainText('106.4');
  await next(w);
  await choose(w, 1); // sufficient
  await next(w);
  await tabTo(w, page.getByTestId('lesson-next')); // Finish
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 4 of 4.');
  await axeClean(page);
  expect(errors).toEqual([]);
});

test('lesson 13 in Chinese, opened at the chart question', async ({ page }) => {
  test.setTimeout(90_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=13-vtx-myths&lstep=8&lang=zh-CN');
  await expect(column(w)).toContainText('第 8 步，共 11 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('误解：硬件辅助总是更快');
  await runChart(w);
  await expect(page.getByTestId('techniques-fastest-syscall')).toContainText('VT-x，影子页表');
  await choose(w, 0);
  await expect(page.getByTestId('lesson-feedback')).toContainText('系统调用');
  await axeClean(page);
  expect(errors).toEqual([]);
});
