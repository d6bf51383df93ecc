/**
 * The page-walk view and the TLB view, a chunk of their own: they sit below the fold (or, in
 * presenter mode, appear once a step walks the tables), so the lab fetches them once its first
 * screen is up (App.svelte) rather than before it is interactive (bench/browser.ts).
 */
export { default as PageWalkView } from './PageWalkView.svelte';
export { default as TlbView } from '../cpu/TlbView.svelte';
