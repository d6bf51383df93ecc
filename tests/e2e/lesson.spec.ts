/**
 * Lesson 1 in the browser: a student completes it with the keyboard alone (Tab, arrows, Enter,
 * Space, typing), and the screen has no axe violations in English, Chinese and presenter mode.
 */
import { expect, test, type Page } from '@playwright/test';
import { axeClean } from './page-checks.ts';
import { choose as chooseIn, next as nextIn, runToNextRingChange as runIn, stepUntilDone as stepIn, tabTo as tabIn, type Where } from './lesson-helpers.ts';

const column = (page: Page) => page.getByTestId('lesson-column');
const at = (page: Page): Where => ({ page, root: page });

/** Opens the lab with a lesson and waits until the lab has been run to where the lesson step expects it. */
async function open(page: Page, query: string, labStep: RegExp = /Step 0 of|第 0 步/): Promise<void> {
  await page.goto(`/?${query}`);
  await expect(column(page)).toBeVisible();
  await expect(page.getByTestId('lesson-lab-status')).toBeEmpty();
  await expect(page.getByTestId('step-counter').first()).toHaveText(labStep);
}

const tabTo = (page: Page, target: Parameters<typeof tabIn>[1]) => tabIn(at(page), target);
const next = (page: Page) => nextIn(at(page));
const stepUntilDone = (page: Page, max: number) => stepIn(at(page), max);
const runToNextRingChange = (page: Page) => runIn(at(page));
const choose = (page: Page, nth: number) => chooseIn(at(page), nth, '✓ Correct.');

test('a student completes lesson 1 with the keyboard alone, with full marks', async ({ page }) => {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await open(page, 'lesson=01-rings&lang=en');
  await expect(page).toHaveURL(/lesson=01-rings/);
  await expect(column(page)).toContainText('Step 1 of 12');
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'ring');
  await expect(page.getByTestId('lesson-pointer')).toContainText('Look here: the ring diagram');
  await expect(page.getByTestId('lesson-next')).toBeDisabled();

  // Hints on request; the prediction locks.
  await tabTo(page, page.getByTestId('lesson-hint'));
  await page.keyboard.press('Enter');
  await expect(column(page)).toContainText('Hint 1:');
  await choose(page, 1);
  await expect(column(page).getByRole('radio')).toHaveCount(0);
  await next(page);

  // The lesson's own #GP scenario: HLT at CPL 3 traps; then back to the system calls.
  await expect(page.getByTestId('code-view')).toContainText('hlt');
  await stepUntilDone(page, 6);
  await expect(page.getByTestId('narration')).toContainText('#GP');
  await next(page);
  await expect(page.getByTestId('step-counter').first()).toHaveText(/^Step 0 of/);
  await expect(page.getByTestId('code-view')).toContainText('iretq');

  await stepUntilDone(page, 10);
  await expect(page.getByTestId('ring-view').locator('svg')).toHaveAttribute('data-cpl', '3');
  await next(page);

  // A number: typed wrong-format first, then right.
  await tabTo(page, page.getByTestId('lesson-number'));
  await page.keyboard.type('eighty');
  await page.keyboard.press('Enter');
  await expect(column(page).getByRole('alert')).toContainText('Type a number');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('0x80');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-feedback')).toContainText('✓ Correct.');
  await expect(page.getByTestId('lesson-feedback')).toContainText('0x80 (128)');
  await next(page);

  await choose(page, 1);
  await next(page);
  await stepUntilDone(page, 10);
  await expect(page.getByTestId('registers-view').locator('[data-reg="rsp"] dd')).toContainText('ffd8');
  await next(page);
  await runToNextRingChange(page);
  await expect(page).toHaveURL(/lstep=7/);
  await next(page);
  await choose(page, 0);
  await next(page);
  await stepUntilDone(page, 10);
  await next(page);

  // Pick the register, from the keyboard: the candidates are in the Tab order while the step waits.
  const rcx = page.locator('[data-lesson-target="reg-rcx"]');
  await expect(rcx).toHaveAttribute('tabindex', '0');
  await tabTo(page, rcx);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-task-status')).toContainText('RCX: SYSCALL put');
  await expect(rcx).not.toHaveAttribute('tabindex', '0');
  await next(page);
  await runToNextRingChange(page);
  await next(page);
  await expect(page.getByTestId('lesson-next')).toHaveText(/Finish/);
  await tabTo(page, page.getByTestId('lesson-next'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 5 of 5.');
  await axeClean(page);
  // The completion is kept: after a reload the lesson map shows it done, with the score.
  await page.goto('/?lang=en&scenario=syscalls');
  await expect(page.getByTestId('narration')).toBeVisible();
  await page.getByTestId('lessons-toggle').click();
  await expect(page.getByTestId('lesson-01-rings')).toHaveAttribute('data-state', 'done');
  await expect(page.getByTestId('lesson-01-rings')).toContainText('Done: 5 of 5 points');
  expect(errors).toEqual([]);
});

test('a wrong register is named and costs the point; opened at step 10, the lab has just run the SYSCALL', async ({ page }) => {
  await open(page, 'lesson=01-rings&lstep=10&lang=en', /^Step [1-9]\d* of/);
  await expect(column(page)).toContainText('Step 10 of 12');
  // The earlier steps' ring changes have happened on screen: the lab is in ring 0 after SYSCALL.
  await expect(page.getByTestId('ring-view').locator('svg')).toHaveAttribute('data-cpl', '0');
  await expect(page.getByTestId('narration')).toContainText('SYSCALL');
  const rsp = page.locator('[data-lesson-target="reg-rsp"]');
  await tabTo(page, rsp);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-task-status')).toContainText('That is register RSP.');
  await tabTo(page, page.locator('[data-lesson-target="reg-rcx"]'));
  await page.keyboard.press(' ');
  await expect(page.getByTestId('lesson-task-status')).toContainText('✓');
  await expect(column(page)).toContainText('Score: 0 of 5');
  await tabTo(page, page.getByTestId('lesson-back'));
  await page.keyboard.press('Enter');
  // Step 9 waits for the SYSCALL the lab ran to open step 10: it is met.
  await expect(column(page)).toContainText('Step 9 of 12');
  await expect(page.getByTestId('lesson-task-status')).toContainText('✓');
  await expect(page.getByTestId('lesson-next')).toBeEnabled();
});

test('opened at step 8, the lab is back in ring 3 after the INT 0x80 round trip, and the next wait step is completable', async ({ page }) => {
  await open(page, 'lesson=01-rings&lstep=8&lang=en', /^Step [1-9]\d* of/);
  await expect(column(page)).toContainText('Step 8 of 12');
  await expect(page.getByTestId('ring-view').locator('svg')).toHaveAttribute('data-cpl', '3');
  await expect(page.getByTestId('narration')).toContainText('IRET');
  const at8 = Number((await page.getByTestId('step-counter').first().innerText()).match(/^Step (\d+) of/)?.[1]);
  // The URL names the lesson step, not the lab's: a reload runs the lab to the same place.
  await expect.poll(() => new URL(page.url()).searchParams.get('lstep')).toBe('8');
  expect(new URL(page.url()).searchParams.has('step')).toBe(false);
  await choose(page, 0);
  await next(page);
  // Step 9 waits for a SYSCALL the lab has not yet run: Next waits, stepping gets there.
  await expect(column(page)).toContainText('Step 9 of 12');
  await expect(page.getByTestId('lesson-next')).toBeDisabled();
  await expect(column(page)).toContainText('Next unlocks once you have answered or done the task.');
  await expect(page.getByTestId('lesson-task-status')).toContainText('Waiting for you in the lab');
  await stepUntilDone(page, 10);
  await expect(page.getByTestId('ring-view').locator('svg')).toHaveAttribute('data-cpl', '0');
  expect(Number((await page.getByTestId('step-counter').first().innerText()).match(/^Step (\d+) of/)?.[1])).toBeGreaterThan(at8);
  await expect(page.getByTestId('lesson-next')).toBeEnabled();

  await page.reload();
  await expect(page.getByTestId('lesson-lab-status')).toBeEmpty();
  await expect(column(page)).toContainText('Step 9 of 12');
  await expect(page.getByTestId('ring-view').locator('svg')).toHaveAttribute('data-cpl', '3');
});

test('opened at step 7, the lab stops after INT 0x80: the IRET the step waits for is still the student\'s to run', async ({ page }) => {
  await open(page, 'lesson=01-rings&lstep=7&lang=en', /^Step [1-9]\d* of/);
  await expect(page.getByTestId('ring-view').locator('svg')).toHaveAttribute('data-cpl', '0');
  await expect(page.getByTestId('lesson-task-status')).toContainText('Waiting for you in the lab');
  await runToNextRingChange(page);
  await expect(page.getByTestId('ring-view').locator('svg')).toHaveAttribute('data-cpl', '3');
});

test('an unknown lesson opens the lab without it and says so', async ({ page }) => {
  await page.goto('/?lesson=99-nothing&lang=en');
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByText('There is no lesson “99-nothing”.', { exact: false })).toBeVisible();
  await expect(column(page)).toHaveCount(0);
});

for (const [name, query] of [
  ['zh-CN', 'lesson=01-rings&lstep=5&lang=zh-CN'],
  ['presenter', 'lesson=01-rings&lstep=8&lang=en&mode=presenter'],
  ['dark', 'lesson=01-rings&lstep=2&lang=en&theme=dark'],
] as const) {
  test(`the lesson column has no axe violations (${name})`, async ({ page }) => {
    await open(page, query, /./);
    await axeClean(page);
  });
}

test('the lesson speaks Chinese: step text, controls and feedback', async ({ page }) => {
  await open(page, 'lesson=01-rings&lstep=4&lang=zh-CN', /^第 [1-9]\d* 步/);
  await expect(column(page)).toContainText('第 4 步，共 12 步');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('预测：INT 0x80 的向量号');
  await tabTo(page, page.getByTestId('lesson-number'));
  await page.keyboard.type('128');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('lesson-feedback')).toContainText('✓ 正确。');
});

test('the scenario picker names the lesson’s own scenario while it runs; picking an example leaves it and the lesson stays at its step', async ({ page }) => {
  await open(page, 'lesson=01-rings&lstep=2&lang=en');
  const picker = page.getByTestId('scenario-picker');
  const code = page.getByTestId('code-view');
  await expect(picker).toHaveValue('lesson-own');
  await expect(picker.locator('option:checked')).toHaveText('This lesson’s: HLT in ring 3, a #GP');
  await expect(code).toContainText('hlt');
  // Picking the example the lesson runs on (the page's example all along) loads it.
  await picker.selectOption('syscalls');
  await expect(code).toContainText('iretq');
  await expect(picker).toHaveValue('syscalls');
  await expect(column(page)).toContainText('Step 2 of 12');
  await expect(page.getByTestId('lesson-step-title')).toHaveText('Try it: HLT in ring 3');
  // The lesson's option stays in the list while its step names it: picking it loads that scenario again.
  await picker.selectOption('lesson-own');
  await expect(code).toContainText('hlt');
  await expect(picker).toHaveValue('lesson-own');
  // Another example, then the lesson's again.
  await picker.selectOption('timer');
  await expect(picker).toHaveValue('timer');
  await expect(page).toHaveURL(/scenario=timer/);
  await picker.selectOption('lesson-own');
  await expect(picker).toHaveValue('lesson-own');
  // Named in Chinese too.
  await page.getByRole('button', { name: '简体中文' }).click();
  await expect(picker.locator('option:checked')).toHaveText('本课自带：在 3 环执行 HLT，引发 #GP');
  // Leaving the step leaves the lesson's scenario: the option goes, the example comes back.
  await page.getByTestId('lesson-back').click();
  await expect(column(page)).toContainText('第 1 步，共 12 步');
  await expect(picker).toHaveValue('timer');
  await expect(picker.locator('option[value="lesson-own"]')).toHaveCount(0);
});
