/**
 * The CPU views (src/views/cpu) on the lab screen with a real scenario. Assumes the screen at
 * `/?scenario=syscalls` places RingView, CodeView and RegistersView (data-testid ring-view,
 * code-view, registers-view) and steps forward on → (issue 4, item 2).
 */
import { expect, test, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

const ring = (page: Page) => page.getByTestId('ring-view');
const code = (page: Page) => page.getByTestId('code-view');
const regs = (page: Page) => page.getByTestId('registers-view');

async function open(page: Page, lang = 'en'): Promise<void> {
  await page.goto(`/?scenario=syscalls&lang=${lang}`);
  await expect(code(page).locator('tr[aria-current="true"]')).toHaveCount(1);
}

/** Steps with → until the ring view reports a privilege change (at most `max` steps). */
async function stepToRingChange(page: Page, max = 400): Promise<string> {
  for (let i = 0; i < max; i++) {
    const before = await code(page).locator('tr[aria-current="true"] td').nth(1).textContent();
    await page.keyboard.press('ArrowRight');
    await expect(code(page).locator('tr[aria-current="true"] td').nth(1)).not.toHaveText(before ?? '');
    const last = (await ring(page).locator('figcaption p').nth(1).textContent()) ?? '';
    if (last.startsWith('Last change:')) return last;
  }
  throw new Error(`no privilege change within ${max} steps`);
}

test('the code view marks exactly one current instruction, at RIP', async ({ page }) => {
  await open(page);
  const current = code(page).locator('tr[aria-current="true"]');
  await expect(current).toContainText('current instruction');
  await expect(current.locator('td').first()).toContainText('▶');
  const address = ((await current.locator('td').nth(1).textContent()) ?? '').trim();
  expect(address).toMatch(/^[0-9a-f]{8}([0-9a-f]{8})?$/);
  const rip = ((await regs(page).locator('[data-reg="rip"] dd .mono').textContent()) ?? '').replace(/\s/g, '');
  expect(rip.endsWith(address)).toBe(true);
  await expect(code(page).getByRole('table')).toBeVisible();
});

test('the ring view names the current level and the cause of the last change', async ({ page }) => {
  await open(page);
  await expect(ring(page).getByRole('img')).toHaveAccessibleName(/^Current privilege level: ring [0-3] \((kernel|user|rarely used)\)\./);
  await expect(ring(page)).toContainText('Ring 0: the kernel');
  await expect(ring(page)).toContainText('Ring 3: user code');
  const last = await stepToRingChange(page);
  expect(last).toMatch(/^Last change: (SYSCALL|SYSRET|IRET|software interrupt INT 0x[0-9a-f]{2}|interrupt 0x[0-9a-f]{2} \(timer\)|exception #\w+ \(\d+(, [a-z -]+)?\)): ring [0-3] → ring [0-3]\.$/);
  const to = Number(/ring ([0-3])\.$/.exec(last)?.[1]);
  await expect(ring(page).locator('svg')).toHaveAttribute('data-cpl', String(to));
  await expect(ring(page).locator('svg')).toContainText(`CPL ${to}`);
  await expect(ring(page).locator('svg line.arrow')).toHaveCount(1);
});

test('with reduced motion the privilege change is drawn without the moving dot', async ({ browser }) => {
  const context = await browser.newContext({ reducedMotion: 'reduce' });
  const page = await context.newPage();
  await open(page);
  await stepToRingChange(page);
  await expect(ring(page).locator('svg line.arrow')).toHaveCount(1);
  await expect(ring(page).locator('svg circle.dot')).toHaveCount(0);
  await context.close();
});

test('registers the last step changed carry a symbol and a text, and RIP always changes', async ({ page }) => {
  await open(page);
  await page.keyboard.press('ArrowRight');
  const rip = regs(page).locator('[data-reg="rip"]');
  await expect(rip).toHaveClass(/changed/);
  await expect(rip).toContainText('●');
  await expect(rip).toContainText('changed');
  await expect(regs(page).locator('dt', { hasText: /^r15$/ })).toHaveCount(1);
  await expect(regs(page).locator('[data-reg="rflags"]')).toContainText(/IOPL [0-3]/);
  const unchanged = regs(page).locator('[data-reg]:not(.changed)').first();
  await expect(unchanged).not.toContainText('●');
});

test('the views speak Chinese, marked zh-CN, with no axe violations', async ({ page }) => {
  await open(page, 'zh-CN');
  await expect(ring(page)).toHaveAttribute('lang', 'zh-CN');
  await expect(ring(page)).toContainText('特权级环');
  await expect(code(page)).toContainText('RIP 附近的代码');
  await expect(regs(page)).toContainText('寄存器');
  await expect(ring(page).getByRole('img')).toHaveAccessibleName(/^当前特权级（CPL）：[0-3]（(内核|用户|很少使用)）。/);
  const axe = await new AxeBuilder({ page }).include('[data-testid="ring-view"]').include('[data-testid="code-view"]').include('[data-testid="registers-view"]').analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
});

test('the views have no axe violations in English after a privilege change', async ({ page }) => {
  await open(page);
  await stepToRingChange(page);
  const axe = await new AxeBuilder({ page }).include('[data-testid="ring-view"]').include('[data-testid="code-view"]').include('[data-testid="registers-view"]').analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
});
