/**
 * What the lab needs to know about the sandbox before its code is loaded (the sandbox itself is a
 * lazily loaded chunk): whether the address opens it. `#s=…` is a share link (share.ts);
 * `#sandbox` marks a page showing the sandbox, so that a reload comes back to it and its draft.
 */

/** The fragment of a share link: `#s=<format version>.<payload>`. */
export const SHARE_PREFIX = '#s=';
/** The fragment of a page in the sandbox. */
export const SANDBOX_HASH = '#sandbox';

/** Whether the lab opens in the sandbox: a share link (good or bad) or a page that was in it. */
export function opensSandbox(hash: string): boolean {
  return hash === SANDBOX_HASH || hash.startsWith(SHARE_PREFIX);
}

/**
 * The address with the sandbox mark set (replacing a share link's fragment, once read) or cleared;
 * a fragment that is not the sandbox's is left alone when clearing.
 */
export function withSandboxHash(href: string, on: boolean): string {
  const url = new URL(href);
  if (!on && !opensSandbox(url.hash)) return href;
  url.hash = on ? SANDBOX_HASH : '';
  const s = url.toString();
  return s.endsWith('#') ? s.slice(0, -1) : s;
}
