/**
 * Driving a lesson with the keyboard alone (Tab, arrows, Enter, Space, typing), in the page itself
 * or in a frame of it: `root` is where the lab is (a Page, or the Frame an embed runs in), `page`
 * the top page whose keyboard is pressed. Shared by lesson.spec.ts and embed-lesson.spec.ts.
 */
import { expect, type Frame, type Locator, type Page } from '@playwright/test';

export interface Where {
  page: Page;
  root: Page | Frame;
}

export const column = (w: Where): Locator => w.root.getByTestId('lesson-column');

/** Presses Tab until `target` has the focus (keyboard only: no programmatic focus). */
export async function tabTo(w: Where, target: Locator, max = 400): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement && document.hasFocus())) return;
    await w.page.keyboard.press('Tab');
  }
  throw new Error(`Tab never reached ${target.toString()}`);
}

/** Next (or Finish), from the keyboard; the new step's title takes the focus. */
export async function next(w: Where): Promise<void> {
  const title = await w.root.getByTestId('lesson-step-title').textContent();
  await tabTo(w, w.root.getByTestId('lesson-next'));
  await w.page.keyboard.press('Enter');
  await expect(w.root.getByTestId('lesson-step-title')).not.toHaveText(title ?? '');
  await expect(w.root.getByTestId('lesson-step-title')).toBeFocused();
}

/** Steps with → (the focus on the step's title) until the task is done. */
export async function stepUntilDone(w: Where, max: number): Promise<void> {
  const status = w.root.getByTestId('lesson-task-status');
  const counter = w.root.getByTestId('step-counter').first();
  const forward = w.root.getByTestId('step-forward').first();
  const done = async (): Promise<boolean> => (await status.textContent())?.includes('✓') ?? false;
  for (let i = 0; i < max && !(await done()); i++) {
    // A step that loads the lesson's own scenario: → does nothing until the lab can step again.
    await expect.poll(async () => (await done()) || (await forward.isEnabled())).toBe(true);
    if (await done()) break;
    const before = await counter.textContent();
    await w.page.keyboard.press('ArrowRight');
    await expect(counter).not.toHaveText(before ?? '');
  }
  await expect(status).toContainText('✓');
}

/** "Run to next" (a ring change, the default) from the keyboard, until the task is done. */
export async function runToNextRingChange(w: Where): Promise<void> {
  await tabTo(w, w.root.getByTestId('run-to'));
  await w.page.keyboard.press('Enter');
  await expect(w.root.getByTestId('lesson-task-status')).toContainText('✓');
}

/** Picks the nth choice with Space and the arrows, then locks it; `right` checks the feedback. */
export async function choose(w: Where, nth: number, right = '✓'): Promise<void> {
  const radios = column(w).getByRole('radio');
  await tabTo(w, radios.first());
  if (nth === 0) await w.page.keyboard.press('Space');
  for (let i = 0; i < nth; i++) await w.page.keyboard.press('ArrowDown');
  await expect(radios.nth(nth)).toBeChecked();
  await tabTo(w, w.root.getByTestId('lesson-lock'));
  await w.page.keyboard.press('Enter');
  await expect(w.root.getByTestId('lesson-feedback')).toContainText(right);
}

/** Types a number into the step's prediction and submits it. */
export async function answerNumber(w: Where, text: string): Promise<void> {
  await tabTo(w, w.root.getByTestId('lesson-number'));
  await w.page.keyboard.type(text);
  await w.page.keyboard.press('Enter');
  await expect(w.root.getByTestId('lesson-feedback')).toContainText('✓');
}

/** Picks a view element (a pick step's candidate) from the keyboard. */
export async function pick(w: Where, target: string): Promise<void> {
  const el = w.root.locator(`[data-lesson-target="${target}"]`);
  await expect(el).toHaveAttribute('tabindex', '0');
  await tabTo(w, el);
  await w.page.keyboard.press('Enter');
  await expect(w.root.getByTestId('lesson-task-status')).toContainText('✓');
}

/**
 * Lesson 1 from its first step to its end with full marks, keyboard only, with no detours (hints,
 * wrong answers): the route lesson.spec.ts takes with its checks between, for frames and languages.
 */
export async function playLesson1(w: Where): Promise<void> {
  await choose(w, 1);
  await next(w);
  await stepUntilDone(w, 6); // HLT at CPL 3 traps (#GP), on the lesson's own scenario
  await next(w);
  await stepUntilDone(w, 10); // into ring 3
  await next(w);
  await answerNumber(w, '0x80');
  await next(w);
  await choose(w, 1);
  await next(w);
  await stepUntilDone(w, 10); // INT 0x80
  await next(w);
  await runToNextRingChange(w); // IRET back
  await next(w);
  await choose(w, 0);
  await next(w);
  await stepUntilDone(w, 10); // SYSCALL
  await next(w);
  await pick(w, 'reg-rcx');
  await next(w);
  await runToNextRingChange(w); // SYSRET
  await next(w);
  await tabTo(w, w.root.getByTestId('lesson-next'));
  await w.page.keyboard.press('Enter');
  await expect(w.root.getByTestId('lesson-complete')).toBeVisible();
}
