/**
 * Lesson 12 (Paravirtualization) in the browser: a student completes it with the keyboard alone:
 * the kernel diff, the unmodified kernel stopped at its CLI by one step, the first hypercall and the
 * page table's one mmu_update reached with "Next VM exit", the number questions answered; opened
 * in Chinese at the requests question, the lab run to the mmu_update; axe clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { answerNumber, choose, column, next, tabTo, type Where } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const here = (page: Page): Where => ({ page, root: page });

/** "Next VM exit" from the keyboard (its button focused, Enter) until the lesson's task is done. */
async function vmExitUntilDone(w: Where, max: number): Promise<void> {
  const status = w.page.getByTestId('lesson-task-status');
  const button = w.page.getByTestId('run-vm-exit');
  for (let i = 0; i < max && !((await status.textContent())?.includes('✓') ?? false); i++) {
    await expect(button).toBeEnabled();
    await tabTo(w, button);
    const before = await w.page.getByTestId('step-counter').first().textContent();
    await w.page.keyboard.press('Enter');
    await expect(w.page.getByTestId('step-counter').first()).not.toHaveText(before ?? '');
  }
  await expect(status).toContainText('✓');
}

test('a student completes lesson 12 with the keyboard alone', async ({ page }) => {
  test.setTimeout(180_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=12-paravirtualization&lang=en');
  await expect(column(w)).toContainText('Step 1 of 9');
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'pv-diff');
  await expect(page.getByTestId('pv-diff')).toContainText('became: write 1 to vcpu_info.evtchn_upcall_mask');
  await axeClean(page);
  await next(w);
  await expect(page.getByTestId('scenario-picker')).toContainText('The same kernel before the port');
  await choose(w, 2); // it stops the domain
  await next(w);
  // The hypervisor stops the domain at its first instruction: one step, and the step counter stays at 0.
  await expect(page.getByTestId('step-forward')).toBeEnabled();
  await tabTo(w, page.getByTestId('step-forward'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-task-status')).toContainText('✓');
  await expect(page.getByTestId('pv-failure')).toContainText('cli at 0x100000: not paravirtualized.');
  await axeClean(page);
  await next(w);
  await vmExitUntilDone(w, 3);
  await expect(page.locator('[data-testid="pv-hypercall-row"][data-now="true"]')).toHaveAttribute('data-name', 'set_trap_table');
  await next(w);
  await answerNumber(w, '1');
  await next(w);
  await vmExitUntilDone(w, 10);
  await expect(page.locator('[data-testid="pv-hypercall-row"][data-now="true"]')).toContainText('1025 page-table writes in one hypercall; 1025 validated and written.');
  await next(w);
  await answerNumber(w, '1025');
  await next(w); // events
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'vm-planes');
  await next(w); // summary
  await tabTo(w, page.getByTestId('lesson-next')); // Finish
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 3 of 3.');
  expect(errors).toEqual([]);
});

test('lesson 12 in Chinese, opened at the requests question: the lab was run to the mmu_update', async ({ page }) => {
  test.setTimeout(120_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=12-paravirtualization&lstep=7&lang=zh-CN');
  await expect(column(w)).toContainText('第 7 步，共 9 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('预测：请求的个数');
  await expect(page.locator('[data-testid="pv-hypercall-row"][data-name="mmu_update"]')).toContainText('一次超级调用中 1025 个页表写请求', { timeout: 60_000 });
  await axeClean(page);
  expect(errors).toEqual([]);
});
