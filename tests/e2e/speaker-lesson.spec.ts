/**
 * The speaker window while the projected lab plays a lesson: the lesson's title and step, the
 * step's instructor notes (paragraphs intact) in the projected window's language, the next step's
 * title, what the lesson's Next waits for; and its controls, which move the lesson (Next only
 * once the step is done, a refusal said) and, below, the machine.
 */
import { expect, test, type Page } from '@playwright/test';
import { axeClean, noErrors, openSpeaker } from './page-checks.ts';
import { en, zh } from '../../lessons/01-rings/text.ts';

const paragraphs = (notes: string): string[] => notes.split(/\n\s*\n/).map((p) => p.trim());

async function openLessonPresenter(page: Page, query: string): Promise<void> {
  await page.goto(`/?lesson=01-rings&mode=presenter&${query}`);
  await expect(page.getByTestId('lesson-column')).toBeVisible();
  // Opened at a later step, the lab is first run to where that step expects it.
  await expect(page.getByTestId('lesson-column').locator('.placing')).toHaveCount(0);
  await expect(page.getByTestId('step-counter').first()).toHaveText(/Step \d+ of|第 \d+ 步/);
}

test('the speaker shows the lesson step’s notes and drives the lesson: Next waits for the answer and the lab task, Back returns', async ({ page }) => {
  const errors = noErrors(page);
  await openLessonPresenter(page, 'lang=en');
  const speaker = await openSpeaker(page);
  const speakerErrors = noErrors(speaker);
  const where = speaker.getByTestId('speaker-lesson-step');
  const notes = speaker.getByTestId('speaker-notes').locator('p.note');
  const gate = speaker.getByTestId('speaker-gate');
  const lessonNext = speaker.getByTestId('speaker-lesson-next');
  const title = page.getByTestId('lesson-step-title');

  // Step 1: a question. The notes, paragraph by paragraph; the next step's title; Next locked.
  await expect(where).toHaveText('Rings, interrupts and system calls: lesson step 1 of 12');
  await expect(notes).toHaveText(paragraphs(en.steps.rings.notes));
  expect(paragraphs(en.steps.rings.notes)).toHaveLength(2);
  await expect(speaker.getByTestId('speaker-next-title')).toHaveText(en.steps['try-hlt'].title);
  await expect(gate).toHaveAttribute('data-gate', 'answer');
  await expect(gate).toContainText('Next is locked until the question on the projected screen is answered.');
  await expect(speaker.getByTestId('speaker-task')).toHaveText(`On screen: ${en.steps.rings.prompt}`);
  await expect(lessonNext).toBeDisabled();
  await expect(speaker.getByTestId('speaker-lesson-back')).toBeDisabled();
  await expect(speaker.getByTestId('speaker-scenario')).toHaveText('Scenario: System calls (INT 0x80 and SYSCALL)');

  // The clicker's Next is refused, and the speaker says why; the projected lesson stays.
  await speaker.locator('h1').click();
  await speaker.keyboard.press('PageDown');
  await expect(speaker.getByTestId('speaker-refused')).toHaveText('⚠ Not sent. Next is locked until the question on the projected screen is answered.');
  await expect(page.getByTestId('lesson-progress')).toHaveText('Step 1 of 12');

  // The class answers in the projected window: the speaker sees Next open.
  await page.getByTestId('lesson-column').getByRole('radio').nth(1).check();
  await page.getByTestId('lesson-lock').click();
  await expect(gate).toHaveAttribute('data-gate', 'open');
  await expect(speaker.getByTestId('speaker-refused')).toHaveText('');
  await expect(speaker.getByTestId('speaker-task')).toHaveCount(0);

  // The speaker's Next moves the lesson: step 2 runs on the lesson's own scenario.
  await lessonNext.click();
  await expect(title).toHaveText(en.steps['try-hlt'].title);
  await expect(where).toHaveText('Rings, interrupts and system calls: lesson step 2 of 12');
  await expect(notes).toHaveText(paragraphs(en.steps['try-hlt'].notes));
  await expect(speaker.getByTestId('speaker-next-title')).toHaveText(en.steps['enter-user'].title);
  await expect(speaker.getByTestId('speaker-scenario')).toHaveText('Scenario: HLT in ring 3, a #GP (the lesson’s own)');
  await expect(gate).toHaveAttribute('data-gate', 'lab');
  await expect(speaker.getByTestId('speaker-task')).toHaveText(`On screen: ${en.steps['try-hlt'].act}`);
  await expect(lessonNext).toBeDisabled();

  // A lab task: the speaker steps the machine (→, and its Next step button) until the task is met.
  const counter = page.getByTestId('step-counter').first();
  await speaker.locator('h1').click();
  for (let i = 0; i < 8 && (await gate.getAttribute('data-gate')) === 'lab'; i++) {
    const before = await speaker.getByTestId('speaker-step').textContent();
    if (i % 2 === 0) await speaker.keyboard.press('ArrowRight');
    else await speaker.getByTestId('speaker-next').click();
    await expect(speaker.getByTestId('speaker-step')).not.toHaveText(before ?? '');
  }
  await expect(gate).toHaveAttribute('data-gate', 'open');
  await expect(page.getByTestId('lesson-task-status')).toContainText('✓');
  await expect(page.getByTestId('narration')).toContainText('#GP');
  await expect(counter).not.toHaveText(/^Step 0 of/);

  // The clicker's Next now moves the lesson, back to the example.
  await speaker.locator('h1').click();
  await speaker.keyboard.press('PageDown');
  await expect(title).toHaveText(en.steps['enter-user'].title);
  await expect(where).toHaveText('Rings, interrupts and system calls: lesson step 3 of 12');
  await expect(speaker.getByTestId('speaker-scenario')).toHaveText('Scenario: System calls (INT 0x80 and SYSCALL)');
  await expect(counter).toHaveText(/^Step 0 of/);

  // Back (the clicker's PgUp), then the student's own Next in the projected window: the speaker follows both.
  await speaker.keyboard.press('PageUp');
  await expect(title).toHaveText(en.steps['try-hlt'].title);
  await expect(where).toContainText('lesson step 2 of 12');
  await page.getByTestId('lesson-next').click();
  await expect(where).toContainText('lesson step 3 of 12');
  await expect(notes).toHaveText(paragraphs(en.steps['enter-user'].notes));
  await axeClean(speaker);
  expect(errors).toEqual([]);
  expect(speakerErrors).toEqual([]);
});

test('the speaker says the lesson in Chinese: title, step, notes, next step, gate and the lesson’s own scenario', async ({ page }) => {
  await openLessonPresenter(page, 'lstep=2&lang=zh-CN');
  const speaker = await openSpeaker(page);
  await expect(speaker.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(speaker.getByTestId('speaker-lesson-step')).toHaveText(`${zh.title}：课程第 2 步，共 12 步`);
  await expect(speaker.getByTestId('speaker-notes').locator('p.note')).toHaveText(paragraphs(zh.steps['try-hlt'].notes));
  await expect(speaker.getByTestId('speaker-next-title')).toHaveText(zh.steps['enter-user'].title);
  await expect(speaker.getByTestId('speaker-gate')).toContainText('在实验室中完成任务之前');
  await expect(speaker.getByTestId('speaker-task')).toHaveText(`屏幕上：${zh.steps['try-hlt'].act}`);
  await expect(speaker.getByTestId('speaker-scenario')).toHaveText('场景：在 3 环执行 HLT，引发 #GP（本课自带）');
  await axeClean(speaker);
});

test('the speaker window has no axe violations during a lesson, with the lesson finished', async ({ page }) => {
  await openLessonPresenter(page, 'lstep=12&lang=en&theme=dark');
  const speaker = await openSpeaker(page);
  await expect(speaker.getByTestId('speaker-gate')).toHaveAttribute('data-gate', 'open');
  await expect(speaker.getByTestId('speaker-lesson-next')).toHaveText(/Finish the lesson/);
  await expect(speaker.getByTestId('speaker-next-title')).toHaveText('This is the lesson’s last step.');
  await speaker.getByTestId('speaker-lesson-next').click();
  await expect(page.getByTestId('lesson-complete')).toBeVisible();
  await expect(speaker.getByTestId('speaker-gate')).toHaveAttribute('data-gate', 'finished');
  await expect(speaker.getByTestId('speaker-lesson-next')).toBeDisabled();
  await axeClean(speaker);
});
