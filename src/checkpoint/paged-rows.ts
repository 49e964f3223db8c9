import { readSync } from "node:fs";
import { CheckpointError } from "../errors.js";
import { columnBytes, newRowColumns, ROW_COLUMNS, type RowColumn, type RowColumns } from "./row-columns.js";
import { keySpread, keyTag } from "./uuid-index.js";

/**
 * The rows of an index file (index-file.ts), read from it a page at a time instead of held whole:
 * what stays in memory is the slot table (4 bytes a slot, 2 slots a row at most) and a 16-bit tag
 * of each row's key (2 bytes a row), some 10 bytes a row against the 50 of the columns. A lookup
 * reads a key from its page only when the tag matches, so a probe that passes another row's slot
 * loads nothing. Rows are read back in about the order they were written (input order), so a small
 * cache of pages serves nearly every lookup.
 *
 * A page that is written to (a row sent again, a new outcome) stays in memory from then on, so the
 * file is only ever read: the journal store writes a new index file from these pages at close.
 * The file is read through the descriptor it was checked through, so a newer index file renamed
 * over it (by this process's close) never mixes with it.
 */

/** Rows a page holds: 50 KiB a page. */
export const PAGE_ROWS = 1024;
/** Pages kept after use without a write; beyond them the least recently used is dropped. */
const CLEAN_PAGES = 16;

export interface PagedRowsFile {
  /** Where the index file is, for messages. */
  path: string;
  /** An open descriptor of the index file, owned by the PagedRows from now on. */
  fd: number;
  close(): Promise<void>;
  /** Byte offset in the file of each column (ROW_COLUMNS order). */
  columnOffsets: readonly number[];
  rows: number;
  /** The slot table: slot → row id + 1, 0 for an empty slot (see uuid-index.ts). */
  slots: Int32Array;
  /** keyTag of each row's key, by row id. */
  tags: Uint16Array;
}

export class PagedRows {
  readonly rows: number;
  private readonly pages: (RowColumns | undefined)[];
  /** Pages written to: never dropped. */
  private readonly pinned = new Set<number>();
  /** Clean pages in memory, least recently used first. */
  private readonly clean: number[] = [];

  constructor(private readonly file: PagedRowsFile) {
    this.rows = file.rows;
    this.pages = new Array(Math.ceil(file.rows / PAGE_ROWS));
  }

  /** The slot table's size, for an index that adds rows beside these. */
  get slotCount(): number {
    return this.file.slots.length;
  }

  /** The id of the row with these key words, -1 when the file holds none. */
  idOf(w0: number, w1: number, w2: number, w3: number): number {
    const { slots, tags } = this.file;
    const mask = slots.length - 1;
    const tag = keyTag(w0, w1, w2, w3);
    for (let slot = keySpread(w0, w1, w2, w3) & mask; ; slot = (slot + 1) & mask) {
      const entry = slots[slot] ?? 0;
      if (entry === 0) return -1;
      const id = entry - 1;
      if (tags[id] !== tag) continue;
      const keys = this.page(id).keys;
      const i = (id % PAGE_ROWS) * 4;
      if (keys[i] === w0 && keys[i + 1] === w1 && keys[i + 2] === w2 && keys[i + 3] === w3) return id;
    }
  }

  /** The page holding row `id`, for reading; its rows are at `id % PAGE_ROWS`. */
  page(id: number): RowColumns {
    const p = Math.floor(id / PAGE_ROWS);
    const page = this.pages[p];
    if (page !== undefined) {
      if (!this.pinned.has(p) && this.clean[this.clean.length - 1] !== p) this.touch(p);
      return page;
    }
    // The page dropped makes room for the one read: a million-row pass reads a thousand pages, and
    // a new buffer for each would pile up as garbage until the next full collection.
    let room: RowColumns | undefined;
    if (this.clean.length >= CLEAN_PAGES) {
      const dropped = this.clean.shift() as number;
      room = this.pages[dropped];
      this.pages[dropped] = undefined;
    }
    const loaded = this.load(p, room ?? newRowColumns(PAGE_ROWS));
    this.pages[p] = loaded;
    this.clean.push(p);
    return loaded;
  }

  /** The page holding row `id`, for writing: kept in memory from now on. */
  pageForWrite(id: number): RowColumns {
    const p = Math.floor(id / PAGE_ROWS);
    const page = this.page(id);
    if (!this.pinned.has(p)) {
      this.pinned.add(p);
      this.clean.splice(this.clean.indexOf(p), 1);
    }
    return page;
  }

  /** A column's bytes for rows [from, to) of one page, as the file would hold them now. */
  segment(name: RowColumn, p: number): Uint8Array {
    const from = p * PAGE_ROWS;
    const rows = Math.min(PAGE_ROWS, this.rows - from);
    const page = this.pages[p];
    if (page !== undefined) return columnBytes(page, name, 0, rows).slice();
    const c = ROW_COLUMNS.findIndex((column) => column.name === name);
    const width = ROW_COLUMNS[c]!.type.BYTES_PER_ELEMENT * ROW_COLUMNS[c]!.perRow;
    const bytes = new Uint8Array(rows * width);
    this.read(bytes, (this.file.columnOffsets[c] as number) + from * width);
    return bytes;
  }

  get pageCount(): number {
    return this.pages.length;
  }

  close(): Promise<void> {
    return this.file.close();
  }

  private touch(p: number): void {
    const at = this.clean.indexOf(p);
    if (at >= 0) this.clean.splice(at, 1);
    this.clean.push(p);
  }

  private load(p: number, page: RowColumns): RowColumns {
    const from = p * PAGE_ROWS;
    const rows = Math.min(PAGE_ROWS, this.rows - from);
    ROW_COLUMNS.forEach((column, c) => {
      const width = column.type.BYTES_PER_ELEMENT * column.perRow;
      this.read(columnBytes(page, column.name, 0, rows), (this.file.columnOffsets[c] as number) + from * width);
    });
    return page;
  }

  private read(into: Uint8Array, position: number): void {
    let done = 0;
    while (done < into.length) {
      const n = readSync(this.file.fd, into, done, into.length - done, position + done);
      // The file was checked whole when opened, and this process holds it open: a short read is damage.
      if (n === 0)
        throw new CheckpointError("CHECKPOINT_UNREADABLE", `${this.file.path}: index file cut short at byte ${position + done} while in use; run again`);
      done += n;
    }
  }
}
