/**
 * OS-level partitioning in the lab (containers-crash, and vms-crash as the contrast): the containers
 * view with the kernel's process table, run with the keyboard to the ring-0 fault that beta's
 * uname(NULL) causes (the narration tells a kernel bug that stops every container), then to the
 * kernel's halt; the console shows both containers' lines, then the panic, and is the text the same
 * kernel prints when the runner (src/emu/hv/containers/run.ts) runs it in Node. As two VMs, only
 * beta's console ends in the panic; alpha's runs to its exit. Both languages, axe-clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { SCENARIOS } from '../../src/views/shell/url.ts';
import { runPartitioning } from '../../src/emu/hv/containers/run.ts';
import { axeClean, noErrors } from './page-checks.ts';

test.beforeEach(() => {
  for (const id of ['containers-crash', 'vms-crash']) expect(SCENARIOS as readonly string[], `example scenario "${id}"`).toContain(id);
});

const crash = runPartitioning({ as: 'containers', crash: true });
const vms = runPartitioning({ as: 'vms', crash: true });

/** Chooses an event kind in "Event to run to" and presses "Run to next", with the keyboard. */
async function runTo(page: Page, kind: string): Promise<void> {
  const before = await page.getByTestId('step-counter').last().textContent();
  await page.getByTestId('run-kind').focus();
  await page.getByTestId('run-kind').selectOption(kind);
  await page.getByTestId('run-to').focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('step-counter').last()).not.toHaveText(before ?? '');
}

async function open(page: Page, query: string): Promise<void> {
  await page.goto(`/?${query}`);
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('containers')).toBeVisible();
}

/** The console's lines, in order, and where the first line of each kind is. */
function order(text: string): { lastAlpha: number; lastBeta: number; panic: number } {
  const lines = text.split('\n');
  const last = (p: string): number => lines.map((l, i) => (l.startsWith(p) ? i : -1)).reduce((a, b) => Math.max(a, b), -1);
  return { lastAlpha: last('[alpha] '), lastBeta: last('[beta] '), panic: lines.findIndex((l) => l.startsWith('kernel panic: ')) };
}

test('containers-crash: uname(NULL) faults in ring 0, the kernel panics, every container stops; the console as the runner prints it (English)', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, 'lang=en&scenario=containers-crash');
  await expect(page.getByTestId('containers')).toHaveAttribute('data-kernel', 'booting');
  await expect(page.getByTestId('containers-now')).toHaveText('The kernel is booting: no process has run yet.');
  await axeClean(page);
  await runTo(page, 'cpu/exception');
  const beta = crash.units[1]!;
  await expect(page.getByTestId('narration')).toContainText(`The kernel itself faulted in ring 0 at 0x0 while serving container beta\u2019s process (pid ${beta.nsPid} inside it, pid ${beta.pid} in the kernel) (#PF, error code 2): a kernel bug a container can reach.`);
  await expect(page.locator('[data-testid="containers-row"][data-current="true"]')).toHaveAttribute('data-container', 'beta');
  await expect(page.getByTestId('containers-shared')).toContainText('the kernel ringos 0.1');
  await runTo(page, 'cpu/halt');
  await expect(page.getByTestId('narration')).toHaveText('The kernel halts after its panic: no container runs again.');
  await expect(page.getByTestId('containers')).toHaveAttribute('data-kernel', 'panic');
  for (const u of crash.units) {
    const row = page.locator(`[data-testid="containers-row"][data-container="${u.name}"]`);
    await expect(row).toContainText('stopped by the panic');
    await expect(row).toContainText(String(u.syscalls));
  }
  const uart = page.getByTestId('uart').locator('pre');
  await expect(uart).toHaveText(crash.console);
  const o = order((await uart.textContent()) ?? '');
  expect(o.lastAlpha).toBeGreaterThan(0);
  expect(o.lastBeta).toBeGreaterThan(0);
  expect(o.panic).toBeGreaterThan(Math.max(o.lastAlpha, o.lastBeta));
  await axeClean(page);
  expect(bad).toEqual([]);
});

test('containers-crash in Chinese, with the keyboard: the ring-0 fault told as a kernel bug, then the halt', async ({ page }) => {
  const bad = noErrors(page);
  await open(page, 'lang=zh-CN&scenario=containers-crash');
  await expect(page.getByTestId('containers-now')).toHaveText('内核正在启动：还没有进程运行过。');
  await runTo(page, 'cpu/exception');
  await expect(page.getByTestId('narration')).toContainText('内核自身在为容器 beta 的进程（容器内 pid 1，内核中 pid 2）服务时于特权级 0 访问 0x0 出错（#PF，错误码 2）');
  await runTo(page, 'cpu/halt');
  await expect(page.getByTestId('containers-now')).toHaveText('内核崩溃（panic）并停机：所有容器随之停止。');
  await expect(page.locator('[data-testid="containers-row"][data-container="alpha"]')).toContainText('随内核崩溃而停止');
  await expect(page.getByTestId('uart').locator('pre')).toHaveText(crash.console);
  await axeClean(page);
  expect(bad).toEqual([]);
});

test('vms-crash: the same bug in one VM stops only that VM\u2019s kernel; the other VM runs to its end (both languages)', async ({ page }) => {
  const bad = noErrors(page);
  for (const lang of ['en', 'zh-CN']) {
    // The run's last step, from the runner's own count (the machine stops there).
    await page.goto(`/?lang=${lang}&scenario=vms-crash&step=${vms.steps}`);
    await expect(page.getByTestId('vm-console-1').locator('pre')).toHaveText(vms.units[1]!.console);
    await expect(page.getByTestId('vm-console-0').locator('pre')).toHaveText(vms.units[0]!.console);
    expect(vms.units[0]!.console).toMatch(/exited with code 0\n/);
    expect(order(vms.units[1]!.console).panic).toBeGreaterThan(0);
    await expect(page.getByTestId('containers')).toHaveCount(0);
    await axeClean(page);
  }
  expect(bad).toEqual([]);
});
