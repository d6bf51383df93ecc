/**
 * Checks and steps the browser tests share: no axe violations (listed readably), the console
 * errors a page reports, and the speaker window opened from the projected lab's button.
 */
import { expect, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

/** Fails with each violation as "rule: help (targets)"; `within` limits the check to some elements. */
export async function axeClean(page: Page, ...within: string[]): Promise<void> {
  let builder = new AxeBuilder({ page });
  for (const selector of within) builder = builder.include(selector);
  const r = await builder.analyze();
  expect(r.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
}

/** Collects what the page says went wrong: console errors and uncaught exceptions. */
export function noErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/** Opens the speaker window from the projected one's button, as a presenter does. */
export async function openSpeaker(page: Page): Promise<Page> {
  const [speaker] = await Promise.all([page.context().waitForEvent('page'), page.getByTestId('speaker-open').click()]);
  await speaker.waitForLoadState();
  await expect(speaker.getByTestId('speaker-status')).toHaveAttribute('data-connected', 'true');
  return speaker;
}
