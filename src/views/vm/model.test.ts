import { describe, expect, it } from 'vitest';
import vmcsRef from '../../../tests/reference/vmcs-fields.json';
import { decodeIo, IO_LAYOUT } from '../../emu/vmx/qualification.ts';
import { svmAfterIoioExit, vtxAfterCpuidExit, vtxAfterIoExit } from './fixtures.ts';
import { bitStrip, controlGroups, cycleRows, decodeVmcsEncoding, fieldMatches, groupFields, handlerPath, keyText, percent, reasonRows, ripAdvance } from './model.ts';
import { vmRunBlock } from './load.ts';

describe('the fixtures', () => {
  it('use the SDM encodings the reference tables give', () => {
    const v = vtxAfterIoExit();
    const text = JSON.stringify(vmcsRef);
    for (const name of ['GUEST_RIP', 'EXIT_QUALIFICATION', 'VM_EXIT_REASON']) {
      const f = v.fields.find((x) => x.name === name)!;
      expect(text, name).toContain(name);
      expect(text.toLowerCase(), name).toContain(`0x${f.key.toString(16).padStart(4, '0')}`);
    }
    expect(v.fields.find((f) => f.name === 'GUEST_RIP')!.key).toBe(0x681e);
    expect(vtxAfterCpuidExit().lastExit!.code).toBe(10);
    expect(v.lastExit!.code).toBe(30);
    expect(svmAfterIoioExit().lastExit!.code).toBe(0x7b);
    expect(svmAfterIoioExit().lastExit!.name).toBe('VMEXIT_IOIO');
  });
  it('keep the cycle parts adding up to the total', () => {
    for (const v of [vtxAfterCpuidExit(), vtxAfterIoExit(), svmAfterIoioExit()]) {
      const c = v.cycles;
      expect(c.guest + c.memory + c.transitions + c.fieldAccess + c.handlers).toBe(c.total);
    }
  });
});

describe('field groups and the filter', () => {
  it('groups VMCS fields in Appendix B order and VMCB fields by area', () => {
    expect(groupFields(vtxAfterIoExit(), '', false).map((g) => g.area)).toEqual(['control', 'exit-info', 'guest', 'host']);
    expect(groupFields(svmAfterIoioExit(), '', false).map((g) => g.area)).toEqual(['control', 'save']);
  });
  it('keeps only the fields written in the step when asked', () => {
    const names = groupFields(vtxAfterIoExit(), '', true).flatMap((g) => g.fields.map((f) => f.name));
    expect(names.sort()).toEqual(['EXIT_QUALIFICATION', 'GUEST_RIP', 'VM_EXIT_INSTRUCTION_LEN', 'VM_EXIT_REASON']);
    const all = groupFields(vtxAfterIoExit(), '', false).reduce((n, g) => n + g.fields.length, 0);
    expect(all).toBeGreaterThan(40);
  });
  it('matches by name, title or encoding, in any case', () => {
    const rip = vtxAfterIoExit().fields.find((f) => f.name === 'GUEST_RIP')!;
    expect(fieldMatches(rip, 'guest_rip')).toBe(true);
    expect(fieldMatches(rip, 'Guest RIP')).toBe(true);
    expect(fieldMatches(rip, '0x681e')).toBe(true);
    expect(fieldMatches(rip, '681E')).toBe(true);
    expect(fieldMatches(rip, 'host')).toBe(false);
    const g = groupFields(vtxAfterIoExit(), 'rip', false);
    expect(g.flatMap((x) => x.fields.map((f) => f.name))).toEqual(expect.arrayContaining(['GUEST_RIP', 'HOST_RIP']));
    expect(g.every((x) => x.fields.every((f) => /rip/i.test(f.name + f.title)))).toBe(true);
  });
  it('decodes a VMCS encoding into its width and type, and prints keys as the manuals do', () => {
    expect(decodeVmcsEncoding(0x681e)).toEqual({ access: 'full', index: 15, type: 'guest', width: 'natural' });
    expect(decodeVmcsEncoding(0x4402)).toMatchObject({ type: 'exit-info', width: '32' });
    expect(decodeVmcsEncoding(0x2001)).toMatchObject({ access: 'high', width: '64', type: 'control' });
    expect(keyText('vtx', 0x800)).toBe('0x0800');
    expect(keyText('svm', 0x70)).toBe('0x070');
  });
});

describe('bit strips', () => {
  it('draws the I/O exit qualification: port 0x3f8, OUT, 1 byte, reserved bits between', () => {
    const info = vtxAfterIoExit().lastExit!.info.find((i) => i.field === 'EXIT_QUALIFICATION')!;
    const q = Number(BigInt(info.value));
    expect(decodeIo(q)).toMatchObject({ port: 0x3f8, direction: 'out', size: 1 });
    const cells = bitStrip(info.bits, BigInt(info.value));
    expect(cells[0]).toMatchObject({ name: 'Port number', lo: 16, hi: 31, value: 0x3f8, binary: '0000001111111000' });
    expect(cells.find((c) => c.name === 'Direction of the attempted access')).toMatchObject({ value: 0, binary: '0' });
    expect(cells.find((c) => c.name === 'Size of access')).toMatchObject({ lo: 0, hi: 2, value: 0, binary: '000' });
    // Bits 15:7 and bit... no range names them: one unnamed cell each gap.
    expect(cells.filter((c) => c.name === null).map((c) => [c.hi, c.lo])).toEqual([[15, 7]]);
    // The cells tile the 32 bits exactly.
    expect(cells.reduce((n, c) => n + c.hi - c.lo + 1, 0)).toBe(32);
    expect(cells.map((c) => c.binary).join('')).toBe(q.toString(2).padStart(32, '0'));
    expect(IO_LAYOUT.length).toBe(info.bits.length);
  });
  it('draws EXITINFO1 of VMEXIT_IOIO with PORT, SZ8 and A64 set', () => {
    const info = svmAfterIoioExit().lastExit!.info.find((i) => i.field === 'exit_info_1')!;
    const cells = bitStrip(info.bits, BigInt(info.value));
    expect(cells.find((c) => c.name === 'PORT')!.value).toBe(0x3f8);
    expect(cells.find((c) => c.name === 'SZ8')!.value).toBe(1);
    expect(cells.find((c) => c.name === 'A64')!.value).toBe(1);
    expect(cells.find((c) => c.name === 'TYPE')!.value).toBe(0);
    expect(cells.filter((c) => c.name === null).map((c) => [c.hi, c.lo])).toEqual([[15, 13], [1, 1]]);
  });
});

describe('the handler’s code path', () => {
  it('lists the VMREADs and VMWRITEs in order, then VMRESUME', () => {
    const p = handlerPath('vtx', vtxAfterCpuidExit().lastExit!);
    expect(p.map((s) => `${s.op} ${s.field ?? ''}`.trim())).toEqual([
      'VMREAD VM_EXIT_REASON', 'VMREAD GUEST_RIP', 'VMREAD VM_EXIT_INSTRUCTION_LEN', 'sw-write gpr.rax', 'VMWRITE GUEST_RIP', 'VMRESUME',
    ]);
    expect(ripAdvance(vtxAfterCpuidExit().lastExit!)).toBe(2);
    expect(ripAdvance(vtxAfterIoExit().lastExit!)).toBe(1);
  });
  it('names VMCB loads and stores, then VMRUN', () => {
    const p = handlerPath('svm', svmAfterIoioExit().lastExit!);
    expect(p[0]).toMatchObject({ op: 'vmcb-read', field: 'exit_code', key: 0x70 });
    expect(p.at(-1)!.op).toBe('VMRUN');
    expect(ripAdvance(svmAfterIoioExit().lastExit!)).toBe(1);
  });
});

describe('chart data and their tables', () => {
  it('sorts reasons by count and scales bars to the largest', () => {
    const v = vtxAfterIoExit();
    v.byReason = [...v.byReason, { code: 10, name: 'EXIT_REASON_CPUID', count: 1, cycles: 1 }].map((r, i) => (i === 1 ? { ...r, count: 4 } : r));
    const rows = reasonRows(v);
    expect(rows[0]).toMatchObject({ name: 'EXIT_REASON_IO_INSTRUCTION', count: 4, share: 1 });
    expect(rows[1]!.share).toBe(0.25);
    expect(rows[1]!.cycles).toBeGreaterThan(rows[2]!.cycles);
  });
  it('splits cycles into the five parts, with shares of the total', () => {
    const rows = cycleRows(vtxAfterIoExit());
    expect(rows.map((r) => r.part)).toEqual(['guest', 'memory', 'transitions', 'fieldAccess', 'handlers']);
    expect(rows.reduce((s, r) => s + r.share, 0)).toBeCloseTo(1);
    expect(percent(0.125)).toBe('12.5%');
    expect(cycleRows({ cycles: { ...vtxAfterIoExit().cycles, total: 0, guest: 0, transitions: 0, fieldAccess: 0, handlers: 0, memory: 0 } }).every((r) => r.share === 0)).toBe(true);
  });
  it('adds the host OS\u2019s part last where the view has it (a hosting scenario), the shares still of the total', () => {
    const c = vtxAfterIoExit().cycles;
    const rows = cycleRows({ cycles: { ...c, hostOs: c.total, total: 2 * c.total } });
    expect(rows.map((r) => r.part)).toEqual(['guest', 'memory', 'transitions', 'fieldAccess', 'handlers', 'hostOs']);
    expect(rows.at(-1)).toEqual({ part: 'hostOs', cycles: c.total, share: 0.5 });
    expect(rows.reduce((s, r) => s + r.share, 0)).toBeCloseTo(1);
  });
});

describe('controls and run to next VM exit', () => {
  it('groups controls by field; those with an option are the only unlocked ones', () => {
    const g = controlGroups(vtxAfterIoExit().controls);
    expect(g.map((x) => x.field)).toEqual(['pin', 'primary', 'secondary', 'exit', 'entry']);
    const hlt = g[1]!.controls.find((c) => c.name === 'HLT exiting')!;
    expect(hlt).toMatchObject({ set: true, locked: null, option: 'hypervisor.exits.hlt' });
    for (const c of vtxAfterIoExit().controls) expect(c.locked === null, c.name).toBe(c.option !== null);
  });
  it('says why no VM exit can come', () => {
    expect(vmRunBlock(null, false)).toBe('no-vm');
    expect(vmRunBlock(vtxAfterIoExit(), true)).toBe('stopped');
    const v = vtxAfterIoExit();
    expect(vmRunBlock(v, false)).toBeNull();
    v.vms = v.vms.map((g) => ({ ...g, state: 'ended', end: 'hlt' }));
    expect(vmRunBlock(v, false)).toBe('ended');
  });
});
