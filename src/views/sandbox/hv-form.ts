/**
 * The sandbox's hypervisor section as plain functions: what `technique` and `hypervisor.*` of the
 * draft mean when a field is absent (the validator's defaults: the technique's cost preset, nested
 * paging on, tagged TLBs as nested paging, no walk caches, 2-MByte nested pages, HLT exits, #UD
 * intercepted), and the edits each control of the form makes, so that a
 * setting equal to its default leaves the field out of the JSON.
 *
 * The control names are the manuals' (the backends' EXIT_OPTIONS; hv-form.test.ts keeps them
 * equal). They are copied here, not imported, so the sandbox chunk does not carry the VT-x and
 * AMD-V models; the presets' ids and vendors come from the light table of cost/pick.ts.
 */
import type { Json } from '../../worker/protocol.ts';
import { DEFAULT_PRESET, PRESET_VENDORS } from '../../emu/cost/pick.ts';
import { getAt, isObject, type JsonObject } from './form.ts';

export type HvTechnique = 'vtx' | 'svm';
/** The optional exits a check box turns on or off (`hypervisor.exits.<flag>`). */
export const EXIT_FLAGS = ['hlt', 'rdtsc', 'invlpg', 'cr3'] as const;
export type ExitFlag = (typeof EXIT_FLAGS)[number];

/** What an absent `hypervisor.exits.<flag>` means (the backends: HLT exits by default). */
export const EXIT_DEFAULTS: Readonly<Record<ExitFlag, boolean>> = { hlt: true, rdtsc: false, invlpg: false, cr3: false };
/** What an absent `hypervisor.exits.exceptions` means: #UD only (validate.ts). */
export const DEFAULT_EXCEPTIONS: readonly number[] = [6];

/** The control bit(s) each option sets, by the SDM's (VT-x) or the APM's (AMD-V) name. */
export const EXIT_CONTROL_NAMES: Readonly<Record<HvTechnique, Readonly<Record<ExitFlag, readonly string[]>>>> = {
  vtx: { hlt: ['HLT exiting'], rdtsc: ['RDTSC exiting'], invlpg: ['INVLPG exiting'], cr3: ['CR3-load exiting', 'CR3-store exiting'] },
  svm: { hlt: ['INTERCEPT_HLT'], rdtsc: ['INTERCEPT_RDTSC'], invlpg: ['INTERCEPT_INVLPG'], cr3: ['intercept reads of CR3', 'intercept writes of CR3'] },
};
/** Where the exceptions' bits are: the VMCS's exception bitmap, the VMCB's exception intercept word. */
export const EXCEPTION_FIELD: Readonly<Record<HvTechnique, string>> = { vtx: 'EXCEPTION_BITMAP', svm: 'intercept_exceptions' };

export function techniqueOf(s: JsonObject): HvTechnique | null {
  const t = s['technique'];
  return t === 'vtx' || t === 'svm' ? t : null;
}

/** The presets that price a technique's vendor, in the order of PRESETS. */
export function presetsFor(t: HvTechnique): string[] {
  const want = t === 'svm' ? 'amd' : 'intel';
  return Object.keys(PRESET_VENDORS).filter((id) => PRESET_VENDORS[id] === want);
}

/** The hypervisor settings the draft asks for, defaults filled in (what the form shows). */
export interface HvSettingsShown {
  costPreset: string;
  /** False when `hypervisor.costPreset` names no preset of this vendor (the validator then says why). */
  presetFits: boolean;
  nestedPaging: boolean;
  /** Tagged TLBs (VPID / ASID): the backends' default is the nested-paging setting. */
  tlbTags: boolean;
  /** The 2D walk's caches (`hypervisor.walkCaches`, off by default). */
  pwc: boolean;
  ntlb: boolean;
  /** 4-KByte nested pages (`hypervisor.nestedPageSize: '4k'`; default 2 MiB). */
  nested4k: boolean;
  /** With `vms` (the multi-VM host): the walk caches and the nested page size are not offered. */
  multiVm: boolean;
  exits: Record<ExitFlag, boolean>;
  exceptions: number[];
}

export function hvShown(s: JsonObject, t: HvTechnique): HvSettingsShown {
  const preset = getAt(s, 'hypervisor.costPreset');
  const costPreset = typeof preset === 'string' ? preset : DEFAULT_PRESET[t];
  const exits = {} as Record<ExitFlag, boolean>;
  for (const f of EXIT_FLAGS) {
    const v = getAt(s, `hypervisor.exits.${f}`);
    exits[f] = typeof v === 'boolean' ? v : EXIT_DEFAULTS[f];
  }
  const ex = getAt(s, 'hypervisor.exits.exceptions');
  const exceptions = Array.isArray(ex) ? ex.filter((v): v is number => typeof v === 'number') : [...DEFAULT_EXCEPTIONS];
  const nestedPaging = getAt(s, 'hypervisor.nestedPaging') !== false;
  const tags = getAt(s, 'hypervisor.tlbTags');
  const multiVm = Array.isArray(s['vms']);
  return {
    costPreset,
    presetFits: presetsFor(t).includes(costPreset),
    nestedPaging,
    tlbTags: typeof tags === 'boolean' ? tags : nestedPaging || multiVm,
    pwc: getAt(s, 'hypervisor.walkCaches.pwc') === true,
    ntlb: getAt(s, 'hypervisor.walkCaches.ntlb') === true,
    nested4k: getAt(s, 'hypervisor.nestedPageSize') === '4k',
    multiVm,
    exits,
    exceptions,
  };
}

export type Edit = [path: string, value: Json | undefined];

/** Choosing a cost preset: the technique's default is the field left out. */
export function presetEdit(t: HvTechnique, id: string): Edit {
  return ['hypervisor.costPreset', id === DEFAULT_PRESET[t] ? undefined : id];
}

export function nestedEdit(on: boolean): Edit {
  return ['hypervisor.nestedPaging', on ? undefined : false];
}

/**
 * Turning nested paging on or off: with it off, the settings shadow paging refuses go too (tagged
 * TLBs asked for, the walk caches, the nested page size), so the draft stays valid.
 */
export function nestedEdits(s: JsonObject, on: boolean): Edit[] {
  const edits: Edit[] = [nestedEdit(on)];
  if (on) return edits;
  if (getAt(s, 'hypervisor.tlbTags') === true) edits.push(['hypervisor.tlbTags', undefined]);
  if (getAt(s, 'hypervisor.walkCaches') !== undefined) edits.push(['hypervisor.walkCaches', undefined]);
  if (getAt(s, 'hypervisor.nestedPageSize') !== undefined) edits.push(['hypervisor.nestedPageSize', undefined]);
  return edits;
}

/** Tagged TLBs: written only when not the default (on with nested paging or several VMs, off under shadow paging). */
export function tlbTagsEdit(s: JsonObject, on: boolean): Edit {
  const def = getAt(s, 'hypervisor.nestedPaging') !== false || Array.isArray(s['vms']);
  return ['hypervisor.tlbTags', on === def ? undefined : on];
}

/** One of the 2D walk's caches: written only when on (off is the default). */
export function walkCacheEdit(cache: 'pwc' | 'ntlb', on: boolean): Edit {
  return [`hypervisor.walkCaches.${cache}`, on ? true : undefined];
}

/** 4-KByte nested pages: written only when on (2 MiB is the default). */
export function nestedPageSizeEdit(fourK: boolean): Edit {
  return ['hypervisor.nestedPageSize', fourK ? '4k' : undefined];
}

export function exitEdit(flag: ExitFlag, on: boolean): Edit {
  return [`hypervisor.exits.${flag}`, on === EXIT_DEFAULTS[flag] ? undefined : on];
}

/**
 * Turning one exception vector's intercept on or off: the list stays in vector order, and the
 * default list (#UD only) is the field left out; an empty list stays (it means no exceptions exit).
 */
export function exceptionEdit(s: JsonObject, t: HvTechnique, vector: number, on: boolean): Edit {
  const now = new Set(hvShown(s, t).exceptions);
  if (on) now.add(vector);
  else now.delete(vector);
  const list = [...now].sort((a, b) => a - b);
  const isDefault = list.length === DEFAULT_EXCEPTIONS.length && list.every((v, i) => v === DEFAULT_EXCEPTIONS[i]);
  return ['hypervisor.exits.exceptions', isDefault ? undefined : list];
}

/**
 * The edits choosing a technique makes: the field itself ('none' removes it and the hypervisor's
 * settings), the CPU vendor the technique needs (VT-x is Intel's, AMD-V AMD's), and a cost preset
 * of the other vendor left out (it cannot price this technique). Trap-and-emulate keeps the vendor
 * and drops the hypervisor's settings (nested paging, exits, tags: none apply to it); so does binary translation.
 */
export function techniqueEdits(v: string, s: JsonObject = {}): Edit[] {
  if (v === 'none') return [['technique', undefined], ['hypervisor', undefined]];
  // Trap-and-emulate runs on either vendor's processor and has none of the hardware assists' settings (its default preset applies).
  if (v === 'trap-emulate' || v === 'bt') return [['technique', v], ['hypervisor', undefined]];
  const edits: Edit[] = [['technique', v], ['cpu.vendor', v === 'svm' ? 'amd' : 'intel']];
  const preset = isObject(s['hypervisor']) ? s['hypervisor']['costPreset'] : undefined;
  if ((v === 'vtx' || v === 'svm') && typeof preset === 'string' && !presetsFor(v).includes(preset)) edits.push(['hypervisor.costPreset', undefined]);
  return edits;
}
