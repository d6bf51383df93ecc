/**
 * Lesson 4 (the same guest on AMD-V) in the browser: a student completes it with the keyboard alone
 * on the lesson's own scenario, picking nRIP among the #VMEXIT's fields in the VMCB inspector; the
 * summary quotes the AMD round trip with its source; the whole lesson again in Chinese, embedded
 * (`?embed=1&lesson=…`) in a 420-pixel frame, where the inspector's last exit is shown beside the
 * lesson; axe clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { answerNumber, choose, column, next, pick, stepUntilDone, tabTo, type Where } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const here = (page: Page): Where => ({ page, root: page });

/** Lesson 4 from its first step to its end with full marks, keyboard only. */
async function playLesson4(w: Where): Promise<void> {
  const { page } = w;
  await next(w); // host and guest mode
  await expect(page.getByTestId('vm-inspector')).toContainText('VMCB');
  await next(w); // the VMCB's layout
  await choose(w, 1); // VMRUN again
  await next(w);
  await stepUntilDone(w, 1); // VMRUN
  await next(w);
  await answerNumber(w, '0x72');
  await next(w);
  await stepUntilDone(w, 1); // the CPUID #VMEXIT
  await expect(page.getByTestId('vm-exit-head')).toContainText('VMEXIT_CPUID');
  await next(w);
  await pick(w, 'exit-next_rip');
  await next(w);
  await answerNumber(w, '0x7b');
  await next(w);
  await answerNumber(w, '0x3f80210');
  await next(w);
  await stepUntilDone(w, 8); // the second CPUID, then the OUT
  await expect(page.getByTestId('vm-exit-head')).toContainText('VMEXIT_IOIO');
  await expect(page.getByTestId('vm-info-exit_info_1')).toContainText('0x0000000003f80210');
  await next(w);
  await next(w); // GIF
  await expect(page.getByTestId('lesson-fact')).toContainText('2528');
  await expect(page.getByTestId('lesson-fact').getByTestId('cite')).toHaveAttribute('href', '#source-kvm-round-trip-amd');
  await tabTo(w, page.getByTestId('lesson-next'));
  await page.keyboard.press('Enter');
}

test('a student completes lesson 4 with the keyboard alone, picking nRIP in the VMCB inspector', async ({ page }) => {
  test.setTimeout(120_000);
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=04-svm-exit&lang=en');
  await expect(column(w)).toContainText('Step 1 of 12');
  await expect(page.getByTestId('vm-planes')).toContainText('Guest mode');
  await playLesson4(w);
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 5 of 5.');
  await axeClean(page);
  expect(errors).toEqual([]);
});

test('lesson 4 in Chinese, embedded in a 420-pixel frame: played through, the last exit beside the lesson, axe clean', async ({ page }) => {
  test.setTimeout(120_000);
  await page.setViewportSize({ width: 420, height: 900 });
  const w = here(page);
  const errors = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?embed=1&lesson=04-svm-exit&lang=zh-CN');
  await expect(column(w)).toContainText('第 1 步，共 12 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('主机模式与客户机模式');
  // The lesson points at the inspector, so the embed shows it (its last exit only).
  await expect(page.getByTestId('vm-inspector')).toContainText('VMCB 检查器');
  await expect(page.getByTestId('vm-fields-control')).toHaveCount(0);
  await playLesson4(w);
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ 课程完成。得分：5 / 5。');
  await axeClean(page);
  expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
  expect(errors).toEqual([]);
});
