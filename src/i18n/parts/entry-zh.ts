/** The Chinese strings of entry.ts (the same keys), in a file of their own so that each language is its own chunk (messages.ts `loadLocale`). */
import type { entryEn } from './entry.ts';

export const entryZh: Record<keyof typeof entryEn, string> = {
  'sandbox.toggle': '沙盒',
  'sandbox.loadFailed': '沙盒未能加载：',
  'practice.toggle': '练习',
  'practice.failed': '无法生成题目：{message}',
  'progress.toggle': '课程',
  'progress.loadFailed': '课程列表未能加载：',
  'progress.notice.blocked': '此浏览器不允许实验室在这里保存数据，因此学习进度只保留到关闭此页面为止。请导出进度以便保存。',
  'progress.notice.full': '浏览器存储空间已满，此后的学习进度只保留到关闭此页面为止。请导出进度以便保存。',
  'progress.notice.unreadable': '无法读取此浏览器中保存的学习进度。原数据已另行保存，进度从头开始记录。',
  'speaker.open': '讲者窗口',
  'speaker.openBlocked': '浏览器拦截了讲者窗口。请允许此页面弹出窗口，或在另一个窗口中打开此地址：{href}',
  'reference.toggle': '参考资料',
  'reference.loadFailed': '无法加载参考资料：',
  'lesson.unknown': '没有名为“{id}”的课程。实验室已在不带课程的情况下打开。',
  'lesson.loadFailed': '课程无法显示：',
};
