/**
 * The VT-x and AMD-V views in the lab: the planes, the VMCS / VMCB inspector, "Next VM exit" and
 * its X key, the narration of an exit, the charts and the consoles, in both languages, with the
 * keyboard alone and axe-clean, on the example scenarios `vtx-first-exit` and `svm-first-exit`.
 */
import { expect, test, type Page } from '@playwright/test';
import { SCENARIOS } from '../../src/views/shell/url.ts';
import { axeClean, noErrors } from './page-checks.ts';

/** The lab must name the example (a test of a missing one fails, it does not skip). */
function needs(id: string): void {
  expect(SCENARIOS as readonly string[], `example scenario "${id}"`).toContain(id);
}

async function open(page: Page, query: string): Promise<void> {
  await page.goto(`/?${query}`);
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('vm-planes')).toBeVisible();
}

/** Presses X until the last exit's heading names `name` (exits come in the scenario's order). */
async function exitUntil(page: Page, name: RegExp, max = 12): Promise<void> {
  const head = page.getByTestId('vm-exit-head');
  for (let i = 0; i < max; i++) {
    if ((await head.count()) > 0 && name.test((await head.textContent()) ?? '')) return;
    const before = await page.getByTestId('step-counter').last().textContent();
    await page.locator('body').press('x');
    await expect(page.getByTestId('step-counter').last()).not.toHaveText(before ?? '');
  }
  await expect(head).toHaveText(name);
}

test.describe('VT-x views (vtx-first-exit)', () => {
  test.beforeEach(() => needs('vtx-first-exit'));

  test('Next VM exit stops at the CPUID exit: planes, inspector, narration and the changed fields, in English', async ({ page }) => {
    const bad = noErrors(page);
    await open(page, 'lang=en&scenario=vtx-first-exit');
    await expect(page.getByTestId('vm-planes')).toContainText('VMX root operation');
    await expect(page.getByTestId('vm-planes')).toContainText('VMX non-root operation');
    const run = page.getByTestId('run-vm-exit');
    await expect(run).toBeEnabled();
    await run.click();
    await expect(page.getByTestId('vm-exit-head')).toContainText('CPUID (reason 10; EXIT_REASON_CPUID)');
    await expect(page.getByTestId('narration')).toContainText('VM exit: CPUID (reason 10).');
    await expect(page.getByTestId('vm-step')).toContainText('VM exit (CPUID, reason 10)');
    // The exit reason field holds 10 and is marked as written, in text as well as shade.
    const reason = page.locator('tr[data-field="VM_EXIT_REASON"]');
    await expect(reason).toHaveAttribute('data-changed', 'true');
    await expect(reason).toContainText('written in this step');
    await expect(reason.locator('td').last()).toHaveText(/^0x0*a$/);
    await expect(page.getByTestId('vm-path')).toContainText('VMREAD');
    await expect(page.getByTestId('vm-path').locator('li').last()).toContainText(/VMRESUME|VMLAUNCH/);
    await expect(page.getByTestId('vm-reasons')).toContainText('CPUID');
    await expect(page.getByTestId('vm-preset')).toContainText('Cost preset');
    await axeClean(page);
    expect(bad).toEqual([]);
  });

  test('the I/O exit’s qualification as a bit strip; the filter and "only changed" from the keyboard', async ({ page }) => {
    const bad = noErrors(page);
    await open(page, 'lang=en&scenario=vtx-first-exit');
    await exitUntil(page, /I\/O instruction \(reason 30; EXIT_REASON_IO_INSTRUCTION\)/);
    const q = page.getByTestId('vm-info-EXIT_QUALIFICATION').getByTestId('bit-strip');
    for (const name of ['Port number', 'Operand encoding', 'REP prefixed', 'String instruction', 'Direction of the attempted access', 'Size of access']) await expect(q.locator(`li[data-name="${name}"]`)).toHaveCount(1);
    await expect(q.locator('li[data-name="Port number"]')).toContainText('31:16');
    const filter = page.getByTestId('vm-filter');
    await filter.focus();
    await page.keyboard.type('GUEST_RIP');
    await expect(page.locator('tr[data-field="GUEST_RIP"]')).toHaveCount(1);
    await expect(page.locator('tr[data-field="HOST_RIP"]')).toHaveCount(0);
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
    const only = page.getByTestId('vm-only-changed');
    await only.focus();
    await page.keyboard.press('Space');
    await expect(only).toBeChecked();
    const rows = page.locator('tr[data-field]');
    expect(await rows.count()).toBeGreaterThan(0);
    for (const v of await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-changed')))) expect(v).toBe('true');
    await axeClean(page);
    expect(bad).toEqual([]);
  });

  test('in Chinese: the planes, the inspector and the narration of the CPUID exit', async ({ page }) => {
    const bad = noErrors(page);
    await open(page, 'lang=zh-CN&scenario=vtx-first-exit');
    await expect(page.getByTestId('vm-planes')).toContainText('VMX 非根操作');
    await page.locator('body').press('x');
    await expect(page.getByTestId('vm-exit-head')).toContainText('CPUID（原因 10；EXIT_REASON_CPUID）');
    await expect(page.getByTestId('narration')).toContainText('VM 退出：CPUID（原因 10）');
    await expect(page.getByTestId('vm-inspector')).toContainText('VMCS 检查器');
    await axeClean(page);
    expect(bad).toEqual([]);
  });

  test('the help dialog lists the X key', async ({ page }) => {
    await open(page, 'lang=en&scenario=vtx-first-exit');
    await page.locator('body').press('?');
    await expect(page.getByRole('dialog')).toContainText('Run to the next VM exit');
  });
});

test.describe('AMD-V views (svm-first-exit)', () => {
  test.beforeEach(() => needs('svm-first-exit'));

  test('host and guest mode, VMEXIT_IOIO with EXITINFO1 decoded, in both languages', async ({ page }) => {
    const bad = noErrors(page);
    await open(page, 'lang=en&scenario=svm-first-exit');
    await expect(page.getByTestId('vm-planes')).toContainText('Host mode');
    await expect(page.getByTestId('vm-planes')).toContainText('Guest mode');
    await exitUntil(page, /VMEXIT_IOIO \(EXITCODE 0x7b\)/);
    const strip = page.getByTestId('vm-info-exit_info_1').getByTestId('bit-strip');
    for (const name of ['PORT', 'TYPE', 'SZ8']) await expect(strip.locator(`li[data-name="${name}"]`)).toHaveCount(1);
    await expect(page.getByTestId('vm-path').locator('li').last()).toContainText('VMRUN');
    await axeClean(page);
    await page.goto(page.url().replace('lang=en', 'lang=zh-CN'));
    await expect(page.getByTestId('vm-planes')).toContainText('客户机模式');
    await expect(page.getByTestId('vm-inspector')).toContainText('VMCB 检查器');
    expect(bad).toEqual([]);
  });
});

test('a scenario without a hypervisor says why Next VM exit is off', async ({ page }) => {
  await page.goto('/?lang=en&scenario=syscalls');
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('run-vm-exit')).toBeDisabled();
  await expect(page.getByTestId('run-vm-exit-why')).toHaveText('(no VM in this scenario)');
  await expect(page.getByTestId('vm-planes')).toHaveCount(0);
  await page.locator('body').press('x');
  await expect(page.getByRole('status').filter({ hasText: 'No VM exit to run to: no VM in this scenario.' })).toBeVisible();
});
