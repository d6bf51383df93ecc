/** The lab's keyboard shortcuts: which action a key press asks for, or none (plain TS, testable). */

export type ShortcutAction = 'next' | 'prev' | 'play' | 'home' | 'end' | 'help' | 'vmExit';

/** What of a KeyboardEvent the decision needs. */
export interface KeyPress {
  key: string;
  ctrlKey: boolean;
  altKey: boolean;
  metaKey: boolean;
  /** The focused element's tag name, upper case (`INPUT`, `SELECT`, `BUTTON`…), or null. */
  targetTag: string | null;
  targetEditable: boolean;
}

const TYPING = new Set(['INPUT', 'SELECT', 'TEXTAREA']);
/** Elements that Space and Enter already activate. */
const ACTIVATED = new Set(['BUTTON', 'SUMMARY', 'A']);

export function shortcutFor(k: KeyPress): ShortcutAction | null {
  if (k.ctrlKey || k.altKey || k.metaKey) return null;
  if (k.targetEditable || (k.targetTag !== null && TYPING.has(k.targetTag))) return null;
  switch (k.key) {
    case 'ArrowRight':
    case 'PageDown':
      return 'next';
    case 'ArrowLeft':
    case 'PageUp':
      return 'prev';
    case ' ':
      return k.targetTag !== null && ACTIVATED.has(k.targetTag) ? null : 'play';
    case 'Home':
      return 'home';
    case 'End':
      return 'end';
    case '?':
      return 'help';
    case 'x':
    case 'X':
      return 'vmExit';
    default:
      return null;
  }
}

export function keyPressOf(e: KeyboardEvent): KeyPress {
  const el = e.target instanceof HTMLElement ? e.target : null;
  return {
    key: e.key,
    ctrlKey: e.ctrlKey,
    altKey: e.altKey,
    metaKey: e.metaKey,
    targetTag: el?.tagName ?? null,
    targetEditable: el?.isContentEditable ?? false,
  };
}
