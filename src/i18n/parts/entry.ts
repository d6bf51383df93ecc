/**
 * Strings of parts that load on demand (the sandbox, practice, the lesson map and column, the speaker window, the Reference panel) that the first
 * screen needs before they load: the top bar's toggles and the messages shown when a part fails
 * to load or storage is refused. The rest of each part's strings come with its chunk.
 */
export const entryEn = {
  'sandbox.toggle': 'Sandbox',
  'sandbox.loadFailed': 'The sandbox could not be loaded:',
  'practice.toggle': 'Practice',
  'practice.failed': 'The problem could not be generated: {message}',
  'progress.toggle': 'Lessons',
  'progress.loadFailed': 'The lesson map could not be loaded:',
  'progress.notice.blocked': 'This browser does not let the lab keep data here, so your progress lasts only until this page is closed. Export it to keep it.',
  'progress.notice.full': 'The browser’s storage is full, so progress from now on lasts only until this page is closed. Export it to keep it.',
  'progress.notice.unreadable': 'The progress kept in this browser could not be read. It was set aside and progress starts afresh.',
  'speaker.open': 'Speaker window',
  'speaker.openBlocked': 'The browser blocked the speaker window. Allow pop-ups for this page, or open this address in another window: {href}',
  'reference.toggle': 'Reference',
  'reference.loadFailed': 'The reference could not be loaded:',
  'lesson.unknown': 'There is no lesson “{id}”. The lab opened without it.',
  'lesson.loadFailed': 'The lesson could not be shown:',
} as const;

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
