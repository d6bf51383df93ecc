import { expect, test, type Page } from '@playwright/test';
import { axeClean, noErrors, openSpeaker } from './page-checks.ts';

/** Opens the lab in presenter mode and waits until the scenario is loaded. */
async function openPresenter(page: Page, lang: string): Promise<void> {
  await page.goto(`/?scenario=syscalls&mode=presenter&lang=${lang}`);
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('step-counter')).toHaveText(/Step 0 of|第 0 步/);
}

test('the speaker window drives the projected lab and shows its state (Next, Prev, Go to, clicker keys)', async ({ page }) => {
  const errors = noErrors(page);
  await openPresenter(page, 'en');
  const speaker = await openSpeaker(page);
  const speakerErrors = noErrors(speaker);
  await expect(speaker).toHaveURL(/[?&]speaker=1/);
  await expect(speaker).toHaveTitle('Ring −1: speaker view');
  const projected = page.getByTestId('step-counter');
  const shown = speaker.getByTestId('speaker-step');
  await expect(shown).toHaveText('Step 0 of 0');

  await speaker.getByTestId('speaker-next').click();
  await expect(projected).toHaveText('Step 1 of 1');
  await expect(shown).toHaveText('Step 1 of 1');
  // The speaker shows the projected window's narration, word for word.
  await expect(speaker.getByTestId('speaker-narration')).toHaveText((await page.getByTestId('narration').innerText()).trim());

  await speaker.getByTestId('speaker-next').click();
  await expect(projected).toHaveText('Step 2 of 2');
  await speaker.getByTestId('speaker-prev').click();
  await expect(projected).toHaveText('Step 1 of 2');
  await expect(shown).toHaveText('Step 1 of 2');

  await speaker.getByTestId('speaker-goto-input').fill('6');
  await speaker.getByTestId('speaker-goto').click();
  await expect(projected).toHaveText('Step 6 of 6');
  await expect(shown).toHaveText('Step 6 of 6');

  // A malformed step is refused with a located message, and nothing is sent.
  await speaker.getByTestId('speaker-goto-input').fill('six');
  await speaker.getByTestId('speaker-goto').click();
  await expect(speaker.getByRole('alert')).toContainText('Enter a whole step number');
  await expect(speaker.getByTestId('speaker-goto-input')).toHaveAttribute('aria-invalid', 'true');
  await expect(projected).toHaveText('Step 6 of 6');

  // Clicker keys in the speaker window (focus on the page, not in the field).
  await speaker.locator('h1').click();
  await speaker.keyboard.press('PageDown');
  await expect(projected).toHaveText('Step 7 of 7');
  await speaker.keyboard.press('ArrowLeft');
  await expect(projected).toHaveText('Step 6 of 7');
  await speaker.keyboard.press('Home');
  await expect(projected).toHaveText('Step 0 of 7');
  await expect(shown).toHaveText('Step 0 of 7');

  // Stepping in the projected window itself shows in the speaker window too.
  await page.bringToFront();
  await page.keyboard.press('PageDown');
  await expect(shown).toHaveText('Step 1 of 7');

  // Outside a lesson the notes area says so; the clock runs.
  await expect(speaker.getByTestId('speaker-no-lesson')).toContainText('No lesson is running');
  await expect(speaker.getByTestId('speaker-wall')).toHaveText(/^\d{2}:\d{2}:\d{2}$/);
  await expect(speaker.getByTestId('speaker-elapsed')).toHaveText(/^00:0[1-9]/, { timeout: 5000 });
  expect(errors).toEqual([]);
  expect(speakerErrors).toEqual([]);
});

test('the projected window obeys only in presenter mode; a reload takes over and the speaker follows it', async ({ page }) => {
  await openPresenter(page, 'en');
  const speaker = await openSpeaker(page);
  const status = speaker.getByTestId('speaker-status');
  // Leaving presenter mode says goodbye: the speaker has nothing to drive.
  await page.bringToFront();
  await page.getByTestId('presenter-toggle').click();
  await expect(status).toHaveAttribute('data-connected', 'false');
  await expect(speaker.getByTestId('speaker-next')).toBeDisabled();
  // Back in presenter mode, and then a reload: the new page is a new projected window.
  await page.getByTestId('presenter-toggle').click();
  await expect(status).toHaveAttribute('data-connected', 'true');
  await page.reload();
  await expect(page.getByTestId('step-counter')).toHaveText(/Step 0 of/);
  await expect(speaker.getByTestId('speaker-step')).toHaveText('Step 0 of 0');
  await speaker.getByTestId('speaker-next').click();
  await expect(page.getByTestId('step-counter')).toHaveText('Step 1 of 1');
  // Only one projected window is known (the old one said bye on unload).
  await expect(speaker.getByTestId('speaker-window')).toHaveCount(0);
});

test('two projected windows: the speaker drives the newest, and the presenter can pick the other', async ({ page, context }) => {
  await openPresenter(page, 'en');
  const speaker = await openSpeaker(page);
  const second = await context.newPage();
  await openPresenter(second, 'en');
  const picker = speaker.getByTestId('speaker-window');
  await expect(picker).toBeVisible();
  await speaker.getByTestId('speaker-next').click();
  await expect(second.getByTestId('step-counter')).toHaveText('Step 1 of 1');
  await expect(page.getByTestId('step-counter')).toHaveText('Step 0 of 0');
  // Pick the first (older) window.
  await picker.selectOption({ index: 1 });
  await expect(speaker.getByTestId('speaker-step')).toHaveText('Step 0 of 0');
  await speaker.getByTestId('speaker-next').click();
  await expect(page.getByTestId('step-counter')).toHaveText('Step 1 of 1');
  await expect(second.getByTestId('step-counter')).toHaveText('Step 1 of 1');
  await second.close();
  await expect(picker).toHaveCount(0);
});

test('the speaker clock pauses, resumes and resets', async ({ page }) => {
  // The fake clock also flows in real time: the checks allow for the seconds a slow machine takes.
  await page.clock.install();
  await openPresenter(page, 'en');
  const speaker = await openSpeaker(page);
  const elapsed = speaker.getByTestId('speaker-elapsed');
  await speaker.clock.runFor(65_000);
  await expect(elapsed).toHaveText(/^01:0\d/);
  await speaker.getByTestId('speaker-clock-toggle').click();
  await expect(elapsed).toHaveAttribute('data-running', 'false');
  const paused = (await elapsed.innerText()).slice(0, 5);
  await speaker.clock.runFor(30_000);
  await expect(elapsed).toContainText(paused);
  await expect(elapsed).toContainText('(paused)');
  await speaker.getByTestId('speaker-clock-reset').click();
  await expect(elapsed).toContainText('00:00');
  await expect(elapsed).toContainText('(paused)');
  await speaker.getByTestId('speaker-clock-toggle').click();
  await expect(elapsed).toHaveAttribute('data-running', 'true');
  await speaker.clock.runFor(3_000);
  await expect(elapsed).toHaveText(/^00:0[3-9]$/);
});

for (const lang of ['en', 'zh-CN'] as const) {
  for (const theme of ['light', 'dark', 'contrast'] as const) {
    test(`the speaker window (${lang}, ${theme}) has no axe violations`, async ({ page }) => {
      await page.goto(`/?scenario=syscalls&mode=presenter&lang=${lang}&theme=${theme}`);
      await expect(page.getByTestId('narration')).toBeVisible();
      const speaker = await openSpeaker(page);
      await expect(speaker.locator('html')).toHaveAttribute('lang', lang);
      await expect(speaker.locator('html')).toHaveAttribute('data-theme', theme);
      await speaker.getByTestId('speaker-next').click();
      await expect(speaker.getByTestId('speaker-step')).toHaveText(/Step 1 of 1|第 1 步，共 1 步/);
      await axeClean(speaker);
    });
  }
}

test('a speaker window opened with no projected lab says so and drives nothing', async ({ page }) => {
  const errors = noErrors(page);
  await page.goto('/?speaker=1&lang=zh-CN');
  await expect(page.getByTestId('speaker-status')).toHaveAttribute('data-connected', 'false');
  await expect(page.getByTestId('speaker-status')).toContainText('未找到投影中的实验室');
  await expect(page.getByTestId('speaker-next')).toBeDisabled();
  await expect(page.getByTestId('speaker-no-lesson')).toBeVisible();
  await axeClean(page);
  expect(errors).toEqual([]);
});

test('the speaker window button appears only in presenter mode', async ({ page }) => {
  await page.goto('/?scenario=syscalls&lang=en');
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('speaker-open')).toHaveCount(0);
  await page.getByTestId('presenter-toggle').click();
  await expect(page.getByTestId('speaker-open')).toBeVisible();
});
