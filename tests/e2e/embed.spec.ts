/**
 * Embed mode and the versioned public surface: a host page on another origin (served by the test
 * at http://host.test) frames the lab and drives it by postMessage; old URLs open as they did.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, test, type Frame, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import config from '../../playwright.config.ts';

// Chromium's Local Network Access check blocks a public page (which a routed http://host.test is)
// from framing a loopback server such as the preview server. Deployed, the lab is on a public host
// too, so the check is off for this file only.
const launchOptions = config.use?.launchOptions ?? {};
test.use({ launchOptions: { ...launchOptions, args: [...(launchOptions.args ?? []), '--disable-features=LocalNetworkAccessChecks'] } });

interface Fixture {
  urls: { url: string; opens: { scenario: string; step: number; lang: string; theme: string; mode: string; embed: boolean; host: string | null } }[];
  futureUrls: { url: string; opens: { scenario: string; step: number } }[];
  session: { url: string; ready: { scenario: string; step: number; lang: string }; then: { send: unknown; step: number }[] };
  messages: Record<'ready' | 'step', Record<string, unknown>>;
}
const fixture = JSON.parse(readFileSync(resolve(import.meta.dirname, '../fixtures/public-v1.json'), 'utf8')) as Fixture;

const HOST = 'http://host.test';
const EVIL = 'http://evil.test';

interface Got {
  origin: string;
  data: { type: string; step?: number; furthest?: number; narration?: string; height?: number; scenario?: string; lang?: string; cpl?: number };
}

/**
 * Serves a host page at http://host.test/ that frames `src` and keeps every message from the lab
 * (window.got), sizes the frame from `height`, and sends commands with `send(msg)`. With
 * `sibling`, it also frames a page at http://evil.test/ that can post to the lab.
 */
async function openHost(page: Page, appOrigin: string, src: string, opts: { sibling?: boolean; width?: number } = {}): Promise<void> {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Course page</title><link rel="icon" href="data:,">
<script>
  window.got = [];
  addEventListener('message', (e) => {
    if (e.origin !== ${JSON.stringify(appOrigin)} || !e.data || e.data.source !== 'ring-minus-one') return;
    window.got.push({ origin: e.origin, data: e.data });
    if (e.data.type === 'height') document.getElementById('lab').style.height = e.data.height + 'px';
  });
  window.send = (msg) => document.getElementById('lab').contentWindow.postMessage(msg, ${JSON.stringify(appOrigin)});
</script></head><body><main><h1>Unit 4</h1>
<iframe id="lab" title="Ring −1" src="${src}" style="width:${opts.width ?? 820}px;height:150px;border:0;display:block"></iframe>
${opts.sibling ? `<iframe id="other" title="Another widget" src="${EVIL}/widget.html" style="width:10px;height:10px;border:0"></iframe>` : ''}
</main></body></html>`;
  await page.route(`${HOST}/**`, (r) => r.fulfill({ contentType: 'text/html', body: html }));
  await page.route(`${EVIL}/**`, (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>widget</title><p>widget</p>' }));
  await page.goto(`${HOST}/unit/4.html`);
}

const got = (page: Page): Promise<Got[]> => page.evaluate(() => (window as unknown as { got: Got[] }).got);
const ofType = async (page: Page, type: string): Promise<Got[]> => (await got(page)).filter((m) => m.data.type === type);
const send = (page: Page, msg: unknown): Promise<void> => page.evaluate((m) => (window as unknown as { send: (x: unknown) => void }).send(m), msg);

function labFrame(page: Page, appOrigin: string): Frame {
  const f = page.frames().find((fr) => fr.url().startsWith(appOrigin));
  if (f === undefined) throw new Error('the lab frame is not there');
  return f;
}

/** Sends a command and waits for the `step` message that answers it. */
async function command(page: Page, msg: unknown): Promise<Got> {
  const before = (await ofType(page, 'step')).length;
  await send(page, msg);
  await expect.poll(async () => (await ofType(page, 'step')).length).toBe(before + 1);
  const steps = await ofType(page, 'step');
  return steps[steps.length - 1]!;
}

function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

test('a host page on another origin: ready, height and step arrive; next, prev and goto move the lab (v1 session)', async ({ page, baseURL }) => {
  const app = new URL(baseURL!).origin;
  const errors = watchConsole(page);
  const requests: { url: string; type: string }[] = [];
  page.on('request', (r) => requests.push({ url: r.url(), type: r.resourceType() }));
  const s = fixture.session;
  await openHost(page, app, `${app}${s.url}&host=${HOST}`);

  await expect.poll(async () => (await ofType(page, 'ready')).length).toBe(1);
  const ready = (await ofType(page, 'ready'))[0]!;
  expect(ready.data).toMatchObject({ source: 'ring-minus-one', v: 1, ...s.ready, furthest: s.ready.step });
  // The fixture's examples are what this session sends (the narration is content, not API: it may be reworded).
  expect(ready.data).toEqual(fixture.messages.ready);
  const frame = labFrame(page, app);
  await expect(frame.getByTestId('step-counter')).toHaveText(`Step ${s.ready.step} of ${s.ready.step}`);

  // The host sized the frame from the height messages: the lab fits without scrolling.
  await expect.poll(async () => (await ofType(page, 'height')).length).toBeGreaterThan(0);
  await expect
    .poll(async () => frame.evaluate(() => document.documentElement.scrollHeight - window.innerHeight))
    .toBeLessThanOrEqual(1);
  const last = (await ofType(page, 'height')).at(-1)!;
  expect(await page.locator('#lab').evaluate((el) => el.getBoundingClientRect().height)).toBe(last.data.height);

  for (const [i, { send: msg, step }] of s.then.entries()) {
    const answer = await command(page, msg);
    if (i === 0) {
      expect(answer.data).toEqual({ ...fixture.messages.step, narration: answer.data.narration });
    }
    expect(answer.data).toMatchObject({ source: 'ring-minus-one', v: 1, type: 'step', step });
    expect(answer.origin).toBe(app);
    await expect(frame.getByTestId('step-counter')).toHaveText(new RegExp(`^Step ${step} of \\d+$`));
    await expect(frame.getByTestId('narration')).toHaveText(answer.data.narration!);
    expect(answer.data.cpl).toBe(Number(await frame.getByTestId('ring-view').locator('svg').getAttribute('data-cpl')));
  }

  // Stepping inside the frame (its own keyboard) is reported too, once per step.
  const before = (await ofType(page, 'step')).length;
  await frame.getByRole('button', { name: 'Step forward' }).click();
  await expect.poll(async () => (await ofType(page, 'step')).length).toBe(before + 1);
  expect((await ofType(page, 'step')).at(-1)!.data.step).toBe(1);

  // A narrower frame reflows taller, and the host hears of it.
  const h0 = (await ofType(page, 'height')).at(-1)!.data.height!;
  await page.locator('#lab').evaluate((el) => ((el as HTMLElement).style.width = '420px'));
  await expect.poll(async () => (await ofType(page, 'height')).at(-1)!.data.height!).toBeGreaterThan(h0);
  await expect.poll(async () => frame.evaluate(() => document.documentElement.scrollHeight - window.innerHeight)).toBeLessThanOrEqual(1);
  expect(await frame.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);

  const foreign = requests.filter((r) => new URL(r.url).origin !== app && !(r.type === 'document' && new URL(r.url).origin === HOST));
  expect(foreign).toEqual([]);
  expect(errors).toEqual([]);
});

test('the README snippet, pasted into a course page on another origin, sizes the frame and steps the lab', async ({ page, baseURL }) => {
  const app = new URL(baseURL!).origin;
  const errors = watchConsole(page);
  const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
  const snippet = readme.split('### Embedding')[1]?.match(/```html\n([\s\S]*?)```/)?.[1];
  expect(snippet).toBeDefined();
  const html = snippet!.replaceAll('https://LAB', app).replace('https%3A%2F%2Fcourses.example.edu', encodeURIComponent(HOST));
  const logged: string[] = [];
  page.on('console', (m) => logged.push(m.text()));
  await page.route(`${HOST}/**`, (r) => r.fulfill({ contentType: 'text/html', body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Course</title></head><body>${html}</body></html>` }));
  await page.goto(`${HOST}/course.html`);
  await expect.poll(() => logged.includes('ready at step 12')).toBe(true);
  const frame = labFrame(page, app);
  await expect.poll(async () => frame.evaluate(() => document.documentElement.scrollHeight - window.innerHeight)).toBeLessThanOrEqual(1);
  expect(await page.locator('#ring-minus-one').evaluate((el) => (el as HTMLElement).style.height)).toMatch(/^\d+px$/);
  await page.evaluate(() => (0, eval)("send('next')"));
  await expect(frame.getByTestId('step-counter')).toHaveText('Step 13 of 13');
  await expect.poll(() => logged.some((l) => l.startsWith('step 13 '))).toBe(true);
  await page.evaluate(() => (0, eval)("send('goto', { step: 20 })"));
  await expect(frame.getByTestId('step-counter')).toHaveText('Step 20 of 20');
  expect(errors).toEqual([]);
});

test('with host= named, messages from another origin are ignored', async ({ page, baseURL }) => {
  const app = new URL(baseURL!).origin;
  const errors = watchConsole(page);
  await openHost(page, app, `${app}/?embed=1&host=${encodeURIComponent(HOST)}&scenario=syscalls&lang=en&step=2`, { sibling: true });
  await expect.poll(async () => (await ofType(page, 'ready')).length).toBe(1);
  const evil = page.frames().find((f) => f.url().startsWith(EVIL))!;
  await evil.evaluate(() => {
    for (const type of ['next', 'next', 'next']) parent.frames[0]!.postMessage({ source: 'ring-minus-one', v: 1, type }, '*');
  });
  const frame = labFrame(page, app);
  await page.waitForTimeout(500);
  await expect(frame.getByTestId('step-counter')).toHaveText('Step 2 of 2');
  expect(await ofType(page, 'step')).toEqual([]);
  // The named host is obeyed, and its answer is the first step message.
  expect((await command(page, { source: 'ring-minus-one', v: 1, type: 'next' })).data.step).toBe(3);
  expect(await ofType(page, 'step')).toHaveLength(1);
  expect(errors).toEqual([]);
});

test('without host=, only the parent window commands the lab (not a sibling frame), and malformed messages are ignored', async ({ page, baseURL }) => {
  const app = new URL(baseURL!).origin;
  const errors = watchConsole(page);
  await openHost(page, app, `${app}/?embed=1&scenario=syscalls&lang=en&step=2`, { sibling: true });
  await expect.poll(async () => (await ofType(page, 'ready')).length).toBe(1);
  const evil = page.frames().find((f) => f.url().startsWith(EVIL))!;
  await evil.evaluate(() => parent.frames[0]!.postMessage({ source: 'ring-minus-one', v: 1, type: 'goto', step: 7 }, '*'));
  for (const bad of [{ type: 'next' }, { source: 'ring-minus-one', v: 2, type: 'next' }, { source: 'ring-minus-one', v: 1, type: 'goto', step: -4 }, 'next', null]) {
    await send(page, bad);
  }
  const frame = labFrame(page, app);
  await page.waitForTimeout(500);
  await expect(frame.getByTestId('step-counter')).toHaveText('Step 2 of 2');
  expect(await ofType(page, 'step')).toEqual([]);
  expect((await command(page, { source: 'ring-minus-one', v: 1, type: 'goto', step: 4 })).data.step).toBe(4);
  expect(await ofType(page, 'step')).toHaveLength(1);
  expect(errors).toEqual([]);
});

test('an embed opened at a step in zh-CN shows that step in Chinese, with minimal chrome', async ({ page }) => {
  const errors = watchConsole(page);
  await page.goto('/?embed=1&scenario=page-fault&step=12&lang=zh-CN');
  await expect(page.getByTestId('step-counter')).toHaveText('第 12 步，共 12 步');
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Ring −1：一次缺页异常（按需分页）');
  expect(await page.getByTestId('narration').evaluate((el) => el.closest('[lang]')?.getAttribute('lang'))).toBe('zh-CN');
  await expect(page.getByTestId('narration')).not.toHaveText('');
  await expect(page.getByTestId('ring-view')).toBeVisible();
  await expect(page.getByTestId('code-region')).toBeVisible();
  // Only the diagram, code, narration and playback: no top bar, registers, TLB, UART or About panel.
  for (const gone of ['presenter-toggle', 'registers-region', 'uart']) await expect(page.getByTestId(gone)).toHaveCount(0);
  await expect(page.locator('details.about')).toHaveCount(0);
  await expect(page.getByRole('combobox', { name: '场景' })).toHaveCount(0);
  // The link to the full lab: a new tab at the same place, without the embed parameters.
  const link = page.getByRole('link', { name: /在完整实验室中打开/ });
  await expect(link).toHaveAttribute('target', '_blank');
  const href = new URL((await link.getAttribute('href'))!);
  expect(Object.fromEntries(href.searchParams)).toEqual({ v: '1', lang: 'zh-CN', scenario: 'page-fault', step: '12' });
  expect(errors).toEqual([]);
});

test('the embed opens at the same screen as stepping there one step at a time', async ({ page, context }) => {
  await page.goto('/?scenario=page-fault&lang=en');
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('step-counter')).toHaveText('Step 0 of 0');
  for (let i = 1; i <= 12; i++) {
    await page.keyboard.press('ArrowRight');
    await expect(page.getByTestId('step-counter')).toHaveText(`Step ${i} of ${i}`);
  }
  const said = await page.getByTestId('narration').innerText();
  // The instructions and the current mark (the full lab's rows also carry breakpoint toggles; the embed's do not).
  const rows = (p: Page): Promise<string[]> =>
    p.getByTestId('code-view').locator('tbody tr').evaluateAll((trs) =>
      trs.map((tr) => {
        const cells = Array.from((tr as HTMLTableRowElement).cells);
        return `${cells[0]!.innerText.includes('▶') ? '▶' : ' '} ${cells.slice(1).map((c) => c.innerText).join(' | ')}`;
      }),
    );
  const code = await rows(page);
  expect(code.filter((r) => r.startsWith('▶'))).toHaveLength(1);
  const embed = await context.newPage();
  await embed.goto('/?embed=1&scenario=page-fault&step=12&lang=en');
  await expect(embed.getByTestId('step-counter')).toHaveText('Step 12 of 12');
  await expect(embed.getByTestId('narration')).toHaveText(said);
  expect(await rows(embed)).toEqual(code);
});

for (const [lang, theme] of [['en', 'light'], ['en', 'dark'], ['en', 'contrast'], ['zh-CN', 'light'], ['zh-CN', 'contrast']] as const) {
  test(`embed mode (${lang}, ${theme}) has no axe violations`, async ({ page }) => {
    const errors = watchConsole(page);
    await page.goto(`/?embed=1&scenario=syscalls&step=5&lang=${lang}&theme=${theme}`);
    await expect(page.getByTestId('step-counter')).toHaveText(/Step 5 of 5|第 5 步，共 5 步/);
    await expect(page.locator('html')).toHaveAttribute('data-theme', theme);
    const axe = await new AxeBuilder({ page }).analyze();
    expect(axe.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
    expect(errors).toEqual([]);
  });
}

test('an embed that is not framed listens to no messages', async ({ page }) => {
  await page.goto('/?embed=1&scenario=syscalls&step=2&lang=en');
  await expect(page.getByTestId('step-counter')).toHaveText('Step 2 of 2');
  // At the top, window.parent is the window itself: a listener would take this for the host's command.
  await page.evaluate(() => window.postMessage({ source: 'ring-minus-one', v: 1, type: 'next' }, '*'));
  await page.waitForTimeout(500);
  await expect(page.getByTestId('step-counter')).toHaveText('Step 2 of 2');
});

test('?step= opens the full lab at that step, and the URL follows the step while paused', async ({ page }) => {
  await page.goto('/?scenario=syscalls&lang=en&step=5');
  await expect(page.getByTestId('step-counter')).toHaveText('Step 5 of 5');
  await expect(page).toHaveURL(/\?v=1&/);
  await page.keyboard.press('ArrowRight');
  await expect(page.getByTestId('step-counter')).toHaveText('Step 6 of 6');
  await expect.poll(() => new URL(page.url()).searchParams.get('step')).toBe('6');
  await page.keyboard.press('Home');
  await expect(page.getByTestId('step-counter')).toHaveText('Step 0 of 6');
  await expect.poll(() => new URL(page.url()).searchParams.has('step')).toBe(false);
  // A reload opens where the URL says.
  await page.keyboard.press('End');
  await expect.poll(() => new URL(page.url()).searchParams.get('step')).toBe('6');
  await page.reload();
  await expect(page.getByTestId('step-counter')).toHaveText('Step 6 of 6');
});

test('playing writes the step to the URL only once it pauses', async ({ page }) => {
  await page.goto('/?scenario=timer&lang=en');
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('step-counter')).toHaveText('Step 0 of 0');
  const writes: string[] = [];
  await page.exposeFunction('noteUrl', (u: string) => void writes.push(u));
  await page.evaluate(() => {
    const replace = history.replaceState.bind(history);
    history.replaceState = (data, unused, url) => {
      (window as unknown as { noteUrl: (u: string) => void }).noteUrl(String(url));
      replace(data, unused, url);
    };
  });
  await page.getByRole('combobox', { name: 'Speed' }).selectOption('50');
  await page.getByRole('button', { name: 'Play' }).click();
  await page.waitForTimeout(1500);
  await page.getByRole('button', { name: 'Pause' }).click();
  // A step already asked for when the player paused still lands; the URL then catches up once.
  const counterStep = async (): Promise<string | undefined> => (await page.getByTestId('step-counter').innerText()).match(/^Step (\d+) of/)?.[1];
  await expect.poll(async () => new URL(page.url()).searchParams.get('step') === (await counterStep())).toBe(true);
  expect(Number(await counterStep())).toBeGreaterThan(20);
  // The speed change writes the URL (the shell's parameters); the steps played wrote it once.
  expect(writes.filter((u) => /[?&]step=/.test(u))).toHaveLength(1);
});

for (const { url, opens } of fixture.urls) {
  test(`an old URL opens as it did: ${url}`, async ({ page }) => {
    const errors = watchConsole(page);
    await page.goto(url);
    const counter = page.getByTestId('step-counter');
    await expect(counter).toHaveText(opens.lang === 'en' ? new RegExp(`^Step ${opens.step} of ${opens.step}$`) : `第 ${opens.step} 步，共 ${opens.step} 步`);
    await expect(page.locator('html')).toHaveAttribute('lang', opens.lang);
    const shownTheme = opens.theme === 'auto' ? (opens.mode === 'presenter' ? 'contrast' : null) : opens.theme;
    if (shownTheme === null) await expect(page.locator('html')).not.toHaveAttribute('data-theme', /./);
    else await expect(page.locator('html')).toHaveAttribute('data-theme', shownTheme);
    if (opens.mode === 'presenter') await expect(page.locator('html')).toHaveAttribute('data-mode', 'presenter');
    else await expect(page.locator('html')).not.toHaveAttribute('data-mode', /./);
    if (opens.embed) {
      await expect(page.getByTestId('open-full-lab')).toBeVisible();
      await expect(page.getByTestId('presenter-toggle')).toHaveCount(0);
      expect(new URL(await page.getByTestId('open-full-lab').getAttribute('href') ?? '').searchParams.get('scenario')).toBe(opens.scenario);
    } else {
      await expect(page.getByTestId('open-full-lab')).toHaveCount(0);
      await expect(page.getByRole('combobox', { name: opens.lang === 'en' ? 'Scenario' : '场景' })).toHaveValue(opens.scenario);
    }
    await expect.poll(() => new URL(page.url()).searchParams.get('v')).toBe('1');
    expect(errors).toEqual([]);
  });
}

for (const { url, opens } of fixture.futureUrls) {
  test(`a URL from a newer version opens the defaults with a notice: ${url}`, async ({ page }) => {
    await page.goto(url);
    await expect(page.getByTestId('step-counter')).toHaveText(`Step ${opens.step} of ${opens.step}`);
    await expect(page.getByRole('combobox', { name: 'Scenario' })).toHaveValue(opens.scenario);
    const status = page.getByRole('region', { name: 'Status' });
    await expect(status).toContainText('This link was made by a newer version of the lab (link version 2)');
    await expect(page).toHaveURL(/\?v=1&/);
  });
}
