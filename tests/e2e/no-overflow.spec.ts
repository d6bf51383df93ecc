/**
 * No example makes the lab wider than the window: at 1280 × 1000, in both languages, with every
 * <details> open, the document scrolls only vertically. A view whose grid or flex container sizes
 * to a wide child (a table, a line that cannot wrap) pushes its column past the screen's edge and
 * cuts every line of it; a wide table belongs in its own scrolling region instead. The examples
 * come from url.ts, so an example added later is checked too. Each is measured twice: as it opens,
 * and with the views below the fold laid out (content-visibility: auto skips them until the reader
 * scrolls near, so a view there widens the page only then). On failure the message names the
 * outermost elements that cross the right edge outside any scrolling region, and the view they are in.
 */
import { expect, test, type Page } from '@playwright/test';
import { SCENARIOS } from '../../src/views/shell/url.ts';

const WIDTH = 1280;
/** A step past each example's start, where its views show something (as the probe that found these did). */
const STEP = 6;

/** Waits until the lab is at STEP (or its machine stopped before) and no request (a view's chunk) has been in flight for a while. */
async function settle(page: Page, scenario: string, inFlight: () => number): Promise<void> {
  const there = page.getByTestId('step-counter').last().filter({ hasText: new RegExp(`Step ${STEP} of|第 ${STEP} 步`) });
  const stopped = page.locator('[data-testid=step-forward][data-stopped=true]');
  await expect(there.or(stopped).first(), `${scenario} reaches step ${STEP} or stops`).toBeVisible({ timeout: 15_000 });
  let quiet = 0;
  for (let i = 0; i < 100 && quiet < 3; i++) {
    await page.waitForTimeout(100);
    quiet = inFlight() <= 0 ? quiet + 1 : 0;
  }
  // Two frames: what the last chunk rendered is laid out.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

interface Overflow {
  scrollWidth: number;
  clientWidth: number;
  /** The outermost elements past the right edge that no scrolling region holds. */
  culprits: string[];
}

/**
 * Opens every <details> and measures. With `everything`, views skipped while off screen
 * (content-visibility: auto) are laid out too, as they are once the reader scrolls to them.
 */
async function measure(page: Page, everything: boolean): Promise<Overflow> {
  return page.evaluate(async (everything) => {
    for (const d of Array.from(document.querySelectorAll('details'))) d.open = true;
    if (everything) {
      const s = document.createElement('style');
      s.dataset.overflowTest = '';
      s.textContent = '* { content-visibility: visible !important; }';
      document.head.append(s);
    }
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const root = document.documentElement;
    const edge = root.clientWidth + 1;
    /** Whether a scrolling (or clipping) box holds `el`: one on its chain of containing blocks (the
        visually hidden text of a cell, position: absolute, escapes a scroll that is not). */
    const inScroll = (el: Element): boolean => {
      let need = getComputedStyle(el).position;
      for (let a = el.parentElement; a !== null && a !== document.body; a = a.parentElement) {
        const cs = getComputedStyle(a);
        const holds = cs.transform !== 'none' || cs.filter !== 'none' || /layout|paint|strict|content/.test(cs.contain);
        if (need === 'fixed' && !holds) continue;
        if (need === 'absolute' && cs.position === 'static' && !holds) continue;
        if (cs.overflowX !== 'visible') return true;
        need = cs.position;
      }
      return false;
    };
    const name = (el: Element): string => {
      const cls = String((el as HTMLElement).className ?? '')
        .split(/\s+/)
        .filter((c) => c !== '' && !c.startsWith('svelte-'))
        .map((c) => `.${c}`)
        .join('');
      const id = el.getAttribute('data-testid');
      const box = el.getBoundingClientRect();
      const text = (el.textContent ?? '').replace(/\s+/g, ' ').trim().slice(0, 50);
      const within = el.parentElement?.closest('[data-testid]')?.getAttribute('data-testid');
      return `${el.tagName.toLowerCase()}${cls}${id === null ? '' : `[data-testid=${id}]`}${within === undefined ? '' : ` in [data-testid=${within}]`} (width ${Math.round(box.width)}, right edge ${Math.round(box.right)}) "${text}"`;
    };
    const crosses = (el: Element): boolean => el.getBoundingClientRect().right > edge && !inScroll(el);
    const culprits: string[] = [];
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      if (!crosses(el) || (el.parentElement !== null && crosses(el.parentElement))) continue;
      culprits.push(name(el));
      if (culprits.length === 6) break;
    }
    return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, culprits };
  }, everything);
}

test.use({ viewport: { width: WIDTH, height: 1000 } });

for (const lang of ['en', 'zh-CN'] as const) {
  test(`no example is wider than a ${WIDTH} px window (${lang})`, async ({ page }) => {
    test.setTimeout(120_000);
    let inFlight = 0;
    page.on('request', () => inFlight++);
    page.on('requestfinished', () => inFlight--);
    page.on('requestfailed', () => inFlight--);
    const found: string[] = [];
    for (const scenario of SCENARIOS) {
      inFlight = 0;
      await page.goto(`/?scenario=${scenario}&step=${STEP}&lang=${lang}`);
      await settle(page, scenario, () => inFlight);
      for (const everything of [false, true]) {
        const o = await measure(page, everything);
        if (o.scrollWidth > o.clientWidth) {
          found.push(`${scenario}${everything ? ' (scrolled through)' : ''}: ${o.scrollWidth} px wide in ${o.clientWidth}; ${o.culprits.join('; ') || 'no element found past the edge'}`);
          break;
        }
      }
    }
    expect(found, found.join('\n')).toEqual([]);
  });
}
