/**
 * Takes screenshots of the built app in headless Chromium, for a person to look at:
 * `npx vite build && npx tsx scripts/screenshots.ts [outdir]` (serves dist/ itself).
 */
import { chromium } from 'playwright-core';
import { preview } from 'vite';
import { mkdirSync } from 'node:fs';

const out = process.argv[2] ?? 'screenshots';
mkdirSync(out, { recursive: true });
const server = await preview({ preview: { host: '127.0.0.1', port: 4174, strictPort: true } });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (const lang of ['en', 'zh-CN']) {
    for (const scheme of ['light', 'dark'] as const) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: scheme });
      await page.goto(`http://127.0.0.1:4174/?lang=${lang}`);
      await page.screenshot({ path: `${out}/landing-${lang}-${scheme}.png` });
      await page.close();
    }
  }
} finally {
  await browser.close();
  server.httpServer.close();
}
console.log(`screenshots written to ${out}/`);
