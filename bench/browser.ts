/**
 * The app in headless Chromium (issue 4, "checks"; DESIGN.md, "Budgets"). `npm run bench` runs it
 * after the Node benchmarks; alone: `npx tsx bench/browser.ts`. It builds dist/ with Vite's
 * `build()` when dist/ is missing or older than its sources, serves it with `preview()` on
 * 127.0.0.1:BENCH_PORT (default 4175), and drives Debian's Chromium (CHROMIUM_PATH) with the
 * launch flags of playwright.config.ts. It prints figures and asserts nothing.
 *
 * 1. Bytes before interactive. A fresh browser context (empty cache, service workers blocked, so
 *    the offline precache that the service worker fetches in the background is not counted) opens
 *    the lab. "Interactive" is the first frame painted after the step-forward button
 *    (data-testid step-forward) is enabled: the scenario has loaded through the worker and the
 *    views are drawn from it. Every JS and CSS response that finished before then is counted, its
 *    body gzip-compressed with zlib (level 9) to measure; the total is set against the 150 kB
 *    budget (1 kB = 1000 bytes). Chunks fetched later (another example scenario when the picker
 *    loads it) are listed apart. Measured in English and again in Chinese: the first screen's
 *    strings are a chunk per language, and a reader downloads only theirs.
 * 2. Main-thread time per step. With all views open (the default layout, every <details> opened
 *    and every collapsed disclosure button expanded), N single steps are driven with the → key
 *    across the example scenarios, under Chrome tracing (`devtools.timeline`). The page marks the
 *    key press (a capturing keydown listener, `performance.mark`) and the step's screen update
 *    (when the step counter's text changes, the next animation frame, then a task after it: the
 *    frame with the new step has been painted). A step's cost is the time the renderer's main
 *    thread spent in top-level tasks (RunTask) from the start of the task that handled the key
 *    to that mark: the key's dispatch, the worker's answer applied to the state, the DOM update,
 *    style, layout and paint. The emulation itself runs in the worker and is not on this clock,
 *    nor is the time the main thread idles waiting for it. Printed: p50, p95 and max against the
 *    16 ms budget at the 95th percentile, and the wall time from key to paint.
 * 3. Long tasks while playing. With all views open, Play at the fastest speed setting runs for
 *    about PLAY_SECONDS seconds over the examples (one after another, each from its start; a
 *    scenario that ends is restarted with Home). Counted: 'longtask' entries (PerformanceObserver,
 *    buffered: tasks over 50 ms) and, from a trace of the same stretch, the longest top-level task
 *    and the main thread's busy share.
 *
 * The measurement adds its own small work to the page (the listeners and marks above). The
 * machine's other load shows in the figures: run it on an idle machine to compare runs.
 */
import { gzipSync } from 'node:zlib';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build, preview } from 'vite';
import { SCENARIOS } from '../src/views/shell/url.ts';
import { cpus, loadavg } from 'node:os';
import {
  busyIn, longestIn, marksByName, quantile, taskAt, tasksIn, topLevelTasks, traceEventsOf, type ChromeTraceEvent, type Mark,
} from './trace-tasks.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const PORT = Number(process.env.BENCH_PORT ?? 4175);
const BASE = `http://127.0.0.1:${PORT}`;
const STEPS = Number(process.env.BENCH_STEPS ?? 200);
const PLAY_SECONDS = Number(process.env.BENCH_PLAY_SECONDS ?? 10);
const TRACE_DIR = process.env.BENCH_TRACE_DIR;
const BUDGET_BYTES = 150_000;
const BUDGET_STEP_MS = 16;
const LONG_TASK_MS = 50;
const TRACE_CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'blink.user_timing', 'toplevel'];

/** The launch flags of playwright.config.ts (TOOLCHAIN.md): no sandbox as root, no network chatter. */
const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Newest modification time (ms) under the paths given (files and directories, recursively). */
function newest(paths: readonly string[]): number {
  let max = 0;
  const visit = (p: string): void => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) for (const name of readdirSync(p)) visit(join(p, name));
    else max = Math.max(max, st.mtimeMs);
  };
  for (const p of paths) visit(join(ROOT, p));
  return max;
}

async function ensureBuilt(): Promise<void> {
  const built = join(ROOT, 'dist', 'index.html');
  const sources = newest(['src', 'index.html', 'vite.config.ts', 'svelte.config.js', 'package.json', 'package-lock.json', 'public', 'static']);
  if (existsSync(built) && statSync(built).mtimeMs >= sources) return;
  console.log('browser: dist/ is missing or older than its sources: building');
  await build({ root: ROOT, logLevel: 'warn' });
}

/**
 * Page-side instruments, installed before the app's scripts on every navigation: long-task
 * entries, the "interactive" mark, and per-step marks for → presses. Messages to the bench go
 * out as console.debug lines starting with `bench:`.
 */
function instruments(): void {
  const tag = new URLSearchParams(location.search).get('scenario') ?? 'default';
  const w = window as unknown as { __bench: { longtasks: { start: number; duration: number }[] } };
  w.__bench = { longtasks: [] };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__bench.longtasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch {
    // no long-task API: the trace's figure stands alone
  }
  /** After the next frame has been painted: a task queued from the frame's animation callback. */
  const afterPaint = (fn: () => void): void => {
    requestAnimationFrame(() => setTimeout(fn, 0));
  };
  const ready = (): boolean => {
    const b = document.querySelector<HTMLButtonElement>('[data-testid="step-forward"]');
    return b !== null && !b.disabled;
  };
  const interactive = (): void =>
    afterPaint(() => {
      performance.mark(`bench:interactive:${tag}`);
      console.debug(`bench:interactive:${tag}`);
    });
  document.addEventListener('DOMContentLoaded', () => {
    if (ready()) return interactive();
    const mo = new MutationObserver(() => {
      if (!ready()) return;
      mo.disconnect();
      interactive();
    });
    mo.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['disabled'] });
  });
  let seq = 0;
  addEventListener(
    'keydown',
    (e) => {
      if (e.key !== 'ArrowRight') return;
      const n = ++seq;
      performance.mark(`bench:key:${tag}:${n}`);
      const counter = document.querySelector('[data-testid="step-counter"]');
      if (counter === null) return;
      const before = counter.textContent;
      const mo = new MutationObserver(() => {
        if (counter.textContent === before) return;
        mo.disconnect();
        afterPaint(() => {
          performance.mark(`bench:painted:${tag}:${n}`);
          console.debug(`bench:painted:${tag}:${n}`);
        });
      });
      mo.observe(counter, { subtree: true, childList: true, characterData: true });
    },
    true,
  );
  // Play stopping on its own (the scenario ended, or a breakpoint): the toggle's data-playing flips.
  new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target as HTMLElement;
      if (el.dataset['testid'] === 'play-toggle' && el.dataset['playing'] === 'false') console.debug(`bench:paused:${tag}`);
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-playing'] });
}

/** Waits for a `bench:` console line from the page. */
function consoleLine(page: Page, text: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      page.off('console', on);
      reject(new Error(`the page did not report ${text} within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (m: { text(): string }): void => {
      if (m.text() !== text) return;
      clearTimeout(timer);
      page.off('console', on);
      resolve();
    };
    page.on('console', on);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Opens a scenario and waits until it is interactive. */
async function openLab(page: Page, scenario: string, lang: 'en' | 'zh-CN' = 'en'): Promise<void> {
  const ready = consoleLine(page, `bench:interactive:${scenario}`);
  await page.goto(`${BASE}/?scenario=${scenario}&lang=${lang}`);
  await ready;
}

/**
 * "All views open": every <details> opened and every collapsed disclosure (a button with
 * aria-expanded="false" that controls an element) expanded, then one frame to draw them.
 */
async function openAllViews(page: Page): Promise<number> {
  const opened = await page.evaluate(() => {
    let n = 0;
    for (const d of Array.from(document.querySelectorAll('details'))) {
      if (d.open) continue;
      d.open = true;
      n++;
    }
    for (const b of Array.from(document.querySelectorAll<HTMLButtonElement>('button[aria-expanded="false"][aria-controls]'))) {
      if (b.closest('dialog, [role="dialog"], [role="menu"]') !== null) continue;
      b.click();
      n++;
    }
    return n;
  });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
  return opened;
}

const kB = (bytes: number): string => `${(bytes / 1000).toFixed(1)} kB`;
const ms = (us: number): string => `${(us / 1000).toFixed(1)} ms`;
const verdict = (ok: boolean): string => (ok ? 'within budget' : 'OVER BUDGET');

interface Loaded {
  url: string;
  kind: 'js' | 'css';
  raw: number;
  gzip: number;
  /** Whether it finished before the page reported interactive. */
  early: boolean;
}

/** Names a chunk for the listing: its file name, and what it is when that is known. */
function describe(url: string): string {
  const file = new URL(url).pathname.split('/').pop() ?? url;
  if (/^lab\.worker-/.test(file)) return `${file} (the emulator worker)`;
  if (SCENARIOS.some((s) => file.startsWith(`${s}-`))) return `${file} (example scenario)`;
  return file;
}

/**
 * The first screen's downloads in `lang` (each language's first-screen strings are a chunk of their
 * own: i18n/messages.ts `loadLocale`); in English, then the other examples through the picker.
 */
async function benchBytes(context: BrowserContext, lang: 'en' | 'zh-CN' = 'en'): Promise<Loaded[]> {
  const page = await context.newPage();
  const loaded: Loaded[] = [];
  let interactive = false;
  const pending: Promise<void>[] = [];
  page.on('requestfinished', (req) => {
    const early = !interactive;
    const url = req.url();
    const path = new URL(url).pathname;
    const kind = path.endsWith('.js') ? 'js' : path.endsWith('.css') ? 'css' : null;
    if (kind === null) return;
    pending.push(
      (async () => {
        const res = await req.response();
        if (res === null || res.status() >= 300) return;
        const body = await res.body();
        loaded.push({ url, kind, raw: body.length, gzip: gzipSync(body, { level: 9 }).length, early });
      })(),
    );
  });
  page.on('console', (m) => {
    if (m.text().startsWith('bench:interactive:')) interactive = true;
  });
  await openLab(page, SCENARIOS[0], lang);
  // Then the other examples, loaded on demand when the scenario picker asks for them.
  const picker = page.getByRole('combobox', { name: 'Scenario' });
  for (const s of lang === 'en' ? SCENARIOS.slice(1) : []) {
    await picker.selectOption(s);
    await page.waitForURL((u) => u.searchParams.get('scenario') === s);
    await page.getByTestId('step-forward').and(page.locator(':enabled')).waitFor();
  }
  await sleep(500);
  await Promise.all(pending);
  await page.close();
  return loaded;
}

function reportBytes(loaded: readonly Loaded[], lang: 'en' | 'zh-CN' = 'en'): void {
  const early = loaded.filter((l) => l.early);
  const late = loaded.filter((l) => !l.early);
  const total = early.reduce((n, l) => n + l.gzip, 0);
  console.log(`browser: JS and CSS loaded before the lab is interactive in ${lang} (gzip, zlib level 9):`);
  for (const l of early) console.log(`  ${kB(l.gzip).padStart(9)}  (${kB(l.raw)} raw)  ${describe(l.url)}`);
  console.log(
    `browser: before interactive (${lang}): ${kB(total)} gzip in ${early.length} files (budget ${kB(BUDGET_BYTES)}, ${Math.round((100 * total) / BUDGET_BYTES)}%): ${verdict(total <= BUDGET_BYTES)}`,
  );
  if (lang !== 'en') return;
  console.log(`browser: loaded later, on demand: ${late.length === 0 ? 'none' : ''}`);
  for (const l of late) console.log(`  ${kB(l.gzip).padStart(9)}  (${kB(l.raw)} raw)  ${describe(l.url)}`);
}

/** Runs `body` under Chrome tracing of the page's renderer (and the rest of the browser); BENCH_TRACE_DIR keeps the trace (DevTools opens it). */
async function traced<T>(name: string, browser: Browser, page: Page, body: () => Promise<T>): Promise<{ result: T; events: ChromeTraceEvent[] }> {
  await browser.startTracing(page, { categories: TRACE_CATEGORIES });
  let result: T;
  try {
    result = await body();
  } catch (e) {
    await browser.stopTracing();
    throw e;
  }
  const buf = await browser.stopTracing();
  if (TRACE_DIR !== undefined) {
    mkdirSync(TRACE_DIR, { recursive: true });
    writeFileSync(join(TRACE_DIR, `${name}.json`), buf);
  }
  return { result, events: traceEventsOf(JSON.parse(buf.toString('utf8'))) };
}

async function benchSteps(browser: Browser, context: BrowserContext): Promise<void> {
  const page = await context.newPage();
  const perScenario = Math.ceil(STEPS / SCENARIOS.length);
  const driven: { tag: string; n: number }[] = [];
  let expanded = 0;
  const { events } = await traced('steps', browser, page, async () => {
    for (const s of SCENARIOS) {
      await openLab(page, s);
      expanded += await openAllViews(page);
      const forward = page.getByTestId('step-forward');
      for (let n = 1; n <= perScenario && driven.length < STEPS; n++) {
        if (await forward.isDisabled()) break;
        const done = consoleLine(page, `bench:painted:${s}:${n}`);
        await page.keyboard.press('ArrowRight');
        // A machine that stops at its start (pv-unmodified's kernel fails at its first instruction)
        // may say so only after the lab is interactive: the step then never comes.
        const stopped = page
          .waitForFunction(() => document.querySelector<HTMLButtonElement>('[data-testid="step-forward"]')?.disabled === true, undefined, { timeout: 30_000 })
          .then(() => 'stopped' as const, () => 'timeout' as const);
        const first = await Promise.race([done.then(() => 'painted' as const), stopped]);
        if (first !== 'painted') {
          done.catch(() => {});
          if (first === 'stopped' && n === 1) break;
          await done;
        }
        driven.push({ tag: s, n });
        // A pause, so that one step's late work does not fall into the next step's window.
        await sleep(30);
      }
    }
  });
  await page.close();
  const marks = marksByName(events, 'bench:');
  const wall: number[] = [];
  const cpu: number[] = [];
  const latencies: number[] = [];
  let main: Mark | null = null;
  let tasks: ReturnType<typeof topLevelTasks> = [];
  const byScenario = new Map<string, number[]>();
  for (const { tag, n } of driven) {
    const key = marks.get(`bench:key:${tag}:${n}`);
    const painted = marks.get(`bench:painted:${tag}:${n}`);
    if (key === undefined || painted === undefined) throw new Error(`step ${tag}:${n} has no marks in the trace`);
    if (main === null || main.pid !== key.pid || main.tid !== key.tid) {
      main = key;
      tasks = topLevelTasks(events, key.pid, key.tid);
    }
    const from = taskAt(tasks, key.ts)?.start ?? key.ts;
    const spent = busyIn(tasks, from, painted.ts);
    wall.push(spent.wall);
    cpu.push(spent.cpu);
    latencies.push(painted.ts - from);
    (byScenario.get(tag) ?? byScenario.set(tag, []).get(tag)!).push(spent.cpu);
  }
  const up = (xs: number[]): number[] => xs.sort((a, b) => a - b);
  const figures = (xs: number[]): string => `p50 ${ms(quantile(xs, 0.5))}, p95 ${ms(quantile(xs, 0.95))}, max ${ms(xs[xs.length - 1] ?? NaN)}`;
  up(wall);
  up(cpu);
  up(latencies);
  console.log(
    `browser: main-thread time per step (→, ${cpu.length} steps over ${SCENARIOS.length} examples, all views open, ${expanded} panels expanded; budget ${BUDGET_STEP_MS} ms at p95):`,
  );
  console.log(`  CPU time of the main thread: ${figures(cpu)}: ${verdict(quantile(cpu, 0.95) <= BUDGET_STEP_MS * 1000)}`);
  console.log(`  wall time in its tasks:      ${figures(wall)}: ${verdict(quantile(wall, 0.95) <= BUDGET_STEP_MS * 1000)}`);
  console.log(`  key press to painted step (wall, the worker's work and idle waits included): ${figures(latencies)}`);
  if (process.env.BENCH_DETAIL !== undefined) {
    // Which examples the slow steps come from (BENCH_DETAIL=1): each one's median and largest main-thread CPU time per step.
    const rows = [...byScenario].map(([tag, xs]) => ({ tag, inOrder: xs.map((x) => ms(x)).join(' '), xs: up([...xs]) })).sort((a, b) => quantile(b.xs, 1) - quantile(a.xs, 1));
    for (const { tag, xs, inOrder } of rows) console.log(`    ${tag.padEnd(24)} p50 ${ms(quantile(xs, 0.5))}, max ${ms(xs[xs.length - 1] ?? NaN)}; steps in order: ${inOrder}`);
  }
  console.log(`  ${load()}`);
}

/** The machine's load: on a busy machine wall times include waiting for a CPU (or for other threads). */
function load(): string {
  const [one] = loadavg();
  return `load average ${one!.toFixed(1)} on ${cpus().length} CPUs${one! > cpus().length ? ': the machine is busy, so wall times include waiting for a CPU; the CPU time is the page\'s own cost' : ''}`;
}

async function benchPlay(browser: Browser, context: BrowserContext): Promise<void> {
  const page = await context.newPage();
  const slice = (PLAY_SECONDS * 1000) / SCENARIOS.length;
  const played: string[] = [];
  let longtasks: { start: number; duration: number }[] = [];
  let fastest = 0;
  let restarts = 0;
  const { events } = await traced('play', browser, page, async () => {
    for (const s of SCENARIOS) {
      await openLab(page, s);
      await openAllViews(page);
      const speed = page.getByTestId('speed');
      const values = (await speed.locator('option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).map(Number);
      fastest = Math.max(...values);
      await speed.selectOption(String(fastest));
      const toggle = page.getByTestId('play-toggle');
      await page.evaluate((tag) => performance.mark(`bench:play:${tag}:from`), s);
      const end = Date.now() + slice;
      while (Date.now() < end) {
        const paused = consoleLine(page, `bench:paused:${s}`, slice + 5000);
        await toggle.click();
        const stopped = await Promise.race([paused.then(() => true), sleep(Math.max(0, end - Date.now())).then(() => false)]);
        if (!stopped) {
          await toggle.click(); // pause
          break;
        }
        // The scenario ended: back to its start and on.
        restarts++;
        await page.keyboard.press('Home');
        await page.waitForFunction(() => document.querySelector('[data-testid="step-counter"]')?.textContent?.startsWith('Step 0 of') === true);
      }
      await page.evaluate((tag) => performance.mark(`bench:play:${tag}:to`), s);
      longtasks = longtasks.concat(
        await page.evaluate((tag) => {
          const b = (window as unknown as { __bench: { longtasks: { start: number; duration: number }[] } }).__bench;
          const from = performance.getEntriesByName(`bench:play:${tag}:from`)[0]?.startTime ?? 0;
          return b.longtasks.filter((t) => t.start >= from);
        }, s),
      );
      played.push(s);
    }
  });
  await page.close();
  const marks = marksByName(events, 'bench:play:');
  let longest = { wall: 0, cpu: 0 };
  let busy = { wall: 0, cpu: 0 };
  let span = 0;
  let overWall = 0;
  let overCpu = 0;
  for (const tag of played) {
    const from = marks.get(`bench:play:${tag}:from`);
    const to = marks.get(`bench:play:${tag}:to`);
    if (from === undefined || to === undefined) throw new Error(`the play window of ${tag} has no marks in the trace`);
    const tasks = topLevelTasks(events, from.pid, from.tid);
    const l = longestIn(tasks, from.ts, to.ts);
    longest = { wall: Math.max(longest.wall, l.wall), cpu: Math.max(longest.cpu, l.cpu) };
    const inside = tasksIn(tasks, from.ts, to.ts);
    overWall += inside.filter((t) => t.end - t.start > LONG_TASK_MS * 1000).length;
    overCpu += inside.filter((t) => t.cpu > LONG_TASK_MS * 1000).length;
    const b = busyIn(tasks, from.ts, to.ts);
    busy = { wall: busy.wall + b.wall, cpu: busy.cpu + b.cpu };
    span += to.ts - from.ts;
  }
  const observedMax = longtasks.reduce((m, t) => Math.max(m, t.duration), 0);
  console.log(
    `browser: long tasks while playing at the fastest speed (${fastest} steps/s) for ${(span / 1e6).toFixed(1)} s over ${SCENARIOS.length} examples, all views open` +
      `${restarts > 0 ? ` (${restarts} restarted from step 0 when they ended)` : ''}; none may take over ${LONG_TASK_MS} ms:`,
  );
  console.log(`  by CPU time (trace): ${overCpu} over ${LONG_TASK_MS} ms, the longest ${ms(longest.cpu)}: ${verdict(overCpu === 0)}`);
  console.log(
    `  by wall time: ${longtasks.length} over ${LONG_TASK_MS} ms by PerformanceObserver 'longtask'${longtasks.length > 0 ? ` (longest ${observedMax.toFixed(0)} ms)` : ''}, ` +
      `${overWall} in the trace, the longest ${ms(longest.wall)}: ${verdict(longtasks.length === 0 && overWall === 0)}`,
  );
  console.log(`  the main thread was in tasks ${((100 * busy.wall) / span).toFixed(1)}% of the time, on a CPU ${((100 * busy.cpu) / span).toFixed(1)}%`);
  console.log(`  ${load()}`);
}

export async function benchBrowser(): Promise<void> {
  await ensureBuilt();
  const server = await preview({ root: ROOT, preview: { host: '127.0.0.1', port: PORT, strictPort: true }, logLevel: 'warn' });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: LAUNCH_ARGS });
  try {
    const context = async (): Promise<BrowserContext> => {
      const c = await browser.newContext({ serviceWorkers: 'block', viewport: { width: 1280, height: 800 } });
      // tsx compiles this file with esbuild's keepNames, which wraps named functions in `__name(...)`:
      // the page needs that helper for `instruments` (sent as source text) to run.
      await c.addInitScript({ content: 'globalThis.__name ??= (f) => f;' });
      await c.addInitScript(instruments);
      return c;
    };
    const errors: string[] = [];
    const watch = (c: BrowserContext): BrowserContext => {
      c.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      c.on('weberror', (e) => errors.push(e.error().message));
      return c;
    };
    const c1 = watch(await context());
    reportBytes(await benchBytes(c1));
    await c1.close();
    const c1zh = watch(await context());
    reportBytes(await benchBytes(c1zh, 'zh-CN'), 'zh-CN');
    await c1zh.close();
    const c2 = watch(await context());
    await benchSteps(browser, c2);
    await c2.close();
    const c3 = watch(await context());
    await benchPlay(browser, c3);
    await c3.close();
    if (errors.length > 0) console.log(`browser: the page reported errors: ${errors.join(' | ')}`);
  } finally {
    await browser.close();
    await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchBrowser();
