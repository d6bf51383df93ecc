import { expect, test, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

/** Opens the lab in presenter mode and waits until the scenario is loaded. */
async function openPresenter(page: Page, lang: string): Promise<void> {
  await page.goto(`/?scenario=syscalls&mode=presenter&lang=${lang}`);
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('step-counter')).toHaveText(/Step 0 of|第 0 步/);
}

for (const lang of ['en', 'zh-CN'] as const) {
  test(`presenter mode (${lang}) is marked on <html>, high contrast, and has no axe violations`, async ({ page }) => {
    await openPresenter(page, lang);
    await expect(page.locator('html')).toHaveAttribute('data-mode', 'presenter');
    await expect(page.locator('html')).toHaveAttribute('data-theme', 'contrast');
    await page.keyboard.press('PageDown');
    await expect(page.getByTestId('step-counter')).toHaveText(/Step 1 of 1|第 1 步，共 1 步/);
    const axe = await new AxeBuilder({ page }).analyze();
    expect(axe.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
  });
}

test('presenter mode keeps an explicitly picked theme', async ({ page }) => {
  await page.goto('/?scenario=syscalls&mode=presenter&theme=light&lang=en');
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
});

test('presenter mode: PgDn and PgUp step, the About and UART panels are gone, the playback bar has only big buttons', async ({ page }) => {
  await openPresenter(page, 'en');
  const counter = page.getByTestId('step-counter');
  await page.keyboard.press('PageDown');
  await expect(counter).toHaveText('Step 1 of 1');
  await page.keyboard.press('PageDown');
  await expect(counter).toHaveText('Step 2 of 2');
  await page.keyboard.press('PageUp');
  await expect(counter).toHaveText('Step 1 of 2');
  await page.keyboard.press('Space');
  await expect(page.getByRole('button', { name: 'Pause' })).toBeVisible();
  await page.keyboard.press('Space');
  await expect(page.getByRole('button', { name: 'Play' })).toBeVisible();
  await expect(page.locator('details.about')).toHaveCount(0);
  await expect(page.getByTestId('uart')).toHaveCount(0);
  await expect(page.getByTestId('code-region')).toBeVisible();
  await expect(page.getByTestId('registers-region')).toBeVisible();
  await expect(page.getByTestId('ring-view')).toBeVisible();
  const bar = page.getByRole('region', { name: 'Playback' });
  await expect(bar.getByRole('button')).toHaveCount(3);
  await expect(bar.getByRole('combobox')).toHaveCount(0);
  await expect(bar.getByRole('slider')).toHaveCount(0);
  for (const b of await bar.getByRole('button').all()) {
    const box = await b.boundingBox();
    expect(box?.height ?? 0).toBeGreaterThanOrEqual(48);
    expect(box?.width ?? 0).toBeGreaterThanOrEqual(48);
  }
});

test('the presenter toggle round-trips the URL', async ({ page }) => {
  await page.goto('/?scenario=syscalls&lang=en');
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.locator('details.about')).toHaveCount(1);
  const toggle = page.getByRole('button', { name: 'Presenter mode' });
  await expect(toggle).toHaveAttribute('aria-pressed', 'false');
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-pressed', 'true');
  await expect(page.locator('html')).toHaveAttribute('data-mode', 'presenter');
  await expect(page).toHaveURL(/[?&]mode=presenter/);
  await expect(page.locator('details.about')).toHaveCount(0);
  await page.reload();
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('data-mode', 'presenter');
  await page.getByRole('button', { name: 'Presenter mode' }).click();
  await expect(page).not.toHaveURL(/mode=/);
  await expect(page.locator('html')).not.toHaveAttribute('data-mode', /./);
  await expect(page.locator('details.about')).toHaveCount(1);
});
