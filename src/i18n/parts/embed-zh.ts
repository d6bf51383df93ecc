/** The Chinese strings of embed.ts (the same keys), in a file of their own so that each language is its own chunk (messages.ts `loadLocale`). */
import type { embedEn } from './embed.ts';

export const embedZh: Record<keyof typeof embedEn, string> = {
  'embed.heading': 'Ring −1：{scenario}',
  'embed.openFull': '在完整实验室中打开',
  'embed.newTab': '（在新标签页中打开）',
  'embed.lab': '这一步的机器状态',
  'url.future': '此链接由更新版本的实验室生成（链接版本 {v}），已按默认设置打开。',
};
