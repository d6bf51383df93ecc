/**
 * Every instruction form of issue 2, run under an oracle and in the lab (tests/oracle/forms.ts):
 * registers, defined flags, exits, and the scratch page must agree, faults included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffExec } from './compare.ts';
import { FORMS, formProgram, type Form, type FormMode } from './forms.ts';
import { KvmOracle, kvmAvailable } from './kvm/client.ts';
import { nasm, nasmAvailable } from './kvm/nasm.ts';
import { QemuOracle, qemuAvailable } from './qemu/client.ts';
import { labExec } from './lab-exec.ts';

const kvm = await kvmAvailable();
const qemu = qemuAvailable();
const nasmOk = nasmAvailable();
const dump = { addr: 0x200000, len: 0x1000 };

const cases = (oracle: Form['oracle']) =>
  FORMS.filter((f) => f.oracle === oracle).flatMap((f) => f.modes.map((m) => [`${m}: ${f.name}`, f, m] as [string, Form, FormMode]));

const kvmWhy = !kvm.ok ? kvm.why : !nasmOk.ok ? nasmOk.why : '';
if (kvmWhy) console.warn(`forms (KVM): skipped: ${kvmWhy}`);
describe.skipIf(kvmWhy !== '')('instruction forms: the lab agrees with KVM', () => {
  let oracle: KvmOracle;
  beforeAll(async () => {
    oracle = await KvmOracle.start();
  });
  afterAll(() => oracle?.close());
  it.each(cases('kvm'))('%s', async (_n, form, mode) => {
    const code = nasm(formProgram(form, mode));
    const want = await oracle.run({ mode, load: 0x100000, code, dump });
    expect(want.end, want.error).toBe('hlt');
    const got = labExec({ mode, load: 0x100000, code, maxSteps: 100_000, dump });
    expect(diffExec(got, want, { flagsMask: form.flags })).toEqual([]);
  });
});

const qemuWhy = !qemu.ok ? qemu.why : !nasmOk.ok ? nasmOk.why : '';
if (qemuWhy) console.warn(`forms (QEMU): skipped: ${qemuWhy}`);
describe.skipIf(qemuWhy !== '')('instruction forms KVM cannot run: the lab agrees with QEMU (TCG)', () => {
  let oracle: QemuOracle;
  beforeAll(async () => {
    oracle = await QemuOracle.start();
  });
  afterAll(() => oracle?.close());
  it.each(cases('qemu'))('%s', async (_n, form, mode) => {
    const code = nasm(formProgram(form, mode));
    const want = await oracle.run({ mode, load: 0x100000, code, dump });
    expect(want.end, want.error).toBe('hlt');
    const got = labExec({ mode, load: 0x100000, code, maxSteps: 100_000, dump });
    // QEMU keeps CR0.ET (bit 4) set where the exec start state, like KVM's, has it clear.
    expect(diffExec(got, want, { flagsMask: form.flags, cr0Ignore: 0x10 })).toEqual([]);
  });
});
