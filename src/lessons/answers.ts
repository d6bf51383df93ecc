/** Reading a student's typed answer (kept apart from the lesson kit so the page can use it without xstate). */

/** Reads what a student typed as a number: decimal or 0x-hex, spaces and underscores ignored; null if it is not one. */
export function parseNumber(text: string): number | null {
  const s = text.trim().replace(/[\s_]/g, '').toLowerCase();
  if (/^0x[0-9a-f]{1,13}$/.test(s)) return Number.parseInt(s.slice(2), 16);
  if (/^-?[0-9]{1,15}$/.test(s)) return Number(s);
  return null;
}
