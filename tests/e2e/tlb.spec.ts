/**
 * The TLB view on the lab screen (issue 4, item 3): real TLB entries of the syscalls example,
 * the empty state, the counters, Chinese, and axe.
 */
import { expect, test, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

const tlb = (page: Page) => page.getByTestId('tlb-view');
const code = (page: Page) => page.getByTestId('code-view');
/** The user page of the syscalls example (its ring-3 code and data at linear 0x40000000). */
const USER_PAGE = '0000000040000000';

async function open(page: Page, lang = 'en'): Promise<void> {
  await page.goto(`/?scenario=syscalls&lang=${lang}`);
  await expect(code(page).locator('tr[aria-current="true"]')).toHaveCount(1);
}

/** Steps with → until the TLB view has a row for `linear` (at most `max` steps). */
async function stepToEntry(page: Page, linear: string, max = 400): Promise<void> {
  const row = tlb(page).locator(`tr[data-linear="${linear}"]`);
  for (let i = 0; i < max; i++) {
    if ((await row.count()) > 0) return;
    const before = await code(page).locator('tr[aria-current="true"] td').nth(1).textContent();
    await page.keyboard.press('ArrowRight');
    await expect(code(page).locator('tr[aria-current="true"] td').nth(1)).not.toHaveText(before ?? '');
  }
  throw new Error(`no TLB entry for ${linear} within ${max} steps`);
}

test('at step 0 the TLB view says the TLB is empty and all counters are 0', async ({ page }) => {
  await open(page);
  await expect(tlb(page).getByRole('heading', { name: 'TLB (translation lookaside buffer)' })).toBeVisible();
  await expect(tlb(page).getByTestId('tlb-empty')).toHaveText('TLB empty: no translation is cached.');
  await expect(tlb(page)).toContainText('Entries cached: 0.');
  for (const c of ['hits', 'misses', 'flushes', 'invalidated']) {
    await expect(tlb(page).locator(`[data-counter="${c}"] dd`)).toHaveText('0');
  }
});

test('stepping the syscalls example caches the user page with U/S set', async ({ page }) => {
  await open(page);
  await stepToEntry(page, USER_PAGE);
  const row = tlb(page).locator(`tr[data-linear="${USER_PAGE}"]`).first();
  await expect(row).toHaveAttribute('data-us', '1');
  await expect(row.locator('[data-flag="us"]')).toContainText('U');
  await expect(row.locator('[data-flag="us"]')).toContainText('user');
  await expect(row.locator('td').first()).toHaveText(/^(0000000040000000|40000000)$/);
  await expect(row.locator('td').nth(2)).toHaveText(/^(4 KiB|2 MiB|1 GiB)$/);
  await expect(tlb(page).getByTestId('tlb-empty')).toHaveCount(0);
  await expect(tlb(page).locator('[data-counter="misses"] dd')).not.toHaveText('0');
  await expect(tlb(page).getByRole('table')).toBeVisible();
  const axe = await new AxeBuilder({ page }).include('[data-testid="tlb-view"]').analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
});

test('the TLB view speaks Chinese, marked zh-CN, with no axe violations', async ({ page }) => {
  await open(page, 'zh-CN');
  await expect(tlb(page)).toHaveAttribute('lang', 'zh-CN');
  await expect(tlb(page)).toContainText('TLB 为空');
  await stepToEntry(page, USER_PAGE);
  await expect(tlb(page).locator(`tr[data-linear="${USER_PAGE}"] [data-flag="us"]`).first()).toContainText('用户');
  const axe = await new AxeBuilder({ page }).include('[data-testid="tlb-view"]').analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
});
