/**
 * The row of each id 0, 1, 2, … that the planner's duplicate index hands out, ids being given in
 * increasing row order. Kept as the runs over which row − id is constant: a file without empty,
 * invalid or duplicate rows is one run, so memory grows with such gaps rather than with rows (a
 * Uint32Array per row cost 4 bytes a row, and twice that while it grew).
 */
export class FirstRows {
  /** The first id of each run, ascending. */
  private readonly starts: number[] = [];
  /** row − id over that run. */
  private readonly offsets: number[] = [];
  private count = 0;

  /** Records the row of the next id; ids come in order (0, 1, 2, …) and rows ascend. */
  push(id: number, row: number): void {
    if (id !== this.count) throw new RangeError(`Expected id ${this.count}, got ${id}`);
    const offset = row - id;
    if (this.offsets[this.offsets.length - 1] !== offset) {
      this.starts.push(id);
      this.offsets.push(offset);
    }
    this.count++;
  }

  rowOf(id: number): number {
    if (!(id >= 0 && id < this.count)) throw new RangeError(`Expected an id below ${this.count}, got ${id}`);
    // The last run starting at or before id.
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] ?? 0) <= id) lo = mid;
      else hi = mid - 1;
    }
    return id + (this.offsets[lo] ?? 0);
  }

  /** Runs held: 1 for a file with no gaps. */
  get runs(): number {
    return this.starts.length;
  }
}
