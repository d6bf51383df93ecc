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
