import { growable, grownTo } from "../growable-array.js";
import { PAGE_ROWS, type PagedRows } from "./paged-rows.js";
import type { RowState } from "./records.js";
import { columnBytes, type RowColumn, type RowColumns } from "./row-columns.js";
import { hexFromWords, keySpread, keyWords, UuidIndex, uuidFromWords } from "./uuid-index.js";

/**
 * What the checkpoint knows of each requestId, in typed-array columns (50 bytes a row plus the
 * lookup's slots), so a million-row campaign resumes in bounded memory. `get` materializes a small
 * RowState on demand.
 *
 * Rows come from two places. Those of an index file (index-file.ts) stay in it and are read a page
 * at a time (paged-rows.ts): a rerun of a big campaign holds some 10 bytes a row of them. Rows
 * added since (replayed after the index file, or recorded by this run) are held whole, with ids
 * after the file's.
 */

const STATUS = ["sent", "issued", "failed", "pending"] as const;
export type Status = (typeof STATUS)[number];

type StateColumns = Omit<RowColumns, "keys">;

export class RowIndex {
  /** The rows added since the index file: their keys, ids from 0 (id - base.rows in this index). */
  private readonly added = new UuidIndex();
  private columns: StateColumns = {
    status: growable(Uint8Array, 1024),
    inDoubt: growable(Uint8Array, 1024),
    attempts: growable(Uint32Array, 1024),
    fingerprint: growable(Uint32Array, 4 * 1024),
    outcomeOffset: growable(Float64Array, 1024),
    outcomeLength: growable(Uint32Array, 1024),
  };
  private readonly baseRows: number;

  constructor(private readonly base?: PagedRows) {
    this.baseRows = base?.rows ?? 0;
  }

  get size(): number {
    return this.baseRows + this.added.size;
  }

  /** The row's dense id, -1 when the index does not hold it. */
  idOf(requestId: string): number {
    // The planner asks for a row's id and then its state: the second lookup is free. Only a hit is
    // remembered: a requestId's id never changes once given, while a miss may be added next.
    if (requestId === this.lastKey) return this.lastId;
    const id = this.find(requestId);
    if (id >= 0) {
      this.lastKey = requestId;
      this.lastId = id;
    }
    return id;
  }

  private lastKey: string | undefined;
  private lastId = -1;

  get(requestId: string): RowState | undefined {
    const id = this.idOf(requestId);
    return id < 0 ? undefined : this.stateAt(id);
  }

  set(requestId: string, state: RowState): void {
    const fp = fingerprintWords(state.fp);
    const id = this.add(requestId);
    const c = this.writable(id);
    const i = this.slotOf(id);
    c.status[i] = STATUS.indexOf(state.status as Status);
    c.inDoubt[i] = state.inDoubt ? 1 : 0;
    c.attempts[i] = state.attempts;
    c.fingerprint.set(fp, i * 4);
    c.outcomeOffset[i] = state.outcomeAt?.offset ?? 0;
    c.outcomeLength[i] = state.outcomeAt?.length ?? 0;
  }

  /**
   * A `sent` record: the row may be out, outcome unknown. Keeps attempts and the last outcome's
   * place; the same as set() with the spread state, without materializing it (replay does this per row).
   */
  markSent(requestId: string, fingerprint: string): void {
    const fp = fingerprintWords(fingerprint);
    const id = this.add(requestId);
    const c = this.writable(id);
    const i = this.slotOf(id);
    c.status[i] = STATUS.indexOf("sent");
    c.inDoubt[i] = 1;
    c.fingerprint.set(fp, i * 4);
  }

  /** An `outcome` record at `offset`: attempts add up; the rest is the outcome's. */
  markOutcome(requestId: string, fingerprint: string, status: Status, inDoubt: boolean, attempts: number, offset: number, length: number): void {
    const fp = fingerprintWords(fingerprint);
    const id = this.add(requestId);
    const c = this.writable(id);
    const i = this.slotOf(id);
    c.status[i] = STATUS.indexOf(status);
    c.inDoubt[i] = inDoubt ? 1 : 0;
    c.attempts[i] = (c.attempts[i] ?? 0) + attempts;
    c.fingerprint.set(fp, i * 4);
    c.outcomeOffset[i] = offset;
    c.outcomeLength[i] = length;
  }

  *entries(): IterableIterator<[string, RowState]> {
    for (let id = 0; id < this.size; id++) yield [this.uuidAt(id), this.stateAt(id)];
  }

  /**
   * The lookup's slot table over every row, as a replay would have left it (a power of two, at
   * least twice the rows): the index file's first column.
   */
  slotTable(): Int32Array {
    if (this.base === undefined) return this.added.parts().slots;
    let length = 1024;
    while (this.size * 2 > length) length *= 2;
    const slots = growable(Int32Array, length);
    const mask = length - 1;
    for (let p = 0; p * PAGE_ROWS < this.size; p++) {
      const keys = new Uint32Array(this.column("keys", p).slice().buffer);
      for (let k = 0; k < keys.length; k += 4) {
        let slot = keySpread(keys[k] ?? 0, keys[k + 1] ?? 0, keys[k + 2] ?? 0, keys[k + 3] ?? 0) & mask;
        while ((slots[slot] ?? 0) !== 0) slot = (slot + 1) & mask;
        slots[slot] = p * PAGE_ROWS + k / 4 + 1;
      }
    }
    return slots;
  }

  /** A column's bytes in id order, PAGE_ROWS rows at a time: the index file's other columns. */
  *columnChunks(name: RowColumn): Generator<Uint8Array> {
    for (let p = 0; p * PAGE_ROWS < this.size; p++) yield this.column(name, p);
  }

  /** Lets go of the index file the rows are read from. */
  async close(): Promise<void> {
    await this.base?.close();
  }

  private column(name: RowColumn, p: number): Uint8Array {
    const from = p * PAGE_ROWS;
    const to = Math.min(this.size, from + PAGE_ROWS);
    if (this.base !== undefined && from < this.baseRows) {
      const fromBase = this.base.segment(name, p);
      if (to <= this.baseRows) return fromBase;
      // The file's last page ends inside this chunk; the added rows follow it.
      const rest = this.addedBytes(name, 0, to - this.baseRows);
      const joined = new Uint8Array(fromBase.length + rest.length);
      joined.set(fromBase);
      joined.set(rest, fromBase.length);
      return joined;
    }
    return this.addedBytes(name, from - this.baseRows, to - this.baseRows);
  }

  private addedBytes(name: RowColumn, from: number, to: number): Uint8Array {
    if (name === "keys") {
      const keys = this.added.parts().keys;
      return new Uint8Array(keys.buffer, keys.byteOffset + from * 16, (to - from) * 16);
    }
    return columnBytes({ ...this.columns, keys: new Uint32Array(0) }, name, from, to);
  }

  private find(requestId: string): number {
    const inBase = this.inBase(requestId);
    if (inBase >= 0) return inBase;
    const added = this.added.idOf(requestId);
    return added < 0 ? -1 : this.baseRows + added;
  }

  private add(requestId: string): number {
    if (requestId === this.lastKey) return this.lastId;
    const inBase = this.inBase(requestId);
    if (inBase >= 0) return inBase;
    const { id } = this.added.add(requestId);
    this.ensure(id);
    return this.baseRows + id;
  }

  /** The id of a row of the index file, -1 for any other (or when there is no file). */
  private inBase(requestId: string): number {
    if (this.base === undefined) return -1;
    const words = keyWords(requestId);
    if (!words) throw new TypeError(`not a 128-bit hex key: ${JSON.stringify(requestId)}`);
    return this.base.idOf(words[0], words[1], words[2], words[3]);
  }

  private uuidAt(id: number): string {
    if (id >= this.baseRows) return this.added.uuidAt(id - this.baseRows);
    const keys = (this.base as PagedRows).page(id).keys;
    const i = (id % PAGE_ROWS) * 4;
    return uuidFromWords(keys[i] ?? 0, keys[i + 1] ?? 0, keys[i + 2] ?? 0, keys[i + 3] ?? 0);
  }

  private readable(id: number): StateColumns {
    return id < this.baseRows ? (this.base as PagedRows).page(id) : this.columns;
  }

  private writable(id: number): StateColumns {
    return id < this.baseRows ? (this.base as PagedRows).pageForWrite(id) : this.columns;
  }

  /** Where row `id` is in the columns readable() or writable() return. */
  private slotOf(id: number): number {
    return id < this.baseRows ? id % PAGE_ROWS : id - this.baseRows;
  }

  private stateAt(id: number): RowState {
    const c = this.readable(id);
    const i = this.slotOf(id);
    const f = c.fingerprint;
    const length = c.outcomeLength[i] ?? 0;
    return {
      fp: hexFromWords(f[i * 4] ?? 0, f[i * 4 + 1] ?? 0, f[i * 4 + 2] ?? 0, f[i * 4 + 3] ?? 0),
      status: STATUS[c.status[i] ?? 0] ?? "sent",
      inDoubt: c.inDoubt[i] === 1,
      attempts: c.attempts[i] ?? 0,
      outcomeAt: length > 0 ? { offset: c.outcomeOffset[i] ?? 0, length } : undefined,
    };
  }

  /** Room in the added rows' columns for row `i` of them. */
  private ensure(i: number): void {
    const c = this.columns;
    if (i < c.status.length) return;
    const size = Math.max(1024, c.status.length * 2);
    this.columns = {
      status: grownTo(c.status, size),
      inDoubt: grownTo(c.inDoubt, size),
      attempts: grownTo(c.attempts, size),
      fingerprint: grownTo(c.fingerprint, size * 4),
      outcomeOffset: grownTo(c.outcomeOffset, size),
      outcomeLength: grownTo(c.outcomeLength, size),
    };
  }
}

function fingerprintWords(fp: string): [number, number, number, number] {
  const words = keyWords(fp);
  if (!words) throw new TypeError(`fingerprint must be 32 hex digits, got ${JSON.stringify(fp)}`);
  return words;
}
