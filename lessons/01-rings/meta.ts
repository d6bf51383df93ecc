/**
 * What the lesson map needs before the lesson is opened (in the main bundle, so kept small). A
 * test checks it against the lesson itself: step count, points, titles.
 */
import type { LessonInfo } from '../../src/lessons/contract.ts';

export const info: LessonInfo = {
  id: '01-rings',
  number: 1,
  title: { en: 'Rings, interrupts and system calls', 'zh-CN': '特权级、中断与系统调用' },
  summary: {
    en: 'Follow a user program into the kernel and back through INT 0x80 and SYSCALL, and say what the CPU saves, checks and loads on each crossing.',
    'zh-CN': '跟随一个用户程序经由 INT 0x80 和 SYSCALL 进入内核再返回，说出每次跨越时 CPU 保存、检查和加载了什么。',
  },
  minutes: 10,
  steps: 12,
  maxScore: 5,
};
