/**
 * The speaker channel wired to the browser: the projected window's link (presenter mode), the
 * speaker window's port, and opening the speaker window. Without BroadcastChannel (an old
 * browser) there is no speaker window, and the lab says nothing more about it. The lab's page
 * imports this module only when presenter mode starts (the channel's protocol is not part of its
 * first screen); opening the speaker window is open.ts.
 */
import { channelName, type SpeakerCommand } from './channel.ts';
import { ProjectorLink, type Port } from './projector.ts';

/** The app's base path (Vite's BASE_URL), which scopes the channel. */
const basePath = (): string => import.meta.env.BASE_URL;

export function openPort(): Port | null {
  if (typeof BroadcastChannel !== 'function') return null;
  return new BroadcastChannel(channelName(basePath())) as unknown as Port;
}

/** A random id for this projected window (new on every load: a reload is a new window). */
function newId(): string {
  return typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * The projected window's link, from now until `dispose` (leaving presenter mode) or the page is
 * hidden for good (closed or reloaded: the speaker hears `bye`).
 */
export function connectProjector(run: (c: SpeakerCommand) => Promise<void>): { link: ProjectorLink; dispose: () => void } | null {
  const port = openPort();
  if (port === null) return null;
  const link = new ProjectorLink(port, { id: newId(), since: Date.now(), run });
  const onhide = (e: PageTransitionEvent): void => {
    if (!e.persisted) link.dispose();
  };
  addEventListener('pagehide', onhide);
  return {
    link,
    dispose: () => {
      removeEventListener('pagehide', onhide);
      link.dispose();
    },
  };
}

export { openSpeakerWindow } from './open.ts';
export { runLessonCommand } from './projector.ts';
