import { describe, expect, it } from 'vitest';
import { DEFAULT_PRESET } from '../../emu/cost/pick.ts';
import { PRESETS } from '../../emu/cost/presets.ts';
import { EXIT_OPTIONS as SVM_OPTIONS } from '../../emu/hv/svm-backend.ts';
import { EXIT_OPTIONS as VMX_OPTIONS } from '../../emu/hv/vmx-backend.ts';
import { loadScenario } from '../../emu/scenario/migrate.ts';
import { DraftModel, initialDraftFields } from './draft-model.ts';
import { prettyJson, type JsonObject } from './form.ts';
import {
  EXCEPTION_FIELD, EXIT_CONTROL_NAMES, EXIT_FLAGS, exceptionEdit, exitEdit, hvShown, nestedEdit, nestedEdits, nestedPageSizeEdit, presetEdit, presetsFor, techniqueEdits,
  tlbTagsEdit, walkCacheEdit,
} from './hv-form.ts';

function draft(s: JsonObject): { m: DraftModel; f: ReturnType<typeof initialDraftFields> } {
  const f = initialDraftFields();
  const m = new DraftModel(f, { save: () => 'saved', later: () => () => {} });
  m.setText(prettyJson(s));
  return { m, f };
}

const VTX: JsonObject = { version: 1, name: 'g', cpu: { vendor: 'intel' }, mode: 'long64', paging: '4level', memory: { size: 0x400000 }, kernel: { source: 'hlt' }, technique: 'vtx' };

describe('the hypervisor section’s names', () => {
  it('are the backends’ control names (EXIT_OPTIONS), option by option', () => {
    for (const [tech, table] of [['vtx', VMX_OPTIONS], ['svm', SVM_OPTIONS]] as const) {
      for (const f of EXIT_FLAGS) expect(EXIT_CONTROL_NAMES[tech][f], `${tech} ${f}`).toEqual(table.find((o) => o.option === f)!.names);
      expect(table.find((o) => o.option === 'exceptions')!.field).toBe(EXCEPTION_FIELD[tech]);
      expect(table.map((o) => o.option).sort()).toEqual([...EXIT_FLAGS, 'exceptions'].sort());
    }
  });

  it('offers the presets of the technique’s vendor, in PRESETS’ order, the default among them', () => {
    expect(presetsFor('vtx')).toEqual(PRESETS.filter((p) => p.vendor === 'intel').map((p) => p.id));
    expect(presetsFor('svm')).toEqual(PRESETS.filter((p) => p.vendor === 'amd').map((p) => p.id));
    expect(presetsFor('vtx')).toContain(DEFAULT_PRESET.vtx);
    expect(presetsFor('svm')).toContain(DEFAULT_PRESET.svm);
  });
});

describe('the hypervisor section ↔ the draft’s JSON', () => {
  it('shows the validator’s defaults when hypervisor is absent', () => {
    expect(hvShown(VTX, 'vtx')).toEqual({
      costPreset: 'intel-broadwell', presetFits: true, nestedPaging: true, tlbTags: true, pwc: false, ntlb: false, nested4k: false, multiVm: false,
      exits: { hlt: true, rdtsc: false, invlpg: false, cr3: false }, exceptions: [6],
    });
  });

  it('each exit check box writes its field, and writing the default back removes it (and the emptied parents)', () => {
    const { m, f } = draft(VTX);
    for (const flag of ['rdtsc', 'invlpg', 'cr3'] as const) {
      m.edit(...exitEdit(flag, true));
      expect(f.scenario['hypervisor'], flag).toEqual({ exits: { [flag]: true } });
      expect(hvShown(f.scenario, 'vtx').exits[flag]).toBe(true);
      expect(loadScenario(f.scenario).ok, flag).toBe(true);
      m.edit(...exitEdit(flag, false));
      expect(f.scenario['hypervisor'], flag).toBeUndefined();
      expect(f.text).toBe(prettyJson(VTX));
    }
    m.edit(...exitEdit('hlt', false));
    expect(f.scenario['hypervisor']).toEqual({ exits: { hlt: false } });
    expect(hvShown(f.scenario, 'vtx').exits.hlt).toBe(false);
    m.edit(...exitEdit('hlt', true));
    expect(f.scenario['hypervisor']).toBeUndefined();
  });

  it('nested paging is written only when off; a preset only when not the technique’s default', () => {
    const { m, f } = draft(VTX);
    m.edit(...nestedEdit(false));
    expect(f.scenario['hypervisor']).toEqual({ nestedPaging: false });
    expect(hvShown(f.scenario, 'vtx').nestedPaging).toBe(false);
    m.edit(...nestedEdit(true));
    expect(f.scenario['hypervisor']).toBeUndefined();
    m.edit(...presetEdit('vtx', 'core2-merom'));
    expect(f.scenario['hypervisor']).toEqual({ costPreset: 'core2-merom' });
    expect(loadScenario(f.scenario).ok).toBe(true);
    m.edit(...presetEdit('vtx', 'intel-broadwell'));
    expect(f.scenario['hypervisor']).toBeUndefined();
  });

  it('tagged TLBs, the walk caches and 4-KByte nested pages are written only when not the default; the validator accepts each', () => {
    const { m, f } = draft(VTX);
    m.edit(...tlbTagsEdit(f.scenario, false));
    expect(f.scenario['hypervisor']).toEqual({ tlbTags: false });
    expect(hvShown(f.scenario, 'vtx').tlbTags).toBe(false);
    m.edit(...tlbTagsEdit(f.scenario, true));
    expect(f.scenario['hypervisor']).toBeUndefined();
    m.edit(...walkCacheEdit('pwc', true));
    m.edit(...walkCacheEdit('ntlb', true));
    m.edit(...nestedPageSizeEdit(true));
    expect(f.scenario['hypervisor']).toEqual({ walkCaches: { pwc: true, ntlb: true }, nestedPageSize: '4k' });
    expect(hvShown(f.scenario, 'vtx')).toMatchObject({ pwc: true, ntlb: true, nested4k: true });
    expect(loadScenario(f.scenario).ok).toBe(true);
    m.edit(...walkCacheEdit('pwc', false));
    expect(f.scenario['hypervisor']).toEqual({ walkCaches: { ntlb: true }, nestedPageSize: '4k' });
    m.edit(...walkCacheEdit('ntlb', false));
    m.edit(...nestedPageSizeEdit(false));
    expect(f.scenario['hypervisor']).toBeUndefined();
    expect(f.text).toBe(prettyJson(VTX));
  });

  it('turning nested paging off drops what shadow paging refuses, so the draft stays valid; under shadow paging tags are off by default', () => {
    const { m, f } = draft({ ...VTX, hypervisor: { tlbTags: true, walkCaches: { pwc: true }, nestedPageSize: '4k', exits: { rdtsc: true } } });
    for (const e of nestedEdits(f.scenario, false)) m.edit(...e);
    expect(f.scenario['hypervisor']).toEqual({ nestedPaging: false, exits: { rdtsc: true } });
    expect(hvShown(f.scenario, 'vtx').tlbTags).toBe(false);
    expect(loadScenario(f.scenario).ok).toBe(true);
    // Without nested paging, untagged is the default: nothing to write; tagged would be refused by the validator.
    expect(tlbTagsEdit(f.scenario, false)).toEqual(['hypervisor.tlbTags', undefined]);
    for (const e of nestedEdits(f.scenario, true)) m.edit(...e);
    expect(f.scenario['hypervisor']).toEqual({ exits: { rdtsc: true } });
    expect(hvShown(f.scenario, 'vtx').tlbTags).toBe(true);
  });

  it('each exception check box adds or removes its vector, in order; #UD alone is the default, none at all is kept', () => {
    const { m, f } = draft(VTX);
    for (let v = 0; v < 32; v++) {
      m.edit(...exceptionEdit(f.scenario, 'vtx', v, true));
      expect(hvShown(f.scenario, 'vtx').exceptions.includes(v), `vector ${v}`).toBe(true);
    }
    expect(f.scenario['hypervisor']).toEqual({ exits: { exceptions: Array.from({ length: 32 }, (_, i) => i) } });
    expect(loadScenario(f.scenario).ok).toBe(true);
    for (let v = 31; v >= 0; v--) if (v !== 6) m.edit(...exceptionEdit(f.scenario, 'vtx', v, false));
    expect(f.scenario['hypervisor']).toBeUndefined();
    m.edit(...exceptionEdit(f.scenario, 'vtx', 14, true));
    m.edit(...exceptionEdit(f.scenario, 'vtx', 3, true));
    expect(f.scenario['hypervisor']).toEqual({ exits: { exceptions: [3, 6, 14] } });
    m.edit(...exceptionEdit(f.scenario, 'vtx', 3, false));
    m.edit(...exceptionEdit(f.scenario, 'vtx', 14, false));
    m.edit(...exceptionEdit(f.scenario, 'vtx', 6, false));
    expect(f.scenario['hypervisor']).toEqual({ exits: { exceptions: [] } });
    expect(hvShown(f.scenario, 'vtx').exceptions).toEqual([]);
  });

  it('reads what the JSON tab typed, so the form and the text agree both ways', () => {
    const { m, f } = draft(VTX);
    m.setText(prettyJson({ ...VTX, hypervisor: { costPreset: 'vtx-prescott', nestedPaging: false, exits: { rdtsc: true, hlt: false, exceptions: [14, 0] } } }));
    expect(hvShown(f.scenario, 'vtx')).toEqual({
      costPreset: 'vtx-prescott', presetFits: true, nestedPaging: false, tlbTags: false, pwc: false, ntlb: false, nested4k: false, multiVm: false,
      exits: { hlt: false, rdtsc: true, invlpg: false, cr3: false }, exceptions: [14, 0],
    });
    // An edit of one vector keeps the others and puts the list in order.
    m.edit(...exceptionEdit(f.scenario, 'vtx', 1, true));
    expect(f.scenario['hypervisor']).toEqual({ costPreset: 'vtx-prescott', nestedPaging: false, exits: { rdtsc: true, hlt: false, exceptions: [0, 1, 14] } });
  });

  it('switching the technique drops a preset of the other vendor, keeps the rest, and none drops all', () => {
    const { m, f } = draft({ ...VTX, hypervisor: { costPreset: 'core2-merom', exits: { rdtsc: true } } });
    for (const e of techniqueEdits('svm', f.scenario)) m.edit(...e);
    expect(f.scenario['technique']).toBe('svm');
    expect(f.scenario['cpu']).toEqual({ vendor: 'amd' });
    expect(f.scenario['hypervisor']).toEqual({ exits: { rdtsc: true } });
    expect(hvShown(f.scenario, 'svm').costPreset).toBe('amd-recent');
    expect(loadScenario(f.scenario).ok).toBe(true);
    for (const e of techniqueEdits('none', f.scenario)) m.edit(...e);
    expect(f.scenario['hypervisor']).toBeUndefined();
    expect(f.scenario['technique']).toBeUndefined();
  });

  it('shows a preset that cannot price this technique as such', () => {
    expect(hvShown({ ...VTX, hypervisor: { costPreset: 'amd-recent' } }, 'vtx')).toMatchObject({ costPreset: 'amd-recent', presetFits: false });
  });
});
