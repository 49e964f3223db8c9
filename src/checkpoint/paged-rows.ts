import { closeSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { CheckpointError } from "../errors.js";
import { growable, grownTo } from "../growable-array.js";
import { columnBytes, columnWidth, newRowColumns, ROW_BYTES, ROW_COLUMNS, type RowColumn, type RowColumns, wholeBuffer } from "./row-columns.js";
import { keySpread, keyTag } from "./uuid-index.js";

/**
 * The checkpoint's rows (row-columns.ts) by dense id, a page of PAGE_ROWS rows at a time, with only
 * a few pages in memory. What stays in memory whole is the lookup: a slot table (4 bytes a slot,
 * at least 2 slots a row) and a 16-bit tag of each row's key (2 bytes a row), some 10–20 bytes a
 * row against the 50 of the rows themselves. A probe compares tags first, so passing another row's
 * slot reads nothing; only a matching tag reads that row's key from its page.
 *
 * A page comes from one of two files. The index file (index-file.ts) holds the rows as a past run
 * left them, column by column; it is only ever read, through the descriptor it was checked
 * through, so a newer index file renamed over it (by this process's close) never mixes with it.
 * A page written to since (a row sent again, a new outcome, a new row) goes, when it leaves memory,
 * to a spill file of page images beside the checkpoint, unlinked as soon as it is made, so nothing
 * is left behind whichever way the process ends. Rows are read and written in about the order they
 * were added (input order), so a few pages in memory serve nearly every lookup.
 */

/** Rows a page holds: 50 KiB a page. */
export const PAGE_ROWS = 1024;
/** Pages kept in memory; beyond them the least recently used leaves (written to the spill file if changed). */
const RESIDENT_PAGES = 48;
const PAGE_BYTES = PAGE_ROWS * ROW_BYTES;

export interface IndexFileRows {
  /** Where the index file is, for messages. */
  path: string;
  /** An open descriptor of the index file, owned by the PagedRows from now on. */
  fd: number;
  close(): Promise<void>;
  /** Byte offset in the file of each column. */
  columnOffsets: Readonly<Record<RowColumn, number>>;
  rows: number;
  /** The slot table: slot → row id + 1, 0 for an empty slot (see uuid-index.ts). */
  slots: Int32Array;
  /** keyTag of each row's key, by row id. */
  tags: Uint16Array;
}

/** Where a page's latest contents are when not in memory. */
const NOWHERE = 0;
const IN_INDEX_FILE = 1;
const IN_SPILL = 2;

export class PagedRows {
  private count: number;
  private slots: Int32Array;
  private tags: Uint16Array;
  private readonly pages: (RowColumns | undefined)[] = [];
  private readonly source: number[] = [];
  /** Pages in memory, least recently used first, and which of them changed since they were read. */
  private readonly resident: number[] = [];
  private readonly changed = new Set<number>();
  private spill: number | undefined;
  /** False once the spill file could not be made or written: changed pages stay in memory instead. */
  private canSpill = true;

  constructor(
    private readonly indexFile: IndexFileRows | undefined,
    /** Where the spill file goes (a unique name is added), beside the checkpoint. */
    private readonly spillPrefix: string | undefined,
  ) {
    this.count = indexFile?.rows ?? 0;
    this.slots = indexFile?.slots ?? growable(Int32Array, 1024);
    this.tags = indexFile?.tags ?? new Uint16Array(1024);
    for (let p = 0; p * PAGE_ROWS < this.count; p++) this.source.push(IN_INDEX_FILE);
  }

  get size(): number {
    return this.count;
  }

  get pageCount(): number {
    return Math.ceil(this.count / PAGE_ROWS);
  }

  /** The id of the row with these key words, -1 when there is none. */
  idOf(w0: number, w1: number, w2: number, w3: number): number {
    const slot = this.slotOf(w0, w1, w2, w3);
    return (this.slots[slot] ?? 0) - 1;
  }

  /** The id of the row with these key words, added (zeroed but for its key) when new. */
  add(w0: number, w1: number, w2: number, w3: number): number {
    // The probe that finds no such row ends on the empty slot the row takes, unless the table grows.
    let slot = this.slotOf(w0, w1, w2, w3);
    const found = this.slots[slot] ?? 0;
    if (found !== 0) return found - 1;
    if ((this.count + 1) * 2 > this.slots.length) {
      this.rehash(this.slots.length * 2);
      slot = this.slotOf(w0, w1, w2, w3);
    }
    const id = this.count++;
    if (id >= this.tags.length) this.tags = grownTo(this.tags, Math.max(1024, this.tags.length * 2));
    this.tags[id] = keyTag(w0, w1, w2, w3);
    this.slots[slot] = id + 1;
    const keys = this.pageForWrite(id).keys;
    const i = (id % PAGE_ROWS) * 4;
    keys[i] = w0;
    keys[i + 1] = w1;
    keys[i + 2] = w2;
    keys[i + 3] = w3;
    return id;
  }

  /** The page holding row `id`, for reading; its row is at `id % PAGE_ROWS`. Use it before the next call. */
  page(id: number): RowColumns {
    const p = Math.floor(id / PAGE_ROWS);
    const page = this.pages[p];
    if (page === undefined) return this.bringIn(p);
    if (this.resident[this.resident.length - 1] !== p) {
      this.resident.splice(this.resident.indexOf(p), 1);
      this.resident.push(p);
    }
    return page;
  }

  /** The page holding row `id`, for writing. Use it before the next call. */
  pageForWrite(id: number): RowColumns {
    const page = this.page(id);
    this.changed.add(Math.floor(id / PAGE_ROWS));
    return page;
  }

  /** The slot table over every row, as the index file keeps it. */
  slotTable(): Int32Array {
    return this.slots;
  }

  /** A column's bytes for the rows of page `p` (a copy), as the index file would hold them now. */
  segment(name: RowColumn, p: number): Uint8Array {
    const rows = Math.min(PAGE_ROWS, this.count - p * PAGE_ROWS);
    if (this.pages[p] === undefined && this.source[p] === IN_INDEX_FILE) {
      // Straight from the index file: no page brought in for one column of it.
      const file = this.indexFile as IndexFileRows;
      const width = columnWidth(name);
      const bytes = new Uint8Array(rows * width);
      this.read(file, bytes, file.columnOffsets[name] + p * PAGE_ROWS * width);
      return bytes;
    }
    return columnBytes(this.page(p * PAGE_ROWS), name, 0, rows).slice();
  }

  async close(): Promise<void> {
    if (this.spill !== undefined) closeSync(this.spill);
    this.spill = undefined;
    await this.indexFile?.close();
  }

  /** The slot holding these key words, or the empty slot where they would go. */
  private slotOf(w0: number, w1: number, w2: number, w3: number): number {
    const { slots, tags } = this;
    const mask = slots.length - 1;
    const tag = keyTag(w0, w1, w2, w3);
    for (let slot = keySpread(w0, w1, w2, w3) & mask; ; slot = (slot + 1) & mask) {
      const entry = slots[slot] ?? 0;
      if (entry === 0) return slot;
      const id = entry - 1;
      if (tags[id] !== tag) continue;
      const keys = this.page(id).keys;
      const i = (id % PAGE_ROWS) * 4;
      if (keys[i] === w0 && keys[i + 1] === w1 && keys[i + 2] === w2 && keys[i + 3] === w3) return slot;
    }
  }

  /** A slot table of `length` slots over every row, from their keys, page by page. */
  private rehash(length: number): void {
    const slots = growable(Int32Array, length);
    const mask = length - 1;
    for (let p = 0; p < this.pageCount; p++) {
      const keys = this.page(p * PAGE_ROWS).keys;
      const rows = Math.min(PAGE_ROWS, this.count - p * PAGE_ROWS);
      for (let r = 0; r < rows; r++) {
        const k = r * 4;
        let slot = keySpread(keys[k] ?? 0, keys[k + 1] ?? 0, keys[k + 2] ?? 0, keys[k + 3] ?? 0) & mask;
        while ((slots[slot] ?? 0) !== 0) slot = (slot + 1) & mask;
        slots[slot] = p * PAGE_ROWS + r + 1;
      }
    }
    this.slots = slots;
  }

  private bringIn(p: number): RowColumns {
    // The page that leaves makes room for the one that comes: a million-row pass brings in a
    // thousand pages, and a new buffer for each would pile up as garbage until a full collection.
    const room = this.resident.length >= RESIDENT_PAGES ? this.evictOldest() : undefined;
    const page = room ?? newRowColumns(PAGE_ROWS);
    const source = this.source[p] ?? NOWHERE;
    if (source === IN_SPILL) {
      this.read({ path: "spill file", fd: this.spill as number }, wholeBuffer(page), p * PAGE_BYTES);
    } else {
      // The index file fills only its own rows of a page (its last may have fewer); the rest start empty.
      if (room) wholeBuffer(room).fill(0);
      if (source === IN_INDEX_FILE) this.readFromIndexFile(p, page);
    }
    this.pages[p] = page;
    this.resident.push(p);
    return page;
  }

  /** Takes the least recently used page out of memory (to the spill file when it changed); its buffer, when it could. */
  private evictOldest(): RowColumns | undefined {
    for (let at = 0; at < this.resident.length; at++) {
      const p = this.resident[at] as number;
      const page = this.pages[p] as RowColumns;
      if (this.changed.has(p)) {
        if (!this.spillPage(p, page)) continue;
        this.changed.delete(p);
        this.source[p] = IN_SPILL;
      }
      this.resident.splice(at, 1);
      this.pages[p] = undefined;
      return page;
    }
    return undefined;
  }

  private spillPage(p: number, page: RowColumns): boolean {
    if (!this.canSpill || this.spillPrefix === undefined) return false;
    try {
      if (this.spill === undefined) {
        const path = `${this.spillPrefix}.pages-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
        this.spill = openSync(path, "wx+", 0o600);
        unlinkSync(path);
      }
      const bytes = wholeBuffer(page);
      let done = 0;
      while (done < bytes.length) done += writeSync(this.spill, bytes, done, bytes.length - done, p * PAGE_BYTES + done);
      return true;
    } catch {
      // No room or no right to write beside the checkpoint: the pages stay in memory, as before paging.
      this.canSpill = false;
      return false;
    }
  }

  private readFromIndexFile(p: number, page: RowColumns): void {
    const file = this.indexFile as IndexFileRows;
    const from = p * PAGE_ROWS;
    const rows = Math.min(PAGE_ROWS, file.rows - from);
    for (const { name } of ROW_COLUMNS) this.read(file, columnBytes(page, name, 0, rows), file.columnOffsets[name] + from * columnWidth(name));
  }

  private read(file: { path: string; fd: number }, into: Uint8Array, position: number): void {
    let done = 0;
    while (done < into.length) {
      const n = readSync(file.fd, into, done, into.length - done, position + done);
      // Both files were written (or checked whole) by this process and are held open: a short read is damage.
      if (n === 0) throw new CheckpointError("CHECKPOINT_UNREADABLE", `${file.path}: cut short at byte ${position + done} while in use; run again`);
      done += n;
    }
  }
}
