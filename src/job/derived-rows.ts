import { open, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { hexFromWords, keyWords, uuidFromWords } from "../checkpoint/uuid-index.js";
import { grownTo } from "../growable-array.js";

/**
 * What the plan pass derived for each valid row (its requestId and body fingerprint, two hashes),
 * spilled to a temporary file so the result pass over the same input snapshot reads them back
 * instead of hashing every row again. On disk, not in memory: 36 bytes a row would be 36 MB at a
 * million rows. The file holds no codes and no cells, only rows' numbers and digests.
 *
 * Only a pass over the very file the plan pass read (a run's immutable, content-named input
 * snapshot) gets a reader. It takes the records in order and checks each one's row number against
 * the row it reads; at the first that differs (a bug: both passes read the same bytes) it stops
 * using the file and derives the rest itself. A pass that reads some rows only (the applier, the
 * plan's rows to send) passes over the records of the rows it leaves out.
 */

/** Where a run keeps its spill: a temporary beside the checkpoint (or snapshot base), named for removeStaleTemps(`<state>.derived`). */
export function derivedRowsPath(state: string): string {
  return join(dirname(state), `.${basename(state)}.derived.${process.pid}.tmp`);
}

/** Row number, then the requestId's and the fingerprint's four 32-bit words. */
const WORDS_PER_ROW = 9;
const ROWS_PER_CHUNK = 16 * 1024;

export interface DerivedRow {
  requestId: string;
  fingerprint: string;
}

export class DerivedRowsWriter {
  private chunk = new Uint32Array(WORDS_PER_ROW * ROWS_PER_CHUNK);
  private filled = 0;
  private rows = 0;

  private constructor(
    readonly path: string,
    private readonly source: string,
    private readonly handle: FileHandle,
  ) {}

  /** `source`: the file the rows are read from (a run's input snapshot); the spill serves that file alone. */
  static async create(path: string, source: string): Promise<DerivedRowsWriter> {
    return new DerivedRowsWriter(path, source, await open(path, "w", 0o600));
  }

  /** False when the values are not the 128-bit hex keys this file holds (then the spill is not used). */
  add(row: number, requestId: string, fingerprint: string): boolean {
    const rid = keyWords(requestId);
    const fp = keyWords(fingerprint);
    if (!rid || !fp) return false;
    // Flushed between batches (flushIfFull); a batch bigger than the room left grows the buffer.
    if ((this.filled + 1) * WORDS_PER_ROW > this.chunk.length) this.chunk = grownTo(this.chunk, this.chunk.length * 2);
    const at = this.filled * WORDS_PER_ROW;
    this.chunk[at] = row;
    this.chunk.set(rid, at + 1);
    this.chunk.set(fp, at + 5);
    this.filled++;
    this.rows++;
    return true;
  }

  /** Writes the buffered rows out once the buffer is full; call between batches. */
  async flushIfFull(): Promise<void> {
    if (this.filled >= ROWS_PER_CHUNK - 1024) await this.flush();
  }

  async finish(): Promise<DerivedRows> {
    await this.flush();
    await this.handle.close();
    return new DerivedRows(this.path, this.source, this.rows);
  }

  async discard(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
  }

  private async flush(): Promise<void> {
    if (this.filled === 0) return;
    await this.handle.write(new Uint8Array(this.chunk.buffer, 0, this.filled * WORDS_PER_ROW * 4));
    this.filled = 0;
  }
}

/** A finished spill: read it once per pass with reader(), remove it when the run is done. */
export class DerivedRows {
  constructor(
    readonly path: string,
    readonly source: string,
    readonly rows: number,
  ) {}

  /** A reader for a pass over `source`; undefined for any other file, whose rows these are not. */
  async readerFor(source: string): Promise<DerivedRowsReader | undefined> {
    return source === this.source ? new DerivedRowsReader(await open(this.path, "r")) : undefined;
  }

  async remove(): Promise<void> {
    await unlink(this.path).catch(() => undefined);
  }
}

export class DerivedRowsReader {
  private readonly chunk = new Uint32Array(WORDS_PER_ROW * ROWS_PER_CHUNK);
  private position = 0;
  private next = 0;
  private held = 0;
  private broken = false;
  /** The file has been read to its end. */
  private ended = false;

  constructor(private readonly handle: FileHandle) {}

  /**
   * Makes sure at least `rows` records (or all that are left) from row `fromRow` on are in memory
   * for take(); the records of rows before `fromRow` are passed over.
   */
  async ensure(rows: number, fromRow = 0): Promise<void> {
    while (!this.broken) {
      this.passOver(fromRow);
      if (this.ended || this.held - this.next >= Math.min(rows, ROWS_PER_CHUNK)) return;
      await this.readMore();
    }
  }

  /**
   * The record of row `row`, passing over those of earlier rows; undefined when it is not there, and
   * from then on (derive instead).
   */
  take(row: number): DerivedRow | undefined {
    if (this.broken) return undefined;
    this.passOver(row);
    if (this.next >= this.held || this.chunk[this.next * WORDS_PER_ROW] !== row) {
      this.broken = true;
      return undefined;
    }
    const c = this.chunk;
    const at = this.next++ * WORDS_PER_ROW;
    return {
      requestId: uuidFromWords(c[at + 1] ?? 0, c[at + 2] ?? 0, c[at + 3] ?? 0, c[at + 4] ?? 0),
      fingerprint: hexFromWords(c[at + 5] ?? 0, c[at + 6] ?? 0, c[at + 7] ?? 0, c[at + 8] ?? 0),
    };
  }

  /** Passes over the held records of rows before `row` (rows a pass leaves out). */
  private passOver(row: number): void {
    while (this.next < this.held && (this.chunk[this.next * WORDS_PER_ROW] ?? 0) < row) this.next++;
  }

  /** Keeps the records not yet taken and fills the rest of the buffer from the file. */
  private async readMore(): Promise<void> {
    const left = (this.held - this.next) * WORDS_PER_ROW;
    this.chunk.copyWithin(0, this.next * WORDS_PER_ROW, this.held * WORDS_PER_ROW);
    const bytes = new Uint8Array(this.chunk.buffer, left * 4, (this.chunk.length - left) * 4);
    let read = 0;
    for (;;) {
      const { bytesRead } = await this.handle.read(bytes, read, bytes.length - read, this.position);
      if (bytesRead === 0) {
        this.ended = true;
        break;
      }
      read += bytesRead;
      this.position += bytesRead;
      if (read === bytes.length) break;
    }
    this.next = 0;
    this.held = left / WORDS_PER_ROW + Math.floor(read / (WORDS_PER_ROW * 4));
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
