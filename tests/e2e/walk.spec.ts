/**
 * The page-walk view on the lab screen (issue 4, item 3): the page-fault example run to its #PF
 * shows the walk that faulted with the real entries and the decoded error code, stepping back and
 * forward restores the same view, the step's other translations can be picked from the keyboard,
 * TLB hits and 4-level paging, presenter mode, both languages, axe. Expected numbers come from the
 * screen itself (CR3 and CR2 in the registers view) or from the example's own comments (error code
 * 6: user, write, not present).
 */
import { expect, test, type Browser, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

const walk = (page: Page) => page.getByTestId('walk-view');
const counter = (page: Page) => page.getByTestId('step-counter');
const regValue = async (page: Page, reg: string): Promise<bigint> =>
  BigInt(`0x${((await page.getByTestId('registers-view').locator(`[data-reg="${reg}"] dd .mono`).textContent()) ?? '').replace(/\s/g, '')}`);
const hexIn = (s: string | null): bigint => BigInt(`0x${/([0-9a-f]{8}(?: [0-9a-f]{8})?)/.exec(s ?? '')![1]!.replace(' ', '')}`);

/** A page that prefers reduced motion: the walk is drawn whole at once, so its text can be compared at any time. */
async function still(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ reducedMotion: 'reduce' });
  return context.newPage();
}

async function open(page: Page, query: string): Promise<void> {
  await page.goto(`/?${query}`);
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(counter(page)).toHaveText(/Step 0 of|第 0 步/);
}

/** Runs to the next exception with the playback bar's "run to next". */
async function runToException(page: Page, lang: 'en' | 'zh-CN'): Promise<void> {
  await page.getByRole('combobox', { name: lang === 'en' ? 'Event to run to' : '要运行到的事件' }).selectOption('cpu/exception');
  await page.getByRole('button', { name: lang === 'en' ? 'Run to next' : '运行到下一个' }).click();
  await expect(walk(page).getByTestId('walk-fault')).toBeVisible();
}

test('run to the #PF: the walk that faulted, its real entries, the error code bit by bit and CR2', async ({ browser }) => {
  const page = await still(browser);
  await open(page, 'scenario=page-fault&lang=en');
  await runToException(page, 'en');
  const v = walk(page);
  await expect(v.getByTestId('walk-summary')).toContainText('For 6 of them the TLB had no usable entry');
  const detail = v.getByTestId('walk-detail');
  await expect(detail).toHaveAttribute('data-source', 'walk');
  await expect(detail.getByRole('heading', { name: 'user write at linear address 40080000' })).toBeVisible();
  // The strip: PD index 256, PT index 128, offset 0, each field labelled.
  await expect(detail.getByTestId('walk-strip')).toHaveAccessibleName(
    'Linear address 40080000, split by the walk: PD index, bits 31–22 = 256; PT index, bits 21–12 = 128; offset, bits 11–0 = 0x000.',
  );
  // The entries: the PDE at CR3 + 256 × 4, pointing to the page table; the PTE there + 128 × 4, all zero.
  const cr3 = await regValue(page, 'cr3');
  const entries = detail.getByTestId('walk-entry');
  await expect(entries).toHaveCount(2);
  const pde = entries.nth(0);
  const pte = entries.nth(1);
  await expect(pde).toHaveAttribute('data-level', 'PDE');
  await expect(pde).toContainText('index 256');
  expect(hexIn(await pde.locator('.where').textContent())).toBe((cr3 & ~0xfffn) + 256n * 4n);
  const pdeValue = hexIn(await pde.getByTestId('walk-entry-value').textContent());
  for (const [flag, set] of [['P', '1'], ['R/W', '1'], ['U/S', '1'], ['PWT', '0'], ['PCD', '0']] as const) {
    await expect(pde.locator(`[data-flag="${flag}"]`)).toHaveAttribute('data-set', set);
  }
  await expect(pde.locator('[data-flag="P"]')).toContainText('P (present): set');
  await expect(pde).toContainText(`points to the next table at ${(pdeValue & 0xfffff000n).toString(16).padStart(8, '0')}`);
  await expect(pte).toHaveAttribute('data-level', 'PTE');
  await expect(pte).toHaveAttribute('data-kind', 'not-present');
  expect(hexIn(await pte.locator('.where').textContent())).toBe((pdeValue & 0xfffff000n) + 128n * 4n);
  await expect(pte.getByTestId('walk-entry-value')).toHaveText('value 00000000');
  await expect(pte).toContainText('not present (P = 0): the walk stops here');
  await expect(v.getByTestId('walk-result')).toHaveText('✗Page fault: the PTE is not present.');
  // The #PF: error code 6 decoded, CR2 as in the registers view.
  const fault = v.getByTestId('walk-fault');
  await expect(fault).toContainText('The user write at 40080000 faulted at the PTE.');
  const code = fault.getByTestId('walk-error-code');
  await expect(code.locator('caption')).toHaveText('Error code 0x6, bit by bit:');
  const rows: Record<string, [string, string]> = { P: ['0', 'the page is not present'], 'W/R': ['1', 'a write'], 'U/S': ['1', 'a user-mode access'], RSVD: ['0', 'no reserved bit set'], 'I/D': ['0', 'not an instruction fetch'] };
  for (const [name, [value, meaning]] of Object.entries(rows)) {
    const row = code.locator(`tr[data-bit="${name}"]`);
    await expect(row.locator('td').nth(1)).toHaveText(value);
    await expect(row.locator('td').nth(2)).toHaveText(meaning);
  }
  const cr2 = await regValue(page, 'cr2');
  await expect(fault.getByTestId('walk-cr2')).toHaveText(`CR2 = ${cr2.toString(16).padStart(8, '0')}: the linear address that faulted.`);
  expect(cr2).toBe(0x40080000n);
  await expect(fault).toContainText('Vol. 3A, §4.7');
  const axe = await new AxeBuilder({ page }).include('[data-testid="walk-view"]').analyze();
  expect(axe.violations.map((x) => `${x.id}: ${x.help}`)).toEqual([]);
  await page.context().close();
});

test('stepping back and forward restores the same walk view; the step before shows no fault', async ({ browser }) => {
  const page = await still(browser);
  await open(page, 'scenario=page-fault&lang=en');
  await runToException(page, 'en');
  const at = await counter(page).innerText();
  const faultView = await walk(page).innerText();
  // With reduced motion nothing plays: the view is never marked as animating.
  await page.evaluate(() => {
    const w = window as unknown as { animated: boolean };
    w.animated = false;
    new MutationObserver(() => {
      if (document.querySelector('[data-testid="walk-view"][data-animating="true"]') !== null) w.animated = true;
    }).observe(document.body, { subtree: true, attributes: true, childList: true });
  });
  await page.keyboard.press('ArrowLeft');
  await expect(counter(page)).not.toHaveText(at);
  await expect(walk(page).getByTestId('walk-fault')).toHaveCount(0);
  await expect(walk(page).getByTestId('walk-detail')).toHaveAttribute('data-source', 'walk');
  await expect(walk(page).getByTestId('walk-detail')).toHaveAttribute('data-linear', '0x0000000040000000');
  const before = await walk(page).innerText();
  await page.keyboard.press('ArrowRight');
  await expect(counter(page)).toHaveText(at);
  expect(await walk(page).innerText()).toBe(faultView);
  await page.keyboard.press('ArrowLeft');
  await expect(walk(page).getByTestId('walk-fault')).toHaveCount(0);
  expect(await walk(page).innerText()).toBe(before);
  // Reached one step at a time from the start, the same again.
  await page.keyboard.press('Home');
  await expect(counter(page)).toHaveText(/^Step 0 of/);
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await expect(counter(page)).toHaveText(at);
  expect(await walk(page).innerText()).toBe(faultView);
  expect(await page.evaluate(() => (window as unknown as { animated: boolean }).animated)).toBe(false);
  await page.context().close();
});

test("the step's other translations are picked from the keyboard; a TLB hit shows the walk a miss would make", async ({ browser }) => {
  const page = await still(browser);
  await open(page, 'scenario=page-fault&lang=en');
  await expect(walk(page).getByTestId('walk-summary')).toHaveText('No step taken yet. Shown: the walk the first instruction fetch will make.');
  await runToException(page, 'en');
  const picks = walk(page).getByTestId('walk-pick');
  await expect(picks).toHaveCount(7);
  await expect(picks.nth(1)).toHaveAttribute('aria-pressed', 'true');
  await expect(picks.nth(1)).toContainText('user write 40080000 walked');
  await expect(picks.nth(1)).toContainText('#PF');
  await picks.last().focus();
  await page.keyboard.press('Enter');
  await expect(picks.last()).toHaveAttribute('aria-pressed', 'true');
  const detail = walk(page).getByTestId('walk-detail');
  await expect(detail.getByRole('heading', { level: 3 })).toHaveText('supervisor fetch at linear address 00100000');
  await expect(detail.getByTestId('walk-entry')).toHaveCount(1);
  await expect(detail.getByTestId('walk-entry')).toHaveAttribute('data-kind', 'large-page');
  await expect(detail.getByTestId('walk-result')).toContainText('(4 MiB page)');
  // The handler's next instruction: its fetch hits the TLB.
  await page.keyboard.press('ArrowRight');
  await expect(walk(page).getByTestId('walk-summary')).toContainText('The TLB answered every translation of this step');
  await expect(detail).toHaveAttribute('data-source', 'tlb');
  await expect(detail).toContainText('had it missed, the CPU would have read these entries');
  await page.context().close();
});

test('4-level paging: the PML4E, PDPTE and PDE of the syscalls example, with the sign-extension field', async ({ browser }) => {
  const page = await still(browser);
  await open(page, 'scenario=syscalls&lang=en');
  await expect(walk(page)).toHaveAttribute('data-paging', '4level');
  const strip = walk(page).getByTestId('walk-strip');
  await expect(strip).toHaveAccessibleName(/^Linear address 00000000 00100000, split by the walk: sign extension, bits 63–48 = 0x0000; PML4 index, bits 47–39 = 0; /);
  const levels = await walk(page).getByTestId('walk-entry').evaluateAll((els) => els.map((e) => e.getAttribute('data-level')));
  expect(levels.slice(0, 3)).toEqual(['PML4E', 'PDPTE', 'PDE']);
  expect(hexIn(await walk(page).getByTestId('walk-entry').first().locator('.where').textContent())).toBe(await regValue(page, 'cr3') & ~0xfffn);
  await page.context().close();
});

test('without reduced motion the walk plays level by level and ends drawn whole', async ({ page }) => {
  await open(page, 'scenario=page-fault&lang=en');
  // Record what the view goes through: animating, with a level not yet shown.
  await page.evaluate(() => {
    const w = window as unknown as { seen: string[] };
    w.seen = [];
    new MutationObserver(() => {
      const v = document.querySelector('[data-testid="walk-view"]');
      const hidden = v?.querySelectorAll('[data-testid="walk-entry"].pending').length ?? 0;
      w.seen.push(`${v?.getAttribute('data-animating')}:${hidden}`);
    }).observe(document.body, { subtree: true, attributes: true, childList: true });
  });
  await page.keyboard.press('ArrowRight');
  await expect(counter(page)).toHaveText(/^Step 1 of/);
  await expect(walk(page)).toHaveAttribute('data-animating', 'false');
  const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
  expect(seen).toContain('true:1');
  expect(seen.at(-1)).toBe('false:0');
  await expect(walk(page).getByTestId('walk-entry').nth(1)).toBeVisible();
  await expect(walk(page).getByTestId('walk-result')).toBeVisible();
});

test('the walk view speaks Chinese, marked zh-CN, with no axe violations', async ({ browser }) => {
  const page = await still(browser);
  await open(page, 'scenario=page-fault&lang=zh-CN');
  await runToException(page, 'zh-CN');
  await expect(walk(page)).toHaveAttribute('lang', 'zh-CN');
  await expect(walk(page).getByRole('heading', { name: '页表遍历' })).toBeVisible();
  await expect(walk(page).getByTestId('walk-fault')).toContainText('缺页异常（#PF）');
  await expect(walk(page).getByTestId('walk-error-code').locator('tr[data-bit="W/R"] td').nth(2)).toHaveText('写访问');
  await expect(walk(page).getByTestId('walk-result')).toHaveText('✗缺页异常：PTE 不存在。');
  await expect(walk(page).getByTestId('walk-strip')).toHaveAccessibleName(/^线性地址 40080000 按遍历拆分为：PD 索引，第 31–22 位 = 256；/);
  const axe = await new AxeBuilder({ page }).include('[data-testid="walk-view"]').analyze();
  expect(axe.violations.map((x) => `${x.id}: ${x.help}`)).toEqual([]);
  await page.context().close();
});

test('presenter mode shows the walk on steps that walked or faulted, with no small controls', async ({ page }) => {
  await open(page, 'scenario=page-fault&lang=en&mode=presenter');
  await expect(walk(page)).toHaveCount(0);
  await page.keyboard.press('PageDown');
  await page.keyboard.press('PageDown');
  await expect(counter(page)).toHaveText('Step 2 of 2');
  await expect(walk(page).getByTestId('walk-fault')).toBeVisible();
  await expect(walk(page).getByRole('button')).toHaveCount(0);
  await page.keyboard.press('PageDown');
  await expect(counter(page)).toHaveText('Step 3 of 3');
  await expect(walk(page)).toHaveCount(0);
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map((x) => `${x.id}: ${x.help}`)).toEqual([]);
});
