/** The probe log of a gen/paging-gen.ts program, decoded (paging-programs.test.ts, shadow-paging.test.ts). */

/**
 * Decodes the program's log: one record per probe (vector, error code, CR2, RIP, EAX, CS).
 * `qemuRsvdP`: QEMU's TCG leaves the P bit clear in the error code of a reserved-bit fault; the
 * SDM (4.7: P is 0 only when a P flag was 0) and KVM set it. Such records get P set to compare.
 */
export function readLog(dumpHex: string, qemuRsvdP = false): string[] {
  const b = Buffer.from(dumpHex, 'hex');
  const n = b.readUInt32LE(0);
  const out: string[] = [];
  for (let i = 0; i < n && 32 + i * 32 + 32 <= b.length; i++) {
    const o = 32 + i * 32;
    const vec = b.readUInt32LE(o);
    let err = b.readUInt32LE(o + 4);
    if (qemuRsvdP && vec === 14 && (err & 8) !== 0) err |= 1;
    out.push(
      `#${vec === 14 ? 'PF' : vec === 6 ? 'UD' : vec} err=${err.toString(16)} cr2=${b.readBigUInt64LE(o + 8).toString(16)} rip=${b.readBigUInt64LE(o + 16).toString(16)} eax=${b.readUInt32LE(o + 24).toString(16)} cs=${b.readUInt32LE(o + 28) & 0xffff}`,
    );
  }
  return out;
}
