/**
 * Several VMs in the lab (the two-vms example: a 32-bit and a 64-bit guest on one CPU under
 * VT-x): Next VM exit from the keyboard until the scheduler moves the CPU to the other VM (told
 * with both names in the narration and the planes), then End until both consoles, labelled with
 * their VMs' names, show what the guests printed; in English and Chinese, axe-clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { axeClean, noErrors } from './page-checks.ts';

async function open(page: Page, lang: 'en' | 'zh-CN'): Promise<void> {
  await page.goto(`/?lang=${lang}&scenario=two-vms`);
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('vm-planes')).toBeVisible();
}

/** Presses X (Next VM exit) until the narration matches `text`. */
async function exitUntilSaid(page: Page, text: RegExp, max = 60): Promise<void> {
  const narration = page.getByTestId('narration');
  for (let i = 0; i < max; i++) {
    if (text.test((await narration.textContent()) ?? '')) return;
    const before = await page.getByTestId('step-counter').last().textContent();
    await page.locator('body').press('x');
    await expect(page.getByTestId('step-counter').last()).not.toHaveText(before ?? '');
  }
  await expect(narration).toHaveText(text);
}

test('two VMs: the switch told with both names, then both consoles with their output (English)', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, 'en');
  await expect(page.getByTestId('vm-console-0')).toContainText('halter');
  await expect(page.getByTestId('vm-console-1')).toContainText('spinner');
  await exitUntilSaid(page, /The scheduler moves the CPU from VM 0 \(halter\) to VM 1 \(spinner\)/);
  await expect(page.getByTestId('narration')).toContainText('it halted and waits for an interrupt');
  await expect(page.getByTestId('vm-step')).toContainText('the scheduler then gives the CPU to VM 1 (spinner)');
  await expect(page.getByTestId('vm-console-0')).toContainText('hi');
  await axeClean(page);
  await page.locator('body').press('End');
  await expect(page.getByTestId('vm-console-0').locator('pre')).toHaveText('hi ticks', { timeout: 30_000 });
  await expect(page.getByTestId('vm-console-1').locator('pre')).toHaveText('bbb');
  await expect(page.getByTestId('vm-reasons')).toContainText('EXIT_REASON_PREEMPTION_TIMER');
  await expect(page.getByTestId('vm-reasons')).toContainText('EXIT_REASON_EXTERNAL_INTERRUPT');
  await axeClean(page);
  expect(bad).toEqual([]);
});

test('two VMs in Chinese: the switch and the consoles', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, 'zh-CN');
  await exitUntilSaid(page, /调度器把 CPU 从虚拟机 0（halter） 交给虚拟机 1（spinner）/);
  await expect(page.getByTestId('vm-planes')).toContainText('虚拟机 1（spinner）');
  await page.locator('body').press('End');
  await expect(page.getByTestId('vm-console-0').locator('pre')).toHaveText('hi ticks', { timeout: 30_000 });
  await expect(page.getByTestId('vm-console-1').locator('pre')).toHaveText('bbb');
  await axeClean(page);
  expect(bad).toEqual([]);
});
