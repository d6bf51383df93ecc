/**
 * DMA on the lab screen (issue 8), on the example `dma-attack-vtd` (a hostile driver's card,
 * assigned to VM 0, whose last frame points at the other VM's secret; VT-d blocks it): "run to
 * next DMA request" from the keyboard stops at each doorbell, the narration says what the card
 * did and what VT-d decided, the timeline's DMA lane marks the blocked read by its shape, the
 * summary and the list say so; once in Chinese; axe finds nothing.
 */
import { expect, test, type Page } from '@playwright/test';
import { SCENARIOS } from '../../src/views/shell/url.ts';
import { tabTo } from './lesson-helpers.ts';
import { axeClean, noErrors } from './page-checks.ts';

const counter = (page: Page) => page.getByTestId('step-counter').first();
const narration = (page: Page) => page.getByTestId('narration');
const track = (page: Page) => page.getByTestId('timeline-track');
const dmaMarks = (page: Page) => track(page).locator('g.mark[data-kind="iommu/dma"]');

/** Chooses "DMA request" in the run-to list with the keyboard (before "interrupt message" and "breakpoint", the last two). */
async function chooseDma(page: Page): Promise<void> {
  const kind = page.getByTestId('run-kind');
  await tabTo({ page, root: page }, kind);
  await page.keyboard.press('End');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp');
  await expect(kind).toHaveValue('iommu/dma');
}

/** Presses Enter on the focused "Run to next" and waits for the step to move. */
async function runOnce(page: Page): Promise<void> {
  const before = await counter(page).innerText();
  await page.keyboard.press('Enter');
  await expect(counter(page)).not.toHaveText(before);
  await expect(page.getByTestId('timeline-view')).toHaveAttribute('data-current', 'true');
}

test('dma-attack-vtd (en): run to each DMA request by keyboard; the narration tells the translation, then the blocked read; the lane marks it by shape', async ({ page }) => {
  test.setTimeout(120_000);
  expect(SCENARIOS as readonly string[]).toContain('dma-attack-vtd');
  const bad = noErrors(page);
  await page.goto('/?scenario=dma-attack-vtd');
  await expect(counter(page)).toHaveText(/^Step 0 of/);
  await chooseDma(page);
  await tabTo({ page, root: page }, page.getByTestId('run-to'));

  await runOnce(page);
  await expect(narration(page)).toContainText(
    /The assigned network card of VM 0 \(attacker\) read \d+ bytes of data at 0x[0-9a-f]+: VT-d translated it in domain 1 to host 0x[0-9a-f]+\. The step made \d+ DMA requests in all\./,
  );
  await expect(track(page).locator('g.lane[data-lane="iommu/dma"]')).toContainText(/DMA requests \(\d+\)/);
  await expect(dmaMarks(page).first()).not.toHaveAttribute('data-blocked', 'true');

  const blockedSay = /The assigned network card of VM 0 \(attacker\) tried to read 355 bytes of data at 0xb00000 and was blocked: VT-d fault reason 6 \(PTE Read access is not set\), recorded in a fault-recording register\./;
  let stops = 1;
  while (!blockedSay.test(await narration(page).innerText())) {
    expect(stops, 'the blocked read comes within a few doorbells').toBeLessThan(8);
    await expect(page.getByTestId('run-to')).toBeFocused();
    await runOnce(page);
    stops++;
  }
  expect(stops).toBeGreaterThan(1);

  // The blocked request: its own mark (a shaft stopped at a wall, not the arrow), in the lane and the list.
  const blocked = track(page).locator('g.mark[data-kind="iommu/dma"][data-blocked="true"]');
  await expect(blocked).toHaveCount(1);
  const madeShape = await dmaMarks(page).first().locator('path.shape').getAttribute('d');
  const blockedShape = await blocked.locator('path.shape').getAttribute('d');
  expect(blockedShape).not.toBe(madeShape);
  expect((blockedShape ?? '').match(/M/g)).toHaveLength(2);
  await expect(blocked).toHaveClass(/\bat\b/);
  await expect(page.getByTestId('timeline-summary')).toContainText(/\d+ DMA requests \(1 of them blocked\)/);
  await page.getByTestId('timeline-list').locator('summary').click();
  const row = page.getByTestId('timeline-list').locator('tr[data-blocked="true"]');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('VM 0’s assigned device read 355 bytes at 0xb00000 (data buffer): blocked, VT-d fault reason 6');
  await expect(row).toHaveAttribute('aria-current', 'step');

  await axeClean(page, '[data-testid="timeline-view"]', '[data-testid="narration"]');
  expect(bad).toEqual([]);
});

test('dma-attack-vtd (zh-CN): the DMA sentence, lane and kind in Chinese', async ({ page }) => {
  test.setTimeout(90_000);
  const bad = noErrors(page);
  await page.goto('/?lang=zh-CN&scenario=dma-attack-vtd');
  await expect(counter(page)).toHaveText(/^第 0 步/);
  await chooseDma(page);
  await tabTo({ page, root: page }, page.getByTestId('run-to'));
  await runOnce(page);
  await expect(narration(page)).toContainText(/虚拟机 0（attacker）的直通网卡从 0x[0-9a-f]+ 读取了 \d+ 字节数据：VT-d 在域 1 中把它翻译为宿主机地址 0x[0-9a-f]+。本步共有 \d+ 次 DMA 请求。/);
  await expect(track(page).locator('g.lane[data-lane="iommu/dma"]')).toContainText(/DMA 请求（\d+）/);
  await expect(page.getByTestId('timeline-summary')).toContainText(/\d+ 次 DMA 请求/);
  await axeClean(page, '[data-testid="timeline-view"]', '[data-testid="narration"]');
  expect(bad).toEqual([]);
});
