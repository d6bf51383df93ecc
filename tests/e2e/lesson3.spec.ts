/**
 * Lesson 3 (your first VM exit on VT-x) in the browser: a student completes it with the keyboard
 * alone on the lesson's own scenario, picking VM_EXIT_REASON among the exit's fields in the VMCS
 * inspector and reaching the I/O exit with Next VM exit; the cost step quotes its figures with their
 * sources; opened in Chinese and in presenter mode at the pick, the pick still works; axe clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { answerNumber, choose, column, next, pick, stepUntilDone, tabTo, type Where } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const here = (page: Page): Where => ({ page, root: page });

test('a student completes lesson 3 with the keyboard alone, picking the exit reason in the VMCS inspector', async ({ page }) => {
  test.setTimeout(120_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=03-vmx-exit&lang=en');
  await expect(column(w)).toContainText('Step 1 of 13');
  await expect(page.getByTestId('vm-planes')).toBeVisible();
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'vm-planes');
  await expect(page.getByTestId('lesson-pointer')).toContainText('Look here: where the processor runs (host and guest)');
  await next(w);

  await choose(w, 1); // cpuid
  await next(w);
  await stepUntilDone(w, 1); // VMLAUNCH
  await next(w);
  await answerNumber(w, '10');
  await next(w);
  await choose(w, 1); // VMRESUME
  await next(w);
  await stepUntilDone(w, 1); // the CPUID exit
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_CPUID');
  await next(w);

  // The exit's fields are the candidates: a wrong one is named, then VM_EXIT_REASON.
  const qual = page.locator('[data-lesson-target="exit-EXIT_QUALIFICATION"]');
  await expect(qual).toHaveAttribute('tabindex', '0');
  await axeClean(page);
  await tabTo(w, qual);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-task-status')).toContainText('the exit field EXIT_QUALIFICATION is not it');
  await pick(w, 'exit-VM_EXIT_REASON');
  // A wrong pick first: the right one meets the task, without the point.
  await expect(column(w)).toContainText('Score: 3 of 6');
  await next(w);

  await expect(page.getByTestId('vm-path')).toContainText('VM_EXIT_INSTRUCTION_LEN');
  await next(w);
  await answerNumber(w, '0x3f80000');
  await next(w);
  await answerNumber(w, '0x100015');
  await next(w);

  // Next VM exit, twice: the second CPUID exit, then the OUT.
  for (let i = 0; i < 2 && !(await page.getByTestId('lesson-task-status').textContent())?.includes('✓'); i++) {
    await tabTo(w, page.getByTestId('run-vm-exit'));
    await page.keyboard.press('Enter');
    await expect(page.getByTestId('vm-exit-head')).toContainText(i === 0 ? 'EXIT_REASON_CPUID' : 'EXIT_REASON_IO_INSTRUCTION');
  }
  await expect(page.getByTestId('lesson-task-status')).toContainText('✓');
  await expect(page.getByTestId('vm-info-EXIT_QUALIFICATION')).toContainText('0x0000000003f80000');
  await next(w);

  // The cost step quotes the first VT-x processors' figures, each with its source.
  await expect(page.getByTestId('lesson-fact').first()).toContainText('2409');
  await expect(page.getByTestId('lesson-fact').first().getByTestId('cite')).toHaveAttribute('href', '#source-vmx-transition-prescott');
  await next(w);
  await tabTo(w, page.getByTestId('lesson-next'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 5 of 6.');
  await axeClean(page);
  expect(errors).toEqual([]);
});

test('lesson 3 in Chinese, opened at the pick: the lab is run to the CPUID exit, the fields are named in Chinese, axe clean', async ({ page }) => {
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=03-vmx-exit&lstep=7&lang=zh-CN');
  await expect(column(w)).toContainText('第 7 步，共 13 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('找到退出原因');
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_CPUID');
  const qual = page.locator('[data-lesson-target="exit-EXIT_QUALIFICATION"]');
  await expect(qual).toHaveAttribute('tabindex', '0');
  await tabTo(w, qual);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-task-status')).toContainText('退出信息字段 EXIT_QUALIFICATION 不是要找的字段');
  await axeClean(page);
  expect(errors).toEqual([]);
});

test('lesson 3 in presenter mode: the inspector shows the last exit, and its fields can be picked', async ({ page }) => {
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=03-vmx-exit&lstep=7&lang=en&mode=presenter');
  await expect(page.locator('html')).toHaveAttribute('data-mode', 'presenter');
  await expect(column(w)).toContainText('Step 7 of 13');
  await expect(page.getByTestId('vm-exit-head')).toContainText('EXIT_REASON_CPUID');
  await pick(w, 'exit-VM_EXIT_REASON');
  await axeClean(page);
  expect(errors).toEqual([]);
});
