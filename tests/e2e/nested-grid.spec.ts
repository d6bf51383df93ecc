/**
 * The nested-walk grid in the lab, on the examples `nested-walk-vtx` and `nested-walk-svm` (the
 * same guest under EPT and NPT), in English and Chinese: the numbered references of a TLB miss's
 * two-dimensional walk, the hit that follows, stepping the references from the keyboard, and
 * "run to" the next EPT violation / #VMEXIT(NPF) and guest page fault; axe-clean.
 *
 * The examples map guest RAM with 4-KByte nested pages (`hypervisor.nestedPageSize: '4k'`), so each
 * nested walk reads four entries and the first touch of a page is the textbook's
 * (4+1)(4+1)−1 = 24 references, every cell of the grid but the data access numbered.
 */
import { expect, test, type Page } from '@playwright/test';
import { SCENARIOS } from '../../src/views/shell/url.ts';
import { axeClean, noErrors } from './page-checks.ts';

const CASES = [
  { id: 'nested-walk-vtx', vendor: 'intel', fault: { en: 'EPT violation here', 'zh-CN': '此处发生 EPT 违例' } },
  { id: 'nested-walk-svm', vendor: 'amd', fault: { en: '#VMEXIT(NPF) here', 'zh-CN': '此处发生 #VMEXIT(NPF)' } },
] as const;

const TEXT = {
  en: {
    title: 'Two-dimensional page walk',
    count: '24 references (4 guest levels × 4 nested levels: (4+1)(4+1)−1)',
    pos: (i: number, n: number) => `Reference ${i} of ${n}`,
    first: 'Reference 1:',
    pf: 'The guest’s own page fault here',
  },
  'zh-CN': {
    title: '二维页表遍历',
    count: '24 次内存引用（4 级客户机页表 × 4 级嵌套页表：(4+1)(4+1)−1）',
    pos: (i: number, n: number) => `第 ${i} 次引用，共 ${n} 次`,
    first: '第 1 次引用：',
    pf: '此处发生客户机自己的缺页异常',
  },
} as const;

async function stepTo(page: Page, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const before = await page.getByTestId('step-counter').last().textContent();
    await page.getByTestId('step-forward').click();
    await expect(page.getByTestId('step-counter').last()).not.toHaveText(before ?? '');
  }
}

for (const c of CASES) {
  for (const lang of ['en', 'zh-CN'] as const) {
    test(`${c.id} (${lang}): the grid of a miss, a hit, the references by keyboard, run to the nested fault and the guest #PF`, async ({ page }) => {
      // Steps, two runs and two axe passes over a page with every VM view: more than the default 30 s on a loaded machine.
      test.setTimeout(90_000);
      expect(SCENARIOS as readonly string[]).toContain(c.id);
      const tx = TEXT[lang];
      const bad = noErrors(page);
      await page.goto(`/?lang=${lang}&scenario=${c.id}`);
      const view = page.getByTestId('nested-walk');
      await expect(view).toBeVisible();
      await expect(view).toContainText(tx.title);
      await expect(page.getByTestId('nested-none')).toBeVisible();

      // Step 2: the first write to PAGE_A missed the TLB.
      await stepTo(page, 2);
      await expect(page.getByTestId('nested-source')).toHaveAttribute('data-source', 'walk');
      const grid = page.getByTestId('nested-grid');
      const cells = grid.locator('td[data-n]');
      await expect(cells).toHaveCount(24);
      await expect(page.getByTestId('nested-count')).toHaveAttribute('data-made', '24');
      await expect(page.getByTestId('nested-count')).toHaveAttribute('data-full', '24');
      await expect(page.getByTestId('nested-count')).toContainText(tx.count);
      // Numbered in the order made, row by row (the A/D re-translations of EPT, if any, sit outside the grid).
      const ns = (await cells.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-n')))));
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
      expect(ns[0]).toBe(1);
      // Nothing cached and no large page in either dimension: no cell is left empty.
      await expect(grid.locator('td[data-why]')).toHaveCount(0);
      await expect(page.getByTestId('nested-saved')).toHaveCount(0);
      // Five rows (PML4E, PDPTE, PDE, PTE, data), each with the guest-physical address it translates.
      await expect(grid.locator('tbody th[scope="row"]')).toHaveCount(5);

      // Keyboard: Home on the reference buttons goes to the first reference, → to the next.
      // Every reference made, the grid's and any outside it, is a row of the list.
      const total = await page.getByTestId('nested-list').locator('tbody tr').count();
      expect(total).toBeGreaterThanOrEqual(24);
      await page.getByTestId('nested-next').focus();
      await page.keyboard.press('Home');
      await expect(page.getByTestId('nested-position')).toHaveText(tx.pos(1, total));
      await expect(page.getByTestId('nested-detail')).toContainText(tx.first);
      await expect(grid.locator('td[aria-current="step"]')).toHaveAttribute('data-n', '1');
      await page.keyboard.press('ArrowRight');
      await expect(page.getByTestId('nested-position')).toHaveText(tx.pos(2, total));
      await expect(grid.locator('td[aria-current="step"]')).toHaveAttribute('data-n', '2');
      await page.keyboard.press('Enter');
      await expect(page.getByTestId('nested-position')).toHaveText(tx.pos(3, total));
      // The keys stepped the references, not the machine.
      await expect(page.getByTestId('nested-source')).toHaveAttribute('data-source', 'walk');
      await axeClean(page);

      // Step 3: the read of the same page hit the TLB; the grid shows the walk a miss would make.
      await stepTo(page, 1);
      await expect(page.getByTestId('nested-source')).toHaveAttribute('data-source', 'tlb');
      await expect(grid.locator('td[data-n]')).toHaveCount(24);

      // Run to the next EPT violation / #VMEXIT(NPF): the MMIO access's walk faults on its final address.
      await page.getByTestId('nested-run-violation').click();
      await expect(page.getByTestId('nested-fault')).toContainText(c.fault[lang]);
      await expect(grid.locator('td.fault')).toHaveCount(1);
      await expect(grid.locator('td.fault')).toContainText(c.fault[lang]);
      // Then the guest's own #PF: its PTE is not present.
      await page.getByTestId('nested-run-pf').click();
      await expect(page.getByTestId('nested-fault')).toContainText(tx.pf);
      await expect(grid.locator('td.fault')).toContainText('⚠');
      // No further #PF: the guest halts, and the grid says so.
      await page.getByTestId('nested-run-pf').click();
      await expect(page.getByTestId('nested-run-message')).not.toHaveText('');
      await axeClean(page);
      expect(bad).toEqual([]);
    });
  }
}

test('presenter mode shows the grid without run controls', async ({ page }) => {
  await page.goto('/?lang=en&scenario=nested-walk-vtx&mode=presenter&step=2');
  await expect(page.getByTestId('nested-grid').locator('td[data-n]')).toHaveCount(24);
  await expect(page.getByTestId('nested-run-violation')).toHaveCount(0);
  await axeClean(page);
});
