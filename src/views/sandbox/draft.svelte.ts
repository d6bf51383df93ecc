/**
 * The sandbox draft as Svelte state (`$state.raw` fields over DraftModel). One draft per page,
 * kept at module level, so closing the sandbox and opening it again (or visiting an example in
 * between) finds it as it was, with or without browser storage.
 */
import type { ScenarioError } from '../../emu/scenario/schema.ts';
import type { Json } from '../../worker/protocol.ts';
import { DraftModel, initialDraftFields, type DraftFields, type JsonProblem } from './draft-model.ts';
import type { JsonObject } from './form.ts';
import type { TextPos } from './json-pos.ts';
import { browserStorage, readDraft, writeDraft, type SaveOutcome } from './store.ts';

/** Autosave delay after the last keystroke. */
const SAVE_DELAY_MS = 400;

export class SandboxDraft implements DraftFields {
  text = $state.raw('');
  scenario = $state.raw<JsonObject>({});
  problem = $state.raw<JsonProblem | null>(null);
  paths = $state.raw<ReadonlyMap<string, TextPos>>(new Map());
  previous = $state.raw<string | null>(null);
  errors = $state.raw<ScenarioError[]>([]);
  errorsText = $state.raw<string | null>(null);
  ranText = $state.raw<string | null>(null);
  saved = $state.raw<SaveOutcome>('saved');
  /** Whether a draft was found in storage when the page opened. */
  readonly restored: boolean;

  readonly #model: DraftModel;

  constructor() {
    Object.assign(this, initialDraftFields());
    this.#model = new DraftModel(this, {
      save: (d) => writeDraft(browserStorage(), d),
      later: (fn) => {
        const t = setTimeout(fn, SAVE_DELAY_MS);
        return () => clearTimeout(t);
      },
    });
    const stored = readDraft(browserStorage());
    this.restored = stored !== null;
    if (stored !== null) {
      this.#model.setText(stored.text);
      this.previous = stored.previous;
    }
  }

  setText(text: string): void {
    this.#model.setText(text);
  }
  edit(path: string, value: Json | undefined): boolean {
    return this.#model.edit(path, value);
  }
  adopt(text: string): void {
    this.#model.adopt(text);
  }
  restorePrevious(): void {
    this.#model.restorePrevious();
  }
  ran(errors: ScenarioError[] | null): void {
    this.#model.ran(errors);
  }
  setErrors(errors: ScenarioError[]): void {
    this.#model.setErrors(errors);
  }
  flush(): void {
    this.#model.flush();
  }
}

let draft: SandboxDraft | null = null;

/** The page's draft (created, and read from storage, on first use). */
export function theDraft(): SandboxDraft {
  if (draft === null) {
    draft = new SandboxDraft();
    const d = draft;
    addEventListener('pagehide', () => d.flush());
  }
  return draft;
}
