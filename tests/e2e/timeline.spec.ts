/**
 * The timeline of events (issue 4, item 3) on the lab screen with real scenarios: marks sit at the
 * steps where the narration tells of their events, a click on a mark or on the track goes there,
 * the slider's keys go from mark to mark, going back and forward again gives the same timeline,
 * the list and summary speak both languages, and axe finds nothing.
 */
import { expect, test, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

const counter = (page: Page) => page.getByTestId('step-counter');
const narration = (page: Page) => page.getByTestId('narration');
const timeline = (page: Page) => page.getByTestId('timeline-view');
const track = (page: Page) => page.getByTestId('timeline-track');
const marks = (page: Page, kind: string) => track(page).locator(`g.mark[data-kind="${kind}"]`);

async function open(page: Page, query: string): Promise<void> {
  await page.goto(`/?${query}`);
  await expect(narration(page)).toBeVisible();
  await expect(counter(page)).toHaveText(/Step 0 of|第 0 步/);
}

/** Waits until the timeline shows the marks of the run as it now is. */
async function settled(page: Page): Promise<void> {
  await expect(timeline(page)).toHaveAttribute('data-current', 'true');
}

/** Runs to the next event of `kind` with the playback bar (English screen). */
async function runTo(page: Page, kind: string): Promise<void> {
  await page.getByRole('combobox', { name: 'Event to run to' }).selectOption(kind);
  const before = await counter(page).innerText();
  await page.getByRole('button', { name: 'Run to next' }).click();
  await expect(counter(page)).not.toHaveText(before);
  await settled(page);
}

async function steps(page: Page, kind: string): Promise<number[]> {
  return (await marks(page, kind).evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-step'))))).sort((a, b) => a - b);
}

function stepOf(text: string): { at: number; furthest: number } {
  const m = /^Step (\d+) of (\d+)$/.exec(text.trim());
  if (m === null) throw new Error(`not a step counter: ${text}`);
  return { at: Number(m[1]), furthest: Number(m[2]) };
}

test('stepping one at a time, ring-change and port marks sit at the steps whose narration tells of them', async ({ page }) => {
  await open(page, 'scenario=syscalls&lang=en');
  await expect(timeline(page).getByTestId('timeline-summary')).toHaveText('Steps 0 to 0: no events.');
  const ring: number[] = [];
  const port: number[] = [];
  for (let i = 1; i <= 40; i++) {
    await page.keyboard.press('ArrowRight');
    await expect(counter(page)).toHaveText(`Step ${i} of ${i}`);
    const said = await narration(page).innerText();
    if (/ring \d → ring \d/.test(said)) ring.push(i);
    if (/to port 0x[0-9a-f]+/.test(said)) port.push(i);
  }
  expect(ring.length).toBeGreaterThanOrEqual(2);
  expect(port.length).toBeGreaterThanOrEqual(2);
  await settled(page);
  await expect.poll(() => steps(page, 'ring/change')).toEqual(ring);
  await expect.poll(() => steps(page, 'io/port')).toEqual(port);
  // The INT 0x80 that entered the kernel is also an interrupt mark, at the same step.
  const int80 = ring[1]!;
  await expect(marks(page, 'cpu/interrupt')).toHaveCount(1);
  await expect(marks(page, 'cpu/interrupt').first()).toHaveAttribute('data-step', String(int80));
  await expect(timeline(page).getByTestId('timeline-summary')).toContainText(`Steps 0 to 40: ${ring.length} ring changes, 1 interrupt, ${port.length} port I/O accesses.`);
});

test('a click on a mark goes to its step, where the narration tells of the event; a click on the track goes to the step under it', async ({ page }) => {
  await open(page, 'scenario=page-fault&lang=en');
  await runTo(page, 'cpu/halt');
  const { furthest } = stepOf(await counter(page).innerText());
  const pf = marks(page, 'cpu/exception');
  await expect(pf).toHaveCount(1);
  const at = Number(await pf.getAttribute('data-step'));
  await pf.click();
  await expect(counter(page)).toHaveText(`Step ${at} of ${furthest}`);
  await expect(narration(page)).toHaveText(/^Page fault \(#PF\) at 0x40080000, error code 6: user write to a non-present page; ring 3 → ring 0\.$/);
  await expect(track(page)).toHaveAttribute('aria-valuetext', `Step ${at} of ${furthest}: #PF (page fault) at 0x40080000: user write to a non-present page, exception #PF (14, page fault): ring 3 → ring 0`);
  // The right end of the track is the furthest step.
  const box = (await track(page).boundingBox())!;
  await track(page).click({ position: { x: box.width - 12, y: box.height - 8 } });
  await expect(counter(page)).toHaveText(`Step ${furthest} of ${furthest}`);
  await expect(page.getByTestId('code-region')).toBeVisible();
});

test('the slider’s arrow keys go from mark to mark, Home and End to the ends, and the page’s own shortcuts stay out of it', async ({ page }) => {
  await open(page, 'scenario=page-fault&lang=en');
  await runTo(page, 'cpu/halt');
  const { furthest } = stepOf(await counter(page).innerText());
  const all = (
    await track(page)
      .locator('g.mark')
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-step'))))
  ).filter((s, i, a) => a.indexOf(s) === i).sort((a, b) => a - b);
  expect(all.length).toBeGreaterThan(4);
  await track(page).focus();
  await page.keyboard.press('Home');
  await expect(counter(page)).toHaveText(`Step 0 of ${furthest}`);
  for (const s of all.slice(0, 4)) {
    await page.keyboard.press('ArrowRight');
    await expect(counter(page)).toHaveText(`Step ${s} of ${furthest}`);
    await expect(track(page)).toHaveAttribute('aria-valuenow', String(s));
  }
  await page.keyboard.press('ArrowLeft');
  await expect(counter(page)).toHaveText(`Step ${all[2]} of ${furthest}`);
  await expect(track(page)).toHaveAttribute('aria-valuetext', new RegExp(`^Step ${all[2]} of ${furthest}: .+`));
  await page.keyboard.press('End');
  await expect(counter(page)).toHaveText(`Step ${furthest} of ${furthest}`);
  await expect(track(page)).toBeFocused();
  // Presses quicker than the screen moves each go on from where the last one asked to go.
  await page.keyboard.press('Home');
  await expect(counter(page)).toHaveText(`Step 0 of ${furthest}`);
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
  await expect(counter(page)).toHaveText(`Step ${all[2]} of ${furthest}`);
  await expect(track(page)).toHaveAccessibleName('Events of the run');
});

test('going back and forward again gives the same timeline; going back changes only the cursor', async ({ page }) => {
  await open(page, 'scenario=syscalls&lang=en');
  const at = 26;
  for (let i = 1; i <= at; i++) {
    await page.keyboard.press('ArrowRight');
    await expect(counter(page)).toHaveText(`Step ${i} of ${i}`);
  }
  await settled(page);
  const html = async () => timeline(page).evaluate((e) => e.outerHTML);
  await expect(marks(page, 'io/port')).toHaveCount(2);
  const there = await html();
  const markSteps = await track(page).locator('g.mark').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-kind')}@${e.getAttribute('data-step')}`));
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowLeft');
  await expect(counter(page)).toHaveText(`Step ${at - 3} of ${at}`);
  await expect(track(page).locator('g.mark')).toHaveCount(markSteps.length);
  expect(await track(page).locator('g.mark').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-kind')}@${e.getAttribute('data-step')}`))).toEqual(markSteps);
  await expect(track(page)).toHaveAttribute('aria-valuenow', String(at - 3));
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
  await expect(counter(page)).toHaveText(`Step ${at} of ${at}`);
  await expect.poll(html).toBe(there);
});

test('the list of events goes to a step, marks the current row, and has no axe violations', async ({ page }) => {
  await open(page, 'scenario=syscalls&lang=en');
  await runTo(page, 'cpu/halt');
  const { furthest } = stepOf(await counter(page).innerText());
  const list = timeline(page).getByTestId('timeline-list');
  await list.locator('summary').click();
  const rows = list.locator('tbody tr');
  await expect(rows).toHaveCount(await track(page).locator('g.mark').count());
  const sysret = list.locator('tr', { hasText: 'SYSRET: ring 0 → ring 3' }).first();
  const at = Number(await sysret.getAttribute('data-step'));
  await sysret.getByRole('button', { name: `Go to step ${at}` }).click();
  await expect(counter(page)).toHaveText(`Step ${at} of ${furthest}`);
  await expect(narration(page)).toHaveText(/ring 0 → ring 3 \(SYSRET\)\.$/);
  await expect(list.locator('tr[aria-current="step"]')).toHaveCount(1);
  await expect(list.locator('tr[aria-current="step"]')).toContainText('SYSRET');
  await expect(timeline(page)).toContainText('Shapes: ▲ a change towards ring 0');
  const axe = await new AxeBuilder({ page }).include('[data-testid="timeline-view"]').analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
});

test('the timer example: the tick at step 2000 is an interrupt mark there, named in the slider’s value', async ({ page }) => {
  await open(page, 'scenario=timer&lang=en');
  await runTo(page, 'cpu/interrupt');
  await expect(counter(page)).toHaveText('Step 2000 of 2000');
  await expect(marks(page, 'cpu/interrupt')).toHaveCount(1);
  await expect(marks(page, 'cpu/interrupt').first()).toHaveAttribute('data-step', '2000');
  await expect(marks(page, 'ring/change').first()).toHaveAttribute('data-step', '2000');
  await expect(track(page)).toHaveAttribute('aria-valuetext', /^Step 2000 of 2000: Timer interrupt, vector 0x20, interrupt 0x20 \(timer\): ring 3 → ring 0$/);
  await expect(page.getByTestId('ring-view').locator('svg')).toHaveAttribute('data-cpl', '0');
});

test('in Chinese the timeline is marked zh-CN, speaks Chinese, and has no axe violations', async ({ page }) => {
  await open(page, 'scenario=page-fault&lang=zh-CN');
  await page.getByRole('combobox', { name: '要运行到的事件' }).selectOption('cpu/halt');
  await page.getByRole('button', { name: '运行到下一个' }).click();
  await expect(counter(page)).not.toHaveText(/^第 0 步/);
  await settled(page);
  await expect(timeline(page)).toHaveAttribute('lang', 'zh-CN');
  await expect(timeline(page).getByRole('heading', { name: '事件时间线' })).toBeVisible();
  await expect(timeline(page).getByTestId('timeline-summary')).toContainText('1 次异常 #PF（缺页异常），在第 2 步');
  await expect(track(page)).toHaveAccessibleName('运行中的事件');
  await expect(track(page).locator('text.label').first()).toHaveText('特权级切换（5）');
  await timeline(page).getByTestId('timeline-list').locator('summary').click();
  await expect(timeline(page).getByRole('button', { name: '跳到第 2 步' })).toHaveCount(2);
  const axe = await new AxeBuilder({ page }).include('[data-testid="timeline-view"]').analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
});

test('presenter mode shows the timeline large, without the list, and its keys still work', async ({ page }) => {
  await open(page, 'scenario=syscalls&mode=presenter&lang=en');
  for (let i = 0; i < 12; i++) await page.keyboard.press('PageDown');
  await expect(counter(page)).toHaveText('Step 12 of 12');
  await expect(timeline(page)).toBeVisible();
  await expect(timeline(page).getByTestId('timeline-list')).toHaveCount(0);
  const size = await track(page).locator('text.label').first().evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
  expect(size).toBeGreaterThanOrEqual(20);
  await settled(page);
  await track(page).focus();
  await page.keyboard.press('Home');
  await expect(counter(page)).toHaveText('Step 0 of 12');
  await page.keyboard.press('ArrowRight');
  await expect(counter(page)).toHaveText(/^Step [1-9]\d* of 12$/);
});
