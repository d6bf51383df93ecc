/**
 * Paravirtualization in the lab (pv-kernel and pv-unmodified): the state view with the kernel in
 * ring 1, the shared info page's event state and the pinned tables; the hypercall list in the
 * inspector's place with mmu_update's 1025 requests decoded; the kernel diff with what each
 * privileged line became, and its button that runs the unmodified kernel to its located failure;
 * the narration, in both languages, with the keyboard alone and axe-clean.
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
  await expect(page.getByTestId('pv-state')).toBeVisible();
}

/** Presses X (run to the next VM exit: here the next hypercall) until the step's hypercall is `name`. */
async function callUntil(page: Page, name: string, max = 14): Promise<void> {
  const now = page.locator(`[data-testid="pv-hypercall-row"][data-now="true"][data-name="${name}"]`);
  for (let i = 0; i < max; i++) {
    if ((await now.count()) > 0) return;
    const before = await page.getByTestId('step-counter').last().textContent();
    await page.locator('body').press('x');
    await expect(page.getByTestId('step-counter').last()).not.toHaveText(before ?? '');
  }
  await expect(now).toHaveCount(1);
}

test.describe('paravirtualization (pv-kernel)', () => {
  test.beforeEach(() => needs('pv-kernel'));

  test('the page table in one mmu_update of 1025 requests: the hypercall list, the tables pinned read-only, the narration (English)', async ({ page }) => {
    const bad = noErrors(page);
    await open(page, 'lang=en&scenario=pv-kernel');
    await expect(page.getByTestId('pv-now')).toContainText('the paravirtualized kernel runs in ring 1');
    await expect(page.getByTestId('vm-planes')).toHaveCount(0);
    await expect(page.getByTestId('pv-hypercalls')).toContainText('No hypercall yet.');
    await callUntil(page, 'set_trap_table');
    await expect(page.getByTestId('pv-hypercall-table')).toContainText('vector 0x80 → 0xe019:');
    await expect(page.getByTestId('narration')).toContainText('The kernel made the hypercall set_trap_table with INT 0x82 from ring 1: the hypervisor built the IDT gates from 1 trap-table entries.');
    await callUntil(page, 'mmu_update');
    const row = page.locator('[data-testid="pv-hypercall-row"][data-now="true"]');
    await expect(row).toContainText('mmu_update');
    await expect(row).toContainText('number 1');
    await expect(row).toContainText('1025 page-table writes in one hypercall; 1025 validated and written.');
    await expect(row).toContainText('maps 0x0 to 0x0, writable, kernel only');
    await expect(row).toContainText('… 1020 more requests …');
    await expect(row).toContainText('made in this step');
    await expect(page.getByTestId('pv-step')).toContainText('This step: the kernel made the hypercall mmu_update (number 1); the hypervisor returned 0: done.');
    await expect(page.getByTestId('narration')).toContainText('validated and wrote 1025 of 1025 page-table entries in one call');
    await expect(page.locator('[data-testid="pv-table-row"][data-mapping="read-only"]')).toHaveCount(2);
    await expect(page.getByTestId('pv-mask')).toContainText('evtchn_upcall_mask = 1');
    await expect(page.getByTestId('vm-reasons')).toContainText('mmu_update: traps 1');
    await axeClean(page);
    expect(bad).toEqual([]);
  });

  test('in Chinese with the keyboard: the hypercalls to the shutdown, the events unmasked by a store (no hypercall)', async ({ page }) => {
    const bad = noErrors(page);
    await open(page, 'lang=zh-CN&scenario=pv-kernel');
    await expect(page.getByTestId('pv-now')).toContainText('半虚拟化内核运行在特权级 1');
    await callUntil(page, 'console_io');
    await expect(page.getByTestId('narration')).toContainText('内核在特权级 1 用 INT 0x82 发出超级调用 console_io：虚拟机监控器向控制台写入“kernel: up↵”');
    await callUntil(page, 'mmu_update');
    await expect(page.locator('[data-testid="pv-hypercall-row"][data-now="true"]')).toContainText('一次超级调用中 1025 个页表写请求；1025 个经验证后写入。');
    await expect(page.getByTestId('pv-tables')).toContainText('只读：只有 mmu_update 能修改它');
    await callUntil(page, 'sched_op');
    await expect(page.getByTestId('pv-now')).toContainText('该域已结束');
    await expect(page.locator('body')).toContainText('user: hello from ring 3');
    await axeClean(page);
    expect(bad).toEqual([]);
  });
});

test.describe('paravirtualization (the kernel diff and pv-unmodified)', () => {
  test.beforeEach(() => needs('pv-unmodified'));

  test('the diff says what CLI became; its button runs the unmodified kernel to its located failure (keyboard, both languages)', async ({ page }) => {
    const bad = noErrors(page);
    await open(page, 'lang=en&scenario=pv-kernel');
    const diff = page.getByTestId('pv-diff');
    await expect(diff).toContainText('The kernel diff: what the port to the hypervisor changed');
    await expect(diff.locator('[data-becomes="cli"]').first()).toHaveText('became: write 1 to vcpu_info.evtchn_upcall_mask (a store to the shared info page, no hypercall)');
    await expect(diff.locator('[data-becomes="lidt"]')).toContainText('set_trap_table');
    await expect(diff.locator('[data-becomes="cr3"]')).toContainText('mmu_update of all 1025 entries in one hypercall');
    await axeClean(page);
    await page.getByTestId('pv-run-unmodified').focus();
    await page.keyboard.press('Enter');
    const failure = page.getByTestId('pv-failure');
    await expect(failure).toContainText('cli at 0x100000: not paravirtualized.');
    await expect(page.getByTestId('pv-now')).toContainText('stopped by the hypervisor');
    await expect(page.getByTestId('narration')).toContainText('The unmodified kernel’s cli at 0x100000 is a privileged instruction: in ring 1 it faults (#GP) into the hypervisor');
    await axeClean(page);
    await open(page, 'lang=zh-CN&scenario=pv-unmodified');
    await expect(page.getByTestId('pv-diff').locator('[data-becomes="cli"]').first()).toContainText('向 vcpu_info.evtchn_upcall_mask 写 1');
    await page.getByTestId('step-forward').focus();
    await page.keyboard.press('Enter');
    await expect(page.getByTestId('pv-failure')).toContainText('cli（位于 0x100000）：未经半虚拟化。');
    await expect(page.getByTestId('narration')).toContainText('未修改内核在 0x100000 的 cli 是特权指令');
    await axeClean(page);
    expect(bad).toEqual([]);
  });
});
