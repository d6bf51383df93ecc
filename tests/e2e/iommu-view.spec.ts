/**
 * The IOMMU view and the device ring view in the lab, on issue 8's examples, in English and
 * Chinese, from the keyboard: dma-attack-vtd's blocked read (its path from the device through the
 * context entry to the second-level entry that is not present, "blocked" with an icon, the fault
 * record with reason 6 and SID 00:08.0), the same under AMD-Vi (an IO_PAGE_FAULT event), the
 * unprotected dma-attack (no IOMMU: the read lands in the victim's RAM), nic-two-ways (the
 * assigned card through domain 2 into VM 1's RAM, the emulated card's copy made by the
 * hypervisor), the walk played box by box unless motion is reduced; the rings; axe-clean; the
 * view in embed mode once; sriov-two-vms (two VFs of one card, each its own host BDF, requester ID
 * and domain; two cards' rings as distinct regions).
 */
import { expect, test, type Page } from '@playwright/test';
import { SCENARIOS } from '../../src/views/shell/url.ts';
import { axeClean, noErrors } from './page-checks.ts';

/** The step after the one whose NIC register write made the attacker's last frame's DMA (io-view.test.ts finds the same by runUntil). */
const ATTACK_STEP = 10518;
/** nic-two-ways: after the assigned card's (VM 1) first transmit, and after the emulated card's (VM 0). */
const ASSIGNED_STEP = 2991;
const EMULATED_STEP = 991;

const TEXT = {
  en: {
    title: 'IOMMU: a device’s DMA',
    fresh: `DMA requests of this step (made at step ${ATTACK_STEP - 1}).`,
    notPresent: 'not present',
    stops: 'the walk stops here',
    blocked: 'Blocked',
    fr: '6: read not permitted',
    vtd: 'Intel VT-d',
    noIommu: 'No IOMMU: the address is used as host-physical.',
    copy: 'the hypervisor’s processor copies',
    rings: 'Descriptor rings',
    last: 'last DMA',
    device: 'device',
    pos: (n: number, total: number) => `Step ${n} of ${total}`,
  },
  'zh-CN': {
    title: 'IOMMU：设备的 DMA',
    fresh: `本步的 DMA 请求（在第 ${ATTACK_STEP - 1} 步发出）。`,
    notPresent: '不存在',
    stops: '遍历在此停止',
    blocked: '被阻止',
    fr: '6: 不允许读',
    vtd: 'Intel VT-d',
    noIommu: '没有 IOMMU：该地址直接用作宿主机物理地址。',
    copy: '由虚拟机监控器的处理器自己复制',
    rings: '描述符环',
    last: '最近一次 DMA',
    device: '设备',
    pos: (n: number, total: number) => `第 ${n} 步，共 ${total} 步`,
  },
} as const;

/** Presses a key on a control reached by focus (no pointer). */
async function press(page: Page, testId: string, key = 'Enter'): Promise<void> {
  await page.getByTestId(testId).focus();
  await page.keyboard.press(key);
}

for (const lang of ['en', 'zh-CN'] as const) {
  test(`dma-attack-vtd (${lang}): the blocked read's walk, its fault record, the rings, from the keyboard`, async ({ page }) => {
    test.setTimeout(120_000);
    expect(SCENARIOS as readonly string[]).toContain('dma-attack-vtd');
    const tx = TEXT[lang];
    const bad = noErrors(page);
    await page.emulateMedia({ reducedMotion: 'reduce' });
    await page.goto(`/?lang=${lang}&scenario=dma-attack-vtd&step=${ATTACK_STEP}`);
    const view = page.getByTestId('iommu-view');
    await expect(view).toBeVisible({ timeout: 60_000 });
    await expect(view).toContainText(tx.title);
    await expect(page.getByTestId('iommu-unit')).toHaveAttribute('data-iommu', 'vtd');
    await expect(page.getByTestId('iommu-unit')).toContainText(tx.vtd);
    await expect(page.getByTestId('iommu-when')).toHaveText(tx.fresh);
    // The blocked request is the one shown; with reduced motion its whole path at once.
    const path = page.getByTestId('iommu-path');
    await expect(path.locator('li')).toHaveCount(7);
    await expect(path).toHaveAttribute('data-pos', '7');
    await expect(path.locator('li').nth(1)).toHaveAttribute('data-kind', 'root-entry');
    await expect(path.locator('li').nth(2)).toHaveAttribute('data-kind', 'context-entry');
    const faultBox = path.locator('li[data-decision="fault"]');
    await expect(faultBox).toContainText(tx.notPresent);
    await expect(faultBox).toContainText(tx.stops);
    await expect(page.getByTestId('iommu-blocked')).toHaveText(`⊘ ${tx.blocked}`);
    await expect(page.getByTestId('iommu-record')).toHaveAttribute('data-vendor', 'vtd');
    await expect(page.getByTestId('iommu-fr')).toHaveText(tx.fr.replace(': ', lang === 'en' ? ': ' : ': '));
    await expect(page.getByTestId('iommu-sid')).toHaveText('00:08.0');

    // Back through the walk from the keyboard: the current box moves and is marked for assistive technology.
    await press(page, 'iommu-prev');
    await expect(path).toHaveAttribute('data-pos', '6');
    await expect(page.getByTestId('iommu-pos')).toHaveText(tx.pos(6, 7));
    await expect(path.locator('li[aria-current="step"]')).toHaveAttribute('data-decision', 'fault');
    await press(page, 'iommu-prev');
    await expect(path.locator('li[aria-current="step"]')).toHaveAttribute('data-decision', 'next');
    await expect(path.locator('li[aria-current="step"]')).toHaveAttribute('data-kind', 'page-table-entry');
    await press(page, 'iommu-all');
    await expect(path).toHaveAttribute('data-pos', '7');
    await expect(path.locator('li[aria-current="step"]')).toHaveAttribute('data-kind', 'blocked');

    const rings = page.getByTestId('device-rings');
    await expect(rings).toContainText(tx.rings);
    await expect(rings.locator('tr[data-last="1"]')).toHaveCount(1);
    await expect(rings.locator('tr[data-last="1"]')).toContainText(tx.last);
    await expect(rings.locator('tr[data-owner="device"]').first()).toContainText(tx.device);
    await axeClean(page, '[data-testid="iommu-view"]', '[data-testid="device-rings"]');
    expect(bad).toEqual([]);
  });
}

test('dma-attack-amdvi (en): the same read is an IO_PAGE_FAULT event', async ({ page }) => {
  test.setTimeout(120_000);
  const bad = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto(`/?lang=en&scenario=dma-attack-amdvi&step=${ATTACK_STEP}`);
  await expect(page.getByTestId('iommu-record')).toHaveAttribute('data-vendor', 'amd-vi', { timeout: 60_000 });
  await expect(page.getByTestId('iommu-event')).toHaveText('IO_PAGE_FAULT (2)');
  await expect(page.getByTestId('iommu-path').locator('li').nth(1)).toHaveAttribute('data-kind', 'device-table-entry');
  await expect(page.getByTestId('iommu-path').locator('li').nth(1)).toContainText('DomainID');
  await expect(page.getByTestId('iommu-blocked')).toBeVisible();
  expect(bad).toEqual([]);
});

test('dma-attack (zh-CN): with no IOMMU the stolen read lands in the victim’s RAM', async ({ page }) => {
  test.setTimeout(120_000);
  const tx = TEXT['zh-CN'];
  const bad = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto(`/?lang=zh-CN&scenario=dma-attack&step=${ATTACK_STEP}`);
  await expect(page.getByTestId('iommu-unit')).toHaveAttribute('data-iommu', 'none', { timeout: 60_000 });
  // The view opens on the request that left the attacker's memory: the read of the victim's page (host-physical 0xb00000).
  const req = page.getByTestId('iommu-requests').getByRole('button').filter({ hasText: '0xb00000' });
  await expect(req).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('iommu-strayed')).toContainText('不是虚拟机 0 自己的内存');
  // Another request from the keyboard, and back: the attacker's own descriptor stays in its own RAM.
  await page.getByTestId('iommu-requests').getByRole('button').first().focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('iommu-owner')).toHaveAttribute('data-owner', 'vm0');
  await expect(page.getByTestId('iommu-strayed')).toHaveCount(0);
  await req.focus();
  await page.keyboard.press('Enter');
  await expect(req).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('iommu-direct')).toHaveText(tx.noIommu);
  await expect(page.getByTestId('iommu-owner')).toHaveAttribute('data-owner', 'vm1');
  await expect(page.getByTestId('iommu-owner')).toContainText('victim');
  await expect(page.getByTestId('iommu-blocked')).toHaveCount(0);
  await axeClean(page, '[data-testid="iommu-view"]');
  expect(bad).toEqual([]);
});

test('nic-two-ways (en): the assigned card through domain 2 into VM 1’s RAM, played box by box; the emulated card’s copy by the hypervisor', async ({ page }) => {
  test.setTimeout(120_000);
  const tx = TEXT.en;
  const bad = noErrors(page);
  await page.goto(`/?lang=en&scenario=nic-two-ways&step=${ASSIGNED_STEP}`);
  const path = page.getByTestId('iommu-path');
  await expect(path).toBeVisible({ timeout: 60_000 });
  // The step's last request found its translation in the IOTLB: device, root and context entries (cached), IOTLB, memory.
  await expect(path).toHaveAttribute('data-total', '5');
  await expect(path.locator('li[data-kind="iotlb"]')).toBeVisible();
  await expect(path).toHaveAttribute('data-pos', '5', { timeout: 15_000 });
  // The first one walked all four levels. Chosen from the keyboard, it plays from the device to memory on its own (motion allowed).
  await page.getByTestId('iommu-requests').getByRole('button').first().focus();
  await page.keyboard.press('Enter');
  await expect(path).toHaveAttribute('data-total', '8');
  await expect(path).not.toHaveAttribute('data-pos', '8');
  await expect(path).toHaveAttribute('data-pos', '8', { timeout: 15_000 });
  await expect(path.locator('li[data-kind="page-table-entry"]')).toHaveCount(4);
  await expect(page.getByTestId('iommu-play')).toHaveAttribute('aria-pressed', 'false');
  await expect(page.getByTestId('iommu-owner')).toHaveAttribute('data-owner', 'vm1');
  await expect(path.locator('li[data-kind="memory"]')).toContainText('domain 2');
  await expect(page.getByTestId('iommu-devices').locator('tr[data-way="assigned"]')).toContainText('00:09.0');
  await press(page, 'iommu-play');
  await expect(page.getByTestId('iommu-play')).toHaveAttribute('aria-pressed', 'true');
  await expect(path).toHaveAttribute('data-pos', '8', { timeout: 15_000 });

  await page.goto(`/?lang=en&scenario=nic-two-ways&step=${EMULATED_STEP}`);
  await expect(page.getByTestId('iommu-direct')).toContainText(tx.copy, { timeout: 60_000 });
  await expect(page.getByTestId('iommu-owner')).toHaveAttribute('data-owner', 'vm0');
  await axeClean(page, '[data-testid="iommu-view"]', '[data-testid="device-rings"]');
  expect(bad).toEqual([]);
});

test('embed mode: the IOMMU view below the diagram and the code', async ({ page }) => {
  test.setTimeout(120_000);
  const bad = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto(`/?embed=1&lang=en&scenario=dma-attack-vtd&step=${ATTACK_STEP}`);
  await expect(page.getByTestId('iommu-view')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('iommu-blocked')).toBeVisible();
  await expect(page.getByTestId('iommu-sid')).toHaveText('00:08.0');
  await axeClean(page, '[data-testid="iommu-view"]');
  expect(bad).toEqual([]);
});

test('sriov-two-vms (zh-CN): its name in the scenario menu, picked there; each VM\u2019s VF of the one card by its own host BDF, requester ID and domain', async ({ page }) => {
  test.setTimeout(120_000);
  const bad = noErrors(page);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lang=zh-CN&scenario=nic-two-ways&step=3000');
  await expect(page.getByTestId('iommu-view')).toBeVisible({ timeout: 60_000 });
  const picker = page.getByTestId('scenario-picker');
  await expect(picker.locator('option[value="sriov-two-vms"]')).toHaveText('一块 SR-IOV 网卡，每台虚拟机一个虚拟功能（VT-d）');
  await picker.focus();
  await picker.selectOption('sriov-two-vms');
  await expect(page).toHaveURL(/scenario=sriov-two-vms/, { timeout: 60_000 });
  await page.goto('/?lang=zh-CN&scenario=sriov-two-vms&step=20000');
  const rows = page.getByTestId('iommu-devices').locator('tbody tr[data-way="assigned"]');
  await expect(rows).toHaveCount(2, { timeout: 60_000 });
  // Host BDF, requester ID and domain of each VF: 00:10.1 in domain 1, 00:10.2 in domain 2; nothing blocked.
  for (const [i, bdf] of ['00:10.1', '00:10.2'].entries()) {
    const cells = rows.nth(i).locator('td');
    await expect(cells.nth(2)).toHaveText(bdf);
    await expect(cells.nth(3)).toHaveText(bdf);
    await expect(cells.nth(4)).toHaveText(String(i + 1));
    await expect(cells.nth(6)).toHaveText('0');
  }
  await axeClean(page, '[data-testid="iommu-view"]', '[data-testid="device-rings"]');
  expect(bad).toEqual([]);
});

test('disk-three-ways: run to the DMA requests by keyboard; the assigned disk controller\u2019s read through VT-d domain 3; the ring view draws the NVMe queues and the virtio-blk request queue', async ({ page }) => {
  test.setTimeout(90_000);
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lang=en&scenario=disk-three-ways');
  await expect(page.getByTestId('narration')).toBeVisible();
  await page.getByTestId('run-kind').selectOption('iommu/dma');
  const box = page.getByTestId('iommu-view');
  for (let i = 0; i < 40 && !(await box.textContent())?.includes('the disk controller of VM 2'); i++) {
    const before = await page.getByTestId('step-counter').first().textContent();
    await page.getByTestId('run-to').focus();
    await page.keyboard.press('Enter');
    await expect(page.getByTestId('step-counter').first()).not.toHaveText(before ?? '');
  }
  await expect(box).toContainText('the disk controller of VM 2');
  await expect(box).toContainText('domain 3');
  const rings = page.getByTestId('device-rings');
  await expect(rings.locator('[data-vm="2"] [data-ring="sq0"]')).toContainText('Admin submission queue');
  await expect(rings.locator('[data-vm="2"] [data-ring="sq0"]')).toContainText('Create I/O completion queue');
  await expect(rings.locator('[data-vm="1"] [data-ring="requestq"]')).toContainText('Request queue (requestq)');
  await axeClean(page, '[data-testid="iommu-view"]', '[data-testid="device-rings"]');
});
