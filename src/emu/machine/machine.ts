/**
 * A whole machine: one CPU, its physical memory and MMU, and the devices on its buses. Scenarios
 * build one (src/emu/scenario); sessions step it, trace it and travel in time over it
 * (checkpoints of all of this state). Device state is plain data so that a checkpoint is a copy.
 */
import { Cpu, type IoHandler, type RunEnd } from '../cpu/cpu.ts';
import type { CpuFeatures } from '../cpu/core.ts';
import type { CpuState } from '../cpu/state.ts';
import * as system from '../cpu/system.ts';
import { PAGE_SIZE, PhysMem, type MmioHandler } from '../mem/physmem.ts';
import { Mmu } from '../mmu/mmu.ts';
import type { TraceKind, TraceSink } from '../trace/events.ts';
import { cloneCpuState, restoreCore, snapshotCore, type CoreSnapshot } from '../trace/checkpoint.ts';

/** Plain-data state of the machine's simple devices. */
export interface DeviceState {
  /** Bytes written to the UART's transmit register (port `uartPort`), as text. */
  uartOut: string;
  /** Every port access nobody else answers: direction, port, size, value (what was written; 0 for reads). */
  portLog: { dir: 'in' | 'out'; port: number; size: number; value: number }[];
}

/**
 * A checkpoint of the whole machine (Machine.snapshot). The port log is append-only: a checkpoint
 * keeps the array and its length, and a restore starts a fresh copy of that prefix.
 */
export interface MachineSnapshot extends CoreSnapshot {
  readonly uartOut: string;
  readonly portLog: DeviceState['portLog'];
  readonly portLogLength: number;
}

export interface MachineOptions {
  state: CpuState;
  ramSize: number;
  features?: CpuFeatures;
  maxPhysAddr?: number;
  tlbEntries?: number;
  /** I/O port of a UART transmit register (the first PC serial port is 0x3f8). */
  uartPort?: number;
}

export class Machine {
  readonly cpu: Cpu;
  readonly mem: PhysMem;
  readonly mmu: Mmu;
  devices: DeviceState = { uartOut: '', portLog: [] };
  readonly uartPort: number;
  /** The trace sink, as set by setTrace (null: tracing off). */
  trace: TraceSink | null = null;

  /** Starts (sink) or stops (null) tracing, for the kinds given (all when absent); see Cpu.setTrace. */
  setTrace(sink: TraceSink | null, kinds?: Iterable<TraceKind>): void {
    this.trace = sink;
    this.cpu.setTrace(sink, kinds);
  }

  constructor(opts: MachineOptions) {
    this.uartPort = opts.uartPort ?? 0x3f8;
    const io: IoHandler = {
      portIn: (port, size) => {
        this.devices.portLog.push({ dir: 'in', port, size, value: 0 });
        return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
      },
      portOut: (port, size, value) => {
        if (port === this.uartPort && size === 1) this.devices.uartOut += String.fromCharCode(value & 0xff);
        this.devices.portLog.push({ dir: 'out', port, size, value: value >>> 0 });
      },
    };
    const mmio: MmioHandler = {
      readHi: 0xffffffff,
      read: () => 0xffffffff,
      write: () => {},
    };
    this.mem = new PhysMem(opts.ramSize, mmio);
    this.mmu = new Mmu(this.mem, opts.tlbEntries === undefined ? {} : { tlbEntries: opts.tlbEntries });
    const cpuOpts = { io, maxPhysAddr: opts.maxPhysAddr ?? 48, ...(opts.features ? { features: opts.features } : {}) };
    this.cpu = new Cpu(opts.state, this.mem, this.mmu, system, cpuOpts);
  }

  /** Runs up to `maxSteps` instructions; see Cpu.run. */
  run(maxSteps: number): RunEnd {
    return this.cpu.run(maxSteps);
  }

  /** A checkpoint of everything that decides what the machine does next (trace/checkpoint.ts). */
  snapshot(): MachineSnapshot {
    const d = this.devices;
    return { ...snapshotCore(this), uartOut: d.uartOut, portLog: d.portLog, portLogLength: d.portLog.length };
  }

  /** Puts the machine back to `snap` exactly (its RAM pages are shared until written). */
  restore(snap: MachineSnapshot): void {
    restoreCore(this, snap);
    this.devices = { uartOut: snap.uartOut, portLog: snap.portLog.slice(0, snap.portLogLength) };
  }
}

/**
 * A Machine started where another CPU and its RAM are (e.g. bare.ts's `exec` machine): the CPU
 * state is deep-copied, RAM pages are copied, features and MAXPHYADDR are the same.
 */
export function machineFrom(src: { cpu: Cpu; mem: PhysMem }): Machine {
  const m = new Machine({ state: cloneCpuState(src.cpu.state), ramSize: src.mem.ramSize, features: src.cpu.features, maxPhysAddr: src.cpu.pctl.maxPhysAddr });
  src.mem.pages.forEach((p, n) => {
    if (p !== undefined) m.mem.pageForWrite(n * PAGE_SIZE)!.set(p);
  });
  m.cpu.modeChanged();
  return m;
}

