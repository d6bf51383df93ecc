/**
 * Breakpoints in the code view (issue 4, item 3): set and removed from the keyboard, Play and
 * "Run to next: breakpoint" stop before the instruction runs, on the screen that stepping there
 * one step at a time gives; per scenario; in English and Chinese, with no axe violations.
 */
import { expect, test, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

const code = (page: Page) => page.getByTestId('code-view');
const list = (page: Page) => page.getByTestId('breakpoint-list');
const counter = (page: Page) => page.getByTestId('step-counter');
const current = (page: Page) => code(page).locator('tr[aria-current="true"]');
/** The code view's row `i` (0: the current instruction). */
const row = (page: Page, i: number) => code(page).locator('tbody tr').nth(i);
const toggleOf = (page: Page, i: number) => row(page, i).getByRole('button');

async function open(page: Page, lang = 'en', scenario = 'syscalls'): Promise<void> {
  await page.goto(`/?scenario=${scenario}&lang=${lang}`);
  await expect(current(page)).toHaveCount(1);
  await expect(counter(page)).toHaveText(/Step 0 of|第 0 步/);
}

/** Text of the code and registers regions and the narration: "the same screen". */
async function screenText(page: Page): Promise<string> {
  // The breakpoint marks aside: the other page has none set.
  const c = (await page.getByTestId('code-region').locator('table').innerText()).replace(/[●○]/g, '');
  const r = await page.getByTestId('registers-region').innerText();
  const n = await page.getByTestId('narration').innerText();
  return `${c}\n---\n${r}\n---\n${n}`;
}

/** The address and instruction of row `i`, as shown. */
async function rowAt(page: Page, i: number): Promise<{ address: string; text: string }> {
  const cells = row(page, i).locator('td');
  return { address: (await cells.nth(1).innerText()).trim(), text: (await cells.nth(3).innerText()).trim() };
}

test('a breakpoint is set and removed from the keyboard, shown by ● and listed with its instruction', async ({ page }) => {
  await open(page);
  const { address, text } = await rowAt(page, 5);
  expect(text).toBe('iretq');
  const toggle = toggleOf(page, 5);
  await expect(toggle).toHaveAccessibleName(`Breakpoint at 0x${address}`);
  await expect(toggle).toHaveAttribute('aria-pressed', 'false');
  await expect(toggle).toHaveText('○');
  await toggle.focus();
  await page.keyboard.press('Enter');
  await expect(toggle).toHaveAttribute('aria-pressed', 'true');
  await expect(toggle).toHaveText('●');
  await expect(list(page).getByRole('listitem')).toHaveCount(1);
  await expect(list(page).getByRole('listitem')).toContainText(`0x${address}`);
  await expect(list(page).getByRole('listitem')).toContainText('iretq');
  // Space on a focused button presses it (it does not start play).
  await page.keyboard.press('Space');
  await expect(toggle).toHaveAttribute('aria-pressed', 'false');
  await expect(list(page).getByRole('listitem')).toHaveCount(0);
  await expect(counter(page)).toHaveText('Step 0 of 0');
  // Set again, then remove it from the list; focus stays in the list.
  await page.keyboard.press('Enter');
  const remove = list(page).getByRole('button', { name: `Remove breakpoint at 0x${address}` });
  await remove.focus();
  await page.keyboard.press('Enter');
  await expect(list(page).getByRole('listitem')).toHaveCount(0);
  await expect(toggle).toHaveAttribute('aria-pressed', 'false');
  await expect(list(page).getByRole('heading', { name: 'Breakpoints' })).toBeFocused();
});

test('Play stops before the instruction at a breakpoint, on the screen stepping there gives; Play again goes on past it', async ({ page, browser }) => {
  await open(page);
  const { address } = await rowAt(page, 5);
  await toggleOf(page, 5).click();
  await page.getByRole('combobox', { name: 'Speed' }).selectOption('50');
  await page.getByRole('button', { name: 'Play' }).click();
  await expect(page.getByRole('button', { name: 'Play' })).toBeVisible();
  await expect(counter(page)).toHaveText('Step 5 of 5');
  await expect(current(page)).toContainText('iretq');
  await expect(current(page).getByRole('button')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByRole('status').filter({ hasText: 'Stopped at the breakpoint' })).toHaveText(
    new RegExp(`Stopped at the breakpoint at 0x${address.replace(/^0+/, '')}, before iretq runs\\.`),
  );
  const stopped = await screenText(page);

  // The same step reached with → five times.
  const other = await browser.newPage();
  await open(other);
  for (let i = 1; i <= 5; i++) {
    await other.keyboard.press('ArrowRight');
    await expect(counter(other)).toHaveText(`Step ${i} of ${i}`);
  }
  expect(await screenText(other)).toBe(stopped);
  await other.close();

  // The breakpoint at RIP does not stop the first step of the next run; the run goes on.
  await page.getByRole('button', { name: 'Play' }).click();
  await expect(counter(page)).not.toHaveText(/^Step [0-6] of/);
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Stopped at the breakpoint' })).toHaveCount(0);
});

test('Run to next: breakpoint stops at each breakpoint in turn; single steps ignore them; then it says none was reached', async ({ page }) => {
  await open(page);
  // Row 6 is the INT 0x80 handler's first instruction (reached once, from ring 3).
  const handler = await rowAt(page, 6);
  expect(handler.text).toMatch(/^call /);
  await toggleOf(page, 6).click();
  await toggleOf(page, 1).click();
  await page.getByRole('combobox', { name: 'Event to run to' }).selectOption('breakpoint');
  const run = page.getByRole('button', { name: 'Run to next' });
  await run.click();
  await expect(counter(page)).toHaveText('Step 1 of 1');
  // → from a breakpoint steps on: single steps do not stop.
  await page.keyboard.press('ArrowRight');
  await expect(counter(page)).toHaveText('Step 2 of 2');
  await run.click();
  await expect(current(page)).toContainText(handler.text);
  await expect(current(page).locator('td').nth(1)).toHaveText(handler.address);
  await expect(page.getByRole('status').filter({ hasText: 'Stopped at the breakpoint' })).toContainText(`before ${handler.text} runs`);
  // The narration tells the step that led here: the INT 0x80 from ring 3.
  await expect(page.getByTestId('narration')).toHaveText(/ring 3 → ring 0 \(INT 0x80\)\.$/);
  await run.click();
  await expect(page.getByRole('status').filter({ hasText: 'The machine has stopped.' })).toBeVisible();
});

test('run to breakpoint with none set says how to set one; breakpoints belong to their scenario', async ({ page }) => {
  await open(page);
  await page.getByRole('combobox', { name: 'Event to run to' }).selectOption('breakpoint');
  await page.getByRole('button', { name: 'Run to next' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'No breakpoints are set' })).toBeVisible();
  await expect(counter(page)).toHaveText('Step 0 of 0');
  await toggleOf(page, 2).click();
  await toggleOf(page, 4).click();
  await expect(list(page).getByRole('listitem')).toHaveCount(2);
  await page.getByRole('combobox', { name: 'Scenario' }).selectOption('timer');
  await expect(page.getByTestId('code-region')).toContainText('xor eax, eax');
  await expect(list(page).getByRole('listitem')).toHaveCount(0);
  await expect(code(page).getByRole('button', { pressed: true })).toHaveCount(0);
});

test('a breakpoint in the timer loop stops Play at full speed every time round', async ({ page }) => {
  await open(page, 'en', 'timer');
  // xor eax, eax / mov ecx, 3000 / .loop: add rax, rcx / dec ecx / jnz .loop
  const add = await rowAt(page, 2);
  expect(add.text).toMatch(/^add rax, rcx/);
  await toggleOf(page, 2).click();
  await page.getByRole('combobox', { name: 'Speed' }).selectOption('50');
  const steps: string[] = [];
  for (let i = 0; i < 3; i++) {
    const before = await counter(page).innerText();
    await page.getByRole('button', { name: 'Play' }).click();
    await expect(counter(page)).not.toHaveText(before);
    await expect(page.getByRole('button', { name: 'Play' })).toBeVisible();
    await expect(page.getByRole('status').filter({ hasText: 'Stopped at the breakpoint' })).toBeVisible();
    await expect(current(page).locator('td').nth(1)).toHaveText(add.address);
    steps.push(await counter(page).innerText());
  }
  expect(steps).toEqual(['Step 2 of 2', 'Step 5 of 5', 'Step 8 of 8']);
});

test('breakpoints in Chinese, marked zh-CN, with no axe violations', async ({ page }) => {
  await open(page, 'zh-CN');
  const { address } = await rowAt(page, 3);
  const toggle = toggleOf(page, 3);
  await expect(toggle).toHaveAccessibleName(`0x${address} 处的断点`);
  await toggle.click();
  await expect(list(page).getByRole('heading', { name: /^断点/ })).toBeVisible();
  await expect(list(page).getByRole('button', { name: `移除 0x${address} 处的断点` })).toBeVisible();
  await page.getByRole('combobox', { name: '要运行到的事件' }).selectOption('breakpoint');
  await page.getByRole('button', { name: '运行到下一个' }).click();
  await expect(page.getByRole('status').filter({ hasText: '处的断点停下' })).toContainText('尚未执行');
  await expect(code(page)).toHaveAttribute('lang', 'zh-CN');
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
});

for (const theme of ['light', 'dark', 'contrast'] as const) {
  test(`the gutter and the list have no axe violations (${theme})`, async ({ page }) => {
    await page.goto(`/?scenario=page-fault&lang=en&theme=${theme}`);
    await expect(current(page)).toHaveCount(1);
    await toggleOf(page, 0).click();
    await toggleOf(page, 2).click();
    await page.keyboard.press('ArrowRight');
    await expect(counter(page)).toHaveText('Step 1 of 1');
    const axe = await new AxeBuilder({ page }).include('[data-testid="code-view"]').analyze();
    expect(axe.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
  });
}

test('presenter mode shows the breakpoints set as marks, without the small toggles, and Play stops at them', async ({ page }) => {
  await open(page);
  await toggleOf(page, 5).click();
  await page.getByTestId('presenter-toggle').click();
  await expect(page.locator('html')).toHaveAttribute('data-mode', 'presenter');
  await expect(code(page).getByRole('button')).toHaveCount(0);
  await expect(list(page)).toHaveCount(0);
  await expect(row(page, 5)).toContainText('●');
  await page.getByTestId('play-toggle').click();
  await expect(counter(page)).toHaveText('Step 5 of 5');
  await expect(page.getByTestId('play-toggle')).toHaveAttribute('data-playing', 'false');
  await expect(current(page)).toContainText('iretq');
  await expect(current(page)).toContainText('●');
});
