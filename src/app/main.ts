/// <reference types="vite/client" />
import { mount } from 'svelte';
import App from './App.svelte';
import { readParams } from '../views/shell/url.ts';
import './app.css';

const target = document.getElementById('app');
if (target === null) throw new Error('index.html has no #app element');
// The speaker window (?speaker=1) is its own small app, in its own chunk.
if (readParams(location.search).speaker) void import('../views/speaker/SpeakerApp.svelte').then((m) => mount(m.default, { target }));
else mount(App, { target });

// Production builds precache themselves (sw.js is emitted by vite.config.ts) so the lab works with
// no network once opened. Without service workers, or if registration fails, the app runs as before.
if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  navigator.serviceWorker.register(`${import.meta.env.BASE_URL}sw.js`).catch(() => undefined);
}
