import { expect, test } from '@playwright/test';

test('once opened, the lab works with no network: code, stepping (worker chunk) and a lazy scenario come from the cache', async ({ page, context }) => {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto('/?scenario=syscalls&lang=en');
  await expect(page.getByTestId('narration')).toBeVisible();
  // Wait until the service worker has installed (precached everything) and is active.
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  // The first load was not controlled; reload once so the worker serves the page.
  await page.reload();
  await expect(page.getByTestId('narration')).toBeVisible();
  expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);

  await context.setOffline(true);
  expect(await page.evaluate(() => navigator.onLine)).toBe(false);
  // From here on every response the page gets must have come from the service worker.
  const notFromWorker: string[] = [];
  page.on('response', (r) => {
    if (!r.fromServiceWorker() && !r.url().startsWith('data:')) notFromWorker.push(r.url());
  });
  await page.reload();

  await expect(page.getByTestId('step-counter')).toHaveText('Step 0 of 0');
  await expect(page.getByTestId('code-region')).toContainText('push 0x23');
  await page.getByRole('button', { name: 'Step forward' }).click();
  await expect(page.getByTestId('step-counter')).toHaveText('Step 1 of 1');
  await expect(page.getByTestId('narration')).toHaveText('Executed push 0x23.');

  await page.getByRole('combobox', { name: 'Scenario' }).selectOption('page-fault');
  await expect(page.getByTestId('code-region')).toContainText('mov edi, 0x40080000');
  await page.keyboard.press('ArrowRight');
  await expect(page.getByTestId('step-counter')).toHaveText('Step 1 of 1');

  expect(notFromWorker).toEqual([]);
  expect(errors).toEqual([]);
});
