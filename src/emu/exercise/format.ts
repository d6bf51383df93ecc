/**
 * Text form of a page-walk exercise for the command line: the control state, a legend of the
 * entry bits, the paging-structure pages as a memory dump, the addresses to translate and, only
 * when asked, the answer key.
 */

import type { AccessKind } from '../mmu/types.ts';
import { MODE_SPECS } from './walk-exercise.ts';
import type { AnswerStep, U64, WalkAnswer, WalkExercise } from './walk-exercise.ts';

const MODE_TITLES = { '32bit': '32-bit paging', pae: 'PAE paging', '4level': '4-level paging', '5level': '5-level paging' } as const;
const TABLE_NAMES = { PML5E: 'PML5', PML4E: 'PML4', PDPTE: 'PDPT', PDE: 'PD', PTE: 'PT' } as const;

const h = (v: number, digits: number): string => v.toString(16).padStart(digits, '0');

/** `0x` and the 64-bit value in `digits` hex digits (8 or 16). */
export function hex64(v: U64, digits: number): string {
  return digits <= 8 && v.hi === 0 ? `0x${h(v.lo >>> 0, digits)}` : `0x${h(v.hi >>> 0, digits - 8)}${h(v.lo >>> 0, 8)}`;
}

export function hexPa(pa: number): string {
  return `0x${h(pa, 8)}`;
}

export function accessText(a: AccessKind): string {
  return `${a.write ? 'write' : a.fetch ? 'fetch' : 'read'}, ${a.user ? 'user' : 'supervisor'}`;
}

function pageSizeText(bytes: number): string {
  return bytes >= 2 ** 30 ? `${bytes / 2 ** 30} GiB` : bytes >= 2 ** 20 ? `${bytes / 2 ** 20} MiB` : `${bytes / 1024} KiB`;
}

function legend(ex: WalkExercise): string[] {
  const spec = MODE_SPECS[ex.levels];
  const c = ex.control;
  const M = c.maxPhysAddr;
  const out: string[] = [];
  const fields = spec.names.map((n, i) => `${TABLE_NAMES[n]} index ${spec.shifts[i]! + spec.widths[i]! - 1}:${spec.shifts[i]}`);
  out.push(`Linear address: ${fields.join(' | ')} | offset 11:0`);
  out.push(
    `Each entry is ${spec.entrySize} bytes: the entry for index i of a table is at (table address + i * ${spec.entrySize}).` +
      (c.mode === 'pae' ? ' CR3 points at the 4-entry PDPT.' : ` CR3 points at the ${TABLE_NAMES[spec.names[0]!]}.`),
  );
  out.push('Entry bits:');
  out.push('  P    bit 0   present (0: not present; no other bit of the entry matters)');
  if (c.mode === 'pae') out.push('               a PDPTE (PAE) has only P and the address; it does not control access rights');
  out.push('  R/W  bit 1   0: read-only (user writes fault; supervisor writes fault only if CR0.WP = 1)');
  out.push('  U/S  bit 2   0: supervisor only (user accesses fault)');
  out.push('  A    bit 5, D bit 6, G bit 8: accessed, dirty, global (no effect on these answers)');
  if (c.mode === '32bit') {
    out.push('  PS   bit 7   in a PDE with CR4.PSE = 1: the entry maps a 4 MiB page (address bits 31:22)');
    out.push(`  address      bits 31:12: the next table, or the 4 KiB page; 4 MiB PDE: bits 31:22, and bits ${Math.min(M, 40) - 20}:13 hold address bits ${Math.min(M, 40) - 1}:32`);
    out.push(`  reserved     in a 4 MiB PDE, bits 21:${Math.min(M, 40) - 19} (a fault with RSVD = 1)`);
  } else {
    const big = c.mode === 'pae' ? 'in a PDE: the entry maps a 2 MiB page' : 'in a PDE: a 2 MiB page; in a PDPTE: a 1 GiB page';
    out.push(`  PS   bit 7   ${big}`);
    out.push(`  XD   bit 63  execute-disable: instruction fetches fault (EFER.NXE = 1); reserved if EFER.NXE = 0`);
    out.push(`  address      bits ${M - 1}:12: the next table or the 4 KiB page (2 MiB: ${M - 1}:21${c.mode === 'pae' ? '' : `, 1 GiB: ${M - 1}:30`})`);
    const rsvd = [`bits ${c.mode === 'pae' ? 62 : 51}:${M}`, '2 MiB PDE bits 20:13'];
    if (c.mode !== 'pae') rsvd.push('1 GiB PDPTE bits 29:13', `PS in a ${c.mode === '5level' ? 'PML5E or ' : ''}PML4E`);
    out.push(`  reserved     ${rsvd.join('; ')} (a fault with RSVD = 1)`);
  }
  out.push('Rights combine over the walk: R/W and U/S must be 1 in every entry' + (c.mode === '32bit' ? '.' : '; XD = 1 in any entry forbids fetches.'));
  return out;
}

function stepLine(s: AnswerStep, entryDigits: number): string {
  const at = s.fromRegister ? `PDPTE register ${s.index} (loaded from ${hexPa(s.entryPa)})` : `entry at ${hexPa(s.entryPa)}`;
  const bits = `${s.indexBits[0]}:${s.indexBits[1]}`.padEnd(5);
  return `       ${s.level.padEnd(5)}  LA ${bits} = 0x${h(s.index, 3)}  ${at} = ${hex64(s.entry, entryDigits)}${s.leaf ? '  (maps the page)' : ''}`;
}

function answerLines(a: WalkAnswer, entryDigits: number): string[] {
  const out = a.steps.map((s) => stepLine(s, entryDigits));
  if (a.ok) {
    out.push(`       PA = ${hexPa(a.pa)}  (${pageSizeText(a.pageSize)} page)`);
  } else {
    const b = a.bits;
    const cause = b.rsvd ? 'a reserved bit is set' : b.p ? 'the access rights forbid the access' : 'the entry is not present';
    out.push(`       #PF at the ${a.faultLevel}: ${cause}`);
    out.push(
      `       error code 0x${a.errorCode.toString(16)}: P=${+b.p} W/R=${+b.wr} U/S=${+b.us} RSVD=${+b.rsvd} I/D=${+b.id}` +
        `  (${b.rsvd ? "reserved bit" : b.p ? "protection" : "not present"}, ${b.wr ? "write" : "read"}, ${b.us ? "user" : "supervisor"}${b.id ? ", fetch" : ""})`,
    );
  }
  return out;
}

/** The exercise as text; the answer key only with `answers`. */
export function formatWalkExercise(ex: WalkExercise, opts: { answers: boolean }): string {
  const spec = MODE_SPECS[ex.levels];
  const c = ex.control;
  const entryDigits = spec.entrySize * 2;
  const laDigits = spec.laBits > 32 ? 16 : 8;
  const out: string[] = [];
  out.push(`Page-walk exercise: ${MODE_TITLES[c.mode]} (${ex.levels} levels), seed ${ex.seed}`);
  out.push('');
  out.push('Control state');
  out.push(`  CR3         ${hex64(c.cr3, c.mode === '32bit' || c.mode === 'pae' ? 8 : 16)}`);
  out.push(`  CR0.WP      ${+c.cr0Wp}   ${c.cr0Wp ? 'supervisor writes obey R/W' : 'supervisor writes ignore R/W'}`);
  if (c.mode === '32bit') out.push(`  CR4.PSE     ${+c.cr4Pse}   ${c.cr4Pse ? '4 MiB pages allowed (PS in a PDE)' : 'no 4 MiB pages (PS in a PDE is ignored)'}`);
  out.push(`  CR4.PAE     ${+c.cr4Pae}`);
  if (c.mode !== '32bit') out.push(`  CR4.LA57    ${+c.cr4La57}`);
  if (c.mode !== '32bit') out.push(`  EFER.NXE    ${+c.eferNxe}   ${c.eferNxe ? 'XD (bit 63) in use' : 'XD (bit 63) is reserved'}`);
  out.push(`  MAXPHYADDR  ${c.maxPhysAddr}`);
  out.push('');
  out.push(...legend(ex));
  out.push('');
  out.push('Memory dump: the pages that hold paging structures. Only non-zero entries are shown; every other entry is 0.');
  for (const p of ex.pages) {
    out.push('');
    out.push(`page ${hexPa(p.pa)}`);
    for (const e of p.entries) {
      out.push(`  ${hexPa(p.pa + e.index * p.entrySize)}  [${h(e.index, 3)}]  ${hex64({ lo: e.lo, hi: e.hi }, entryDigits)}`);
    }
    if (p.entries.length === 0) out.push('  (all entries 0)');
  }
  out.push('');
  out.push('Translate each linear address for the access given. Answer with the physical address, or with');
  out.push('#PF: its error code (P, W/R, U/S, RSVD, I/D) and the level whose entry causes it.');
  ex.questions.forEach((q, i) => out.push(`  ${String(i + 1).padStart(2)}. ${hex64(q.la, laDigits)}  ${accessText(q.access)}`));
  if (opts.answers) {
    out.push('');
    out.push('Answer key');
    ex.questions.forEach((q, i) => {
      out.push(`  ${String(i + 1).padStart(2)}. ${hex64(q.la, laDigits)}  ${accessText(q.access)}`);
      out.push(...answerLines(ex.answers[i]!, entryDigits));
    });
  }
  return out.join('\n');
}
