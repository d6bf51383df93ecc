/**
 * The shadow view in the lab, on the examples `shadow-paging-vtx` and `shadow-paging-svm` (the
 * memory workload with nested paging off), in English and Chinese: the first step's hidden fault
 * and the filled entry composing to the HPA the shadow holds, a step without shadow work showing
 * the last before it, the true fault reflected, the emulated page-table write; axe-clean. Then the
 * TLB view's tag column: present on two-vms (VPID-tagged entries), absent on a bare scenario.
 */
import { expect, test } from '@playwright/test';
import { SCENARIOS } from '../../src/views/shell/url.ts';
import { axeClean, noErrors } from './page-checks.ts';

const TEXT = {
  en: {
    title: 'Shadow page table',
    fresh: 'Shadow work of this step (the exits at step 0).',
    stale: 'This step did no shadow work; the last, at step 1:',
    filled: 'Just filled',
    agrees: 'what the shadow entry holds',
    trueFault: 'True page fault at 0x40100000 (error code 0x6)',
    emulated: 'Read-only: this page holds guest page tables',
    emulatedRec: 'Emulated the guest’s write to its page table at guest-physical 0x00013000: one entry changed.',
    hidden: 'Hidden faults',
  },
  'zh-CN': {
    title: '影子页表',
    fresh: '本步的影子页表操作（第 0 步的 VM 退出）。',
    stale: '本步没有影子页表操作；最近一次在第 1 步：',
    filled: '刚刚填入',
    agrees: '正是影子表项中的值',
    trueFault: '0x40100000 处的真实缺页异常（错误码 0x6）',
    emulated: '只读：这一页存放客户机页表',
    emulatedRec: '模拟了客户机对其页表（客户机物理地址 0x00013000）的写入：1 个表项被修改。',
    hidden: '隐藏缺页异常',
  },
} as const;

for (const id of ['shadow-paging-vtx', 'shadow-paging-svm'] as const) {
  for (const lang of ['en', 'zh-CN'] as const) {
    test(`${id} (${lang}): the fill, the last work before a quiet step, a true fault, an emulated page-table write`, async ({ page }) => {
      test.setTimeout(90_000);
      expect(SCENARIOS as readonly string[]).toContain(id);
      const tx = TEXT[lang];
      const bad = noErrors(page);

      await page.goto(`/?lang=${lang}&scenario=${id}&step=1`);
      const view = page.getByTestId('shadow-view');
      await expect(view).toBeVisible();
      await expect(view).toContainText(tx.title);
      await expect(page.getByTestId('shadow-when')).toHaveText(tx.fresh);
      await expect(page.getByTestId('shadow-mark')).toContainText(tx.filled);
      await expect(page.getByTestId('shadow-mark')).toHaveAttribute('data-op', 'fill');
      await expect(page.getByTestId('shadow-compose')).toHaveAttribute('data-agrees', '1');
      await expect(page.getByTestId('shadow-agrees')).toContainText(tx.agrees);
      await expect(page.getByTestId('shadow-compose')).toContainText('0x00100000');
      // The guest's walk of the kernel's 2-MiB page: three entries, the PDE its leaf.
      await expect(page.getByTestId('shadow-guest').locator('tbody tr')).toHaveCount(3);
      await expect(page.getByTestId('shadow-entry')).toContainText('0x00100000');
      await expect(page.getByTestId('shadow-stats').locator('[data-counter="hiddenFaults"]')).toContainText(tx.hidden);
      await axeClean(page, '[data-testid="shadow-view"]');

      await page.goto(`/?lang=${lang}&scenario=${id}&step=5`);
      await expect(page.getByTestId('shadow-when')).toHaveText(tx.stale);

      await page.goto(`/?lang=${lang}&scenario=${id}&step=10`);
      await expect(page.getByTestId('shadow-records').locator('li[data-op="true-fault"]')).toContainText(tx.trueFault);

      await page.goto(`/?lang=${lang}&scenario=${id}&step=32`);
      await expect(page.getByTestId('shadow-mark')).toHaveAttribute('data-op', 'emulated-write');
      await expect(page.getByTestId('shadow-mark')).toContainText(tx.emulated);
      await expect(page.getByTestId('shadow-records').locator('li[data-op="emulated-write"]')).toHaveText(tx.emulatedRec);
      await expect(page.getByTestId('shadow-entry')).toContainText('R');
      await axeClean(page, '[data-testid="shadow-view"]');
      expect(bad).toEqual([]);
    });
  }
}

test('the TLB view shows VPID tags on two-vms, and no tag column on a bare scenario', async ({ page }) => {
  test.setTimeout(60_000);
  const bad = noErrors(page);
  await page.goto('/?lang=en&scenario=two-vms&step=60');
  const tlb = page.getByTestId('tlb-view');
  await expect(tlb.getByTestId('tlb-tag-head')).toHaveText('VPID');
  await expect(tlb.locator('td[data-tag]').first()).toBeVisible();
  const tagged = tlb.locator('td[data-tag]:not([data-tag="0"])');
  await expect(tagged.first()).toHaveText(/^VPID [1-9]/);
  await axeClean(page, '[data-testid="tlb-view"]');
  await page.goto('/?lang=zh-CN&scenario=syscalls&step=20');
  await expect(page.getByTestId('tlb-view')).toBeVisible();
  await expect(page.getByTestId('tlb-view').locator('tbody tr').first()).toBeVisible();
  await expect(page.getByTestId('tlb-tag-head')).toHaveCount(0);
  expect(bad).toEqual([]);
});
