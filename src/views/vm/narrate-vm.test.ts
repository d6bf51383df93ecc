import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../emu/trace/events.ts';
import { narrate, segmentsText } from '../shell/narrate.ts';
import { exitManualName, narrateVm } from './narrate-vm.ts';

const say = (step: number, events: TraceEvent[], locale: 'en' | 'zh-CN' = 'en'): string =>
  segmentsText(narrate(locale, { step, events, insnText: () => null, extra: (evs) => narrateVm(locale, evs) }));

describe('narrate: the hypervisor (vm/* events), through the VM views’ narrateVm', () => {
  it('names exits as the manuals do: the SDM’s words for a basic exit reason, the APM’s EXITCODE name', () => {
    expect(exitManualName('intel', 30, 'EXIT_REASON_IO_INSTRUCTION')).toBe('I/O instruction');
    expect(exitManualName('intel', 31, 'EXIT_REASON_MSR_READ')).toBe('RDMSR');
    expect(exitManualName('amd', 0x7b, 'VMEXIT_IOIO')).toBe('VMEXIT_IOIO');
  });
  it('leaves a step without vm/* events to the shell’s sentences', () => {
    expect(narrateVm('en', [{ kind: 'cpu/halt', step: 1, rip: 0n }])).toBeNull();
    expect(say(2, [{ kind: 'cpu/insn', step: 1, rip: 0x10n, length: 1, cpl: 0 }, { kind: 'cpu/halt', step: 1, rip: 0x10n }])).toContain('halts');
  });
  const cpuidExit: TraceEvent[] = [
    { kind: 'vm/exit', step: 3, vm: 0, vendor: 'intel', code: 10, name: 'EXIT_REASON_CPUID', rip: 0x1000n, info: { EXIT_QUALIFICATION: 0n, VM_EXIT_INSTRUCTION_LEN: 2n } },
    { kind: 'vm/field', step: 3, vm: 0, op: 'read', field: 'VM_EXIT_REASON', key: 0x4402, value: 10n },
    { kind: 'vm/field', step: 3, vm: 0, op: 'write', field: 'GUEST_RIP', key: 0x681e, value: 0x1002n },
    { kind: 'vm/handle', step: 3, vm: 0, action: 'emulated', note: 'leaf 0x1' },
    { kind: 'vm/entry', step: 3, vm: 0, vendor: 'intel', instruction: 'VMRESUME', rip: 0x1002n },
  ];
  it('tells a CPUID exit from the reason through the handler to VMRESUME, in both languages', () => {
    expect(say(4, cpuidExit)).toBe(
      'VM exit: CPUID (reason 10). The hypervisor reads the exit information, emulates the instruction (leaf 0x1), advances RIP by 2 and resumes the guest with VMRESUME.',
    );
    expect(say(4, cpuidExit, 'zh-CN')).toBe('VM 退出：CPUID（原因 10）。虚拟机监控器读取退出信息，模拟该指令（leaf 0x1），把 RIP 加 2（跳过该指令），然后用 VMRESUME 恢复客户机运行。');
  });
  it('gives an AMD-V exit its EXITCODE in hex', () => {
    const ev: TraceEvent[] = [
      { kind: 'vm/exit', step: 6, vm: 0, vendor: 'amd', code: 0x7b, name: 'VMEXIT_IOIO', rip: 0x1010n, info: {} },
      { kind: 'vm/field', step: 6, vm: 0, op: 'write', field: 'save.rip', key: 0x578, value: 0x1011n },
      { kind: 'vm/handle', step: 6, vm: 0, action: 'emulated', note: 'port 0x3f8 out 1 byte' },
      { kind: 'vm/entry', step: 6, vm: 0, vendor: 'amd', instruction: 'VMRUN', rip: 0x1011n },
    ];
    expect(say(7, ev)).toBe(
      'VM exit: VMEXIT_IOIO (EXITCODE 0x7b). The hypervisor reads the exit information, emulates the instruction (port 0x3f8 out 1 byte), advances RIP by 1 and resumes the guest with VMRUN.',
    );
  });
  it('says when the exit ends the VM, and tells a first entry, a failed entry and a switch', () => {
    const hlt: TraceEvent[] = [
      { kind: 'vm/exit', step: 9, vm: 1, vendor: 'intel', code: 12, name: 'EXIT_REASON_HLT', rip: 0x1020n, info: {} },
      { kind: 'vm/handle', step: 9, vm: 1, action: 'ended', note: 'hlt' },
      { kind: 'vm/end', step: 9, vm: 1, why: 'hlt', detail: '' },
    ];
    expect(say(10, hlt)).toBe('VM exit: HLT (reason 12). The hypervisor ends VM 1 (hlt).');
    expect(say(1, [{ kind: 'vm/entry', step: 0, vm: 0, vendor: 'intel', instruction: 'VMLAUNCH', rip: 0x1000n }])).toBe('VMLAUNCH starts VM 0 at guest RIP 0x1000.');
    expect(say(1, [{ kind: 'vm/entry', step: 0, vm: 0, vendor: 'intel', instruction: 'VMLAUNCH', rip: 0x1000n, failed: ['GUEST_CR0.PE'] }], 'zh-CN')).toBe('VMLAUNCH 进入虚拟机 0 失败：GUEST_CR0.PE。');
    expect(say(5, [{ kind: 'vm/switch', step: 4, from: 0, to: 1 }])).toBe('The scheduler moves the CPU from VM 0 to VM 1: it is the next vCPU’s turn.');
  });
  const names = ['halter', 'spinner'];
  const sayN = (step: number, events: TraceEvent[], locale: 'en' | 'zh-CN' = 'en'): string =>
    segmentsText(narrate(locale, { step, events, insnText: () => null, extra: (evs) => narrateVm(locale, evs, names) }));
  it('tells a switch after the preemption timer with the VMs’ names, the exit first, in both languages', () => {
    const ev: TraceEvent[] = [
      { kind: 'vm/exit', step: 2861, vm: 0, vendor: 'intel', code: 52, name: 'EXIT_REASON_PREEMPTION_TIMER', rip: 0x1000n, info: {} },
      { kind: 'vm/field', step: 2861, vm: 0, op: 'read', field: 'VM_EXIT_REASON', key: 0x4402, value: 52n },
      { kind: 'vm/handle', step: 2861, vm: 0, action: 'host', note: 'the time slice is over: the scheduler runs the next vCPU' },
      { kind: 'vm/switch', step: 2861, from: 0, to: 1 },
      { kind: 'vm/entry', step: 2861, vm: 1, vendor: 'intel', instruction: 'VMRESUME', rip: 0x2000n },
    ];
    expect(sayN(2862, ev)).toBe(
      'VM exit: VMX-preemption timer expired (reason 52). The hypervisor reads the exit information and takes it for itself, leaving the guest as it was (the time slice is over: the scheduler runs the next vCPU). '
      + 'The scheduler moves the CPU from VM 0 (halter) to VM 1 (spinner): its time slice is over (VMX-preemption timer).',
    );
    expect(sayN(2862, ev, 'zh-CN')).toContain('调度器把 CPU 从虚拟机 0（halter）交给虚拟机 1（spinner）：它的时间片用完了（VMX 抢占定时器）。');
  });
  it('tells why the CPU moves on: an idle HLT, the host’s timer under AMD-V, an ended VM', () => {
    const hlt: TraceEvent[] = [
      { kind: 'vm/exit', step: 40, vm: 0, vendor: 'intel', code: 12, name: 'EXIT_REASON_HLT', rip: 0x1000n, info: {} },
      { kind: 'vm/handle', step: 40, vm: 0, action: 'host', note: 'HLT: the vCPU idles until an interrupt' },
      { kind: 'vm/switch', step: 40, from: 0, to: 1 },
    ];
    expect(sayN(41, hlt)).toContain('from VM 0 (halter) to VM 1 (spinner): it halted and waits for an interrupt.');
    const intr: TraceEvent[] = [
      { kind: 'vm/exit', step: 40, vm: 1, vendor: 'amd', code: 0x60, name: 'VMEXIT_INTR', rip: 0x1000n, info: {} },
      { kind: 'vm/handle', step: 40, vm: 1, action: 'host', note: 'host timer (vector 0xec): the time slice is over' },
      { kind: 'vm/switch', step: 40, from: 1, to: 0 },
    ];
    expect(sayN(41, intr, 'zh-CN')).toContain('从虚拟机 1（spinner）交给虚拟机 0（halter）：它的时间片用完了（宿主机的定时器）。');
    const end: TraceEvent[] = [
      { kind: 'vm/exit', step: 40, vm: 1, vendor: 'intel', code: 18, name: 'EXIT_REASON_VMCALL', rip: 0x1000n, info: {} },
      { kind: 'vm/handle', step: 40, vm: 1, action: 'ended', note: 'exit 7' },
      { kind: 'vm/end', step: 40, vm: 1, why: 'hypercall-exit', detail: 'exit hypercall' },
      { kind: 'vm/switch', step: 40, from: 1, to: 0 },
    ];
    expect(sayN(41, end)).toBe('VM exit: VMCALL (reason 18). The hypervisor ends VM 1 (spinner) (exit hypercall). The scheduler moves the CPU from VM 1 (spinner) to VM 0 (halter): it has ended.');
  });
});

describe('narrate: where the hypervisor lives (host/path, host/run)', () => {
  const sayH = (step: number, events: TraceEvent[], locale: 'en' | 'zh-CN' = 'en'): string =>
    segmentsText(narrate(locale, { step, events, insnText: () => null, extra: (evs) => narrateVm(locale, evs, ['printer', 'ticker']) }));
  const uartOut = (hosting: 'hosted' | 'bare-metal'): TraceEvent[] => [
    { kind: 'vm/exit', step: 4043, vm: 0, vendor: 'intel', code: 30, name: 'EXIT_REASON_IO_INSTRUCTION', rip: 0x1000n, info: {} },
    { kind: 'vm/field', step: 4043, vm: 0, op: 'write', field: 'GUEST_RIP', key: 0x681e, value: 0x1001n },
    { kind: 'vm/handle', step: 4043, vm: 0, action: 'emulated', note: 'out port 0x3f8 size 1 value 0x76' },
    { kind: 'vm/entry', step: 4043, vm: 0, vendor: 'intel', instruction: 'VMRESUME', rip: 0x1001n },
    {
      kind: 'host/path', step: 4043, vm: 0, hosting, name: 'EXIT_REASON_IO_INSTRUCTION', where: 'device', output: true, preempt: false, final: false,
      hops: hosting === 'hosted' ? ['exit', 'world-out', 'to-user', 'device-model', 'host-syscall', 'driver', 'from-user', 'world-in', 'entry'] : ['exit', 'device-model', 'driver', 'entry'],
    },
  ];
  it('tells an OUT to COM1 under a hosted hypervisor: the world switch, the VMM process, its write() through the host\u2019s driver, and back', () => {
    expect(sayH(4044, uartOut('hosted'))).toBe(
      'VM exit: I/O instruction (reason 30). The hypervisor reads the exit information, emulates the instruction (out port 0x3f8 size 1 value 0x76), advances RIP by 1 and resumes the guest with VMRESUME. '
      + 'Hosted: the exit went to the host world by a world switch; the VMDriver\u2019s ioctl returned to the VMM process, which emulated the device (out port 0x3f8 size 1 value 0x76) and sent the byte out with write(), a system call through the host kernel\u2019s driver; its next ioctl and a second world switch brought the processor back to the VMM world.',
    );
    expect(sayH(4044, uartOut('hosted'), 'zh-CN')).toContain('宿主型：这次退出经一次世界切换进入宿主机世界；VMDriver 的 ioctl 返回到 VMM 进程，它模拟设备（out port 0x3f8 size 1 value 0x76），并用 write() 把字节发出');
  });
  it('tells the same OUT bare-metal: the hypervisor\u2019s own model and driver, no world switch', () => {
    expect(sayH(4044, uartOut('bare-metal'))).toMatch(/RIP by 1 and resumes the guest with VMRESUME\. Bare-metal: the hypervisor’s own device model emulated it \(out port 0x3f8 size 1 value 0x76\) and its own driver sent the byte, with no world switch\.$/);
    expect(sayH(4044, uartOut('bare-metal'), 'zh-CN')).toMatch(/裸金属型：虚拟机监控器自己的设备模型模拟了它（out port 0x3f8 size 1 value 0x76），自己的驱动程序把字节发出，没有世界切换。$/);
  });
  it('tells an exit the monitor kept (the 8259A) hosted, and nothing more bare-metal', () => {
    const pic = (hosting: 'hosted' | 'bare-metal'): TraceEvent[] => [
      { kind: 'vm/exit', step: 4001, vm: 1, vendor: 'intel', code: 30, name: 'EXIT_REASON_IO_INSTRUCTION', rip: 0x1000n, info: {} },
      { kind: 'vm/handle', step: 4001, vm: 1, action: 'emulated', note: 'out port 0x20 size 1 value 0x11' },
      { kind: 'vm/entry', step: 4001, vm: 1, vendor: 'intel', instruction: 'VMRESUME', rip: 0x1002n },
      { kind: 'host/path', step: 4001, vm: 1, hosting, name: 'EXIT_REASON_IO_INSTRUCTION', where: 'monitor', output: false, preempt: false, final: false, hops: ['exit', 'entry'] },
    ];
    expect(sayH(4002, pic('hosted'))).toMatch(/VMRESUME\. Hosted: the monitor handled it in the VMM world, with no world switch\.$/);
    expect(sayH(4002, pic('bare-metal'))).toMatch(/resumes the guest with VMRESUME\.$/);
  });
  it('tells the end of a slice, the host\u2019s scheduler and its process\u2019s turn, in both languages', () => {
    const slice: TraceEvent[] = [
      { kind: 'vm/exit', step: 2000, vm: 0, vendor: 'intel', code: 52, name: 'EXIT_REASON_PREEMPTION_TIMER', rip: 0x1000n, info: {} },
      { kind: 'vm/handle', step: 2000, vm: 0, action: 'host', note: 'the time slice is over: the scheduler runs the next vCPU' },
      { kind: 'host/path', step: 2000, vm: 0, hosting: 'hosted', name: 'EXIT_REASON_PREEMPTION_TIMER', where: 'monitor', output: false, preempt: true, final: false, hops: ['exit', 'world-out', 'host-scheduler', 'world-in', 'entry'] },
      { kind: 'host/run', step: 2000, proc: 0, steps: 2000 },
    ];
    expect(sayH(2000, slice)).toMatch(
      /the scheduler runs the next vCPU\)\. Hosted: the time slice is over, so a world switch takes the processor to the host world, whose scheduler chooses what runs next\. The host’s scheduler gave the CPU to host process 1 for 2,000 steps: no VM runs meanwhile, though the VMs’ timers keep counting\.$/,
    );
    expect(sayH(2000, slice, 'zh-CN')).toMatch(/宿主机的调度器把 CPU 交给宿主机进程 1，为期 2,000 步：在此期间没有虚拟机运行，但各虚拟机的定时器照常计数。$/);
    // A turn on its own (every vCPU waits).
    expect(narrateVm('en', [{ kind: 'host/run', step: 7, proc: 2, steps: 350 }])?.map((s) => s.text).join('')).toBe(
      'The host’s scheduler gave the CPU to host process 3 for 350 steps: no VM runs meanwhile, though the VMs’ timers keep counting.',
    );
  });
  it('tells a halt and a host interrupt on each arrangement', () => {
    const ev = (hosting: 'hosted' | 'bare-metal', where: 'idle' | 'interrupt', hops: Extract<TraceEvent, { kind: 'host/path' }>['hops'], final = false): TraceEvent[] => [
      { kind: 'vm/exit', step: 9, vm: 1, vendor: 'intel', code: where === 'idle' ? 12 : 1, name: where === 'idle' ? 'EXIT_REASON_HLT' : 'EXIT_REASON_EXTERNAL_INTERRUPT', rip: 0x1000n, info: {} },
      { kind: 'vm/handle', step: 9, vm: 1, action: 'host', note: 'x' },
      { kind: 'host/path', step: 9, vm: 1, hosting, name: 'x', where, output: false, preempt: false, final, hops },
    ];
    expect(sayH(10, ev('hosted', 'idle', ['exit', 'world-out', 'host-scheduler', 'world-in', 'entry']))).toContain('Hosted: the halt went to the host world by a world switch;');
    expect(sayH(10, ev('bare-metal', 'idle', ['exit', 'hv-scheduler', 'entry']))).toContain('Bare-metal: the hypervisor’s scheduler runs another vCPU, or idles, until the VM can run again.');
    expect(sayH(10, ev('hosted', 'interrupt', ['exit', 'world-out', 'host-irq', 'host-scheduler', 'world-in', 'entry']))).toContain('the host kernel’s handler took it, then its scheduler chose what runs next; a second world switch brings the processor back to the VMM world when the VM runs again.');
    // The halt that ends the VM: one world switch, to the VMM process, and nothing back.
    expect(sayH(10, ev('hosted', 'idle', ['exit', 'world-out', 'host-scheduler', 'to-user'], true))).toContain('Hosted: the VM has ended. A world switch took the processor to the host world, where the VMDriver’s ioctl returned to the VMM process for the last time; nothing goes back into the VM.');
    expect(sayH(10, ev('bare-metal', 'idle', ['exit', 'hv-scheduler'], true))).toContain('Bare-metal: the VM has ended; the hypervisor’s scheduler has nothing more to run for it.');
    expect(sayH(10, ev('hosted', 'idle', ['exit', 'world-out', 'host-scheduler', 'to-user'], true), 'zh-CN')).toContain('宿主型：这台虚拟机已结束。');
    expect(sayH(10, ev('bare-metal', 'interrupt', ['exit', 'host-irq', 'entry']))).toContain('Bare-metal: the hypervisor’s own handler took the interrupt.');
  });
});
