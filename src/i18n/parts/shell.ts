/** UI strings of the shell (see ../messages.ts): English, and the same keys in Simplified Chinese. */

export const shellEn = {} as const;

export const shellZh: Record<keyof typeof shellEn, string> = {};
