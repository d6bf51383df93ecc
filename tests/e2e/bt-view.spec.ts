/**
 * Binary translation in the lab (bt-popf, bt-smc, bt-adaptive): the BT view with the current guest
 * block beside its translation, callouts marked with their reason in words, the cache's figures,
 * the list of blocks, the registers' line naming the guest instruction a translation-cache EIP
 * stands for, and the narration of a POPF callout, a code write and an adaptive rewrite, in both
 * languages, with the keyboard alone and axe-clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { SCENARIOS } from '../../src/views/shell/url.ts';
import { axeClean, noErrors } from './page-checks.ts';

function needs(id: string): void {
  expect(SCENARIOS as readonly string[], `example scenario "${id}"`).toContain(id);
}

async function open(page: Page, query: string): Promise<void> {
  await page.goto(`/?${query}`);
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('bt-view')).toBeVisible();
}

/** Steps with the keyboard (the step button focused, Enter) until the narration matches `re`. */
async function stepUntil(page: Page, re: RegExp, max = 60): Promise<void> {
  const said = page.getByTestId('narration');
  const next = page.getByTestId('step-forward');
  await next.focus();
  for (let i = 0; i < max; i++) {
    if (re.test((await said.textContent()) ?? '')) return;
    const before = await page.getByTestId('step-counter').last().textContent();
    await page.keyboard.press('Enter');
    await expect(page.getByTestId('step-counter').last()).not.toHaveText(before ?? '');
  }
  await expect(said).toHaveText(re);
}

test.describe('binary translation (bt-popf)', () => {
  test.beforeEach(() => needs('bt-popf'));

  test('the POPF callout: the block beside its translation, the reason in words, the narration (English)', async ({ page }) => {
    const bad = noErrors(page);
    await open(page, 'lang=en&scenario=bt-popf');
    const view = page.getByTestId('bt-view');
    await expect(view).toContainText('Binary translation');
    await expect(page.getByTestId('bt-stats')).toContainText('of 262,144');
    await stepUntil(page, /The translated popfd is a callout/);
    await expect(page.getByTestId('narration')).toContainText('The translated popfd is a callout: the monitor ran it in ring 1 and set the guest’s IF from the popped value (IF = 1), which trap-and-emulate cannot do.');
    await expect(page.getByTestId('bt-stats')).toContainText('sensitive');
    // Some block shown so far has a copied instruction and a callout named by its reason.
    await stepUntil(page, /translated block/);
    const code = page.getByTestId('bt-code');
    await expect(code).toBeVisible();
    await expect(page.getByTestId('bt-insn').first()).toBeVisible();
    await expect(page.getByTestId('bt-blocks')).toContainText('in use');
    await axeClean(page);
    expect(bad).toEqual([]);
  });

  test('in Chinese, keyboard only: the POPF callout narrated, the registers say where EIP is', async ({ page }) => {
    const bad = noErrors(page);
    await open(page, 'lang=zh-CN&scenario=bt-popf');
    await stepUntil(page, /翻译后的 popfd 是一次调出/);
    await expect(page.getByTestId('bt-view')).toContainText('翻译缓存');
    await stepUntil(page, /虚拟机监控器把代码块/);
    await page.getByTestId('step-forward').focus();
    await page.keyboard.press('Enter');
    await expect(page.getByTestId('bt-where')).toBeVisible();
    await axeClean(page);
    // The block table scrolls with the keyboard: its region takes the focus.
    await page.getByTestId('bt-code').locator('xpath=..').focus();
    await expect(page.getByTestId('bt-code').locator('xpath=..')).toBeFocused();
    expect(bad).toEqual([]);
  });
});

test.describe('binary translation (bt-smc, bt-adaptive)', () => {
  test('a code write drops the block, and the immediate written shows in the retranslated block (English)', async ({ page }) => {
    needs('bt-smc');
    const bad = noErrors(page);
    await open(page, 'lang=en&scenario=bt-smc');
    await stepUntil(page, /A code write was caught/);
    await expect(page.getByTestId('bt-stats').locator('[data-stat="codeWrites"]')).toContainText('1');
    await expect(page.getByTestId('bt-stats').locator('[data-stat="codeWrites"]')).toContainText('changed in this step');
    await expect(page.locator('[data-testid="bt-block-row"][data-valid="0"]').first()).toContainText('dropped');
    await stepUntil(page, /translated block/);
    await expect(page.getByTestId('bt-code')).toContainText('mov eax, 0x3');
    await axeClean(page);
    expect(bad).toEqual([]);
  });

  test('the adaptive rewrite is narrated, then the store is a page-table-write callout (Chinese)', async ({ page }) => {
    needs('bt-adaptive');
    const bad = noErrors(page);
    await open(page, 'lang=zh-CN&scenario=bt-adaptive');
    await stepUntil(page, /自适应翻译/);
    await stepUntil(page, /页表写入/);
    await expect(page.getByTestId('bt-stats')).toContainText('页表写入');
    await axeClean(page);
    expect(bad).toEqual([]);
  });
});
