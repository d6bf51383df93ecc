/** Opens (or brings back) the speaker window; false when the browser blocked it. In the lab's first screen, so kept apart from the channel (connect.ts). */
export function openSpeakerWindow(href: string): boolean {
  const w = window.open(href, 'ring-minus-one-speaker', 'popup,width=1100,height=800');
  if (w === null) return false;
  w.focus();
  return true;
}
