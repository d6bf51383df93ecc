/**
 * The sandbox draft as a plain class (testable without the Svelte compiler; draft.svelte.ts backs
 * its fields with `$state.raw`). The draft is the scenario's JSON text: the code editors and the
 * settings form edit the parsed scenario and rewrite the text; the JSON editor edits the text, and
 * while that text is not JSON (or not an object) the other editors wait for it to be fixed, so no
 * edit is ever dropped. Every change is saved (debounced) through a `save` callback.
 */
import type { ScenarioError } from '../../emu/scenario/schema.ts';
import type { Json } from '../../worker/protocol.ts';
import { isObject, prettyJson, setAt, type JsonObject } from './form.ts';
import { scanJson, type JsonIssue, type TextPos } from './json-pos.ts';
import type { SaveOutcome, SavedDraft } from './store.ts';

export interface JsonProblem {
  at: TextPos;
  issue: JsonIssue | 'root';
  found: string;
}

export interface DraftFields {
  /** The draft: the scenario's JSON text as last edited. */
  text: string;
  /** The last text that parsed, as an object (what Run loads and the form shows). */
  scenario: JsonObject;
  /** Why `text` is not a scenario object, or null. */
  problem: JsonProblem | null;
  /** Line and column of each field in `text` (by validation path) when it parses. */
  paths: ReadonlyMap<string, TextPos>;
  /** The draft a share link or "start over" replaced, kept until restored or replaced again. */
  previous: string | null;
  /** Errors of the last run or share attempt, and the text they were found in. */
  errors: ScenarioError[];
  errorsText: string | null;
  /** The text the lab last ran successfully, or null. */
  ranText: string | null;
  saved: SaveOutcome;
}

export function initialDraftFields(): DraftFields {
  return { text: '{}\n', scenario: {}, problem: null, paths: new Map(), previous: null, errors: [], errorsText: null, ranText: null, saved: 'saved' };
}

export interface DraftDeps {
  save: (d: SavedDraft) => SaveOutcome;
  /** Schedules a callback (setTimeout in the page, immediate in tests); returns a canceller. */
  later: (fn: () => void) => () => void;
}

export class DraftModel {
  private cancelSave: (() => void) | null = null;

  constructor(
    private readonly f: DraftFields,
    private readonly deps: DraftDeps,
  ) {}

  /** Replaces the text (the JSON editor, a restore, a share link); re-parses it. */
  setText(text: string): void {
    this.f.text = text;
    const scan = scanJson(text);
    if (!scan.ok) {
      this.f.problem = { at: scan.at, issue: scan.issue, found: scan.found };
      this.f.paths = new Map();
    } else {
      const v: unknown = JSON.parse(text);
      if (isObject(v)) {
        this.f.scenario = v;
        this.f.problem = null;
        this.f.paths = scan.paths;
      } else {
        this.f.problem = { at: { line: 1, column: 1 }, issue: 'root', found: '' };
        this.f.paths = new Map();
      }
    }
    this.scheduleSave();
  }

  /** Sets one field of the scenario (undefined removes it); refused while the JSON text is broken. */
  edit(path: string, value: Json | undefined): boolean {
    if (this.f.problem !== null) return false;
    this.setText(prettyJson(setAt(this.f.scenario, path, value)));
    return true;
  }

  /**
   * Puts a new draft in place (a share link, an example to start over from), keeping the one it
   * replaces as `previous` unless they are the same.
   */
  adopt(text: string): void {
    if (text !== this.f.text && this.f.text.trim() !== '{}') this.f.previous = this.f.text;
    this.setText(text);
    this.f.errors = [];
    this.f.errorsText = null;
  }

  /** Swaps the draft with the one kept as `previous`. */
  restorePrevious(): void {
    const p = this.f.previous;
    if (p === null) return;
    this.f.previous = this.f.text;
    this.setText(p);
    this.f.errors = [];
    this.f.errorsText = null;
  }

  /** Records how a run of the current text went (null errors: it ran). */
  ran(errors: ScenarioError[] | null): void {
    this.f.errors = errors ?? [];
    this.f.errorsText = errors === null ? null : this.f.text;
    if (errors === null) this.f.ranText = this.f.text;
  }

  /** Errors found without a run (sharing a draft that does not validate). */
  setErrors(errors: ScenarioError[]): void {
    this.f.errors = errors;
    this.f.errorsText = this.f.text;
  }

  /** Saves now (page hide, panel closed). */
  flush(): void {
    this.cancelSave?.();
    this.cancelSave = null;
    this.f.saved = this.deps.save({ text: this.f.text, previous: this.f.previous });
  }

  private scheduleSave(): void {
    this.cancelSave?.();
    this.cancelSave = this.deps.later(() => {
      this.cancelSave = null;
      this.flush();
    });
  }
}
