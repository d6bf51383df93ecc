/**
 * A lesson in embed mode: a host page on another origin frames `?embed=1&lesson=…`, a student
 * completes the lesson inside the frame with the keyboard alone, and the host records the
 * `progress` and `complete` messages, also when the frame's storage is blocked.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, test, type Frame, type Page } from '@playwright/test';
import { axeClean, noErrors } from './page-checks.ts';
import config from '../../playwright.config.ts';
import { column, next, playLesson1, runToNextRingChange, tabTo, type Where } from './lesson-helpers.ts';

// As in embed.spec.ts: a routed public host page may frame the loopback preview server.
const launchOptions = config.use?.launchOptions ?? {};
test.use({ launchOptions: { ...launchOptions, args: [...(launchOptions.args ?? []), '--disable-features=LocalNetworkAccessChecks'] } });

const HOST = 'http://host.test';
const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/public-v1.json'), 'utf8')) as {
  lessonUrls: { url: string; opens: { lesson: string; step: number; embed: boolean } }[];
};

interface Msg {
  type: string;
  lessonId?: string;
  step?: number;
  reached?: number;
  steps?: number;
  score?: number;
  maxScore?: number;
  completed?: boolean;
  height?: number;
}

/** A course page at http://host.test that frames `src`, sizes it from `height` and keeps every lab message (window.got). */
async function openHost(page: Page, app: string, src: string, width = 800): Promise<Frame> {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Course page</title><link rel="icon" href="data:,">
<script>
  window.got = [];
  addEventListener('message', (e) => {
    if (e.origin !== ${JSON.stringify(app)} || !e.data || e.data.source !== 'ring-minus-one' || e.data.v !== 1) return;
    window.got.push(e.data);
    if (e.data.type === 'height') document.getElementById('lab').style.height = e.data.height + 'px';
  });
</script></head><body><main><h1>Unit 1</h1>
<iframe id="lab" title="Ring −1 lesson" src="${src}" style="width:${width}px;height:600px;border:0;display:block"></iframe>
</main></body></html>`;
  await page.route(`${HOST}/**`, (r) => r.fulfill({ contentType: 'text/html', body: html }));
  await page.goto(`${HOST}/unit/1.html`);
  await expect.poll(() => page.frames().some((f) => f.url().startsWith(app))).toBe(true);
  return page.frames().find((f) => f.url().startsWith(app))!;
}

const got = (page: Page): Promise<Msg[]> => page.evaluate(() => (window as unknown as { got: Msg[] }).got);
const ofType = async (page: Page, type: string): Promise<Msg[]> => (await got(page)).filter((m) => m.type === type);

/** Into the frame from the host page's keyboard: Tab until the lesson's first control has the focus. */
async function enter(w: Where): Promise<void> {
  await expect(column(w)).toBeVisible();
  await expect(w.root.getByTestId('lesson-lab-status')).toBeEmpty();
  await tabTo(w, column(w).getByRole('button').or(column(w).getByRole('radio')).first());
}

test('a student completes lesson 1 inside a frame on another origin, keyboard only; the host hears progress and completion', async ({ page, baseURL }) => {
  const app = new URL(baseURL!).origin;
  const errors = noErrors(page);
  const frame = await openHost(page, app, `${app}/?embed=1&lesson=01-rings&lang=en&host=${encodeURIComponent(HOST)}`);
  const w: Where = { page, root: frame };
  await expect.poll(async () => (await ofType(page, 'ready')).length).toBe(1);
  // The embed's own views, and those lesson 1 points at (the registers); the pointer works in the frame.
  await expect(frame.getByTestId('ring-view')).toBeVisible();
  await expect(frame.getByTestId('registers-region')).toBeVisible();
  await expect(frame.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'ring');
  await expect(frame.getByTestId('lesson-pointer')).toContainText('Look here: the ring diagram');
  // The first progress report (step 0) was held until ready, and posted right after it.
  const first = await got(page);
  expect(first.findIndex((m) => m.type === 'ready')).toBeLessThan(first.findIndex((m) => m.type === 'progress'));

  await enter(w);
  await playLesson1(w);
  await expect(frame.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 5 of 5.');

  await expect.poll(async () => (await ofType(page, 'complete')).length).toBe(1);
  const complete = (await ofType(page, 'complete'))[0]!;
  expect(complete).toEqual({ source: 'ring-minus-one', v: 1, type: 'complete', lessonId: '01-rings', score: 5, maxScore: 5 });
  const progress = await ofType(page, 'progress');
  const steps = progress.map((m) => m.step!);
  // Rising step numbers through all 12 steps, and a score that only grows to 5 of 5.
  expect(steps.every((s, i) => i === 0 || s >= steps[i - 1]!)).toBe(true);
  expect(new Set(steps)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
  expect(progress.map((m) => m.score!).every((s, i, a) => i === 0 || s >= a[i - 1]!)).toBe(true);
  expect(progress.at(-1)).toMatchObject({ lessonId: '01-rings', step: 11, reached: 11, steps: 12, score: 5, maxScore: 5, completed: true });
  // The completion comes right after the report that completed the lesson.
  const all = await got(page);
  const completing = all.findIndex((m) => m.type === 'progress' && m.completed === true);
  expect(completing).toBeGreaterThan(-1);
  expect(all[completing + 1]?.type).toBe('complete');
  // The host sized the frame to the lab, which fits without scrolling either way.
  await expect.poll(async () => frame.evaluate(() => document.documentElement.scrollHeight - window.innerHeight)).toBeLessThanOrEqual(1);
  expect(await frame.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
  expect(errors).toEqual([]);
});

test('with the frame\'s storage blocked (a partitioned third-party frame), the lesson still works and reports to the host', async ({ page, baseURL }) => {
  const app = new URL(baseURL!).origin;
  const errors = noErrors(page);
  await page.addInitScript((origin) => {
    if (location.origin !== origin) return;
    Object.defineProperty(window, 'localStorage', {
      get() {
        throw new DOMException('The operation is insecure.', 'SecurityError');
      },
    });
  }, app);
  const frame = await openHost(page, app, `${app}/?embed=1&lesson=01-rings&lstep=11&lang=en&host=${encodeURIComponent(HOST)}`);
  expect(await frame.evaluate(() => {
    try {
      return typeof localStorage;
    } catch {
      return 'blocked';
    }
  })).toBe('blocked');
  const w: Where = { page, root: frame };
  await expect.poll(async () => (await ofType(page, 'ready')).length).toBe(1);
  // Opened at step 11, the lab was run through SYSCALL: the SYSRET is the student's.
  await expect(frame.getByTestId('ring-view').locator('svg')).toHaveAttribute('data-cpl', '0');
  await enter(w);
  await runToNextRingChange(w);
  await next(w);
  await tabTo(w, frame.getByTestId('lesson-next'));
  await page.keyboard.press('Enter');
  await expect(frame.getByTestId('lesson-complete')).toHaveText('✓ Lesson complete. Score: 0 of 5.');
  await expect.poll(async () => (await ofType(page, 'complete')).length).toBe(1);
  expect((await ofType(page, 'complete'))[0]).toMatchObject({ lessonId: '01-rings', score: 0, maxScore: 5 });
  expect((await ofType(page, 'progress')).map((m) => m.step)).toEqual(expect.arrayContaining([10, 11]));
  // No storage notice in the frame: the embed reports to its host instead.
  await expect(frame.locator('body')).not.toContainText('does not let the lab keep data');
  expect(errors).toEqual([]);
});

test('an embedded lesson opened at step 8 (a v1 lesson URL) is ready only once the lab is back in ring 3', async ({ page, baseURL }) => {
  const app = new URL(baseURL!).origin;
  const asked = fixture.lessonUrls.find((u) => u.opens.embed && u.opens.step === 7)!;
  const url = new URL(asked.url, app);
  url.searchParams.set('host', HOST);
  const frame = await openHost(page, app, url.toString());
  await expect.poll(async () => (await ofType(page, 'ready')).length).toBe(1);
  const ready = (await ofType(page, 'ready'))[0]! as Msg & { step: number };
  expect(ready.step).toBeGreaterThan(0);
  // (runUntil has looked further ahead, so the furthest step is beyond it.)
  await expect(frame.getByTestId('step-counter')).toHaveText(new RegExp(`^Step ${ready.step} of \\d+$`));
  await expect(frame.getByTestId('ring-view').locator('svg')).toHaveAttribute('data-cpl', '3');
  await expect(column({ page, root: frame })).toContainText('Step 8 of 12');
  expect((await ofType(page, 'step')).length).toBe(0);
  expect((await ofType(page, 'progress'))[0]).toMatchObject({ lessonId: asked.opens.lesson, step: asked.opens.step });
});

for (const [lang, width] of [['en', 800], ['zh-CN', 800], ['en', 420]] as const) {
  test(`embed lesson mode (${lang}, ${width} px) fits its frame and has no axe violations`, async ({ page }) => {
    const errors = noErrors(page);
    await page.setViewportSize({ width, height: 600 });
    // Step 10 asks for a pick among the registers: the candidates are in the Tab order.
    await page.goto(`/?embed=1&lesson=01-rings&lstep=10&lang=${lang}`);
    await expect(column({ page, root: page })).toBeVisible();
    await expect(page.getByTestId('lesson-lab-status')).toBeEmpty();
    await expect(page.locator('[data-lesson-target="reg-rcx"]')).toHaveAttribute('tabindex', '0');
    await expect(page.getByTestId('lesson-close')).toHaveCount(0);
    expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
    await axeClean(page);
    expect(errors).toEqual([]);
  });
}

test('lesson 2 embedded at its pick step: its own scenario named in the heading, the walk view brought in, the entries in the Tab order', async ({ page }) => {
  const errors = noErrors(page);
  await page.setViewportSize({ width: 800, height: 600 });
  await page.goto('/?embed=1&lesson=02-paging&lstep=10&lang=en');
  await expect(column({ page, root: page })).toContainText('Step 10 of 14');
  await expect(page.getByTestId('lesson-lab-status')).toBeEmpty();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('A read-only page, copy-on-write and the TLB');
  await expect(page.getByTestId('walk-view')).toBeVisible();
  await expect(page.locator('[data-lesson-target="walk-pte"]')).toHaveAttribute('tabindex', '0');
  await axeClean(page);
  expect(errors).toEqual([]);
});

test('lessons 5 and 7 embedded: the nested-walk grid and the shadow view their steps point at are brought in', async ({ page }) => {
  const errors = noErrors(page);
  await page.setViewportSize({ width: 800, height: 600 });
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?embed=1&lesson=05-nested-walk&lstep=5&lang=en');
  await expect(column({ page, root: page })).toContainText('Step 5 of 13');
  await expect(page.getByTestId('lesson-lab-status')).toBeEmpty();
  await expect(page.getByTestId('nested-walk')).toBeVisible();
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'nested-walk');
  await axeClean(page);
  await page.goto('/?embed=1&lesson=07-shadow-paging&lstep=3&lang=zh-CN');
  await expect(column({ page, root: page })).toContainText('第 3 步，共 13 步');
  await expect(page.getByTestId('shadow-view')).toBeVisible();
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'shadow');
  await axeClean(page);
  expect(errors).toEqual([]);
});

test('lessons 12 and 14 embedded: the kernel diff, the hosting paths and the containers their steps point at are brought in', async ({ page }) => {
  const errors = noErrors(page);
  await page.setViewportSize({ width: 800, height: 600 });
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/?embed=1&lesson=12-paravirtualization&lstep=1&lang=en');
  await expect(page.getByTestId('lesson-lab-status')).toBeEmpty();
  await expect(page.getByTestId('pv-diff')).toBeVisible();
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'pv-diff');
  await axeClean(page);
  await page.goto('/?embed=1&lesson=14-hosting&lstep=1&lang=zh-CN');
  await expect(column({ page, root: page })).toContainText('第 1 步，共 16 步');
  await expect(page.getByTestId('lesson-lab-status')).toBeEmpty();
  await expect(page.getByTestId('hosting-panel')).toBeVisible();
  await expect(page.getByTestId('hosting-panel')).toHaveAttribute('data-hosting', 'bare-metal');
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'hosting');
  await axeClean(page);
  await page.goto('/?embed=1&lesson=14-hosting&lstep=10&lang=en');
  await expect(column({ page, root: page })).toContainText('Step 10 of 16');
  await expect(page.getByTestId('lesson-lab-status')).toBeEmpty();
  await expect(page.getByTestId('containers')).toBeVisible();
  await expect(page.locator('[data-lesson-pointed]')).toHaveAttribute('data-lesson-target', 'containers');
  expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
  await axeClean(page);
  expect(errors).toEqual([]);
});
