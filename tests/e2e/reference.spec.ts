import { expect, test, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

async function openLab(page: Page, query: string): Promise<void> {
  await page.goto(`/?${query}`);
  await expect(page.getByTestId('narration')).toBeVisible();
}

async function axeClean(page: Page): Promise<void> {
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
}

test('the Reference panel opens from the top bar with the keyboard; the glossary search works in both languages', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=en');
  const toggle = page.getByTestId('reference-toggle');
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await toggle.focus();
  await page.keyboard.press('Enter');
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
  const search = page.getByRole('searchbox', { name: 'Search the glossary' });
  await expect(search).toBeVisible();
  const terms = page.getByTestId('glossary-term');
  const total = await terms.count();
  expect(total).toBeGreaterThanOrEqual(40);
  await search.focus();
  await page.keyboard.type('快表');
  await expect(terms).toHaveCount(1);
  await expect(terms.first()).toHaveAttribute('data-term', 'tlb');
  await expect(page.getByTestId('glossary-count')).toHaveText(`1 of ${total} terms`);
  await search.fill('page fault');
  await expect(terms.first()).toHaveAttribute('data-term', 'page-fault');
  await expect(terms.first()).toContainText('缺页异常');
  await expect(terms.first()).toContainText('Common usage');
  await search.fill('no-such-term-xyz');
  await expect(terms).toHaveCount(0);
  await expect(page.getByTestId('glossary-panel')).toContainText('No term matches “no-such-term-xyz”.');
  await page.getByTestId('reference-close').click();
  await expect(page.getByTestId('reference')).toHaveCount(0);
});

test('the sources list every figure with its grade in words, and an address #source-<id> opens the panel at it', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=zh-CN#source-nested-walk-refs');
  const entry = page.locator('#source-nested-walk-refs');
  await expect(entry).toBeVisible();
  await expect(entry).toBeFocused();
  await expect(entry).toContainText('已核实');
  await expect(entry).toContainText('24');
  await expect(entry).toContainText('Bhargava et al. ASPLOS 2008');
  const entries = page.getByTestId('source-entry');
  expect(await entries.count()).toBeGreaterThanOrEqual(10);
  for (const e of await entries.all()) await expect(e.locator('[data-grade]')).toHaveText(/(已核实|部分核实)：/);
  await expect(page.locator('[data-grade="not found"]')).toHaveCount(0);
});

for (const lang of ['en', 'zh-CN'] as const) {
  for (const theme of ['light', 'dark', 'contrast'] as const) {
    test(`the Reference panel (${lang}, ${theme}) has no axe violations`, async ({ page }) => {
      await openLab(page, `scenario=syscalls&lang=${lang}&theme=${theme}`);
      await page.getByTestId('reference-toggle').click();
      await expect(page.getByTestId('sources-panel')).toBeVisible();
      await axeClean(page);
    });
  }
}

test('in presenter mode the bar has no Reference toggle, a #source- address still opens the panel, with no axe violations', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=zh-CN&mode=presenter#source-forkwait');
  await expect(page.getByTestId('reference-toggle')).toHaveCount(0);
  await expect(page.locator('#source-forkwait')).toBeFocused();
  await expect(page.getByTestId('glossary-panel')).toBeVisible();
  await axeClean(page);
});
