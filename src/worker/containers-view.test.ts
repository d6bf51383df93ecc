/**
 * ViewState.containers through the session: the container kernel's process table and shared state
 * at each step (read from the machine's memory), null for other programs; the narration of a system
 * call with the container that made it, the kernel's return to ring 3, the fault in ring 3 that
 * kills only the reader, the ring-0 fault that panics the kernel, and the final halt, in both
 * languages.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import containers from '../emu/scenario/examples/containers.json' with { type: 'json' };
import crash from '../emu/scenario/examples/containers-crash.json' with { type: 'json' };
import syscalls from '../emu/scenario/examples/syscalls.json' with { type: 'json' };
import { LabSession, needsContainers, prepareLoad } from './session.ts';
import type { Json, ViewState } from './protocol.ts';
import { CONTAINER_KERNEL_MARK } from './containers-types.ts';
import { kernelSource } from '../emu/hv/containers/kernel.ts';
import { buildContainerKernel, partitionContainers, runPartitioning } from '../emu/hv/containers/run.ts';
import { FRAMES, U_DATA } from '../emu/hv/containers/layout.ts';
import { narrateContainers } from '../views/containers/narrate-containers.ts';
import { narrate, segmentsText } from '../views/shell/narrate.ts';

const peek = { ...containers, kernel: { ...containers.kernel, source: kernelSource(partitionContainers({ peek: true })) } };

beforeAll(() => prepareLoad(containers));

/** The views at each step that changed ring, took an exception or halted (run to the next such event each time), after the view at load. */
function all(scenario: unknown): ViewState[] {
  const s = new LabSession({ interval: 500 });
  const r = s.load(scenario as Json);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const out: ViewState[] = [r.view];
  for (;;) {
    const u = s.runUntil(['ring/change', 'cpu/exception', 'cpu/halt'], 100_000);
    if (u.event === null) break;
    out.push(u.view);
  }
  return out;
}

const eaxOf = (v: ViewState): number => Number(BigInt(v.machine.regs.rax) & 0xffffffffn);
const say = (v: ViewState, locale: 'en' | 'zh-CN' = 'en'): string | null => {
  const s = narrateContainers(locale, v.events.filter((e) => e.step === v.step - 1), v.containers!, eaxOf(v));
  return s === null ? null : segmentsText(s);
};

describe('ViewState.containers', () => {
  it('the kernel\u2019s first line is the mark the worker looks for; only such a scenario without a technique asks for the chunk', () => {
    expect(kernelSource(partitionContainers({})).startsWith(CONTAINER_KERNEL_MARK)).toBe(true);
    expect(needsContainers({ ...containers, technique: 'vtx' })).toBe(false);
    expect(needsContainers(syscalls)).toBe(false);
  });

  it('containers: the process table at each step, as the kernel\u2019s memory holds it; shared version and ticks', () => {
    const views = all(containers);
    expect(views[0]!.containers).toMatchObject({ kernel: 'booting', procs: [], current: -1, ticks: 0, version: 'ringos 0.1', privatePage: U_DATA });
    const last = views.at(-1)!.containers!;
    const ref = runPartitioning({ as: 'containers' });
    expect(last.kernel).toBe('idle');
    expect(last.ticks).toBe(ref.ticks[0]);
    expect(last.procs.map((p) => [p.container, p.nsPid, p.pid, p.state, p.exitCode, p.syscalls])).toEqual(ref.units.map((u) => [u.name, u.nsPid, u.pid, 'exited', 0, u.syscalls]));
    // Each its own page directory, and its private page at U_DATA its own frame (FRAMES + 3 pages for the first).
    expect(new Set(last.procs.map((p) => p.cr3)).size).toBe(2);
    expect(last.procs.map((p) => p.frame)).toEqual([FRAMES + 0x3000, FRAMES + 0x7000]);
    // The current process while one runs: ring 3 is its own code.
    // (−1 only in the scheduler's first pass, before it picks alpha.)
    const running = views.filter((v) => v.containers!.kernel === 'running' && v.containers!.current >= 0);
    expect(running.length).toBeGreaterThan(60);
    expect(new Set(running.map((v) => v.containers!.current))).toEqual(new Set([0, 1]));
  });

  it('no view for another program, nor with a technique', () => {
    const s = new LabSession();
    const r = s.load(syscalls as Json);
    expect(r.ok && r.view.containers).toBe(null);
  });
});

describe('the narration', () => {
  let views: ViewState[] = [];
  let said: (string | null)[] = [];
  beforeAll(async () => {
    await prepareLoad(containers);
    views = all(containers);
    said = views.map((v) => say(v));
  });

  it('each INT 0x80 with the container and the call by name; the return into ring 3; the final halt', () => {
    const calls = said.filter((x) => x?.startsWith('With INT 0x80'));
    expect(calls).toHaveLength(32);
    expect(calls[0]).toBe('With INT 0x80, container alpha\u2019s process (pid 1 inside it, pid 1 in the kernel) asks the kernel for getpid (EAX = 4), from ring 3 to ring 0: one kernel serves every container.');
    expect(calls).toContain('With INT 0x80, container beta\u2019s process (pid 1 inside it, pid 2 in the kernel) asks the kernel for uname (EAX = 6), from ring 3 to ring 0: one kernel serves every container.');
    expect(said).toContain('The kernel returns to ring 3 with IRETD, into container beta\u2019s process (pid 1 inside it, pid 2 in the kernel), in its own address space.');
    expect(said.filter((x) => x !== null).at(-1)).toBe('Every process has ended: the kernel halts.');
    const zh = views.map((v) => say(v, 'zh-CN')).filter((x) => x?.includes('INT 0x80'));
    expect(zh[0]).toBe('容器 alpha 的进程（容器内 pid 1，内核中 pid 1）用 INT 0x80 请求内核执行 getpid（EAX = 4），从特权级 3 进入特权级 0：同一个内核为所有容器服务。');
  });

  it('through the shell: the container\u2019s sentence replaces the generic one for a system call', () => {
    const v = views[said.findIndex((x) => x?.startsWith('With INT 0x80'))]!;
    const text = segmentsText(narrate('en', { step: v.step, events: v.events, insnText: () => 'int 0x80', extra: (evs) => narrateContainers('en', evs, v.containers!, eaxOf(v)) }));
    expect(text).toMatch(/^With INT 0x80, container alpha/);
  });

  it('a peek at another container\u2019s page: a fault in ring 3, told with the address; the kernel kills only the reader', () => {
    const pv = all(peek);
    const s = pv.map((v) => say(v));
    const alphaFrame = FRAMES + 0x3000;
    expect(s).toContain(`Container beta\u2019s process (pid 1 inside it, pid 2 in the kernel) read or wrote 0x${alphaFrame.toString(16)}, which its address space maps only for the kernel or not at all (#PF, error code 5): a fault in ring 3. The kernel kills that process, and only it.`);
    expect(pv.at(-1)!.containers!.procs.map((p) => p.state)).toEqual(['exited', 'killed']);
  });

  it('containers-crash: the ring-0 fault in uname is a kernel bug; the panic stops every container, in both languages', async () => {
    await prepareLoad(crash);
    const cv = all(crash);
    const en = cv.map((v) => say(v));
    expect(en).toContain('The kernel itself faulted in ring 0 at 0x0 while serving container beta\u2019s process (pid 1 inside it, pid 2 in the kernel) (#PF, error code 2): a kernel bug a container can reach. The kernel panics, and every container stops, since they all run on this kernel.');
    expect(en.filter((x) => x !== null).at(-1)).toBe('The kernel halts after its panic: no container runs again.');
    const zh = cv.map((v) => say(v, 'zh-CN'));
    expect(zh).toContain('内核自身在为容器 beta 的进程（容器内 pid 1，内核中 pid 2）服务时于特权级 0 访问 0x0 出错（#PF，错误码 2）：这是容器能够触发的内核缺陷。内核崩溃（panic），所有容器都随之停止，因为它们都运行在这个内核上。');
    const last = cv.at(-1)!.containers!;
    expect(last.kernel).toBe('panic');
    expect(last.procs.map((p) => p.state)).toEqual(['runnable', 'runnable']);
    expect(buildContainerKernel(partitionContainers({ crash: true })).source).toBe(crash.kernel.source);
  });
});
