import { expect, test, type Locator, type Page } from '@playwright/test';
import { generateVmexitExercise, type VmexitAnswer } from '../../src/emu/exercise/vmexit-exercise.ts';
import { formatVmexitExercise } from '../../src/emu/exercise/vmexit-format.ts';
import { axeClean, noErrors } from './page-checks.ts';

const panel = (page: Page) => page.getByTestId('practice');
const problems = (page: Page) => panel(page).getByTestId('practice-problem');
const result = (page: Page) => panel(page).getByTestId('practice-result');

async function tabTo(page: Page, target: Locator, max = 120): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error('Tab never reached the element');
}

type Exit = Extract<VmexitAnswer, { exit: true }>;
const isExit = (a: VmexitAnswer, reasons: number[]): a is Exit => a.exit && reasons.includes(a.reason);

/** A seed whose first six problems hold a CPUID or VMCALL exit and an I/O exit (found, not assumed). */
function pickSeed(): { seed: number; plain: number; io: number } {
  for (let seed = 1; seed < 500; seed++) {
    const ex = generateVmexitExercise({ seed, count: 6 });
    const plain = ex.answers.findIndex((a) => isExit(a, [10, 18]));
    const io = ex.answers.findIndex((a) => isExit(a, [30]));
    if (plain >= 0 && io >= 0) return { seed, plain, io };
  }
  throw new Error('no seed');
}
const { seed, plain, io } = pickSeed();
const ex = generateVmexitExercise({ seed, count: 6 });

async function open(page: Page, query: string): Promise<void> {
  await page.goto(`/?${query}`);
  await expect(panel(page).getByTestId('practice-vmexit')).toBeVisible();
}

test(`?practice=vmexit&seed=${seed} shows the command line's problems, the seed and the command`, async ({ page }) => {
  const bad = noErrors(page);
  await open(page, `lang=en&practice=vmexit&seed=${seed}`);
  await expect(panel(page).getByTestId('practice-seed')).toHaveText(`Seed ${seed}`);
  await expect(panel(page).getByTestId('practice-title')).toHaveText(`VM exits (VT-x), seed ${seed}`);
  await expect(panel(page).getByTestId('practice-cli')).toHaveText(`npm run lab -- exercise vmexit --seed ${seed} --answers`);
  await expect(problems(page)).toHaveCount(6);
  const text = formatVmexitExercise(ex, { answers: false });
  for (const [i, p] of ex.problems.entries()) {
    await expect(problems(page).nth(i).getByTestId('practice-asm')).toHaveText(p.asm);
    await expect(problems(page).nth(i)).toContainText(p.bytes);
    expect(text).toContain(`${p.asm}    (${p.bytes})`);
    for (const c of p.controls) await expect(problems(page).nth(i)).toContainText(c.name);
  }
  expect(new URL(page.url()).searchParams.get('practice')).toBe('vmexit');
  expect(new URL(page.url()).searchParams.has('levels')).toBe(false);
  expect(bad).toEqual([]);
});

test('one problem answered right and one wrong with the keyboard alone: feedback per field, and the score', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, `lang=en&practice=vmexit&seed=${seed}`);
  const right = ex.answers[plain] as Exit;
  const wrong = ex.answers[io] as Exit;

  // Right: a VM exit, its reason, its instruction length.
  const p1 = problems(page).nth(plain);
  await tabTo(page, p1.getByRole('radio', { name: 'No VM exit' }));
  await page.keyboard.press('ArrowDown');
  await expect(p1.getByRole('radio', { name: 'VM exit', exact: true })).toBeChecked();
  await page.keyboard.press('Tab');
  await expect(p1.getByTestId('practice-reason')).toBeFocused();
  await page.keyboard.type(String(right.reason));
  await expect(p1.getByTestId('practice-reason')).toHaveValue(String(right.reason));
  await page.keyboard.press('Tab');
  await expect(p1.getByTestId('practice-length')).toBeFocused();
  await page.keyboard.type(String(right.instructionLength));
  await expect(p1.getByTestId('practice-length')).toHaveValue(String(right.instructionLength));

  // Wrong: the I/O exit's reason right, its port one off.
  const p2 = problems(page).nth(io);
  await tabTo(page, p2.getByRole('radio', { name: 'No VM exit' }));
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Tab');
  await page.keyboard.type('30');
  await expect(p2.getByTestId('practice-reason')).toHaveValue('30');
  const port = wrong.qualificationFields.find((f) => f.name === 'port')!.value;
  await tabTo(page, p2.getByTestId('practice-f-port'));
  await page.keyboard.type(`0x${(port ^ 1).toString(16)}`);

  await tabTo(page, panel(page).getByTestId('practice-check'));
  await page.keyboard.press('Enter');
  await expect(result(page)).toHaveText('Score: 1 of 6.');
  await expect(p1).toHaveAttribute('data-mark', 'right');
  await expect(p1.getByTestId('practice-mark')).toContainText('✓ Right');
  await expect(p2).toHaveAttribute('data-mark', 'wrong');
  const portVerdict = p2.locator('[data-testid="practice-verdict"][data-item="port"]');
  await expect(portVerdict).toHaveAttribute('data-right', 'false');
  await expect(portVerdict).toContainText(`wrong; the answer is 0x${port.toString(16).padStart(4, '0')}`);
  await expect(p2.locator('[data-testid="practice-verdict"][data-item="reason"]')).toHaveAttribute('data-right', 'true');
  await expect(p2.locator('[data-testid="practice-verdict"][data-item="outcome"]')).toContainText(/I\/O/);
  // An unanswered problem says what the answer is.
  const other = ex.answers.findIndex((_, i) => i !== plain && i !== io);
  await expect(problems(page).nth(other).locator('[data-item="outcome"]')).toContainText('not answered; the answer is');
  expect(bad).toEqual([]);
});

test('Chinese: the sentences are translated, the SDM names stay', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, `lang=zh-CN&practice=vmexit&seed=${seed}`);
  await expect(panel(page).getByTestId('practice-title')).toHaveText(`VM 退出（VT-x），种子 ${seed}`);
  await expect(problems(page).nth(0).locator('h4')).toContainText('第 1 题');
  await problems(page).nth(plain).getByRole('radio', { name: '发生 VM 退出', exact: true }).check();
  await panel(page).getByTestId('practice-check').click();
  await expect(result(page)).toHaveText(/^得分：\d \/ 6。$/);
  await expect(problems(page).nth(plain).getByTestId('practice-mark')).toContainText('退出原因');
  expect(bad).toEqual([]);
});

for (const [name, query] of [
  ['en', 'lang=en'],
  ['zh-CN', 'lang=zh-CN&theme=dark'],
  ['presenter', 'lang=zh-CN&mode=presenter'],
] as const) {
  test(`VM-exit practice is axe clean (${name}), unchecked and checked`, async ({ page }) => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await open(page, `${query}&practice=vmexit&seed=${seed}`);
    await axeClean(page, '[data-testid="practice"]');
    await problems(page).nth(io).getByRole('radio').nth(1).check();
    await problems(page).nth(io).getByTestId('practice-reason').selectOption('30');
    await problems(page).nth(plain).getByRole('radio').nth(0).check();
    await panel(page).getByTestId('practice-check').click();
    await expect(panel(page).getByTestId('practice-mark')).toHaveCount(6);
    await axeClean(page, '[data-testid="practice"]');
    if (name === 'presenter') {
      const size = await panel(page).getByTestId('practice-title').evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
      expect(size).toBeGreaterThanOrEqual(24);
      const spill = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(spill).toBeLessThanOrEqual(0);
    }
  });
}

test('the kind picker switches to VM exits and back, and the count keeps to each kind’s bounds', async ({ page }) => {
  await page.goto('/?lang=en&practice=walk&levels=4&seed=5&count=32');
  await expect(panel(page).getByTestId('practice-walk')).toBeVisible();
  await panel(page).getByTestId('practice-kind').selectOption('vmexit');
  await expect(panel(page).getByTestId('practice-vmexit')).toBeVisible();
  await expect(panel(page).getByTestId('practice-levels')).toHaveCount(0);
  await expect(problems(page)).toHaveCount(32);
  await expect(panel(page).getByTestId('practice-cli')).toHaveText('npm run lab -- exercise vmexit --seed 5 --count 32 --answers');
  await panel(page).getByLabel('Questions').fill('40');
  await panel(page).getByTestId('practice-show').click();
  await expect(problems(page)).toHaveCount(40);
  await panel(page).getByTestId('practice-kind').selectOption('walk');
  await expect(panel(page).getByTestId('practice-walk')).toBeVisible();
  await expect(panel(page).getByTestId('practice-question')).toHaveCount(5);
});
