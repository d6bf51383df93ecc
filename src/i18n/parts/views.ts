/** UI strings of the views (see ../messages.ts): English, and the same keys in Simplified Chinese. */

export const viewsEn = {} as const;

export const viewsZh: Record<keyof typeof viewsEn, string> = {};
