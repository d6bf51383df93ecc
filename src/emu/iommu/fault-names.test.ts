/** The views' names of VT-d fault reasons and AMD-Vi events are the reference's, and cover what the remappers produce. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AMDVI_EVENT } from './amdvi.ts';
import { AMDVI_EVENT_NAMES, VTD_FAULT_NAMES, VTD_IR_FAULT_NAMES, amdViEventName, vtdFaultName, vtdIrFaultName } from './fault-names.ts';
import { VTD_FAULT, VTD_IR_FAULT } from './vtd.ts';

const vtd = JSON.parse(readFileSync('tests/reference/vtd.json', 'utf8')) as { fault_reasons: Record<string, string> };
const amd = JSON.parse(readFileSync('tests/reference/amd-vi.json', 'utf8')) as { event_log: { types: Record<string, string> } };

describe('IOMMU fault names', () => {
  it('word every VT-d DMA fault reason as vtd.json does', () => {
    const dmaReasons = Object.entries(vtd.fault_reasons).filter(([k]) => k.startsWith('0x') && Number(k) < 0x20);
    expect(Object.keys(VTD_FAULT_NAMES).length).toBe(dmaReasons.length);
    for (const [k, name] of dmaReasons) expect(vtdFaultName(Number(k))).toBe(name);
    for (const code of Object.values(VTD_FAULT)) expect(vtdFaultName(code)).not.toBeNull();
    expect(vtdFaultName(0x20)).toBeNull();
  });

  it('word every VT-d interrupt-remapping fault reason as vtd.json does (without its "(IR) " prefix)', () => {
    const irReasons = Object.entries(vtd.fault_reasons).filter(([k]) => k.startsWith('0x') && Number(k) >= 0x20);
    expect(Object.keys(VTD_IR_FAULT_NAMES).length).toBe(irReasons.length);
    for (const [k, name] of irReasons) expect(`(IR) ${vtdIrFaultName(Number(k))}`).toBe(name);
    for (const code of Object.values(VTD_IR_FAULT)) expect(vtdIrFaultName(code)).not.toBeNull();
    expect(vtdIrFaultName(0x6)).toBeNull();
  });

  it('name every AMD-Vi event type of the specification as amd-vi.json does', () => {
    for (const [code, name] of Object.entries(AMDVI_EVENT_NAMES)) expect(amd.event_log.types[code]).toBe(name);
    for (const code of Object.values(AMDVI_EVENT)) expect(amdViEventName(code)).not.toBeNull();
    expect(amdViEventName(2)).toBe('IO_PAGE_FAULT');
    expect(amdViEventName(0xd)).toBeNull();
  });
});
