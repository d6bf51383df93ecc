import { expect, test, type Locator, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { formatWalkExercise, hexPa } from '../../src/emu/exercise/format.ts';
import { generateWalkExercise, type WalkExercise, type WalkLevels } from '../../src/emu/exercise/walk-exercise.ts';
import { noErrors } from './page-checks.ts';

const panel = (page: Page) => page.getByTestId('practice');
const questions = (page: Page) => panel(page).getByTestId('practice-question');
const result = (page: Page) => panel(page).getByTestId('practice-result');

async function openPractice(page: Page, query: string): Promise<void> {
  await page.goto(`/?${query}`);
  await expect(panel(page).getByTestId('practice-walk')).toBeVisible();
}

/** The command line's problem text, in the parts the page shows: dump rows and questions. */
function cliProblem(ex: WalkExercise): { rows: string[]; questions: string[]; cr3: string } {
  const lines = formatWalkExercise(ex, { answers: false }).split('\n');
  const rows = lines.filter((l) => /^ {2}0x[0-9a-f]{8} {2}\[[0-9a-f]{3}\] {2}0x[0-9a-f]+$/.test(l)).map((l) => l.trim().split(/\s+/).join(' '));
  const questions = lines.filter((l) => /^ +\d+\. 0x[0-9a-f]+ {2}\w+, \w+$/.test(l)).map((l) => l.trim().split(/\s+/).slice(1).join(' '));
  const cr3 = lines.find((l) => l.startsWith('  CR3'))!.trim().split(/\s+/)[1]!;
  return { rows, questions, cr3 };
}

/** Presses Tab until `target` has focus (keyboard only). */
async function tabTo(page: Page, target: Locator, max = 60): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error('Tab never reached the element');
}

for (const [levels, seed] of [[2, 4242], [3, 7], [4, 123456], [5, 31]] as [WalkLevels, number][]) {
  test(`a ?practice= link with seed ${seed} shows the command line's problem (${levels} levels)`, async ({ page }) => {
    const bad = noErrors(page);
    await openPractice(page, `lang=en&practice=walk&levels=${levels}&seed=${seed}`);
    const ex = generateWalkExercise({ levels, seed });
    const cli = cliProblem(ex);
    await expect(panel(page).getByTestId('practice-seed')).toHaveText(`Seed ${seed}`);
    await expect(panel(page).getByTestId('practice-title')).toContainText(`seed ${seed}`);
    await expect(panel(page).getByTestId('practice-control').locator('tr').first()).toContainText(cli.cr3);
    const rows = await panel(page).getByTestId('practice-dump').locator('tbody tr').evaluateAll((trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent!.trim()).join(' ')),
    );
    expect(rows).toEqual(cli.rows);
    const legends = await questions(page).locator('legend').allTextContents();
    expect(legends.map((l) => l.replace(/^Question \d+: /, '').replace(',', ''))).toEqual(cli.questions);
    await expect(panel(page).getByTestId('practice-cli')).toHaveText(`npm run lab -- exercise walk --levels ${levels} --seed ${seed} --answers`);
    expect(bad).toEqual([]);
  });
}

test('the right answers, typed with the keyboard alone as the answer key prints them, are all marked right', async ({ page }) => {
  const bad = noErrors(page);
  await openPractice(page, 'lang=en&practice=walk&levels=4&seed=123456');
  const ex = generateWalkExercise({ levels: 4, seed: 123456 });
  for (const [i, a] of ex.answers.entries()) {
    const q = questions(page).nth(i);
    await tabTo(page, q.getByRole('radio', { name: 'Physical address' }));
    // Arrow keys move within the radio group: the second radio is the page fault.
    if (!a.ok) await page.keyboard.press('ArrowDown');
    else await page.keyboard.press('Space');
    if (a.ok) {
      await page.keyboard.press('Tab');
      await expect(q.getByTestId('practice-pa')).toBeFocused();
      await page.keyboard.type(hexPa(a.pa));
    } else {
      await page.keyboard.press('Tab');
      await expect(q.getByTestId('practice-code')).toBeFocused();
      await page.keyboard.type(`0x${a.errorCode.toString(16)}`);
      await page.keyboard.press('Tab');
      const level = q.getByTestId('practice-level');
      await expect(level).toBeFocused();
      const options = await level.locator('option').allTextContents();
      for (let k = 0; k < options.indexOf(a.faultLevel); k++) await page.keyboard.press('ArrowDown');
      await expect(level).toHaveValue(a.faultLevel);
    }
  }
  await tabTo(page, panel(page).getByTestId('practice-check'));
  await page.keyboard.press('Enter');
  await expect(result(page)).toHaveText(`Score: ${ex.answers.length} of ${ex.answers.length}.`);
  await expect(result(page)).toHaveAttribute('aria-live', 'polite');
  for (let i = 0; i < ex.answers.length; i++) {
    await expect(questions(page).nth(i)).toHaveAttribute('data-mark', 'right');
    await expect(questions(page).nth(i).getByTestId('practice-mark')).toContainText('✓ Right');
  }
  expect(bad).toEqual([]);
});

test('wrong answers are marked wrong, with why and the correct walk step by step', async ({ page }) => {
  await openPractice(page, 'lang=en&practice=walk&levels=3&seed=7');
  const ex = generateWalkExercise({ levels: 3, seed: 7 });
  const key = formatWalkExercise(ex, { answers: true });
  for (const [i, a] of ex.answers.entries()) {
    const q = questions(page).nth(i);
    if (a.ok) {
      // The right frame, the wrong offset.
      await q.getByRole('radio', { name: 'Physical address' }).check();
      await q.getByTestId('practice-pa').fill(hexPa(a.pa - (a.pa % a.pageSize) + ((a.pa + 4) % a.pageSize)));
    } else {
      await q.getByRole('radio', { name: 'Physical address' }).check();
      await q.getByTestId('practice-pa').fill('0x1000');
    }
  }
  await panel(page).getByTestId('practice-check').click();
  await expect(result(page)).toHaveText(`Score: 0 of ${ex.answers.length}.`);
  for (const [i, a] of ex.answers.entries()) {
    const q = questions(page).nth(i);
    await expect(q).toHaveAttribute('data-mark', 'wrong');
    const mark = q.getByTestId('practice-mark');
    await expect(mark).toContainText('✗ Wrong');
    await expect(mark).toContainText(a.ok ? 'The page frame is right, but the offset' : 'The access faults (#PF): there is no physical address.');
    const explain = q.getByTestId('practice-explain');
    await expect(explain).toHaveAttribute('open', '');
    const steps = explain.locator('li');
    await expect(steps).toHaveCount(a.steps.length + (a.ok ? 1 : 2));
    for (const s of a.steps) await expect(explain).toContainText(hexPa(s.entryPa));
    // The outcome the command line's answer key gives.
    if (a.ok) await expect(explain).toContainText(`= ${hexPa(a.pa)}, in a`);
    else {
      await expect(explain).toContainText(`Error code 0x${a.errorCode.toString(16)}:`);
      expect(key).toContain(`error code 0x${a.errorCode.toString(16)}:`);
    }
  }
});

test('an answer that cannot be read is named with its place, and nothing is checked', async ({ page }) => {
  await openPractice(page, 'lang=en&practice=walk&levels=2&seed=4242');
  const q1 = questions(page).nth(0);
  await q1.getByRole('radio', { name: 'Physical address' }).check();
  await q1.getByTestId('practice-pa').fill('0x12zz');
  const q2 = questions(page).nth(1);
  await q2.getByRole('radio', { name: 'Page fault (#PF)' }).check();
  await q2.getByTestId('practice-code').fill('0x7');
  await panel(page).getByTestId('practice-check').click();
  await expect(result(page)).toHaveText(
    'Some answers cannot be read, so nothing was checked. Fix: question 1, physical address: character 5 (“z”) is not a hex digit; question 2, entry: choose the entry',
  );
  await expect(q1.getByTestId('practice-pa')).toHaveAttribute('aria-invalid', 'true');
  await expect(q1.getByTestId('practice-pa')).toHaveAccessibleDescription('character 5 (“z”) is not a hex digit');
  await expect(panel(page).getByTestId('practice-mark')).toHaveCount(0);
  await q1.getByTestId('practice-pa').fill('0x12');
  await q2.getByTestId('practice-level').selectOption('PTE');
  await panel(page).getByTestId('practice-check').click();
  await expect(result(page)).toHaveText(/^Score: \d of 5\.$/);
  await expect(panel(page).getByTestId('practice-mark')).toHaveCount(5);
});

test('the top bar opens practice; a new problem draws a seed the link and the URL carry; a typed seed is checked', async ({ page }) => {
  await page.goto('/?lang=en&scenario=syscalls');
  await expect(page.getByTestId('narration')).toBeVisible();
  await page.getByTestId('practice-toggle').click();
  await expect(page.getByTestId('practice-toggle')).toHaveAttribute('aria-pressed', 'true');
  await expect(panel(page).getByTestId('practice-walk')).toBeVisible();
  const seedOf = async (): Promise<string> => ((await panel(page).getByTestId('practice-seed').textContent()) ?? '').replace(/\D/g, '');
  const first = await seedOf();
  expect(first).toMatch(/^\d{1,6}$/);
  await expect(page).toHaveURL(new RegExp(`[?&]practice=walk&levels=4&seed=${first}(&|$)`));
  await panel(page).getByTestId('practice-new').click();
  await expect.poll(seedOf).not.toBe(first);
  const second = await seedOf();
  await expect(page).toHaveURL(new RegExp(`seed=${second}(&|$)`));
  await expect(panel(page).getByTestId('practice-title')).toContainText(`seed ${second}`);
  await panel(page).getByText('Hand it out').click();
  await expect(panel(page).getByTestId('practice-link')).toHaveValue(new RegExp(`practice=walk&levels=4&seed=${second}`));
  // A typed seed: bad input is named, the problem stays; a good one is shown.
  const seedInput = panel(page).getByTestId('practice-seed-input');
  await seedInput.fill('12x');
  await seedInput.press('Enter');
  await expect(panel(page).getByRole('alert')).toHaveText('Seed: character 3 (“x”) is not a digit.');
  await expect(seedInput).toHaveAttribute('aria-invalid', 'true');
  await expect(panel(page).getByTestId('practice-title')).toContainText(`seed ${second}`);
  await seedInput.fill('31');
  await panel(page).getByTestId('practice-levels').selectOption('5');
  await seedInput.press('Enter');
  await expect(panel(page).getByTestId('practice-title')).toHaveText('Page walk: 5-level paging, seed 31');
  await expect(page).toHaveURL(/practice=walk&levels=5&seed=31(&|$)/);
  const ex = generateWalkExercise({ levels: 5, seed: 31 });
  await expect(questions(page)).toHaveCount(ex.questions.length);
  // The link opens the same problem in a fresh page.
  const link = await panel(page).getByTestId('practice-link').inputValue();
  const other = await page.context().newPage();
  await other.goto(link);
  await expect(other.getByTestId('practice-title')).toHaveText('Page walk: 5-level paging, seed 31');
  expect(await other.getByTestId('practice-dump').innerText()).toBe(await panel(page).getByTestId('practice-dump').innerText());
  await other.close();
  await page.getByTestId('practice-toggle').click();
  await expect(panel(page)).toHaveCount(0);
  await expect(page).not.toHaveURL(/practice=/);
});

for (const lang of ['en', 'zh-CN'] as const) {
  for (const theme of ['light', 'dark', 'contrast'] as const) {
    test(`practice (${lang}, ${theme}) is axe clean, checked and unchecked`, async ({ page }) => {
      const bad = noErrors(page);
      await openPractice(page, `lang=${lang}&theme=${theme}&practice=walk&levels=3&seed=99`);
      await expect(panel(page)).toHaveAttribute('lang', lang);
      const scan = async (): Promise<string[]> =>
        (await new AxeBuilder({ page }).include('[data-testid="practice"]').analyze()).violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`);
      expect(await scan()).toEqual([]);
      await questions(page).nth(0).getByRole('radio').nth(0).check();
      await questions(page).nth(1).getByRole('radio').nth(1).check();
      await panel(page).getByTestId('practice-check').click();
      await expect(result(page)).toContainText(lang === 'en' ? 'cannot be read' : '无法读取');
      expect(await scan()).toEqual([]);
      await questions(page).nth(0).getByTestId('practice-pa').fill('0');
      await questions(page).nth(1).getByTestId('practice-code').fill('5');
      await questions(page).nth(1).getByTestId('practice-level').selectOption({ index: 1 });
      await panel(page).getByTestId('practice-check').click();
      await expect(result(page)).toHaveText(lang === 'en' ? /^Score: \d of 5\.$/ : /^得分：\d \/ 5。$/);
      expect(await scan()).toEqual([]);
      expect(bad).toEqual([]);
    });
  }
}

test('presenter mode: practice reads at a projector’s size without spilling sideways, and is axe clean', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  await openPractice(page, 'lang=zh-CN&mode=presenter&practice=walk&levels=5&seed=31');
  await expect(page.locator('html')).toHaveAttribute('data-mode', 'presenter');
  const size = await panel(page).getByTestId('practice-title').evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
  expect(size).toBeGreaterThanOrEqual(24);
  await panel(page).getByTestId('practice-check').click();
  await expect(panel(page).getByTestId('practice-mark')).toHaveCount(5);
  const spill = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(spill).toBeLessThanOrEqual(0);
  const axe = await new AxeBuilder({ page }).include('[data-testid="practice"]').analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
});
