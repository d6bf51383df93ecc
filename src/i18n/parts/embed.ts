/** UI strings of embed mode and of the URL parameters (see ../messages.ts): English, and the same keys in Simplified Chinese. */

export const embedEn = {
  'embed.heading': 'Ring −1: {scenario}',
  'embed.openFull': 'Open in the full lab',
  'embed.newTab': '(opens in a new tab)',
  'embed.lab': 'The machine at this step',
  'url.future': 'This link was made by a newer version of the lab (link version {v}); it opened with the default settings.',
} as const;

export const embedZh: Record<keyof typeof embedEn, string> = {
  'embed.heading': 'Ring −1：{scenario}',
  'embed.openFull': '在完整实验室中打开',
  'embed.newTab': '（在新标签页中打开）',
  'embed.lab': '这一步的机器状态',
  'url.future': '此链接由更新版本的实验室生成（链接版本 {v}），已按默认设置打开。',
};
