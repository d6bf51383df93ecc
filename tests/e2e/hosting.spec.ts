/**
 * Where the hypervisor lives (hosted-two-vms, bare-metal-two-vms): opened at the step of the
 * printer's first OUT to COM1, the panel draws the path the worker reports for that exit (checked
 * against the session run in Node, not against figures written here), the same exit's path on the
 * other arrangement is the one the bare-metal example takes, the narration tells the path; Next VM
 * exit from the keyboard reaches a host process's turn; in both languages, in presenter mode,
 * axe-clean.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { LabSession, prepareLoad } from '../../src/worker/session.ts';
import type { ViewState } from '../../src/worker/protocol.ts';
import type { VmHostPath } from '../../src/worker/vm-types.ts';
import { SCENARIOS } from '../../src/views/shell/url.ts';
import { axeClean, noErrors } from './page-checks.ts';

const example = (id: string): unknown => JSON.parse(readFileSync(resolve(import.meta.dirname, `../../src/emu/scenario/examples/${id}.json`), 'utf8'));

/** The session the worker runs, here in Node: the view at the first step whose exits include one that sent a byte out. */
async function firstOutput(id: string): Promise<{ s: LabSession; view: ViewState; path: VmHostPath }> {
  const sc = example(id);
  await prepareLoad(sc as never);
  const s = new LabSession();
  const r = s.load(sc as never);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  for (let i = 0; i < 200; i++) {
    const { view } = s.runUntil(['host/path'], 100_000);
    const path = view.vm?.hosting?.paths.find((p) => p.output);
    if (path !== undefined) return { s, view, path };
  }
  throw new Error(`${id}: no exit sent data out`);
}

async function open(page: Page, query: string): Promise<void> {
  await page.goto(`/?${query}`);
  await expect(page.getByTestId('narration')).toBeVisible();
  await expect(page.getByTestId('hosting-panel')).toBeVisible({ timeout: 20_000 });
}

const hopsOf = async (page: Page, id: string): Promise<string[]> => ((await page.getByTestId(id).getAttribute('data-hops')) ?? '').split(' ');

test.beforeEach(() => {
  for (const id of ['hosted-two-vms', 'bare-metal-two-vms']) expect(SCENARIOS as readonly string[], `example scenario "${id}"`).toContain(id);
});

test('hosted: the UART exit\u2019s path as the worker reports it, the bare-metal path beside it, the totals, a host process\u2019s turn (English)', async ({ page }) => {
  test.setTimeout(90_000);
  const bad = noErrors(page);
  const { s, view, path } = await firstOutput('hosted-two-vms');
  const h = view.vm!.hosting!;
  await open(page, `lang=en&scenario=hosted-two-vms&step=${view.step}`);
  const panel = page.getByTestId('hosting-panel');
  await expect(panel).toHaveAttribute('data-hosting', 'hosted');
  await expect(page.getByTestId('hosting-exit')).toHaveAttribute('data-in-step', 'true');
  await expect(page.getByTestId('hosting-exit')).toContainText(`This step\u2019s exit: VM ${path.vm} (${view.vm!.vms[path.vm]!.name}), I/O instruction`);
  await expect(page.getByTestId('hosting-exit')).toContainText(path.note);
  // The drawing and its list are the worker's path, hop by hop; the world switches are diamonds.
  expect(await hopsOf(page, 'hosting-path')).toEqual(path.hops);
  const items = page.getByTestId('hosting-path').locator('li');
  await expect(items).toHaveCount(path.hops.length);
  expect(await items.evaluateAll((li) => li.map((x) => x.getAttribute('data-hop')))).toEqual(path.hops);
  await expect(items.filter({ hasText: 'write(), a system call into the host kernel' })).toHaveCount(1);
  await expect(items.filter({ hasText: 'World switch' })).toHaveCount(path.hops.filter((x) => x === 'world-out' || x === 'world-in').length);
  await expect(page.getByTestId('hosting-path').locator('.point.world')).toHaveCount(2);
  await expect(page.getByTestId('hosting-path').locator('.drop')).toHaveCount(1);
  // The same exit bare-metal: the worker's, and what the bare-metal example's run took for it.
  expect(await hopsOf(page, 'hosting-other')).toEqual(path.other);
  const bare = await firstOutput('bare-metal-two-vms');
  expect([bare.path.vm, bare.path.n, bare.path.name]).toEqual([path.vm, path.n, path.name]);
  expect(path.other).toEqual(bare.path.hops);
  await expect(page.getByTestId('hosting-other')).toContainText(`The same exit under a bare-metal hypervisor: ${path.other.length} hops`);
  // The totals so far, as the worker counts them.
  await expect(page.getByTestId('hosting-world-switches')).toHaveText(h.worldSwitches.toLocaleString('en'));
  await expect(page.getByTestId('hosting-user-crossings')).toHaveText(h.userCrossings.toLocaleString('en'));
  await expect(page.getByTestId('hosting-syscalls')).toHaveText(h.syscalls.toLocaleString('en'));
  await expect(page.getByTestId('narration')).toContainText('Hosted: the exit went to the host world by a world switch; the VMDriver\u2019s ioctl returned to the VMM process');
  await expect(page.getByTestId('vm-cycles')).toContainText('Host OS: switches to the host world and back');
  await axeClean(page);
  // Next VM exit from the keyboard until a host process has the CPU: the worker says the same.
  const now = page.getByTestId('hosting-now');
  await expect(now).toHaveAttribute('data-running', 'false');
  for (let i = 0; i < 60 && (await now.getAttribute('data-running')) !== 'true'; i++) {
    const before = await page.getByTestId('step-counter').last().textContent();
    await page.locator('body').press('x');
    await expect(page.getByTestId('step-counter').last()).not.toHaveText(before ?? '');
  }
  await expect(now).toHaveAttribute('data-running', 'true');
  const step = Number((await page.getByTestId('step-counter').last().textContent())?.match(/Step ([\d,]+)/)?.[1]?.replaceAll(',', ''));
  const running = s.goto(step).vm!.hosting!.running!;
  expect(running).not.toBeNull();
  await expect(now).toContainText(`Now: host process ${running.proc + 1} of 1 has the CPU, ${(running.steps - running.done).toLocaleString('en')} of its ${running.steps.toLocaleString('en')} steps left; no VM runs.`);
  await expect(page.getByTestId('vm-now')).toContainText(`in the host OS: host process ${running.proc + 1} runs, no VM does.`);
  await expect(page.getByTestId('narration')).toContainText(`The host\u2019s scheduler gave the CPU to host process ${running.proc + 1} for ${running.steps.toLocaleString('en')} steps`);
  await axeClean(page);
  expect(bad).toEqual([]);
});

test('bare-metal in Chinese: the same exit\u2019s own path, the hosted one beside it, no host OS', async ({ page }) => {
  test.setTimeout(60_000);
  const bad = noErrors(page);
  const { view, path } = await firstOutput('bare-metal-two-vms');
  await open(page, `lang=zh-CN&scenario=bare-metal-two-vms&step=${view.step}`);
  await expect(page.getByTestId('hosting-kind')).toContainText('裸金属型：虚拟机监控器直接运行在机器上，有自己的调度器');
  expect(await hopsOf(page, 'hosting-path')).toEqual(path.hops);
  expect(await hopsOf(page, 'hosting-other')).toEqual(path.other);
  await expect(page.getByTestId('hosting-other')).toContainText(`同一次退出在宿主型虚拟机监控器下：${path.other.length} 跳`);
  await expect(page.getByTestId('hosting-path').locator('li').first()).toHaveText('VM 退出：处理器离开客户机，进入虚拟机监控器。');
  await expect(page.getByTestId('hosting-world-switches')).toHaveText('0');
  await expect(page.getByTestId('hosting-host')).toHaveText('无：没有宿主机操作系统');
  await expect(page.getByTestId('narration')).toContainText('裸金属型：虚拟机监控器自己的设备模型模拟了它');
  await axeClean(page);
  expect(bad).toEqual([]);
});

test('hosted in Chinese and in presenter mode: the path, the host process\u2019s turn, the dark theme', async ({ page }) => {
  test.setTimeout(60_000);
  const bad = noErrors(page);
  const { view, path } = await firstOutput('hosted-two-vms');
  await open(page, `lang=zh-CN&scenario=hosted-two-vms&step=${view.step}&theme=dark`);
  await expect(page.getByTestId('hosting-kind')).toContainText('宿主型：宿主机操作系统掌管整台机器');
  expect(await hopsOf(page, 'hosting-path')).toEqual(path.hops);
  await expect(page.getByTestId('hosting-path').locator('li').nth(1)).toHaveText('世界切换到宿主机世界：VMDriver 保存 VMM 世界的处理器状态，装入宿主机操作系统的状态。');
  await expect(page.getByTestId('narration')).toContainText('宿主型：这次退出经一次世界切换进入宿主机世界');
  await axeClean(page);
  // Presenter mode: the paths and the line about now, large; the explanations and totals left out.
  await page.getByRole('button', { name: '演示模式' }).click();
  await expect(page.locator('html')).toHaveAttribute('data-mode', 'presenter');
  await expect(page.getByTestId('hosting-panel')).toBeVisible();
  expect(await hopsOf(page, 'hosting-path')).toEqual(path.hops);
  await expect(page.getByTestId('hosting-totals')).toHaveCount(0);
  await page.locator('body').press('ArrowRight');
  await expect(page.getByTestId('step-counter').last()).toContainText(String(view.step + 1));
  await expect(page.getByTestId('hosting-exit')).toHaveAttribute('data-in-step', 'false');
  await axeClean(page);
  expect(bad).toEqual([]);
});
