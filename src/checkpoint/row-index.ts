import { PAGE_ROWS, PagedRows, type IndexFileRows } from "./paged-rows.js";
import type { RowState } from "./records.js";
import type { RowColumn } from "./row-columns.js";
import { hexFromWords, keyWords, uuidFromWords } from "./uuid-index.js";

/**
 * What the checkpoint knows of each requestId (status, doubt, attempts, fingerprint, where its
 * outcome is), by dense id. The rows themselves are paged (paged-rows.ts): a campaign of any size
 * holds some 10–20 bytes a row in memory for finding them, and a few pages of the rows. `get`
 * materializes a small RowState on demand.
 */

const STATUS = ["sent", "issued", "failed", "pending"] as const;
export type Status = (typeof STATUS)[number];

export class RowIndex {
  private readonly rows: PagedRows;

  /**
   * `indexFile`: the rows an index file holds, read from it as needed. `spillPrefix`: where pages
   * that changed go when they leave memory (the checkpoint's path); without one they stay in memory.
   */
  constructor(indexFile?: IndexFileRows, spillPrefix?: string) {
    this.rows = new PagedRows(indexFile, spillPrefix);
  }

  get size(): number {
    return this.rows.size;
  }

  /** The row's dense id, -1 when the index does not hold it. */
  idOf(requestId: string): number {
    // The planner asks for a row's id and then its state: the second lookup is free. Only a hit is
    // remembered: a requestId's id never changes once given, while a miss may be added next.
    if (requestId === this.lastKey) return this.lastId;
    const w = words(requestId, "requestId");
    const id = this.rows.idOf(w[0], w[1], w[2], w[3]);
    if (id >= 0) this.remember(requestId, id);
    return id;
  }

  private lastKey: string | undefined;
  private lastId = -1;

  get(requestId: string): RowState | undefined {
    const id = this.idOf(requestId);
    return id < 0 ? undefined : this.stateAt(id);
  }

  set(requestId: string, state: RowState): void {
    const fp = words(state.fp, "fingerprint");
    const id = this.add(requestId);
    const c = this.rows.pageForWrite(id);
    const i = id % PAGE_ROWS;
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
    const fp = words(fingerprint, "fingerprint");
    const id = this.add(requestId);
    const c = this.rows.pageForWrite(id);
    const i = id % PAGE_ROWS;
    c.status[i] = STATUS.indexOf("sent");
    c.inDoubt[i] = 1;
    c.fingerprint.set(fp, i * 4);
  }

  /** An `outcome` record at `offset`: attempts add up; the rest is the outcome's. */
  markOutcome(requestId: string, fingerprint: string, status: Status, inDoubt: boolean, attempts: number, offset: number, length: number): void {
    const fp = words(fingerprint, "fingerprint");
    const id = this.add(requestId);
    const c = this.rows.pageForWrite(id);
    const i = id % PAGE_ROWS;
    c.status[i] = STATUS.indexOf(status);
    c.inDoubt[i] = inDoubt ? 1 : 0;
    c.attempts[i] = (c.attempts[i] ?? 0) + attempts;
    c.fingerprint.set(fp, i * 4);
    c.outcomeOffset[i] = offset;
    c.outcomeLength[i] = length;
  }

  *entries(): IterableIterator<[string, RowState]> {
    for (let id = 0; id < this.size; id++) {
      const keys = this.rows.page(id).keys;
      const k = (id % PAGE_ROWS) * 4;
      yield [uuidFromWords(keys[k] ?? 0, keys[k + 1] ?? 0, keys[k + 2] ?? 0, keys[k + 3] ?? 0), this.stateAt(id)];
    }
  }

  /** The lookup's slot table over every row (a power of two, at most half full): the index file's first column. */
  slotTable(): Int32Array {
    return this.rows.slotTable();
  }

  /** A column's bytes in id order, PAGE_ROWS rows at a time: the index file's other columns. */
  *columnChunks(name: RowColumn): Generator<Uint8Array> {
    for (let p = 0; p < this.rows.pageCount; p++) yield this.rows.segment(name, p);
  }

  /** Lets go of the files the rows are read from. */
  close(): Promise<void> {
    return this.rows.close();
  }

  private add(requestId: string): number {
    if (requestId === this.lastKey) return this.lastId;
    const w = words(requestId, "requestId");
    const id = this.rows.add(w[0], w[1], w[2], w[3]);
    this.remember(requestId, id);
    return id;
  }

  private remember(requestId: string, id: number): void {
    this.lastKey = requestId;
    this.lastId = id;
  }

  private stateAt(id: number): RowState {
    const c = this.rows.page(id);
    const i = id % PAGE_ROWS;
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
}

function words(key: string, what: string): [number, number, number, number] {
  const w = keyWords(key);
  if (!w) throw new TypeError(`${what} must be 128 bits of hex, got ${JSON.stringify(key)}`);
  return w;
}
