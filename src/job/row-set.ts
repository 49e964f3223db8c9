import { growable, grownTo } from "../growable-array.js";

/**
 * A set of spreadsheet row numbers, one bit each: the rows a plan sends. The applier reads only
 * those rows' requests back from the snapshot (a 1 %-new rerun of a million rows checks ten
 * thousand, not a million), at an eighth of a byte per input row.
 */
export class RowSet {
  private bits = growable(Uint32Array, 1024);
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(row: number): void {
    const word = row >>> 5;
    if (word >= this.bits.length) {
      let length = this.bits.length * 2;
      while (word >= length) length *= 2;
      this.bits = grownTo(this.bits, length);
    }
    const mask = 1 << (row & 31);
    const before = this.bits[word] ?? 0;
    if ((before & mask) === 0) {
      this.bits[word] = before | mask;
      this.count++;
    }
  }

  has(row: number): boolean {
    return (((this.bits[row >>> 5] ?? 0) >>> (row & 31)) & 1) === 1;
  }
}
