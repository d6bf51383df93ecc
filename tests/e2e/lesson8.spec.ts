/**
 * Lesson 8 (giving a VM a device) in the browser: a student completes it with the keyboard alone
 * on the lesson's own scenario (the nic-two-ways example): the first configuration-space exit, the
 * emulated card's first register write as an EPT violation (reached with the "next VM exit" key),
 * the three ways compared; opened in Chinese at the comparison; axe clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { answerNumber, choose, column, next, stepUntilDone, tabTo, type Where } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const here = (page: Page): Where => ({ page, root: page });

/** Presses X (run to the next VM exit) until the lesson's task is done. */
async function exitUntilDone(w: Where, max: number): Promise<void> {
  const status = w.page.getByTestId('lesson-task-status');
  for (let i = 0; i < max && !((await status.textContent())?.includes('✓') ?? false); i++) {
    const before = await w.page.getByTestId('step-counter').first().textContent();
    await w.page.keyboard.press('x');
    await expect(w.page.getByTestId('step-counter').first()).not.toHaveText(before ?? '');
  }
  await expect(status).toContainText('✓');
}

test('a student completes lesson 8 with the keyboard alone', async ({ page }) => {
  test.setTimeout(120_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=08-device-io&lang=en');
  await expect(column(w)).toContainText('Step 1 of 9');
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'vm-planes');
  await axeClean(page);
  await next(w);
  await choose(w, 1); // both VMs
  await next(w);
  await stepUntilDone(w, 10);
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_IO_INSTRUCTION');
  await expect(page.getByTestId('vm-inspector')).toContainText('0x000000000cf80003');
  await next(w);
  await choose(w, 1); // an EPT violation
  await next(w);
  await exitUntilDone(w, 30);
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_EPT_VIOLATION');
  await expect(page.getByTestId('vm-inspector')).toContainText('mmio write 0xe0002800 4 bytes value 0x201000');
  await axeClean(page);
  await next(w);
  await answerNumber(w, '2');
  await next(w);
  // The three ways: the step points at the comparison; run it from the keyboard.
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'io-ways');
  await tabTo(w, page.getByTestId('io-ways-run'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('io-ways-exits').locator('li').nth(1)).toContainText(': 0.25', { timeout: 30_000 });
  await next(w);
  await choose(w, 1); // translated by VT-d
  await next(w);
  await tabTo(w, page.getByTestId('lesson-next')); // Finish
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 4 of 4.');
  expect(errors).toEqual([]);
});

test('lesson 8 in Chinese, opened at the three ways: the lab was run to the MMIO exit first', async ({ page }) => {
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=08-device-io&lstep=7&lang=zh-CN');
  await expect(column(w)).toContainText('第 7 步，共 9 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('三种方式，逐帧比较');
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_EPT_VIOLATION');
  await expect(page.getByTestId('io-ways')).toContainText('为虚拟机提供网卡的三种方式');
  await axeClean(page);
  expect(errors).toEqual([]);
});
