/**
 * Text form of a VM-exit exercise for the command line: each problem's instruction in context and
 * the controls that decide it, then, only when asked, the answer key as the lab's VT-x recorded it.
 */

import { msrName, vectorName, type DecodedField, type VmexitAnswer, type VmexitExercise, type VmexitProblem } from './vmexit-exercise.ts';

const hx = (v: number, digits = 0): string => `0x${v.toString(16).padStart(digits, '0')}`;

const INTERRUPTION_TYPES: Readonly<Record<number, string>> = {
  0: 'external interrupt', 2: 'NMI', 3: 'hardware exception', 4: 'software interrupt',
  5: 'privileged software exception', 6: 'software exception', 7: 'other event',
};

function problemLines(p: VmexitProblem, n: number): string[] {
  const out: string[] = [];
  out.push(`${String(n).padStart(2)}. ${p.bits}-bit guest, CPL 0, at ${hx(p.rip, 8)}:  ${p.asm}    (${p.bytes})`);
  if (p.context.length > 0) out.push(`      reads: ${p.context.map((c) => `${c.name} = ${hx(c.value, c.digits)}`).join(', ')}`);
  for (const c of p.controls) out.push(`      ${c.name.padEnd(28)} ${c.value}${c.note === undefined ? '' : `   (${c.note})`}`);
  const s = p.setup;
  for (const b of s.ioBits) {
    const offset = (b.port & 0x7fff) >>> 3;
    out.push(`      I/O bitmap ${b.bitmap}, port ${hx(b.port, 4)} (byte ${hx(offset, 3)} bit ${b.port & 7})   ${+b.set}`);
  }
  for (const b of s.msrBits) {
    out.push(`      MSR bitmap ${b.quarter.padEnd(10)} ${msrName(b.msr)} (byte ${hx(b.offset, 3)} bit ${b.bit})   ${+b.set}`);
  }
  if (s.ioBits.length > 0 || s.msrBits.length > 0) out.push('      (every bitmap bit not listed is 0)');
  return out;
}

function fieldText(f: DecodedField): string {
  const bits = f.lo === f.hi ? `bit ${f.lo}` : `bits ${f.hi}:${f.lo}`;
  return `${f.name} (${bits}) = ${f.hi - f.lo >= 7 ? hx(f.value) : f.value}`;
}

function answerLines(a: VmexitAnswer): string[] {
  if (!a.exit) {
    if (a.outcome === 'halted') return ['      no VM exit: HLT runs in the guest, which halts (nothing wakes it)'];
    if (a.outcome === 'delivered') return [`      no VM exit: ${vectorName(a.vector!)} (vector ${a.vector}) is delivered through the guest's IDT`];
    return ['      no VM exit: the instruction runs in the guest'];
  }
  const out = [`      VM exit, reason ${a.reason} ${a.name} (${a.title})`];
  out.push(`      exit qualification ${hx(a.qualification, 16)}${a.qualificationFields.length === 0 ? ' (none for this exit)' : ''}`);
  if (a.qualificationFields.length > 0) out.push(`        ${a.qualificationFields.map(fieldText).join(', ')}`);
  out.push(`      VM-exit instruction length ${a.instructionLength === null ? 'undefined (a hardware exception)' : a.instructionLength}`);
  if (a.interruption !== null) {
    const f = Object.fromEntries(a.interruption.fields.map((x) => [x.name, x.value]));
    out.push(
      `      VM-exit interruption information ${hx(a.interruption.raw, 8)}: vector ${f.vector} (${vectorName(f.vector!)}), ` +
        `type ${f.type} (${INTERRUPTION_TYPES[f.type!] ?? 'reserved'}), error code valid ${f.errorCodeValid}, valid ${f.valid}`,
    );
  }
  out.push(`      guest RIP saved ${hx(a.guestRip, 8)} (the instruction's own)`);
  return out;
}

/** The exercise as text; the answer key only with `answers`. */
export function formatVmexitExercise(ex: VmexitExercise, opts: { answers: boolean }): string {
  const out: string[] = [];
  out.push(`VM-exit exercise (VT-x), seed ${ex.seed}`);
  out.push('');
  out.push('Each guest runs in VMX non-root operation under the controls listed. Named controls not listed are');
  out.push('0 (the reserved default-1 bits are 1), as are the pin-based ones; no secondary controls, no EPT, no');
  out.push('interrupt pending, guest RFLAGS 0x2 unless shown, masks and exception bitmap 0 unless shown. Does it cause');
  out.push('a VM exit? If so: the basic exit reason (number and name), the exit qualification (by field),');
  out.push('the VM-exit instruction length, and for an exception the VM-exit interruption information.');
  ex.problems.forEach((p, i) => {
    out.push('');
    out.push(...problemLines(p, i + 1));
  });
  if (opts.answers) {
    out.push('');
    out.push('Answer key (as the lab\'s VT-x recorded it: VMLAUNCH, the guest run, VMREAD of the exit fields)');
    ex.problems.forEach((p, i) => {
      out.push(`${String(i + 1).padStart(2)}. ${p.asm}`);
      out.push(...answerLines(ex.answers[i]!));
    });
  }
  return out.join('\n');
}
