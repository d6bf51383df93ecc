/**
 * Where a hypervisor lives, and so which path each VM exit takes (issue 9, item 4): bare-metal (the
 * hypervisor runs on the machine itself with its own scheduler; here also its own device models and
 * drivers, as ESX has its own drivers, one hop from the exit to the handler; Xen instead leaves the
 * physical drivers and the device models of unmodified guests to a privileged domain, dom0) or
 * hosted (VMware Workstation, Microsoft Virtual Server: a host operating system owns the machine,
 * the monitor reaches it through a driver, and the devices are emulated by a user process that does
 * its I/O through the host's system calls). KVM is hosted differently: its exits land in the host
 * kernel itself, with no separate VMM world, and only its return to QEMU in user space is like this
 * path.
 *
 * The hosted path is the one Sugerman, Venkitachalam and Lim describe for VMware Workstation (USENIX
 * ATC 2001, §2): the processor runs either the host world or the VMM world, the VMDriver switching
 * between them; a world switch saves and restores all user- and system-visible processor state, more
 * than a process switch; an I/O the VMM cannot handle itself becomes a switch to the host world,
 * where the user-level VMApp performs it with ordinary system calls (a disk read becomes read());
 * a hardware interrupt that arrives in the VMM world is handed to the host by a world switch and
 * taken there as if from the hardware. Their breakdown also shows the split kept here: accesses to
 * the interrupt controller stayed in the VMM, while a packet transmit went through the host (some of
 * their NIC's register accesses were handled in the VMM too: sending every device exit to the host
 * world is a simplification). Two choices are the lab's own, not the paper's: a halt that idles the
 * vCPU goes to the host world (its scheduler runs something else), and the 8254 timer stays in the
 * monitor with the PIC.
 *
 * `exitPath` classifies one handled exit of the multi-VM host (host.ts) into the component that
 * handled it and the hops it took; host.ts charges the hosted hops (cost kinds `world-switch`,
 * `host-user`, `host-syscall`) and logs each path. Bare-metal charges nothing new: it is the lab's
 * hypervisor as it always ran.
 */
import type { HvExit } from './types.ts';

export type Hosting = 'bare-metal' | 'hosted';
export const HOSTINGS: readonly Hosting[] = ['bare-metal', 'hosted'];

/**
 * Who handled an exit:
 * - `monitor`: the hypervisor (bare-metal) or the VMM world (hosted) on its own: CPUID, control
 *   registers, MSRs, the interrupt controller and timer, the interrupt window, its time slice;
 * - `device`: a device model (the UART, a PCI function, an MMIO register): in the hypervisor
 *   (bare-metal), in the host's user-level VMM process (hosted);
 * - `interrupt`: a host interrupt (the host's timer, a device's MSI) that made the guest exit;
 * - `idle`: the guest halted; the vCPU waits for an interrupt.
 */
export type ExitWhere = 'monitor' | 'device' | 'interrupt' | 'idle';

/**
 * One hop of an exit's path, in order:
 * - `exit`: the VM exit into the monitor, `entry`: back into the guest (both paths);
 * - `world-out` / `world-in`: hosted, the VMDriver's world switch to the host and back;
 * - `to-user` / `from-user`: hosted, the monitor's ioctl returning to the user-level VMM process,
 *   and the process's next ioctl to run the VM;
 * - `device-model`: the device register emulated (in the hypervisor or in the VMM process);
 * - `host-syscall`: hosted, the VMM process's system call (write() to the host's terminal) that
 *   sends the data out;
 * - `driver`: the driver that touches the physical device: the hypervisor's own (bare-metal), the
 *   host kernel's (hosted);
 * - `host-irq`: the host's interrupt handler; `host-scheduler`: the host OS's scheduler deciding
 *   what runs next (hosted; on bare-metal the hypervisor schedules, `hv-scheduler`).
 */
export type HostHop =
  | 'exit'
  | 'world-out'
  | 'to-user'
  | 'device-model'
  | 'host-syscall'
  | 'driver'
  | 'from-user'
  | 'world-in'
  | 'host-irq'
  | 'host-scheduler'
  | 'hv-scheduler'
  | 'entry';

/** One exit's path (the data of the `host/path` trace event). */
export interface ExitPath {
  /** The physical CPU's step of the exit. */
  step: number;
  vm: number;
  vcpu: number;
  /** The exit's number in its vCPU's log (HvLogEntry.n). */
  exit: number;
  name: string;
  where: ExitWhere;
  /** The exit sent data out of the machine (a byte the UART transmitted, a printed character). */
  output: boolean;
  /** The exit ended its vCPU's time slice (the scheduler ran after it: `hopsOf`'s `preempt`). */
  preempt: boolean;
  /** The VM ended with this exit (its last halt, the exit hypercall, a triple fault): nothing goes back into it (`hopsOf`'s `final`). */
  final: boolean;
  hops: HostHop[];
}

/** The 8259A pair and the 8254: kept in the monitor (Workstation's VMM kept the PIC; the 8254 with it is the lab's choice). */
const MONITOR_PORTS = new Set([0x20, 0x21, 0xa0, 0xa1, 0x40, 0x41, 0x42, 0x43]);

/**
 * Who handles exit `e`; `output`: its handler sent data out of the machine (a print hypercall is
 * the console's device then); `idles`: the handler idled the vCPU or ended it on a halt (a HLT with
 * an interrupt already requested is injected at once and resumed: the monitor handled it alone).
 */
export function exitWhere(e: HvExit, output = false, idles = true): ExitWhere {
  const d = e.detail;
  switch (d.kind) {
    case 'io':
      return MONITOR_PORTS.has(d.port) ? 'monitor' : 'device';
    case 'mmio':
      return 'device';
    case 'hypercall':
      return output ? 'device' : 'monitor';
    case 'external-interrupt':
      return 'interrupt';
    case 'hlt':
      return idles ? 'idle' : 'monitor';
    default:
      return 'monitor';
  }
}

/**
 * The hops of an exit handled at `where` under `hosting`; `output`: it sent data out; `preempt`: the
 * host's scheduler then ran; `final`: the VM ended with this exit (its last halt, the exit
 * hypercall, a triple fault), so nothing goes back into it.
 */
export function hopsOf(hosting: Hosting, where: ExitWhere, output: boolean, preempt: boolean, final = false): HostHop[] {
  const hops = pathOf(hosting, where, output, preempt);
  if (!final) return hops;
  // Nothing goes back into the VM. Hosted, the VMM process learns of the end (the VM's thread
  // returns to it), so the path reaches the host world and the process if it did not already.
  const cut = hops.filter((h) => h !== 'from-user' && h !== 'world-in' && h !== 'entry');
  if (hosting === 'bare-metal') return cut;
  return [...cut, ...(cut.includes('world-out') ? [] : (['world-out'] as const)), ...(cut.includes('to-user') ? [] : (['to-user'] as const))];
}

function pathOf(hosting: Hosting, where: ExitWhere, output: boolean, preempt: boolean): HostHop[] {
  const sched: HostHop[] = preempt ? [hosting === 'hosted' ? 'host-scheduler' : 'hv-scheduler'] : [];
  if (hosting === 'bare-metal') {
    switch (where) {
      case 'monitor':
        return ['exit', ...sched, 'entry'];
      case 'device':
        return ['exit', 'device-model', ...(output ? (['driver'] as const) : []), 'entry'];
      case 'interrupt':
        return ['exit', 'host-irq', ...sched, 'entry'];
      case 'idle':
        return ['exit', 'hv-scheduler', 'entry'];
    }
  }
  switch (where) {
    case 'monitor':
      return ['exit', ...(preempt ? (['world-out', 'host-scheduler', 'world-in'] as const) : []), 'entry'];
    case 'device':
      return ['exit', 'world-out', 'to-user', 'device-model', ...(output ? (['host-syscall', 'driver'] as const) : []), 'from-user', 'world-in', 'entry'];
    case 'interrupt':
      return ['exit', 'world-out', 'host-irq', ...sched, 'world-in', 'entry'];
    case 'idle':
      return ['exit', 'world-out', 'host-scheduler', 'world-in', 'entry'];
  }
}

/** What the hosted hops cost: world switches, user-kernel crossings of the VMM process, its system calls. */
export function hostedCharges(hops: readonly HostHop[]): { worldSwitches: number; userCrossings: number; syscalls: number } {
  let worldSwitches = 0;
  let userCrossings = 0;
  let syscalls = 0;
  for (const h of hops) {
    if (h === 'world-out' || h === 'world-in') worldSwitches++;
    else if (h === 'to-user' || h === 'from-user') userCrossings++;
    else if (h === 'host-syscall') syscalls++;
  }
  return { worldSwitches, userCrossings, syscalls };
}
