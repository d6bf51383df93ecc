import { expect, test, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

/** Opens the lab and waits until the scenario is loaded (the narration line is shown). */
async function openLab(page: Page, query: string): Promise<void> {
  await page.goto(`/?${query}`);
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('step-counter')).toHaveText(/Step 0 of|第 0 步/);
}

const counter = (page: Page) => page.getByTestId('step-counter');
const narration = (page: Page) => page.getByTestId('narration');

/** Text of the code and registers regions: what "the same screen" is compared by. */
async function machineText(page: Page): Promise<string> {
  const code = await page.getByTestId('code-region').innerText();
  const regs = await page.getByTestId('registers-region').innerText();
  return `${code}\n---\n${regs}`;
}

for (const lang of ['en', 'zh-CN'] as const) {
  for (const theme of ['light', 'dark', 'contrast'] as const) {
    test(`the lab loads (${lang}, ${theme}) with no console errors and no axe violations`, async ({ page }) => {
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      await openLab(page, `scenario=syscalls&lang=${lang}&theme=${theme}`);
      await expect(page.locator('html')).toHaveAttribute('lang', lang);
      await expect(page.locator('html')).toHaveAttribute('data-theme', theme);
      // One step in, so that the changed-register marks and a ring change are on screen too.
      await page.keyboard.press('ArrowRight');
      await expect(counter(page)).toHaveText(/Step 1 of 1|第 1 步，共 1 步/);
      const axe = await new AxeBuilder({ page }).analyze();
      expect(axe.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
      expect(errors).toEqual([]);
    });
  }
}

test('stepping forward changes the step counter and the narration', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=en');
  await expect(narration(page)).toHaveText('At the start: nothing has run yet.');
  await page.getByRole('button', { name: 'Step forward' }).click();
  await expect(counter(page)).toHaveText('Step 1 of 1');
  await expect(narration(page)).toHaveText('Executed push 0x23.');
  await expect(page.getByTestId('code-region')).toContainText('push 0x40100000');
});

test('ArrowRight then ArrowLeft returns exactly the earlier screen', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=en');
  for (let i = 1; i <= 3; i++) {
    await page.keyboard.press('ArrowRight');
    await expect(counter(page)).toHaveText(`Step ${i} of ${i}`);
  }
  const before = await machineText(page);
  const said = await narration(page).innerText();
  await page.keyboard.press('ArrowRight');
  await expect(counter(page)).toHaveText('Step 4 of 4');
  expect(await machineText(page)).not.toBe(before);
  await page.keyboard.press('ArrowLeft');
  await expect(counter(page)).toHaveText('Step 3 of 4');
  expect(await machineText(page)).toBe(before);
  await expect(narration(page)).toHaveText(said);
});

test('PageDown, PageUp, Home and End move like the clicker keys should', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=en');
  await page.keyboard.press('PageDown');
  await expect(counter(page)).toHaveText('Step 1 of 1');
  await page.keyboard.press('PageDown');
  await expect(counter(page)).toHaveText('Step 2 of 2');
  await page.keyboard.press('PageUp');
  await expect(counter(page)).toHaveText('Step 1 of 2');
  await page.keyboard.press('Home');
  await expect(counter(page)).toHaveText('Step 0 of 2');
  await page.keyboard.press('End');
  await expect(counter(page)).toHaveText('Step 2 of 2');
});

test('run to next ring change lands on a ring change and the narration says so', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=en');
  await page.getByRole('combobox', { name: 'Event to run to' }).selectOption('ring/change');
  await page.getByRole('button', { name: 'Run to next' }).click();
  await expect(narration(page)).toHaveText(/^Executed iretq: ring 0 → ring 3 \(IRET\)\.$/);
  await expect(counter(page)).not.toHaveText('Step 0 of 0');
  // The second ring change is the INT 0x80 back into the kernel.
  await page.getByRole('button', { name: 'Run to next' }).click();
  await expect(narration(page)).toHaveText(/ring 3 → ring 0 \(INT 0x80\)\.$/);
});

test('the timeline scrubber jumps to a step', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=en');
  await page.getByRole('button', { name: 'Run to next' }).click();
  await expect(narration(page)).toContainText('ring 0 → ring 3');
  const [, at, reached] = (await counter(page).innerText()).match(/^Step (\d+) of (\d+)$/) ?? [];
  expect(Number(at)).toBeGreaterThan(3);
  const scrubber = page.getByRole('slider', { name: 'Timeline' });
  await expect(scrubber).toHaveAttribute('aria-valuetext', `Step ${at} of ${reached}`);
  await expect(scrubber).toHaveAttribute('max', String(reached));
  await scrubber.fill('2');
  await expect(counter(page)).toHaveText(`Step 2 of ${reached}`);
  await expect(scrubber).toHaveAttribute('aria-valuetext', `Step 2 of ${reached}`);
  await expect(narration(page)).toHaveText('Executed push 0x40100000.');
});

test('play runs on its own and pause stops it', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=en');
  await page.getByRole('combobox', { name: 'Speed' }).selectOption('50');
  await page.getByRole('button', { name: 'Play' }).click();
  await expect(counter(page)).not.toHaveText(/^Step [0-9] of/);
  await page.getByRole('button', { name: 'Pause' }).click();
  // A step already asked of the worker when Pause was pressed may still land: wait for the
  // counter to settle, then it must stay where it is.
  let at = await counter(page).innerText();
  for (let i = 0; i < 20; i++) {
    await page.waitForTimeout(150);
    const now = await counter(page).innerText();
    if (now === at) break;
    at = now;
  }
  await page.waitForTimeout(300);
  await expect(counter(page)).toHaveText(at);
});

test('? opens the shortcuts and Escape closes them, giving focus back', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=en');
  const forward = page.getByRole('button', { name: 'Step forward' });
  await forward.focus();
  await page.keyboard.press('?');
  const dialog = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('Step forward');
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(forward).toBeFocused();
});

test('shortcuts do not fire while choosing in a select', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=en');
  await page.getByRole('combobox', { name: 'Speed' }).focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('End');
  await page.waitForTimeout(200);
  await expect(counter(page)).toHaveText('Step 0 of 0');
});

test('the scenario picker loads another example and puts it in the URL', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=en');
  await page.getByRole('combobox', { name: 'Scenario' }).selectOption('page-fault');
  await expect(page.getByTestId('code-region')).toContainText('mov edi, 0x40080000');
  expect(new URL(page.url()).searchParams.get('scenario')).toBe('page-fault');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await expect(narration(page)).toHaveText(/^Page fault \(#PF\) at 0x40080000, error code 6: user write to a non-present page; ring 3 → ring 0\.$/);
});

test('the Chinese narration is marked zh-CN and the UART output appears', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=zh-CN');
  await page.getByRole('combobox', { name: '要运行到的事件' }).selectOption('io/port');
  await page.getByRole('button', { name: '运行到下一个' }).click();
  await expect(narration(page)).toHaveText(/^执行了 out dx, al：向端口 0x3f8（UART）写入 0x68（'h'）。$/);
  expect(await narration(page).evaluate((el) => el.closest('[lang]')?.getAttribute('lang'))).toBe('zh-CN');
  await expect(page.getByTestId('uart')).toContainText('h');
});

test('no request leaves the page’s origin', async ({ page, baseURL }) => {
  const origin = new URL(baseURL ?? 'http://127.0.0.1:4173').origin;
  const foreign: string[] = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.protocol !== 'blob:' && u.origin !== origin) foreign.push(r.url());
  });
  await openLab(page, 'scenario=timer&lang=en');
  await page.getByRole('button', { name: 'Run to next' }).click();
  await page.getByRole('combobox', { name: 'Scenario' }).selectOption('page-fault');
  await expect(page.getByTestId('code-region')).toContainText('mov edi');
  await page.getByRole('combobox', { name: 'Scenario' }).selectOption('syscalls');
  await expect(page.getByTestId('code-region')).toContainText('push 0x23');
  expect(foreign).toEqual([]);
});

test('Space plays, and playing stops by itself at HLT', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=en');
  for (const cause of ['IRET', 'INT 0x80', 'IRET', 'SYSCALL']) {
    await page.getByRole('button', { name: 'Run to next' }).click();
    await expect(narration(page)).toContainText(`(${cause})`);
  }
  await expect(narration(page)).toContainText('(SYSCALL)');
  await page.getByRole('combobox', { name: 'Speed' }).selectOption('50');
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press(' ');
  await expect(page.getByRole('button', { name: 'Pause' })).toBeVisible();
  await expect(narration(page)).toContainText('the processor halts', { timeout: 10_000 });
  const play = page.getByRole('button', { name: 'Play' });
  await expect(play).toBeVisible();
  await expect(play).toBeDisabled();
  await expect(page.getByRole('button', { name: 'Step forward' })).toBeDisabled();
  await expect(page.getByTestId('uart')).toContainText('hello from SYSCALL');
});

test('run to next shows no "not found" message when it found the event', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=en');
  await page.getByRole('button', { name: 'Run to next' }).click();
  await expect(narration(page)).toContainText('(IRET)');
  await page.getByRole('button', { name: 'Run to next' }).click();
  await expect(narration(page)).toContainText('(INT 0x80)');
  await expect(page.getByText(/No ring change within/)).toHaveCount(0);
  // Past the last ring change the lab says it found none.
  for (const cause of ['IRET', 'SYSCALL', 'SYSRET', 'SYSCALL']) {
    await page.getByRole('button', { name: 'Run to next' }).click();
    await expect(narration(page)).toContainText(`(${cause})`);
  }
  await page.getByRole('button', { name: 'Run to next' }).click();
  const said = page.getByRole('status').filter({ hasText: /stopped|No ring change/ });
  await expect(said).toBeVisible();
  await said.getByRole('button', { name: 'Dismiss' }).click();
  await expect(said).toBeHidden();
});

test('the theme picker sets the theme on <html> and in the URL', async ({ page }) => {
  await openLab(page, 'scenario=syscalls&lang=en');
  await expect(page.locator('html')).not.toHaveAttribute('data-theme', /./);
  await page.getByRole('combobox', { name: 'Theme' }).selectOption('contrast');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'contrast');
  expect(new URL(page.url()).searchParams.get('theme')).toBe('contrast');
  const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  expect(bg).toBe('rgb(0, 0, 0)');
  await page.getByRole('combobox', { name: 'Theme' }).selectOption('auto');
  await expect(page.locator('html')).not.toHaveAttribute('data-theme', /./);
  expect(new URL(page.url()).searchParams.has('theme')).toBe(false);
});

test('switching the scenario while a run-to-next is under way lands on the new scenario at step 0', async ({ page }) => {
  await openLab(page, 'scenario=timer&lang=en');
  for (let i = 0; i < 3; i++) {
    await page.getByRole('button', { name: 'Run to next' }).click();
    await page.getByRole('combobox', { name: 'Scenario' }).selectOption('page-fault');
    await expect(page.getByTestId('code-region')).toContainText('mov edi');
    await expect(page.getByText('Step 0 of', { exact: false })).toBeVisible();
    await page.getByRole('combobox', { name: 'Scenario' }).selectOption('timer');
    await expect(page.getByText('Step 0 of', { exact: false })).toBeVisible();
  }
});
