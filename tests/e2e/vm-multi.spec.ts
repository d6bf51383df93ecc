/**
 * Several VMs in the lab (the two-vms example: a 32-bit and a 64-bit guest on one CPU under
 * VT-x): Next VM exit from the keyboard until the scheduler moves the CPU to the other VM (told
 * with both names in the narration and the planes), then on until both consoles, labelled with
 * their VMs' names, show text; a link to the run's last step shows both guests' whole output and
 * the exits by reason; in English and Chinese, axe-clean.
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

test('two VMs: the switch told with both names, then Next VM exit until both consoles show text (English)', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, 'en');
  await expect(page.getByTestId('vm-console-0')).toContainText('halter');
  await expect(page.getByTestId('vm-console-1')).toContainText('spinner');
  await exitUntilSaid(page, /The scheduler moves the CPU from VM 0 \(halter\) to VM 1 \(spinner\): it halted and waits for an interrupt\./);
  await expect(page.getByTestId('vm-step')).toContainText('the scheduler then gives the CPU to VM 1 (spinner)');
  await expect(page.getByTestId('vm-console-0').locator('pre')).toHaveText('hi');
  await axeClean(page);
  // On through the spinner's ticks (external-interrupt exits, interrupt windows, the halter woken
  // between them) until its handler prints its first character on its own UART.
  const spinner = page.getByTestId('vm-console-1');
  for (let i = 0; i < 200 && (await spinner.locator('pre').count()) === 0; i++) {
    const before = await page.getByTestId('step-counter').last().textContent();
    await page.locator('body').press('x');
    await expect(page.getByTestId('step-counter').last()).not.toHaveText(before ?? '');
  }
  await expect(spinner.locator('pre')).toHaveText('b');
  await expect(page.getByTestId('vm-console-0').locator('pre')).toHaveText('hi');
  await expect(page.getByTestId('vm-reasons')).toContainText('External interrupt');
  expect(bad).toEqual([]);
});

test('two VMs in Chinese: the switch, and both guests’ whole output at the run’s last step', async ({ page }) => {
  // Opening at step 9047 runs the whole scenario first, and axe then reads the page twice: on a
  // loaded 2-CPU machine that alone came near the default 30 s.
  test.setTimeout(60_000);
  const bad = noErrors(page);
  await open(page, 'zh-CN');
  await exitUntilSaid(page, /调度器把 CPU 从虚拟机 0（halter）交给虚拟机 1（spinner）：它执行了 HLT，正在等待中断。/);
  await expect(page.getByTestId('vm-planes')).toContainText('虚拟机 1（spinner）');
  await axeClean(page);
  await page.goto('/?lang=zh-CN&scenario=two-vms&step=9047');
  await expect(page.getByTestId('vm-console-0').locator('pre')).toHaveText('hi ticks', { timeout: 20_000 });
  await expect(page.getByTestId('vm-console-1').locator('pre')).toHaveText('bbb');
  await expect(page.getByTestId('vm-reasons')).toContainText('VMX-preemption timer expired');
  await axeClean(page);
  expect(bad).toEqual([]);
});
