/** UI strings of embed mode and of the URL parameters (see ../messages.ts): English, and the same keys in Simplified Chinese. */

export const embedEn = {
  'embed.heading': 'Ring −1: {scenario}',
  'embed.openFull': 'Open in the full lab',
  'embed.newTab': '(opens in a new tab)',
  'embed.lab': 'The machine at this step',
  'url.future': 'This link was made by a newer version of the lab (link version {v}); it opened with the default settings.',
} as const;
