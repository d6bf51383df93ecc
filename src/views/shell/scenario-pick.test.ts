import { describe, expect, it } from 'vitest';
import { OWN_OPTION, pickerValue, scenarioPick } from './scenario-pick.ts';
import { SCENARIOS } from './url.ts';

describe('the scenario picker during a lesson’s own scenario', () => {
  it('selects the lesson’s own option while it runs, else the example', () => {
    expect(pickerValue('syscalls', true)).toBe(OWN_OPTION);
    expect(pickerValue('syscalls', false)).toBe('syscalls');
    expect(SCENARIOS).not.toContain(OWN_OPTION);
  });

  it('reloads the page’s example when it is picked over the lesson’s own scenario, and switches to any other', () => {
    expect(scenarioPick('syscalls', 'syscalls', true)).toEqual({ kind: 'reload', id: 'syscalls' });
    expect(scenarioPick('timer', 'syscalls', true)).toEqual({ kind: 'switch', id: 'timer' });
    expect(scenarioPick('page-fault', 'syscalls', false)).toEqual({ kind: 'switch', id: 'page-fault' });
    expect(scenarioPick(OWN_OPTION, 'syscalls', false)).toEqual({ kind: 'own' });
    expect(scenarioPick('nope', 'syscalls', true)).toBeNull();
  });
});
