import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { deflateRaw, encodeShare, toBase64Url } from '../../src/views/sandbox/share.ts';
import type { Json } from '../../src/worker/protocol.ts';

const root = join(import.meta.dirname, '../..');
const example = (name: string): Record<string, Json> =>
  JSON.parse(readFileSync(join(root, 'src/emu/scenario/examples', `${name}.json`), 'utf8')) as Record<string, Json>;
const fixtures = JSON.parse(readFileSync(join(root, 'tests/fixtures/share-links-v1.json'), 'utf8')) as {
  links: { name: string; url: string; scenario: Record<string, Json> }[];
};

/** Console errors, page errors and dialogs (an injected script would open one). */
function watch(page: Page): string[] {
  const bad: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') bad.push(m.text());
  });
  page.on('pageerror', (e) => bad.push(e.message));
  page.on('dialog', (d) => {
    bad.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  return bad;
}

const counter = (page: Page) => page.getByTestId('step-counter');
const status = (page: Page) => page.getByTestId('sandbox-status');
const kernelEditor = (page: Page) => page.getByRole('textbox', { name: 'Kernel assembly (Intel syntax)' });
const userEditor = (page: Page) => page.getByRole('textbox', { name: 'User program assembly (Intel syntax)' });

async function openSandbox(page: Page, query = 'lang=en&scenario=syscalls'): Promise<void> {
  await page.goto(`/?${query}`);
  await expect(page.getByTestId('narration')).toBeVisible();
  await page.getByTestId('sandbox-toggle').click();
  await expect(status(page)).toHaveText(/now runs|现在运行/);
}

async function openTab(page: Page, name: string): Promise<void> {
  await page.getByRole('tab', { name: new RegExp(name) }).click();
}

async function machineText(page: Page): Promise<string> {
  return `${await page.getByTestId('code-region').innerText()}\n---\n${await page.getByTestId('registers-region').innerText()}`;
}

/** The system-calls example at step 0 in the lab. */
async function expectLab(page: Page): Promise<void> {
  await expect(counter(page)).toHaveText(/Step 0 of 0|第 0 步/);
  await expect(page.getByTestId('code-region')).toContainText('push 0x23');
}

/** The lab's default, as a page with no sandbox shows it: the system-calls example at step 0. */
async function expectDefaultLab(page: Page): Promise<void> {
  await expectLab(page);
  await expect(page.getByTestId('sandbox')).toHaveCount(0);
  await expect(page.getByTestId('sandbox-toggle')).toHaveAttribute('aria-pressed', 'false');
}

test('an assembly error is reported on its line, marked in the editor, and the fixed program runs', async ({ page }) => {
  const bad = watch(page);
  await openSandbox(page);
  const ed = kernelEditor(page);
  const original = await ed.inputValue();
  const lines = original.split('\n');
  expect(lines[8]).toContain('push USER_STACK_TOP');
  lines[8] = '    push NO_SUCH_LABEL      ; RSP';
  await ed.fill(lines.join('\n'));
  await page.getByTestId('sandbox-run').click();
  await expect(status(page)).toContainText('did not load: 1 error(s)');
  const errors = page.getByTestId('sandbox-errors');
  await expect(errors.getByRole('button')).toHaveText(["Kernel, line 9, column 10 undefined label 'NO_SUCH_LABEL'"]);
  // Marked on its line: the gutter's ✖ and the field's state, described by the error.
  await expect(ed).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('.gutter .bad')).toHaveText(['✖9']);
  await expect(ed).toHaveAccessibleDescription(/undefined label 'NO_SUCH_LABEL'/);
  await expect(page.getByRole('tab', { name: /Kernel/ })).toContainText('1 error(s)');
  // The lab kept what it showed.
  await expect(page.getByTestId('code-region')).toContainText('push 0x23');
  // Clicking the error puts the caret on it.
  await errors.getByRole('button').click();
  await expect(ed).toBeFocused();
  const caret = await ed.evaluate((el: HTMLTextAreaElement) => {
    const before = el.value.slice(0, el.selectionStart).split('\n');
    return [before.length, before.at(-1)!.length + 1];
  });
  expect(caret).toEqual([9, 10]);
  // Fixed, it runs; and the edit in the user program is what runs.
  await openTab(page, 'User program');
  const u = userEditor(page);
  await u.fill((await u.inputValue()).replace('hello from INT 0x80', 'hi from the sandbox'));
  await page.getByRole('tab', { name: /Kernel/ }).click();
  await kernelEditor(page).fill(original);
  await page.getByTestId('sandbox-run').click();
  await expect(status(page)).toHaveText('The lab now runs “System calls by INT 0x80 and SYSCALL”.');
  await expect(page.getByTestId('sandbox-errors')).toHaveCount(0);
  await expect(kernelEditor(page)).not.toHaveAttribute('aria-invalid', 'true');
  await page.getByRole('combobox', { name: 'Event to run to' }).selectOption('ring/change');
  for (let i = 0; i < 4; i++) await page.getByRole('button', { name: 'Run to next' }).click();
  await expect(page.getByTestId('uart')).toContainText('hi from the sandbox');
  expect(bad).toEqual([]);
});

test('Tab indents in the editor; Esc then Tab leaves it; the tabs move with the arrow keys, not the lab', async ({ page }) => {
  await openSandbox(page);
  const ed = kernelEditor(page);
  await ed.focus();
  await ed.evaluate((el: HTMLTextAreaElement) => el.setSelectionRange(0, 0));
  await page.keyboard.press('Tab');
  await expect(ed).toBeFocused();
  expect((await ed.inputValue()).startsWith('    ; A tiny')).toBe(true);
  await page.keyboard.press('Shift+Tab');
  expect((await ed.inputValue()).startsWith('; A tiny')).toBe(true);
  await page.keyboard.press('Escape');
  await page.keyboard.press('Tab');
  await expect(ed).not.toBeFocused();
  const kernelTab = page.getByRole('tab', { name: /Kernel/ });
  await kernelTab.focus();
  await page.keyboard.press('ArrowRight');
  await expect(page.getByRole('tab', { name: /User program/ })).toBeFocused();
  await expect(page.getByRole('tab', { name: /User program/ })).toHaveAttribute('aria-selected', 'true');
  await expect(counter(page)).toHaveText('Step 0 of 0');
});

test('the machine form: a bad memory size is reported on its field, the mode keeps paging consistent', async ({ page }) => {
  const bad = watch(page);
  await openSandbox(page);
  await openTab(page, 'Machine');
  const mem = page.getByRole('textbox', { name: /Memory size/ });
  await expect(mem).toHaveValue('0x800000');
  await mem.fill('5000');
  await page.getByTestId('sandbox-run').click();
  await expect(page.getByTestId('sandbox-errors').getByRole('button')).toHaveText(['Machine: Memory size (bytes) expected a multiple of 4096, got 5000']);
  await expect(mem).toHaveAttribute('aria-invalid', 'true');
  await expect(mem).toHaveAccessibleDescription(/expected a multiple of 4096, got 5000/);
  await page.getByRole('tab', { name: /JSON/ }).click();
  await page.getByTestId('sandbox-errors').getByRole('button').click();
  await expect(page.getByRole('textbox', { name: /Memory size/ })).toBeFocused();
  await page.getByRole('textbox', { name: /Memory size/ }).fill('0x1000000');
  const mode = page.getByRole('combobox', { name: 'CPU mode' });
  await mode.selectOption('prot32');
  await expect(page.getByRole('combobox', { name: 'Paging' })).toHaveValue('none');
  await mode.selectOption('long64');
  await expect(page.getByRole('combobox', { name: 'Paging' })).toHaveValue('4level');
  await page.getByTestId('sandbox-run').click();
  await expect(status(page)).toContainText('now runs');
  expect(bad).toEqual([]);
});

test('the draft survives a reload and a visit to an example', async ({ page }) => {
  await openSandbox(page);
  await openTab(page, 'User program');
  const u = userEditor(page);
  await u.fill((await u.inputValue()).replace('hello from SYSCALL', 'kept across reloads'));
  await page.waitForTimeout(600);
  await page.reload();
  await expect(page.getByTestId('sandbox')).toBeVisible();
  await openTab(page, 'User program');
  await expect(userEditor(page)).toHaveValue(/kept across reloads/);
  await page.getByRole('combobox', { name: 'Scenario' }).selectOption('timer');
  await expect(page.getByTestId('sandbox')).toHaveCount(0);
  await expect(page.getByTestId('code-region')).toContainText('xor eax, eax');
  expect(new URL(page.url()).hash).toBe('');
  await page.getByTestId('sandbox-toggle').click();
  await openTab(page, 'User program');
  await expect(userEditor(page)).toHaveValue(/kept across reloads/);
});

test('broken JSON is kept as typed across a reload, located, and the lab shows its default meanwhile', async ({ page }) => {
  const bad = watch(page);
  await openSandbox(page);
  await openTab(page, 'JSON');
  const json = page.getByRole('textbox', { name: 'The whole scenario as JSON' });
  const text = await json.inputValue();
  await json.fill(text.replace('"mode": "long64",', '"mode": long64,'));
  await expect(page.getByTestId('sandbox').getByText(/The JSON has an error at line 8, column 11: unexpected “l”/)).toBeVisible();
  await expect(json).toHaveAttribute('aria-invalid', 'true');
  await page.waitForTimeout(600);
  await page.reload();
  await expect(page.getByTestId('sandbox')).toBeVisible();
  await expectLab(page);
  await expect(status(page)).toContainText('The JSON has an error at line 8, column 11');
  await expect(page.getByRole('textbox', { name: 'The whole scenario as JSON' })).toBeFocused();
  await expect(page.getByRole('textbox', { name: 'The whole scenario as JSON' })).toHaveValue(/"mode": long64,/);
  await openTab(page, 'Kernel');
  await expect(kernelEditor(page)).toHaveAttribute('readonly', '');
  expect(bad).toEqual([]);
});

test('a share link keeps the draft it replaces, and the user can switch back to it', async ({ page }) => {
  await openSandbox(page);
  await openTab(page, 'User program');
  await userEditor(page).fill((await userEditor(page).inputValue()).replace('hello from SYSCALL', 'my own work'));
  const f = fixtures.links.find((l) => l.name === 'the page-fault example')!;
  await page.evaluate((h) => (location.hash = h), new URL(f.url, 'http://x').hash);
  await expect(status(page)).toHaveText(`The lab now runs “${String(f.scenario.name)}”.`);
  await expect(page.getByText('Your earlier draft was kept.')).toBeVisible();
  await page.getByRole('button', { name: 'Switch back to it' }).click();
  await openTab(page, 'User program');
  await expect(userEditor(page)).toHaveValue(/my own work/);
});

test('a share link round-trips: the same scenario and the same screen after N steps, in a fresh browser', async ({ page, browser, baseURL }) => {
  const bad = watch(page);
  await openSandbox(page);
  await openTab(page, 'User program');
  const u = userEditor(page);
  await u.fill((await u.inputValue()).replace('hello from INT 0x80', 'hi, shared <b>link</b>'));
  const userText = await u.inputValue();
  await openTab(page, 'Machine');
  await page.getByRole('textbox', { name: 'Name' }).fill('共享的场景 <i>x</i>');
  await page.getByTestId('sandbox-run').click();
  await expect(status(page)).toContainText('now runs');
  await page.getByTestId('share-copy').click();
  await expect(page.getByTestId('share-status')).toHaveText(/Share link copied|did not let the lab copy/);
  const link = await page.getByTestId('share-link').inputValue();
  expect(link).toMatch(/#s=1\.[A-Za-z0-9_-]+$/);
  const stepForward = (p: Page) => p.getByRole('button', { name: 'Step forward' });
  for (let i = 1; i <= 12; i++) {
    await stepForward(page).click();
    await expect(counter(page)).toHaveText(`Step ${i} of ${i}`);
  }
  const screen = await machineText(page);

  // Another person: a new browser context, with nothing stored.
  const other = await browser.newContext();
  const p2 = await other.newPage();
  const bad2 = watch(p2);
  const origin = new URL(baseURL ?? 'http://127.0.0.1').origin;
  const foreign: string[] = [];
  p2.on('request', (r) => {
    const url = new URL(r.url());
    if (url.protocol !== 'data:' && url.protocol !== 'blob:' && url.origin !== origin) foreign.push(r.url());
  });
  await p2.goto(link);
  await expect(status(p2)).toHaveText('The lab now runs “共享的场景 <i>x</i>”.');
  await expect(p2.getByText('Opened from a share link.')).toBeVisible();
  expect(new URL(p2.url()).hash).toBe('#sandbox');
  await openTab(p2, 'User program');
  await expect(userEditor(p2)).toHaveValue(userText);
  for (let i = 1; i <= 12; i++) {
    await stepForward(p2).click();
    await expect(counter(p2)).toHaveText(`Step ${i} of ${i}`);
  }
  expect(await machineText(p2)).toBe(screen);
  await p2.getByRole('combobox', { name: 'Event to run to' }).selectOption('ring/change');
  for (let i = 0; i < 2; i++) await p2.getByRole('button', { name: 'Run to next' }).click();
  await expect(p2.getByTestId('uart')).toContainText('hi, shared <b>link</b>');
  expect(bad2).toEqual([]);
  expect(foreign).toEqual([]);
  await other.close();
  expect(bad).toEqual([]);
});

test('an old share link (format 1 fixture) still opens its scenario, in its language', async ({ page }) => {
  const bad = watch(page);
  const f = fixtures.links.find((l) => l.name.startsWith('the timer example'))!;
  await page.goto(f.url);
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(status(page)).toHaveText(`实验室现在运行“${String(f.scenario.name)}”。`);
  await expect(page.getByTestId('code-region')).toContainText('xor eax, eax');
  await page.getByRole('tab', { name: 'JSON' }).click();
  const text = await page.getByRole('textbox', { name: '以 JSON 表示的完整场景' }).inputValue();
  expect(JSON.parse(text)).toEqual(f.scenario);
  expect(bad).toEqual([]);
});

test('markup in a shared scenario stays text: names, descriptions and sources are never HTML', async ({ page }) => {
  const bad = watch(page);
  const f = fixtures.links.find((l) => l.name.includes('markup'))!;
  await page.goto(f.url);
  await expect(status(page)).toHaveText(`实验室现在运行“${String(f.scenario.name)}”。`);
  await page.getByRole('tab', { name: '机器' }).click();
  await expect(page.getByRole('textbox', { name: '名称' })).toHaveValue(String(f.scenario.name));
  await expect(page.getByRole('textbox', { name: '说明' })).toHaveValue(String(f.scenario.description));
  expect(await page.locator('img, b, main script').count()).toBe(0);
  expect(await page.evaluate(() => document.body.innerHTML.includes('<img src=x'))).toBe(false);
  expect(bad).toEqual([]);
});

/** Corrupt and hostile links, each with the words the status area must say. */
async function corruptLinks(): Promise<[string, string, string][]> {
  const deflated = async (text: string) => `#s=1.${toBase64Url(await deflateRaw(new TextEncoder().encode(text)))}`;
  const invalid = example('syscalls');
  invalid.memory = { size: 5000 };
  const hostile = { ...example('page-fault'), '<img src=x onerror="document.title=1">': '<script>document.title=2</script>' };
  const newer = await encodeShare(example('timer'));
  if (!newer.ok) throw new Error('too long');
  return [
    ['bad base64', '#s=1.@@not*base64@@', 'its data is not base64url text'],
    ['bad deflate', `#s=1.${toBase64Url(new Uint8Array([0xff, 0xee, 0xdd, 0xcc, 0xbb]))}`, 'its data does not decompress'],
    ['bad JSON', await deflated('{"version": 1,\n  "name": oops}'), 'JSON error at line 2, column 11'],
    ['an invalid scenario', await deflated(JSON.stringify(invalid)), 'memory.size: expected a multiple of 4096, got 5000'],
    ['hostile markup', await deflated(JSON.stringify(hostile)), '<img src=x onerror="document.title=1">: unknown field'],
    ['a huge link', `#s=1.${'A'.repeat(300_000)}`, 'This share link is too long (300000 characters of data'],
    ['a zip bomb (100 MB of spaces)', `#s=1.${toBase64Url(await deflateRaw(new Uint8Array(100 << 20).fill(0x20)))}`, 'too large (more than 1048576 bytes once decompressed)'],
    ['a newer format', newer.fragment.replace('#s=1.', '#s=2.'), 'made by a newer version of the lab'],
    ['a malformed fragment', '#s=oops', 'This share link is malformed'],
  ];
}

test('corrupt and hostile links get a clear message and the default lab, never an exception or markup', async ({ page }) => {
  const bad = watch(page);
  for (const [what, hash, says] of await corruptLinks()) {
    await page.goto(`/?lang=en&scenario=syscalls${hash}`);
    const shown = page.getByRole('status').filter({ hasText: 'The default lab is shown instead.' });
    await expect(shown, what).toContainText(says);
    await expectDefaultLab(page);
    expect(new URL(page.url()).hash, what).toBe('');
    expect(await page.locator('img, main script').count(), what).toBe(0);
    expect(await page.title(), what).toBe('Ring −1');
    await page.goto('about:blank');
  }
  expect(bad).toEqual([]);
});

test('a corrupt link in Chinese says so in Chinese', async ({ page }) => {
  await page.goto('/?lang=zh-CN&scenario=syscalls#s=1.@@');
  await expect(page.getByRole('status').filter({ hasText: '现改为显示默认的实验内容' })).toContainText('这个分享链接已损坏');
  await expectDefaultLab(page);
});

test('a share link pasted into an open lab (only the fragment changes) opens too', async ({ page }) => {
  await page.goto('/?lang=en&scenario=timer');
  await expect(page.getByTestId('narration')).toBeVisible();
  const f = fixtures.links.find((l) => l.name === 'the page-fault example')!;
  await page.evaluate((h) => (location.hash = h), new URL(f.url, 'http://x').hash);
  await expect(status(page)).toHaveText(`The lab now runs “${String(f.scenario.name)}”.`);
});

test('the sandbox in Chinese reports an error on its line', async ({ page }) => {
  await openSandbox(page, 'lang=zh-CN&scenario=syscalls');
  const ed = page.getByRole('textbox', { name: '内核汇编（Intel 语法）' });
  await ed.fill((await ed.inputValue()).replace('    iretq\n\nint80_handler:', '    iretq\n    movv rax, 1\n\nint80_handler:'));
  await page.getByTestId('sandbox-run').click();
  await expect(status(page)).toContainText('场景未能载入：共 1 个错误');
  await expect(page.getByTestId('sandbox-errors').getByRole('button')).toContainText('内核，第 14 行，第 5 列');
});

for (const lang of ['en', 'zh-CN'] as const) {
  for (const theme of ['light', 'dark', 'contrast'] as const) {
    test(`the sandbox with errors shown has no axe violations (${lang}, ${theme})`, async ({ page }) => {
      const bad = watch(page);
      await openSandbox(page, `lang=${lang}&scenario=page-fault&theme=${theme}`);
      await page.getByTestId('sandbox').getByRole('tab').nth(2).click();
      await page.locator('[id$="-f-memory"]').fill('5000');
      await page.getByTestId('sandbox-run').click();
      await expect(page.getByTestId('sandbox-errors')).toBeVisible();
      await page.getByTestId('share-copy').click();
      await expect(page.getByTestId('share-status')).not.toBeEmpty();
      const axe = await new AxeBuilder({ page }).analyze();
      expect(axe.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
      await page.getByTestId('sandbox').getByRole('tab').nth(0).click();
      const axe2 = await new AxeBuilder({ page }).analyze();
      expect(axe2.violations.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
      expect(bad).toEqual([]);
    });
  }
}

test('the sandbox in presenter mode has no axe violations', async ({ page }) => {
  await openSandbox(page, 'lang=en&scenario=syscalls&mode=presenter');
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`)).toEqual([]);
});
