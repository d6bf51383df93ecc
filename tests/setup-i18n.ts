/**
 * The app fetches one language's first-screen strings before it mounts (i18n/messages.ts
 * `loadLocale`); unit tests render and narrate in both languages at once, so both are installed
 * before any test file runs.
 */
import { installLocale } from '../src/i18n/messages.ts';
import { eagerEn } from '../src/i18n/eager-en.ts';
import { eagerZh } from '../src/i18n/eager-zh.ts';

installLocale('en', eagerEn);
installLocale('zh-CN', eagerZh);
