/**
 * Takes screenshots of the built app in headless Chromium, for a person to look at:
 * `npx vite build && npx tsx scripts/screenshots.ts [outdir]` (serves dist/ itself, on SHOTS_PORT or 4174).
 */
import { chromium } from 'playwright-core';
import { preview } from 'vite';
import { mkdirSync } from 'node:fs';

const out = process.argv[2] ?? 'screenshots';
mkdirSync(out, { recursive: true });
const port = Number(process.env.SHOTS_PORT ?? 4174);
const base = `http://127.0.0.1:${port}`;
const server = await preview({ preview: { host: '127.0.0.1', port, strictPort: true } });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (const theme of ['contrast'] as const) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${base}/?lang=en&scenario=page-fault&theme=${theme}`);
    await page.getByTestId('narration').waitFor();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${out}/lab-en-${theme}-pagefault.png`, fullPage: true });
    await page.close();
  }
  // Presenter mode, as a projector shows it: after the SYSCALL's ring change.
  for (const lang of ['en', 'zh-CN']) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${base}/?lang=${lang}&scenario=syscalls&mode=presenter`);
    await page.getByTestId('narration').waitFor();
    for (let i = 0; i < 5; i++) await page.keyboard.press('PageDown');
    await page.waitForTimeout(400);
    await page.screenshot({ path: `${out}/lab-${lang}-presenter.png` });
    await page.screenshot({ path: `${out}/lab-${lang}-presenter-full.png`, fullPage: true });
    await page.close();
  }
  for (const narrow of [true]) {
    const page = await browser.newPage({ viewport: { width: narrow ? 800 : 1280, height: 900 } });
    await page.goto(`${base}/?lang=zh-CN&scenario=timer`);
    await page.getByTestId('narration').waitFor();
    await page.screenshot({ path: `${out}/lab-zh-CN-narrow.png` });
    await page.close();
  }
  for (const lang of ['en', 'zh-CN']) {
    for (const scheme of ['light', 'dark'] as const) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: scheme });
      await page.goto(`${base}/?lang=${lang}&scenario=syscalls&theme=${scheme}`);
      await page.getByTestId('narration').waitFor();
      await page.screenshot({ path: `${out}/lab-${lang}-${scheme}-step0.png`, fullPage: true });
      // After the SYSCALL: a ring change, code in the kernel, registers changed, UART output.
      await page.getByRole('combobox', { name: lang === 'en' ? 'Event to run to' : '要运行到的事件' }).selectOption('ring/change');
      for (let i = 0; i < 4; i++) {
        await page.getByRole('button', { name: lang === 'en' ? 'Run to next' : '运行到下一个' }).click();
        await page.waitForTimeout(400);
      }
      await page.screenshot({ path: `${out}/lab-${lang}-${scheme}-syscall.png` });
      // The whole page: the TLB view (under the ring view) with the entries the run cached.
      await page.screenshot({ path: `${out}/lab-${lang}-${scheme}-syscall-full.png`, fullPage: true });
      await page.keyboard.press('?');
      await page.screenshot({ path: `${out}/lab-${lang}-${scheme}-help.png` });
      await page.keyboard.press('Escape');
      await page.close();
    }
  }
  // The timeline of events (src/views/timeline): each example run to its HLT, then a click on a
  // mark (the page fault, the second timer tick, the SYSRET); the list of events open.
  const runKind = { en: ['Event to run to', 'Run to next'], 'zh-CN': ['要运行到的事件', '运行到下一个'] } as const;
  const shots = [
    ['page-fault', 'cpu/exception', 'light'],
    ['timer', 'cpu/interrupt', 'dark'],
    ['syscalls', 'ring/change', 'contrast'],
  ] as const;
  for (const lang of ['en', 'zh-CN'] as const) {
    for (const [scenario, kind, theme] of shots) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: theme === 'light' ? 'light' : 'dark' });
      await page.goto(`${base}/?lang=${lang}&scenario=${scenario}&theme=${theme}`);
      await page.getByTestId('narration').waitFor();
      await page.getByRole('combobox', { name: runKind[lang][0] }).selectOption('cpu/halt');
      await page.getByRole('button', { name: runKind[lang][1] }).click();
      const timeline = page.getByTestId('timeline-view');
      await page.locator('[data-testid="timeline-view"][data-current="true"] g.mark[data-kind="cpu/halt"]').waitFor();
      await timeline.locator(`g.mark[data-kind="${kind}"]`).nth(kind === 'cpu/exception' ? 0 : 1).click();
      await timeline.getByTestId('timeline-list').locator('summary').click();
      await page.waitForTimeout(400);
      await timeline.screenshot({ path: `${out}/timeline-${lang}-${scenario}-${theme}.png` });
      await page.close();
    }
  }
} finally {
  await browser.close();
  server.httpServer.close();
}
console.log(`screenshots written to ${out}/`);
