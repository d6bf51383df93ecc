/**
 * Trap-and-emulate in the lab (popf-trap and red-pill): the ring view with the monitor in ring 0
 * and the guest kernel in ring 1, the trap list in the inspector's place (no VMCS or VMCB), the
 * narration of a trap and of the POPF that asked in vain, in both languages, with the keyboard
 * alone and axe-clean.
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
  await expect(page.getByTestId('te-rings')).toBeVisible();
}

/** Presses X (run to the next trap) until the trap list's last trap matches `re`. */
async function trapUntil(page: Page, re: RegExp, max = 12): Promise<void> {
  const head = page.getByTestId('te-trap-head');
  for (let i = 0; i < max; i++) {
    if ((await head.count()) > 0 && re.test((await head.textContent()) ?? '')) return;
    const before = await page.getByTestId('step-counter').last().textContent();
    await page.locator('body').press('x');
    await expect(page.getByTestId('step-counter').last()).not.toHaveText(before ?? '');
  }
  await expect(head).toHaveText(re);
}

/** Steps with the keyboard (the step button focused, Enter) until the ring view says the POPF was ignored. */
async function stepToPopf(page: Page, max = 40): Promise<void> {
  const step = page.getByTestId('te-step');
  const next = page.getByTestId('step-forward');
  await next.focus();
  for (let i = 0; i < max; i++) {
    if (/POPF|popfd|没有陷入：/.test((await step.textContent()) ?? '') && /IF = 1/.test((await step.textContent()) ?? '')) return;
    const before = await page.getByTestId('step-counter').last().textContent();
    await page.keyboard.press('Enter');
    await expect(page.getByTestId('step-counter').last()).not.toHaveText(before ?? '');
  }
  await expect(step).toContainText('popfd');
}

test.describe('trap-and-emulate (popf-trap)', () => {
  test.beforeEach(() => needs('popf-trap'));

  test('the first trap: STI from ring 1 up to the monitor, in the ring view, the trap list and the narration (English)', async ({ page }) => {
    const bad = noErrors(page);
    await open(page, 'lang=en&scenario=popf-trap');
    const rings = page.getByTestId('te-rings');
    await expect(rings).toContainText('Monitor: ring 0');
    await expect(rings).toContainText('Guest kernel: ring 1');
    await expect(rings).toContainText('(the guest thinks: ring 0)');
    await expect(page.getByTestId('te-ring-1')).toContainText('▶');
    await expect(page.getByTestId('te-now')).toContainText('runs deprivileged in ring 1');
    await expect(page.getByTestId('vm-planes')).toHaveCount(0);
    await expect(page.getByTestId('te-no-structure')).toHaveText('No control structure: the monitor keeps the guest’s state in software.');
    // X runs to the monitor's next trap (or, under BT, callout), and its button says so.
    await expect(page.getByTestId('run-vm-exit')).toHaveText(/Next trap or callout/);
    await trapUntil(page, /^\s*sti at EIP/);
    await expect(page.getByTestId('te-trap-head')).toContainText('from ring 1: #GP (sti)');
    await expect(page.getByTestId('te-trap-handled')).toContainText('The monitor emulated it (sti: the guest’s IF set)');
    await expect(page.getByTestId('te-step')).toContainText('This step: sti trapped from ring 1 up to the monitor in ring 0 (#GP); the monitor emulated it, then IRET back down to ring 1.');
    await expect(page.getByTestId('te-arrows')).toBeVisible();
    // Step 1 holds two traps: the fetch's hidden page fault (the shadow is filled), then STI's #GP.
    await expect(page.getByTestId('narration')).toContainText('The guest kernel’s sti faulted in ring 1 (#PF) into the monitor, which filled the shadow page table for it (hidden #PF at 0x100000 (error code 0x0): shadow filled) and resumed it with IRET. The guest kernel’s sti faulted in ring 1 (#GP) into the monitor, which set the guest’s IF and resumed it with IRET.');
    const row = page.getByTestId('te-trap-row').last();
    await expect(row).toContainText('sti');
    await expect(row).toContainText('trapped in this step');
    await expect(page.getByTestId('vm-reasons')).toContainText('sti: traps 1');
    await axeClean(page);
    expect(bad).toEqual([]);
  });

  test('POPF in ring 1 asks for IF = 1 and nothing traps: said in the ring view and the narration, in Chinese, keyboard only', async ({ page }) => {
    const bad = noErrors(page);
    await open(page, 'lang=zh-CN&scenario=popf-trap');
    await expect(page.getByTestId('te-rings')).toContainText('虚拟机监控器：特权级 0');
    await expect(page.getByTestId('te-no-structure')).toHaveText('没有控制结构：虚拟机监控器用软件保存客户机的状态。');
    await expect(page.getByTestId('run-vm-exit')).toHaveText(/下一次陷入或调出/);
    await stepToPopf(page);
    await expect(page.getByTestId('te-step')).toContainText('这一步没有陷入：特权级 1 中的 popfd 要求 IF = 1，处理器却保持 IF = 0');
    await expect(page.getByTestId('narration')).toContainText('客户机内核在特权级 1 执行的 popfd 要求 IF = 1，但在 IOPL 为 0 时处理器保持 IF = 0');
    await expect(page.getByTestId('te-arrows')).toHaveCount(0);
    await axeClean(page);
    expect(bad).toEqual([]);
  });

  test('the same step in English; the guest prints P0 (IF still 0) at the end', async ({ page }) => {
    const bad = noErrors(page);
    await open(page, 'lang=en&scenario=popf-trap');
    await stepToPopf(page);
    await expect(page.getByTestId('narration')).toContainText('asked for IF = 1, but with IOPL 0 the processor left IF = 0 and raised no fault: no trap, so the monitor never learned of it.');
    await trapUntil(page, /^\s*hlt at EIP/);
    await expect(page.getByTestId('te-now')).toContainText('the guest has ended');
    await expect(page.locator('body')).toContainText('P0');
    expect(bad).toEqual([]);
  });
});

test.describe('trap-and-emulate (red-pill)', () => {
  test.beforeEach(() => needs('red-pill'));

  test('the UART’s OUT traps from ring 1; the red pill’s instructions do not (English and Chinese)', async ({ page }) => {
    const bad = noErrors(page);
    await open(page, 'lang=en&scenario=red-pill');
    await trapUntil(page, /^\s*out dx, al at EIP/);
    await expect(page.getByTestId('te-trap-head')).toContainText('from ring 1: #GP (out)');
    await expect(page.getByTestId('te-trap-handled')).toContainText('passed it to a device model');
    await expect(page.getByTestId('narration')).toContainText('The guest kernel’s out dx, al faulted in ring 1 (#GP) into the monitor, which passed the access to a device model');
    await axeClean(page);
    await open(page, 'lang=zh-CN&scenario=red-pill');
    await trapUntil(page, /^\s*EIP 0x[0-9a-f]+ 处的 out dx, al/);
    await expect(page.getByTestId('narration')).toContainText('客户机内核的 out dx, al 在特权级 1 产生故障（#GP），陷入虚拟机监控器');
    await expect(page.getByTestId('te-trap-table')).toContainText('陷入的指令');
    await axeClean(page);
    expect(bad).toEqual([]);
  });
});
