/**
 * Progress and the lesson map (issue 5): the map opens from the top bar, an imported progress file
 * is shown and survives a reload, a corrupt file changes nothing, blocked storage is said once.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { COURSE } from '../../src/lessons/course.ts';
import { SUMMARIES } from '../../src/lessons/summaries.ts';
import { PROGRESS_KEY } from '../../src/lessons/progress-store.ts';
import { noErrors } from './page-checks.ts';

const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/progress-v1.json'), 'utf8')) as { documents: { text: string }[] };
/**
 * An exported progress file of format 1, from the fixture, its lesson renamed to one the course
 * does not have: the map then shows the file's own figures (a lesson the course has is shown with
 * the course's steps and points).
 */
const exported = (fixture.documents[0]?.text ?? '').replaceAll('01-rings', '90-imported');

const map = (page: Page) => page.getByTestId('lesson-map');

async function openMap(page: Page, query = 'lang=en&scenario=syscalls'): Promise<void> {
  await page.goto(`/?${query}`);
  await expect(page.getByTestId('narration')).toBeVisible();
  const toggle = page.getByTestId('lessons-toggle');
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await toggle.click();
  await expect(map(page)).toBeVisible();
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
}

async function importText(page: Page, name: string, text: string): Promise<void> {
  await page.getByTestId('progress-import').setInputFiles({ name, mimeType: 'application/json', buffer: Buffer.from(text) });
}

/** The state of a lesson as the map (or its list of other lessons) shows it. */
const lessonState = (page: Page, id: string) => map(page).getByTestId(`lesson-${id}`);

test('the lesson map lists the course, or says plainly there is none', async ({ page }) => {
  const errors = noErrors(page);
  await openMap(page);
  await expect(map(page).getByRole('heading', { name: 'Lessons', level: 2 })).toBeVisible();
  if (COURSE.length === 0) {
    await expect(page.getByTestId('lessons-none')).toHaveText('This version of the lab has no lessons yet.');
  } else {
    for (const l of COURSE) {
      const row = lessonState(page, l.id);
      await expect(row).toContainText(l.title.en);
      // The summary comes with the map's own chunk (src/lessons/summaries.ts).
      await expect(row).toContainText(SUMMARIES[l.id]!.en);
      await expect(row).toContainText('Not started');
      await expect(row.getByRole('button', { name: new RegExp(`Lesson ${l.number}`) })).toBeVisible();
    }
    await expect(page.getByTestId('lesson-count')).toHaveText(`0 of ${COURSE.length} lessons done`);
  }
  await expect(page.getByTestId('progress-storage')).toHaveText(/kept in this browser/);
  // Closing returns the focus to the toggle.
  await map(page).getByRole('button', { name: 'Close lessons' }).click();
  await expect(map(page)).toHaveCount(0);
  await expect(page.getByTestId('lessons-toggle')).toBeFocused();
  expect(errors).toEqual([]);
});

test('an imported progress file is previewed, kept, and still there after a reload', async ({ page }) => {
  const errors = noErrors(page);
  await openMap(page);
  await importText(page, 'progress.json', exported);
  const preview = page.getByTestId('import-preview');
  await expect(preview.getByRole('heading', { name: 'Import progress.json?' })).toBeFocused();
  await expect(preview).toContainText('90-imported');
  await expect(preview).toContainText('Not started → Done: 8 of 10 points');
  await expect(preview).toContainText('Not started → In progress: step 5 of 14, 2 of 7 points');
  await page.getByTestId('import-confirm').click();
  await expect(page.getByTestId('import-result-live')).toHaveText('Imported progress.json: 2 lessons updated.');
  await expect(lessonState(page, '90-imported')).toContainText('Done: 8 of 10 points');
  await expect(lessonState(page, '90-imported')).toHaveAttribute('data-state', 'done');
  await expect(lessonState(page, '02-paging')).toContainText('In progress: step 5 of 14, 2 of 7 points');

  await page.reload();
  await expect(page.getByTestId('narration')).toBeVisible();
  await page.getByTestId('lessons-toggle').click();
  await expect(lessonState(page, '90-imported')).toContainText('Done: 8 of 10 points');
  await expect(lessonState(page, '02-paging')).toHaveAttribute('data-state', 'started');

  // Importing the same file again changes nothing, and says so.
  await importText(page, 'progress.json', exported);
  await expect(page.getByTestId('import-preview')).toContainText('holds nothing new');
  await expect(page.getByTestId('import-confirm')).toHaveCount(0);
  await page.getByTestId('import-cancel').click();
  await expect(page.getByTestId('import-result-live')).toHaveText('Import cancelled: your progress is unchanged.');
  expect(errors).toEqual([]);
});

test('a corrupt or hostile file gets a located message and changes nothing', async ({ page }) => {
  const errors = noErrors(page);
  await openMap(page);
  await importText(page, 'progress.json', exported);
  await page.getByTestId('import-confirm').click();
  const stored = await page.evaluate((k) => localStorage.getItem(k), PROGRESS_KEY);

  const bad: [string, string][] = [
    ['{"format":1,"lessons":{"01-rings":{"reached":99,"steps":12,"score":0,"maxScore":10,"completed":false}}}', 'at lessons.01-rings.reached, expected a whole number from 0 to 11'],
    ['{"format":1,', 'it is not valid JSON'],
    ['{"format":1,"lessons":{"__proto__":{}}}', 'at lessons.__proto__, expected a lesson id such as 01-rings'],
    ['{"format":9,"lessons":{}}', 'it was made by a newer version of the lab (progress format 9)'],
  ];
  for (const [text, why] of bad) {
    await importText(page, 'bad.json', text);
    await expect(page.getByTestId('import-error')).toContainText(`Could not import bad.json: ${why}`);
    await expect(page.getByTestId('import-error')).toContainText('Your progress is unchanged.');
    await expect(page.getByTestId('import-preview')).toHaveCount(0);
  }
  expect(await page.evaluate((k) => localStorage.getItem(k), PROGRESS_KEY)).toBe(stored);
  await expect(lessonState(page, '90-imported')).toContainText('Done: 8 of 10 points');
  expect(errors).toEqual([]);
});

test('with storage blocked, progress is kept in memory and the page says so once', async ({ page }) => {
  const errors = noErrors(page);
  await page.addInitScript(() => {
    Object.defineProperty(window, 'localStorage', {
      configurable: true,
      get() {
        throw new DOMException('The operation is insecure.', 'SecurityError');
      },
    });
  });
  await openMap(page);
  const notice = 'This browser does not let the lab keep data here, so your progress lasts only until this page is closed. Export it to keep it.';
  await expect(page.getByTestId('progress-storage')).toHaveText(`⚠ ${notice}`);
  await expect(page.getByRole('status').filter({ hasText: notice })).toHaveCount(2);
  await importText(page, 'progress.json', exported);
  await page.getByTestId('import-confirm').click();
  await expect(lessonState(page, '90-imported')).toContainText('Done: 8 of 10 points');
  // Exporting still works: the file is what was imported.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('progress-export').click()]);
  expect(download.suggestedFilename()).toMatch(/^ring-minus-one-progress-\d{4}-\d{2}-\d{2}\.json$/);
  const text = readFileSync(await download.path(), 'utf8');
  expect(JSON.parse(text)).toMatchObject({ app: 'ring-minus-one', format: 1, lessons: { '90-imported': { best: 8, completed: true } } });
  expect(errors).toEqual([]);
});

for (const lang of ['en', 'zh-CN'] as const) {
  for (const theme of ['light', 'dark', 'contrast'] as const) {
    test(`the lesson map with progress and an import preview has no axe violations (${lang}, ${theme})`, async ({ page }) => {
      const errors = noErrors(page);
      await openMap(page, `lang=${lang}&scenario=syscalls&theme=${theme}`);
      await importText(page, 'progress.json', exported);
      await page.getByTestId('import-confirm').click();
      await importText(page, 'progress.json', exported.replace('"reached": 4', '"reached": 9'));
      await expect(page.getByTestId('import-preview')).toBeVisible();
      const axe = await new AxeBuilder({ page }).analyze();
      expect(axe.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
      await page.getByTestId('import-cancel').click();
      await importText(page, 'bad.json', '{');
      await expect(page.getByTestId('import-error')).toBeVisible();
      const again = await new AxeBuilder({ page }).include('[data-testid="lesson-map"]').analyze();
      expect(again.violations.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
      expect(errors).toEqual([]);
    });
  }
}
