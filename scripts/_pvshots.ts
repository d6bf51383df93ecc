/**
 * Takes screenshots of the built app in headless Chromium, for a person to look at:
 * `npx vite build && npx tsx scripts/screenshots.ts [outdir]` (serves dist/ itself, on SHOTS_PORT or 4174).
 */
import { chromium } from 'playwright-core';
import { preview } from 'vite';
import { mkdirSync } from 'node:fs';
import { hexPa } from '../src/emu/exercise/format.ts';
import { generateVmexitExercise } from '../src/emu/exercise/vmexit-exercise.ts';
import { generateWalkExercise } from '../src/emu/exercise/walk-exercise.ts';
import { SCENARIOS } from '../src/views/shell/url.ts';

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
  // Issue 9 item 3: paravirtualization: the state view, the hypercall list and the narration right
  // after pv-kernel's mmu_update of 1025 requests (step 20532) and its shutdown (20642); the kernel
  // diff; pv-unmodified stopped at its CLI; en and zh-CN, light and dark, and presenter mode.
  for (const [lang, scenario, step, mode, scheme] of [
    ['en', 'pv-kernel', 20532, 'normal', 'light'], ['zh-CN', 'pv-kernel', 20532, 'normal', 'dark'], ['en', 'pv-kernel', 20642, 'normal', 'dark'],
    ['zh-CN', 'pv-unmodified', 0, 'normal', 'light'], ['en', 'pv-kernel', 20532, 'presenter', 'light'], ['zh-CN', 'pv-kernel', 20532, 'presenter', 'dark'],
  ] as const) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, reducedMotion: 'reduce', colorScheme: scheme });
    await page.goto(`${base}/?lang=${lang}&scenario=${scenario}&step=${step}&theme=${scheme}${mode === 'presenter' ? '&mode=presenter' : ''}`);
    const state = page.getByTestId('pv-state');
    await state.waitFor({ timeout: 60_000 });
    if (scenario === 'pv-unmodified') {
      // The hypervisor stops it before its first instruction retires: one step forward shows it.
      await page.getByTestId('step-forward').click();
      await page.getByTestId('pv-failure').waitFor();
    }
    await page.getByTestId('pv-hypercalls').waitFor();
    await page.waitForTimeout(600);
    const name = `pv-${lang}-${scenario}-${step}-${mode}-${scheme}`;
    await state.screenshot({ path: `${out}/${name}-state.png` });
    await page.getByTestId('vm-inspector').screenshot({ path: `${out}/${name}-hypercalls.png` });
    await page.getByTestId('narration').screenshot({ path: `${out}/${name}-narration.png` });
    if (mode === 'normal') await page.getByTestId('pv-diff').screenshot({ path: `${out}/${name}-diff.png` });
    await page.screenshot({ path: `${out}/${name}-page.png`, fullPage: mode !== 'presenter' });
    await page.close();
  }
} finally {
  await browser.close();
  server.httpServer.close();
}
console.log(`screenshots written to ${out}/`);
