/**
 * Issue 8's comparison of the three ways of giving a VM a network card (views/vm/IoWays.svelte),
 * on the nic-two-ways example: run from the keyboard, the bars per frame and the table, in English
 * and Chinese, axe-clean; the run on screen is left where it was.
 */
import { expect, test, type Page } from '@playwright/test';
import { axeClean, noErrors } from './page-checks.ts';

async function open(page: Page, lang: 'en' | 'zh-CN', scenario = 'nic-two-ways'): Promise<void> {
  await page.goto(`/?lang=${lang}&scenario=${scenario}`);
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('vm-planes')).toBeVisible();
}

test('compare the three ways from the keyboard: the same frames, exits, copies and cycles per frame (English)', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, 'en');
  const before = await page.getByTestId('step-counter').last().textContent();
  const run = page.getByTestId('io-ways-run');
  await run.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('io-ways-same')).toContainText('Every way delivered the same 16 frames to the guest, byte for byte.', { timeout: 30_000 });
  const exits = page.getByTestId('io-ways-exits').locator('li');
  await expect(exits).toHaveText(['Emulated (8254x-style card, MMIO exits): 2', 'Paravirtual (virtio-net, one notification per batch): 0.25', 'Assigned (the real card, DMA through the IOMMU): 0']);
  await expect(page.getByTestId('io-ways-copied').locator('li').nth(2)).toHaveText('Assigned (the real card, DMA through the IOMMU): 0');
  const table = page.getByTestId('io-ways-table');
  const mmio = (await table.getByRole('row', { name: /MMIO \(EPT violation or NPF\)/ }).locator('td').allTextContents()).map((x) => Number(x.replace(/,/g, '')));
  expect(mmio[0]).toBe(12 + 2 * 16);
  expect(mmio.slice(1)).toEqual([0, 0]);
  await expect(run).toHaveText('Compare again');
  await expect(page.getByTestId('step-counter').last()).toHaveText(before ?? '');
  await axeClean(page);
  expect(bad).toEqual([]);
});

test('the three ways under AMD-V, in Chinese', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, 'zh-CN', 'dma-attack-amdvi');
  await expect(page.getByTestId('io-ways')).toContainText('AMD-Vi');
  await page.getByTestId('io-ways-run').click();
  await expect(page.getByTestId('io-ways-same')).toContainText('每种方式都把同样的 16 个帧逐字节送到了客户机。', { timeout: 30_000 });
  await expect(page.getByTestId('io-ways-exits').locator('li').nth(1)).toHaveText('半虚拟化（virtio-net，每批一次通知）：0.25');
  await expect(page.getByTestId('io-ways-table')).toContainText('网卡以 DMA 搬运的字节数');
  await axeClean(page);
  expect(bad).toEqual([]);
});

test('compare the interrupt deliveries from the keyboard: the posted interrupt adds no exit (English)', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, 'en', 'nic-interrupts');
  const run = page.getByTestId('io-irq-run');
  await run.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('io-irq-same')).toContainText('Every way delivered the same 8 frames, and the handler took one interrupt per frame.', { timeout: 30_000 });
  await expect(page.getByTestId('io-irq-extra').locator('li')).toHaveText([
    'Emulated card, injected by the hypervisor: 2.625',
    'Assigned card, remapped to a host vector, then injected: 2',
    'Assigned card, posted interrupt: 0',
  ]);
  const table = page.getByTestId('io-irq-table');
  const row = async (name: RegExp): Promise<string[]> => table.getByRole('row', { name }).locator('td').allTextContents();
  expect(await row(/EOIs \(WRMSR to the x2APIC EOI register\)/)).toEqual(['1', '1', '0']);
  expect(await row(/External interrupts/)).toEqual(['0', '1', '0']);
  await axeClean(page);
  expect(bad).toEqual([]);
});

test('the interrupt deliveries under AMD-V, in Chinese: no posted way', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, 'zh-CN', 'dma-attack-amdvi');
  await expect(page.getByTestId('io-irq')).toContainText('AMD-Vi');
  await page.getByTestId('io-irq-run').click();
  await expect(page.getByTestId('io-irq-same')).toContainText('每种方式都送到了同样的 8 个帧，处理程序每帧处理一次中断。', { timeout: 30_000 });
  await expect(page.getByTestId('io-irq-exits').locator('li')).toHaveCount(2);
  await expect(page.getByTestId('io-irq-table')).toContainText('EOI（WRMSR 写 x2APIC EOI 寄存器）');
  await axeClean(page);
  expect(bad).toEqual([]);
});

test('a disk three ways (disk-three-ways): per block, the emulated controller 4 exits, virtio-blk 1 per 4 blocks, the assigned one none', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, 'en', 'disk-three-ways');
  await expect(page.getByTestId('io-ways')).toContainText('Three ways to give a VM a disk');
  await expect(page.getByTestId('io-irq')).toHaveCount(0); // the interrupt comparison is the network card's
  await page.getByTestId('io-ways-run').click();
  await expect(page.getByTestId('io-ways-same')).toContainText('Every way read back the same 16 blocks the guest wrote, byte for byte.', { timeout: 30_000 });
  await expect(page.getByTestId('io-ways-exits').locator('li')).toHaveText([
    'Emulated (NVMe-shaped controller, MMIO exits): 4',
    'Paravirtual (virtio-blk, one notification per batch): 0.25',
    'Assigned (the real controller, DMA through the IOMMU): 0',
  ]);
  await axeClean(page);
  expect(bad).toEqual([]);
});
