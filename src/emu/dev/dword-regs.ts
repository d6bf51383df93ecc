/**
 * A device's block of 32-bit registers reached by 1-, 2- or 4-byte accesses at any offset, as a
 * memory BAR sees them: an access is cut into the dwords it touches (byte lanes), each read once
 * (a register may change when read, e.g. a cause register that clears), and a write merges the
 * written bytes into each dword it touches before the dword is written.
 */

/** The `size` bytes at `offset`, from the dwords `read` gives (each touched dword read once). */
export function readDwords(offset: number, size: 1 | 2 | 4, read: (dword: number) => number): number {
  const first = offset & ~3;
  const low = read(first);
  const high = ((offset + size - 1) & ~3) === first ? low : read(first + 4);
  let v = 0;
  for (let i = 0; i < size; i++) {
    const o = offset + i;
    const d = (o & ~3) === first ? low : high;
    v |= ((d >>> (8 * (o & 3))) & 0xff) << (8 * i);
  }
  return v >>> 0;
}

/**
 * Writes `value` (`size` bytes at `offset`): for each dword touched, the bytes written over
 * `base(dword)` (its present value, or 0 for a register whose written ones act), then
 * `write(dword, value, touched)` with the mask of the bytes the access wrote.
 */
export function writeDwords(offset: number, size: 1 | 2 | 4, value: number, base: (dword: number) => number, write: (dword: number, v: number, touched: number) => void): void {
  const first = offset & ~3;
  const last = (offset + size - 1) & ~3;
  for (let d = first; d <= last; d += 4) {
    let v = base(d);
    let touched = 0;
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      if ((o & ~3) !== d) continue;
      const sh = 8 * (o & 3);
      v = (v & ~(0xff << sh)) | (((value >>> (8 * i)) & 0xff) << sh);
      touched |= 0xff << sh;
    }
    write(d, v >>> 0, touched >>> 0);
  }
}
