/**
 * The sandbox's hypervisor section: choose a technique, turn on RDTSC exiting (or INTERCEPT_RDTSC),
 * run a kernel that reads the TSC and see that exit in the VMCS / VMCB inspector; the JSON and a
 * reload keep the setting; the inspector's "Change in the sandbox" opens the lab's scenario there,
 * asking before it takes an earlier draft's place. The address-translation check boxes (tagged TLB,
 * page-walk cache, nested TLB, 4-KByte nested pages): disabled with their reason under shadow page
 * tables, and with the caches on the nested-walk grid says how many references they saved.
 * Keyboard only, both languages, axe-clean.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { axeClean, noErrors } from './page-checks.ts';

/** The nested-walk example (VT-x): 4-KByte nested pages, the walk caches off. */
const NESTED_WALK = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../src/emu/scenario/examples/nested-walk-vtx.json'), 'utf8')) as Record<string, unknown>;

/** A 64-bit kernel that reads the time-stamp counter, then halts. */
const RDTSC_GUEST = {
  version: 1,
  name: 'rdtsc guest',
  cpu: { vendor: 'intel' },
  mode: 'long64',
  paging: '4level',
  memory: { size: 4194304 },
  kernel: { source: 'kernel_entry:\n    rdtsc\n    hlt\n' },
  limits: { maxSteps: 100 },
};

const status = (page: Page) => page.getByTestId('sandbox-status');
const hv = (page: Page) => page.getByTestId('sandbox-hv');

async function openSandbox(page: Page, lang: string): Promise<void> {
  await page.goto(`/?lang=${lang}&scenario=syscalls`);
  await expect(page.getByTestId('narration')).toBeVisible();
  await page.getByTestId('sandbox-toggle').press('Enter');
  await expect(status(page)).toHaveText(/now runs|现在运行/);
}

/** Puts a scenario into the draft through the JSON tab. */
async function draftJson(page: Page, tab: RegExp, scenario: object): Promise<void> {
  await page.getByRole('tab', { name: tab }).press('Enter');
  const json = page.getByRole('textbox', { name: /^(The whole scenario as JSON|以 JSON 表示的完整场景)$/ });
  await json.fill(JSON.stringify(scenario, null, 2));
}

async function runDraft(page: Page, name: string): Promise<void> {
  await page.getByTestId('sandbox-run').press('Enter');
  await expect(status(page)).toContainText(name);
}

/** Runs the lab to the next VM exit with the X key; the last exit's heading must then match. */
async function nextExit(page: Page, head: RegExp): Promise<void> {
  await page.locator('body').press('x');
  await expect(page.getByTestId('vm-exit-head')).toHaveText(head);
}

test('VT-x from the machine form: HLT exits first; with RDTSC exiting on, RDTSC exits (reason 16); the JSON and a reload keep it', async ({ page }) => {
  const bad = noErrors(page);
  await openSandbox(page, 'en');
  await draftJson(page, /^JSON/, RDTSC_GUEST);
  await page.getByRole('tab', { name: /Machine/ }).press('Enter');
  const technique = page.getByRole('combobox', { name: 'Hardware virtualization' });
  await technique.focus();
  await page.keyboard.press('ArrowDown');
  await expect(technique).toHaveValue('vtx');
  await expect(hv(page)).toBeVisible();
  const rdtsc = hv(page).getByRole('checkbox', { name: 'RDTSC exiting' });
  await expect(rdtsc).not.toBeChecked();
  await expect(hv(page).getByRole('checkbox', { name: 'HLT exiting' })).toBeChecked();
  await expect(hv(page).getByRole('checkbox', { name: 'CR3-load exiting / CR3-store exiting' })).not.toBeChecked();
  await expect(hv(page).getByRole('checkbox', { name: '6 #UD' })).toBeChecked();
  await expect(hv(page).getByRole('combobox', { name: 'Cost preset' })).toHaveValue('intel-broadwell');
  await expect(hv(page).getByRole('checkbox', { name: 'Nested paging (EPT)' })).toBeChecked();
  await runDraft(page, 'rdtsc guest');
  // Without RDTSC exiting the guest reads the TSC natively: its first exit is the HLT.
  await nextExit(page, /^HLT \(reason 12; EXIT_REASON_HLT\)/);

  await rdtsc.focus();
  await page.keyboard.press('Space');
  await expect(rdtsc).toBeChecked();
  await runDraft(page, 'rdtsc guest');
  await nextExit(page, /^RDTSC \(reason 16; EXIT_REASON_RDTSC\)/);
  await expect(page.getByTestId('vm-controls').locator('[data-control="RDTSC exiting"]')).toBeChecked();

  await page.getByRole('tab', { name: /^JSON/ }).press('Enter');
  const json = JSON.parse(await page.getByRole('textbox', { name: 'The whole scenario as JSON' }).inputValue()) as Record<string, unknown>;
  expect(json['technique']).toBe('vtx');
  expect(json['hypervisor']).toEqual({ exits: { rdtsc: true } });
  await axeClean(page);

  await page.reload();
  await expect(status(page)).toContainText('rdtsc guest');
  await page.getByRole('tab', { name: /Machine/ }).press('Enter');
  await expect(hv(page).getByRole('checkbox', { name: 'RDTSC exiting' })).toBeChecked();
  expect(bad).toEqual([]);
});

test('AMD-V in Chinese: INTERCEPT_RDTSC makes VMEXIT_RDTSC (0x6e); the presets are AMD’s', async ({ page }) => {
  const bad = noErrors(page);
  await openSandbox(page, 'zh-CN');
  await draftJson(page, /^JSON/, { ...RDTSC_GUEST, cpu: { vendor: 'amd' } });
  await page.getByRole('tab', { name: /机器/ }).press('Enter');
  const technique = page.getByRole('combobox', { name: '硬件虚拟化' });
  await technique.focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await expect(technique).toHaveValue('svm');
  await expect(hv(page).locator('legend').first()).toHaveText('虚拟机监控器');
  const preset = hv(page).getByRole('combobox', { name: '开销预设' });
  await expect(preset.locator('option')).toHaveText(['较新的 AMD 处理器（KVM，2020）']);
  const rdtsc = hv(page).getByRole('checkbox', { name: 'INTERCEPT_RDTSC' });
  await rdtsc.focus();
  await page.keyboard.press('Space');
  await expect(hv(page)).toContainText('RDTSC 会退出');
  await runDraft(page, 'rdtsc guest');
  await nextExit(page, /^VMEXIT_RDTSC（EXITCODE 0x6e）/);
  await axeClean(page);
  expect(bad).toEqual([]);
});

test('"Change in the sandbox" from the inspector opens the lab’s scenario at the hypervisor, asking before it replaces a draft', async ({ page }) => {
  const bad = noErrors(page);
  // An earlier draft of the user's own: the system-calls example, renamed.
  await openSandbox(page, 'en');
  await page.getByRole('tab', { name: /Machine/ }).press('Enter');
  await page.getByRole('textbox', { name: 'Name' }).fill('my own draft');
  await page.getByTestId('sandbox-toggle').press('Enter');
  await expect(page.getByTestId('sandbox')).toHaveCount(0);

  await page.goto('/?lang=en&scenario=vtx-first-exit');
  await expect(page.getByTestId('vm-inspector')).toBeVisible();
  const change = page.getByTestId('vm-change-in-sandbox');
  // One button per group whose bits a scenario option sets (VT-x: the primary controls and the exception bitmap's field).
  await expect(change.first()).toHaveAccessibleName('Change in the sandbox');
  await change.first().focus();
  await page.keyboard.press('Enter');
  const ask = page.getByTestId('sandbox-from-lab');
  await expect(ask).toContainText('Your first VM exit (VT-x)');
  await expect(ask.getByRole('button', { name: 'Replace my draft' })).toBeFocused();
  await axeClean(page);
  // Keeping the draft keeps it as it was.
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await expect(ask).toHaveCount(0);
  await expect(page.getByRole('combobox', { name: 'Hardware virtualization' })).toBeFocused();
  await expect(page.getByRole('textbox', { name: 'Name' })).toHaveValue('my own draft');

  // Asked again, replacing it: the draft is the lab's scenario, focus on its hypervisor section, the earlier draft kept.
  await change.first().focus();
  await page.keyboard.press('Enter');
  await expect(ask.getByRole('button', { name: 'Replace my draft' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(hv(page)).toBeFocused();
  await expect(page.getByRole('textbox', { name: 'Name' })).toHaveValue('Your first VM exit (VT-x)');
  await expect(status(page)).toContainText('Your first VM exit (VT-x)');
  await expect(page.getByRole('button', { name: 'Switch back to it' })).toBeVisible();
  await page.keyboard.press('Tab');
  await expect(hv(page).getByRole('combobox', { name: 'Cost preset' })).toBeFocused();

  // The draft now equals the lab's scenario: asking again needs no question.
  await change.first().focus();
  await page.keyboard.press('Enter');
  await expect(hv(page)).toBeFocused();
  await expect(ask).toHaveCount(0);
  await page.getByRole('button', { name: 'Switch back to it' }).press('Enter');
  await expect(page.getByRole('textbox', { name: 'Name' })).toHaveValue('my own draft');
  expect(bad).toEqual([]);
});

test('address translation: tags and walk caches need nested paging (and say so); with the caches on the grid counts what they saved', async ({ page }) => {
  test.setTimeout(90_000);
  const bad = noErrors(page);
  await openSandbox(page, 'en');
  await draftJson(page, /^JSON/, NESTED_WALK);
  await page.getByRole('tab', { name: /Machine/ }).press('Enter');
  const mem = page.getByTestId('sandbox-hv-mem');
  const tags = mem.getByRole('checkbox', { name: 'Tagged TLB (VPID)' });
  const pwc = mem.getByRole('checkbox', { name: 'Page-walk cache' });
  const ntlb = mem.getByRole('checkbox', { name: 'Nested TLB' });
  const fourK = mem.getByRole('checkbox', { name: '4-KByte nested pages' });
  await expect(tags).toBeChecked();
  await expect(pwc).not.toBeChecked();
  await expect(ntlb).not.toBeChecked();
  await expect(fourK).toBeChecked();

  // Shadow page tables: the 4-KByte setting goes (it has no nested tables to size), and the rest cannot be turned on, saying why.
  const nested = hv(page).getByRole('checkbox', { name: 'Nested paging (EPT)' });
  await nested.focus();
  await page.keyboard.press('Space');
  await expect(nested).not.toBeChecked();
  await expect(tags).toBeDisabled();
  await expect(tags).not.toBeChecked();
  await expect(tags).toHaveAccessibleDescription(/Not with shadow page tables/);
  for (const c of [pwc, ntlb, fourK]) {
    await expect(c).toBeDisabled();
    await expect(c).toHaveAccessibleDescription(/Needs nested paging/);
  }
  await axeClean(page);
  await nested.focus();
  await page.keyboard.press('Space');
  await expect(tags).toBeEnabled();
  await expect(tags).toBeChecked();
  await expect(fourK).not.toBeChecked();

  // Both caches and 4-KByte pages, from the keyboard; the JSON says exactly that.
  for (const c of [pwc, ntlb, fourK]) {
    await c.focus();
    await page.keyboard.press('Space');
    await expect(c).toBeChecked();
  }
  await page.getByRole('tab', { name: /^JSON/ }).press('Enter');
  const json = JSON.parse(await page.getByRole('textbox', { name: 'The whole scenario as JSON' }).inputValue()) as Record<string, unknown>;
  expect(json['hypervisor']).toEqual({ walkCaches: { pwc: true, ntlb: true }, nestedPageSize: '4k' });

  // Step 2 writes PAGE_A: a TLB miss whose 2D walk the caches shortened (the kernel's fetches filled them).
  await runDraft(page, String(NESTED_WALK['name']));
  for (let i = 0; i < 2; i++) {
    const before = await page.getByTestId('step-counter').last().textContent();
    await page.getByTestId('step-forward').click();
    await expect(page.getByTestId('step-counter').last()).not.toHaveText(before ?? '');
  }
  await expect(page.getByTestId('nested-source')).toHaveAttribute('data-source', 'walk');
  const count = page.getByTestId('nested-count');
  const saved = Number(await count.getAttribute('data-saved'));
  const made = Number(await count.getAttribute('data-made'));
  expect(saved).toBeGreaterThan(0);
  expect(made + saved).toBe(24);
  await expect(page.getByTestId('nested-saved')).toContainText(`The walk caches saved ${saved} references on this walk`);
  await expect(page.getByTestId('nested-grid').locator('td[data-why="skipped"]')).toHaveCount(saved);
  expect(bad).toEqual([]);
});
