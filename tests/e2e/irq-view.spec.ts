/**
 * Device interrupts on the lab screen (issue 8 item 4), from the keyboard: on nic-interrupts
 * (English) "run to next device interrupt" stops at the emulated card's MSI (to its VM's local
 * APIC) and then at the assigned card's (VT-d's interrupt remapping entry 1 → host vector 0x61,
 * the guest exits, 0x41 injected): the narration says so, the timeline's interrupt lane marks it
 * with its own shape, and the IOMMU view lights its path box by box (device → IRTE with its fields
 * → the CPU's local APIC); on nic-interrupts-posted (Chinese) the path ends in vCPU 0's
 * posted-interrupt descriptor (PIR bit, ON, notification vector) and the narration says there is
 * no VM exit. Axe finds nothing.
 */
import { expect, test, type Page } from '@playwright/test';
import { SCENARIOS } from '../../src/views/shell/url.ts';
import { tabTo } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const counter = (page: Page) => page.getByTestId('step-counter').first();
const narration = (page: Page) => page.getByTestId('narration');
const track = (page: Page) => page.getByTestId('timeline-track');

/** Chooses "device interrupt" in the run-to list with the keyboard (the last kind, before "breakpoint"), then focuses "Run to next". */
async function chooseMsi(page: Page): Promise<void> {
  const kind = page.getByTestId('run-kind');
  await tabTo({ page, root: page }, kind);
  await page.keyboard.press('End');
  await page.keyboard.press('ArrowUp');
  await expect(kind).toHaveValue('iommu/msi');
  await tabTo({ page, root: page }, page.getByTestId('run-to'));
}

/** Presses Enter on the focused "Run to next" and waits for the step to move. */
async function runOnce(page: Page): Promise<void> {
  const before = await counter(page).innerText();
  await expect(page.getByTestId('run-to')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(counter(page)).not.toHaveText(before);
  await expect(page.getByTestId('timeline-view')).toHaveAttribute('data-current', 'true');
}

/** Presses a key on a control reached by focus (no pointer). */
async function press(page: Page, testId: string, key = 'Enter'): Promise<void> {
  await page.getByTestId(testId).focus();
  await page.keyboard.press(key);
}

test('nic-interrupts (en): run to each interrupt message; the narration, the interrupt lane, and the remapped MSI’s path in the IOMMU view', async ({ page }) => {
  test.setTimeout(120_000);
  expect(SCENARIOS as readonly string[]).toContain('nic-interrupts');
  const bad = noErrors(page);
  await page.goto('/?scenario=nic-interrupts');
  await expect(counter(page)).toHaveText(/^Step 0 of/);
  await chooseMsi(page);

  await runOnce(page);
  await expect(narration(page)).toContainText('The emulated network card of VM 0 (emulated) sent its MSI to the VM’s virtual local APIC: the hypervisor injects 0x41 at the next VM entry.');
  const msi = page.getByTestId('iommu-msi');
  await expect(page.getByTestId('iommu-msi-when')).toHaveAttribute('data-fresh', '1');
  const path = page.getByTestId('msi-path');
  await expect(path).toHaveAttribute('data-outcome', 'direct');
  await expect(path.locator('li').nth(1)).toHaveAttribute('data-kind', 'lapic');

  await page.getByTestId('run-to').focus();
  await runOnce(page);
  await expect(narration(page)).toContainText(
    'The assigned network card of VM 1 (assigned) sent its MSI; VT-d’s interrupt remapping entry 1 sent host vector 0x61 to the CPU: the guest exits and the hypervisor injects 0x41.',
  );
  // The lane and its marks: a bolt, not the DMA arrow.
  await expect(track(page).locator('g.lane[data-lane="iommu/msi"]')).toContainText('Interrupt messages (2)');
  const marks = track(page).locator('g.mark[data-kind="iommu/msi"]');
  await expect(marks).toHaveCount(2);
  await expect(marks.last()).toHaveClass(/\bat\b/);
  const dmaShape = await track(page).locator('g.mark[data-kind="iommu/dma"]').first().locator('path.shape').getAttribute('d');
  expect(await marks.last().locator('path.shape').getAttribute('d')).not.toBe(dmaShape);
  await expect(page.getByTestId('timeline-summary')).toContainText('2 interrupt messages');

  // The path, played box by box from the device (motion not reduced here): device → IRTE 1 → the CPU.
  await expect(path).toHaveAttribute('data-outcome', 'remapped');
  await expect(path.locator('li')).toHaveCount(3);
  await expect(path).toHaveAttribute('data-pos', '3', { timeout: 5000 });
  await expect(path.locator('li').nth(1)).toHaveAttribute('data-kind', 'irte');
  const irte = path.locator('li').nth(1);
  await expect(irte).toContainText('Interrupt remapping entry 1');
  await expect(irte.getByTestId('msi-irte-format')).toHaveText('remapped format (IM 0)');
  await expect(irte).toContainText('Vector0x61');
  await expect(irte.getByTestId('msi-sid')).toHaveAttribute('data-check', 'passed');
  await expect(irte.getByTestId('msi-sid')).toContainText('source ID check: requester 00:09.0 matches');
  await expect(path.getByTestId('msi-cpu')).toHaveText('vector 0x61 to APIC ID 0');
  await expect(path.getByTestId('msi-inject')).toHaveText('The guest exits to the hypervisor, which injects vector 0x41 into VM 1.');
  await expect(msi.getByTestId('iommu-msi-list').locator('button[aria-pressed="true"]')).toContainText('remapped');

  // From the keyboard: back one box, then all.
  await press(page, 'msi-prev');
  await expect(path).toHaveAttribute('data-pos', '2');
  await expect(path.locator('li[aria-current="step"]')).toHaveAttribute('data-kind', 'irte');
  await press(page, 'msi-all');
  await expect(path).toHaveAttribute('data-pos', '3');
  await expect(page.getByTestId('msi-pos')).toHaveText('Step 3 of 3');

  await axeClean(page, '[data-testid="iommu-view"]', '[data-testid="timeline-view"]', '[data-testid="narration"]');
  expect(bad).toEqual([]);
});

test('nic-interrupts-posted (zh-CN): the posted MSI in Chinese: no VM exit, the path ends in vCPU 0’s descriptor', async ({ page }) => {
  test.setTimeout(120_000);
  const bad = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lang=zh-CN&scenario=nic-interrupts-posted');
  await expect(counter(page)).toHaveText(/^第 0 步/);
  await chooseMsi(page);
  await runOnce(page);
  await page.getByTestId('run-to').focus();
  await runOnce(page);
  await expect(narration(page)).toContainText(
    '虚拟机 1（assigned）的直通网卡发出 MSI；VT-d 的中断重映射表项 1 以中断投递方式把向量 0x41 记入 vCPU 0 的描述符，并发出通知向量 0xf2，不引起 VM 退出。',
  );
  await expect(track(page).locator('g.lane[data-lane="iommu/msi"]')).toContainText('中断消息');
  const path = page.getByTestId('msi-path');
  await expect(path).toHaveAttribute('data-outcome', 'posted');
  // Reduced motion: the whole path at once.
  await expect(path).toHaveAttribute('data-pos', '3');
  await expect(path.locator('li').nth(1)).toContainText('中断重映射表项 1');
  await expect(path.getByTestId('msi-irte-format')).toHaveText('投递格式（IM 1）');
  await expect(path.locator('li').nth(2)).toHaveAttribute('data-kind', 'posted');
  await expect(path.getByTestId('msi-posted')).toHaveText('IOMMU 置位 PIR 第 0x41 位和 ON，并发出通知向量 0xf2：处理器把该向量移入客户机的虚拟 APIC，不引起 VM 退出。');
  await expect(page.getByTestId('iommu-msi')).toContainText('中断消息（MSI）');
  await press(page, 'msi-prev');
  await expect(path).toHaveAttribute('data-pos', '2');
  await press(page, 'msi-play');
  await expect(path).toHaveAttribute('data-pos', '3', { timeout: 5000 });

  await axeClean(page, '[data-testid="iommu-view"]', '[data-testid="narration"]');
  expect(bad).toEqual([]);
});

test('nic-interrupts-amdvi (en): the assigned card\u2019s MSI through AMD-Vi: device → its DTE (from the cache) → IRTE 0 → host vector 0x61 at the CPU', async ({ page }) => {
  test.setTimeout(120_000);
  const bad = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?scenario=nic-interrupts-amdvi');
  await expect(counter(page)).toHaveText(/^Step 0 of/);
  await chooseMsi(page);
  await runOnce(page);
  await page.getByTestId('run-to').focus();
  await runOnce(page);
  await expect(narration(page)).toContainText('The assigned network card of VM 1 (assigned) sent its MSI');
  await expect(narration(page)).toContainText('AMD-Vi');
  const path = page.getByTestId('msi-path');
  await expect(path).toHaveAttribute('data-outcome', 'remapped');
  // The DTE came from the unit's cache (the card's DMA read it first): shown as the table holds it, marked so.
  const dte = path.locator('li').nth(1);
  await expect(dte).toHaveAttribute('data-kind', 'device-table-entry');
  await expect(dte).toContainText('IntCtl2');
  await expect(path.locator('li').nth(2)).toHaveAttribute('data-kind', 'irte');
  await expect(path.locator('li').nth(2)).toContainText('Vector0x61');
  await expect(path.getByTestId('msi-cpu')).toHaveText('vector 0x61 to APIC ID 0');
  await axeClean(page, '[data-testid="iommu-view"]', '[data-testid="narration"]');
  expect(bad).toEqual([]);
});
