import { expect, test } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

test('the page loads with no console errors and no axe violations', async ({ page }) => {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/?lang=en');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Ring −1');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
  expect(errors).toEqual([]);
});

test('switching to Chinese from the keyboard relabels the page and marks it zh-CN', async ({ page }) => {
  await page.goto('/?lang=en');
  const zh = page.getByRole('button', { name: '简体中文' });
  await zh.focus();
  await page.keyboard.press('Enter');
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(zh).toHaveAttribute('aria-pressed', 'true');
  // The former landing text lives in the "About" disclosure.
  await page.getByText('关于本实验室').click();
  await expect(page.getByRole('heading', { level: 2, name: '实验室将讲授的内容' })).toBeVisible();
  expect(new URL(page.url()).searchParams.get('lang')).toBe('zh-CN');
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
});

test('Chinese text renders with a CJK font, not as empty boxes', async ({ page }) => {
  await page.goto('/?lang=zh-CN');
  await page.getByText('关于本实验室').click();
  await expect(page.getByRole('heading', { level: 2, name: '实验室将讲授的内容' })).toBeVisible();
  // A missing CJK font makes every ideograph the same .notdef box: compare two different glyphs' shapes.
  const distinct = await page.evaluate(() => {
    const c = document.createElement('canvas');
    c.width = 64;
    c.height = 64;
    const g = c.getContext('2d');
    if (g === null) return false;
    const shape = (ch: string): string => {
      g.clearRect(0, 0, 64, 64);
      g.font = '48px "Noto Sans CJK SC", sans-serif';
      g.fillText(ch, 4, 52);
      return Array.from(g.getImageData(0, 0, 64, 64).data.filter((_, i) => i % 4 === 3)).join(',');
    };
    return shape('实') !== shape('验');
  });
  expect(distinct).toBe(true);
  expect(await page.evaluate(() => document.fonts.check('16px "Noto Sans CJK SC"', '实验'))).toBe(true);
});
