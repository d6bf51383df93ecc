/**
 * Lesson 2 (paging, the page walk and the TLB) in the browser: a student completes it with the
 * keyboard alone, on the lesson's own scenario, picking the read-only entry in the page-walk view;
 * the figure the summary quotes links to its source; no axe violations at the walk-view steps.
 */
import { expect, test, type Locator, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

const column = (page: Page) => page.getByTestId('lesson-column');

async function tabTo(page: Page, target: Locator, max = 500): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`Tab never reached ${target.toString()}`);
}

async function next(page: Page): Promise<void> {
  const title = await page.getByTestId('lesson-step-title').textContent();
  await tabTo(page, page.getByTestId('lesson-next'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-step-title')).not.toHaveText(title ?? '');
  await expect(page.getByTestId('lesson-step-title')).toBeFocused();
}

async function answerNumber(page: Page, value: string): Promise<void> {
  await tabTo(page, page.getByTestId('lesson-number'));
  await page.keyboard.type(value);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-feedback')).toContainText('✓ Correct.');
}

async function choose(page: Page, nth: number): Promise<void> {
  const radios = column(page).getByRole('radio');
  await tabTo(page, radios.first());
  if (nth === 0) await page.keyboard.press('Space');
  for (let i = 0; i < nth; i++) await page.keyboard.press('ArrowDown');
  await expect(radios.nth(nth)).toBeChecked();
  await tabTo(page, page.getByTestId('lesson-lock'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-feedback')).toContainText('✓ Correct.');
}

/** Steps with → (the focus on the step's title) until the task is done, at most `max` times. */
async function stepUntilDone(page: Page, max: number): Promise<void> {
  const status = page.getByTestId('lesson-task-status');
  const counter = page.getByTestId('step-counter').first();
  for (let i = 0; i < max && !(await status.textContent())?.includes('✓'); i++) {
    const before = await counter.textContent();
    await page.keyboard.press('ArrowRight');
    await expect(counter).not.toHaveText(before ?? '');
  }
  await expect(status).toContainText('✓');
}

async function axe(page: Page): Promise<void> {
  const r = await new AxeBuilder({ page }).analyze();
  expect(r.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
}

test('a student completes lesson 2 with the keyboard alone, picking the read-only entry in the walk view', async ({ page }) => {
  test.setTimeout(90_000);
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=02-paging&lang=en');
  await expect(column(page)).toContainText('Step 1 of 14');
  // The lesson's own scenario, not the example: its first instruction loads DATA's address.
  await expect(page.getByTestId('code-view')).toContainText('mov esi, 0x40140000');
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'walk');
  await next(page);

  await answerNumber(page, '4');
  await next(page);
  await answerNumber(page, '0x140');
  await expect(page.getByTestId('lesson-feedback')).toContainText('0x140 (320)');
  await next(page);
  await stepUntilDone(page, 2);
  await expect(page.getByTestId('walk-view')).toContainText('00013a00');
  await next(page);
  await answerNumber(page, '0');
  await next(page);
  await stepUntilDone(page, 1);
  await next(page);
  await choose(page, 2);
  await next(page);
  await answerNumber(page, '7');
  await next(page);
  await stepUntilDone(page, 1);
  await expect(page.getByTestId('narration')).toContainText('#PF');
  await next(page);

  // The walk view's entries are the candidates: a wrong one is named, then the PTE.
  const pde = page.locator('[data-lesson-target="walk-pde"]');
  const pte = page.locator('[data-lesson-target="walk-pte"]');
  await expect(pte).toHaveAttribute('tabindex', '0');
  await axe(page);
  await tabTo(page, pde);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-task-status')).toContainText("the walk's PDE allows writes");
  await tabTo(page, pte);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-task-status')).toContainText('The PTE: its R/W is 0');
  await expect(column(page)).toContainText('Score: 5 of 7');
  await next(page);

  // Copy-on-write: run to the ring change back to ring 3, then step once.
  await tabTo(page, page.getByTestId('run-to'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('ring-view').locator('svg')).toHaveAttribute('data-cpl', '3');
  await stepUntilDone(page, 1);
  await expect(page.getByTestId('walk-view')).toContainText('00301007');
  await next(page);
  await choose(page, 1);
  await next(page);
  await stepUntilDone(page, 12);
  await next(page);

  // The summary quotes the nested-walk figure with its source and grade.
  await expect(page.getByTestId('lesson-fact')).toContainText('24');
  await expect(page.getByTestId('lesson-fact').getByTestId('cite')).toHaveAttribute('href', '#source-nested-walk-refs');
  await tabTo(page, page.getByTestId('lesson-next'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 6 of 7.');
  await axe(page);
  expect(errors).toEqual([]);
});

test('lesson 2 in Chinese, at the fault: the walk view names the entries, axe clean', async ({ page }) => {
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?lesson=02-paging&lstep=9&lang=zh-CN');
  await expect(column(page)).toContainText('第 9 步，共 14 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('缺页异常');
  await axe(page);
});
