/// <reference types="vite/client" />
import { mount } from 'svelte';
import App from './App.svelte';
import { readParams } from '../views/shell/url.ts';
import { loadLocale, pickLocale } from '../i18n/messages.ts';
import './app.css';

const target = document.getElementById('app');
if (target === null) throw new Error('index.html has no #app element');
const params = readParams(location.search);
// The first screen's strings in the reader's language, as App (which ignores a link from a newer
// version) and SpeakerApp pick it.
const ready = loadLocale(pickLocale(params.future && !params.speaker ? '' : location.search, navigator.languages));
// The speaker window (?speaker=1) is its own small app, in its own chunk.
if (params.speaker) void Promise.all([import('../views/speaker/SpeakerApp.svelte'), ready]).then(([m]) => mount(m.default, { target }));
else void ready.then(() => mount(App, { target }));

// Production builds precache themselves (sw.js is emitted by vite.config.ts) so the lab works with
// no network once opened. Without service workers, or if registration fails, the app runs as before.
if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  navigator.serviceWorker.register(`${import.meta.env.BASE_URL}sw.js`).catch(() => undefined);
}
