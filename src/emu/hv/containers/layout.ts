/**
 * The container kernel's numbers, shared by its source (kernel.ts writes them into its `equ`
 * lines) and by what reads its memory (inspect.ts, the worker's view): addresses, the system calls,
 * and the layout of its records. Small on purpose: the worker's view imports it without the kernel's
 * source.
 */

/** Where the kernel is linked and loaded (its `org`). */
export const KERNEL_LOAD = 0x100000;
/** The first frame the kernel hands out (page tables and processes' pages), in order. */
export const FRAMES = 0x200000;
/** Each process's private pages: its data page at U_DATA, its stack page after it, up to U_TOP. */
export const U_DATA = 0x400000;
export const U_TOP = 0x402000;
/** The kernel's version string, which `uname` copies. */
export const KERNEL_VERSION = 'ringos 0.1';

/** What a container's first process does after it has said who it is (its command, passed in EBX). */
export type Command = 'run' | 'peek' | 'crash';
/** The command numbers the program reads from EBX. */
export const COMMAND_NUMBER: Readonly<Record<Command, number>> = { run: 0, peek: 1, crash: 2 };

/** The system calls by number (kernel.ts's table). */
export const SYSCALLS: Readonly<Record<number, string>> = { 1: 'write', 2: 'exit', 3: 'yield', 4: 'getpid', 5: 'gethostname', 6: 'uname', 7: 'ticks' };
/** Linux's errno numbers the kernel returns negated (include/uapi/asm-generic/errno-base.h, errno.h). */
export const ERRNO = { EFAULT: 14, EINVAL: 22, ENOSYS: 38 } as const;

/** The process record (`procs`, PROC.SIZE bytes each) by field offset; FRAME holds the user's registers (FRAME_DWORDS). */
export const PROC = { STATE: 0, PID: 4, NSPID: 8, CT: 12, CR3: 16, EXIT: 20, SYSCALLS: 24, FRAME: 28, SIZE: 84 } as const;
export const FRAME_DWORDS = 14;
/** A process's state word. */
export const PROC_STATE = { FREE: 0, RUNNABLE: 1, EXITED: 2, KILLED: 3 } as const;
/** The container record (`containers`): its name (16 bytes, NUL-padded), command, and the last pid given inside it. */
export const CT = { NAME: 0, CMD: 16, NEXT_PID: 20, SIZE: 24 } as const;
/** The kernel's state word `kstate`. */
export const KSTATE = { BOOTING: 0, RUNNING: 1, IDLE: 2, PANIC: 3 } as const;
export const MAX_PROCS = 8;
export const LOG_SIZE = 4096;
