import { hash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { crc32 } from "node:zlib";
import { writeFileAtomically } from "../fs/atomic-write.js";
import { growable } from "../growable-array.js";
import { columnWidth, ROW_COLUMNS, type RowColumn } from "./row-columns.js";
import { RowIndex } from "./row-index.js";
import { keyTag } from "./uuid-index.js";

/**
 * A cache of a journal's replay, beside it (`<checkpoint>.index`): the row index's typed-array
 * columns as they stood at a byte offset of the journal, plus the few records replay keeps (header,
 * latest plan, target, accepted changes). Opening a million-row journal then checks some 60 MB of
 * arrays instead of parsing a million JSON records, and keeps of them only what a lookup needs
 * (the rows are read from the file a page at a time: paged-rows.ts); only the records after the
 * offset are replayed.
 *
 * The journal stays the only truth. The cache is used only when it checks out against the journal
 * it claims to cover (its length, and digests of the journal's first and last bytes up to that
 * length: the journal only ever grows, so a journal that still has those bytes is the one the cache
 * was made from) and against its own checksum. Anything else (missing, torn, damaged, from another
 * journal, from another layout) and the journal is replayed in full, as if there were no cache.
 */

const MAGIC = Buffer.from("PCBINDEX", "latin1");
const FORMAT = 1;
/** How much of the journal's head and tail the cache's identity covers. */
const HEAD_BYTES = 4096;
const TAIL_BYTES = 64 * 1024;

/** Where in the journal the cache stands: its byte length and line count at that point. */
export interface JournalMark {
  length: number;
  lines: number;
}

export interface CachedReplay<T> {
  mark: JournalMark;
  /** What replay learned besides the rows, as the writer passed it (plain JSON). */
  state: T;
  index: RowIndex;
}

interface Meta<T> {
  format: number;
  littleEndian: boolean;
  journal: JournalMark & { head: string; tail: string };
  state: T;
  rows: number;
  slots: number;
}

export function indexFileOf(journal: string): string {
  return `${journal}.index`;
}

export async function writeIndexFile<T>(file: string, journal: FileHandle, mark: JournalMark, state: T, index: RowIndex): Promise<void> {
  const slots = index.slotTable();
  const meta: Meta<T> = {
    format: FORMAT,
    littleEndian: LITTLE_ENDIAN,
    journal: { ...mark, ...(await journalIdentity(journal, mark.length)) },
    state,
    rows: index.size,
    slots: slots.length,
  };
  const json = Buffer.from(JSON.stringify(meta), "utf8");
  const lengthBytes = Buffer.alloc(4);
  lengthBytes.writeUInt32LE(json.length);
  let crc = 0;
  await writeFileAtomically(file, async (write) => {
    const put = async (bytes: Uint8Array): Promise<void> => {
      crc = crc32(bytes, crc);
      await write(bytes);
    };
    await put(MAGIC);
    await put(lengthBytes);
    await put(json);
    await put(padding(MAGIC.length + 4 + json.length));
    await put(new Uint8Array(slots.buffer, slots.byteOffset, slots.byteLength));
    await put(padding(slots.byteLength));
    for (const { name } of ROW_COLUMNS) {
      let length = 0;
      for (const bytes of index.columnChunks(name)) {
        await put(bytes);
        length += bytes.length;
      }
      await put(padding(length));
    }
    const trailer = Buffer.alloc(4);
    trailer.writeUInt32LE(crc);
    await write(trailer);
  });
}

/**
 * The cached replay of `journal` (open, `size` bytes long), or undefined when there is none it can
 * trust. `spillPrefix`: where the index's changed pages may go (see paged-rows.ts).
 */
export async function readIndexFile<T>(file: string, journal: FileHandle, size: number, spillPrefix?: string): Promise<CachedReplay<T> | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, "r");
  } catch {
    return undefined;
  }
  let kept = false;
  try {
    const reader = new Reader(handle);
    const magic = await reader.bytes(MAGIC.length);
    if (!magic?.equals(MAGIC)) return undefined;
    const lengthBytes = await reader.bytes(4);
    if (!lengthBytes) return undefined;
    const json = await reader.bytes(lengthBytes.readUInt32LE());
    if (!json) return undefined;
    const meta = parseMeta<T>(json);
    if (!meta || meta.format !== FORMAT || meta.littleEndian !== LITTLE_ENDIAN || meta.journal.length > size) return undefined;
    if (!(await reader.skip(padding(reader.position).length))) return undefined;
    // The arrays the header announces must be what the file holds, before anything is allocated for them.
    const expected = reader.position + columnsLength(meta.rows, meta.slots) + 4;
    if ((await handle.stat()).size !== expected) return undefined;
    const identity = await journalIdentity(journal, meta.journal.length);
    if (identity.head !== meta.journal.head || identity.tail !== meta.journal.tail) return undefined;
    // Checked whole (its checksum) before any of it is used; of the rows, only the slot table and
    // each key's tag stay in memory, and the rest is read again a page at a time (paged-rows.ts).
    const slots = growable(Int32Array, meta.slots);
    if (!(await reader.into(new Uint8Array(slots.buffer, slots.byteOffset, slots.byteLength)))) return undefined;
    if (!(await reader.skip(padding(slots.byteLength).length))) return undefined;
    if (!validSlots(slots, meta.rows)) return undefined;
    const columnOffsets = {} as Record<RowColumn, number>;
    const tags = new Uint16Array(meta.rows);
    for (const { name } of ROW_COLUMNS) {
      columnOffsets[name] = reader.position;
      const bytes = meta.rows * columnWidth(name);
      const ok = await reader.scan(bytes, name === "keys" ? (chunk, from) => tagKeys(chunk, from / 16, tags) : undefined);
      if (!ok || !(await reader.skip(padding(bytes).length))) return undefined;
    }
    const crc = reader.crc;
    const trailer = await reader.bytes(4, false);
    if (!trailer || trailer.readUInt32LE() !== crc || !(await reader.atEnd())) return undefined;
    const rows = { path: file, fd: handle.fd, close: () => handle.close(), columnOffsets, rows: meta.rows, slots, tags };
    kept = true;
    return { mark: { length: meta.journal.length, lines: meta.journal.lines }, state: meta.state, index: new RowIndex(rows, spillPrefix) };
  } catch (error) {
    // Parts that do not fit together are a damaged cache, not a damaged journal.
    if (error instanceof TypeError || error instanceof RangeError) return undefined;
    throw error;
  } finally {
    // Kept open when its rows are read from it: the index owns it then.
    if (!kept) await handle.close();
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Whether a slot table can be probed for `rows` rows: a power of two, at most half full, each row once. */
function validSlots(slots: Int32Array, rows: number): boolean {
  if (slots.length < 1024 || (slots.length & (slots.length - 1)) !== 0 || rows * 2 > slots.length) return false;
  const seen = new Uint8Array(rows);
  let count = 0;
  for (const entry of slots) {
    if (entry === 0) continue;
    if (entry < 0 || entry > rows || seen[entry - 1] === 1) return false;
    seen[entry - 1] = 1;
    count++;
  }
  return count === rows;
}

/** Each key's tag (uuid-index.ts), for the keys of `chunk`, the first of which is row `first`. */
function tagKeys(chunk: Uint8Array, first: number, tags: Uint16Array): void {
  const words = new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.byteLength / 4);
  for (let k = 0; k < words.length; k += 4) {
    tags[first + k / 4] = keyTag(words[k] ?? 0, words[k + 1] ?? 0, words[k + 2] ?? 0, words[k + 3] ?? 0);
  }
}

/** The bytes of the columns for `rows` rows and `slots` slots, each padded to 8 (the slot table, then ROW_COLUMNS). */
function columnsLength(rows: number, slots: number): number {
  const sizes = [slots * 4, ...ROW_COLUMNS.map((c) => rows * columnWidth(c.name))];
  return sizes.reduce((sum, size) => sum + size + padding(size).length, 0);
}

/** Zeros up to the next multiple of 8, so every column starts aligned for its typed array. */
function padding(length: number): Uint8Array {
  return new Uint8Array((8 - (length % 8)) % 8);
}

function parseMeta<T>(json: Buffer): Meta<T> | undefined {
  try {
    const meta = JSON.parse(json.toString("utf8")) as Meta<T>;
    const counts = [meta.rows, meta.slots, meta.journal?.length, meta.journal?.lines];
    return counts.every((n) => Number.isSafeInteger(n) && n >= 0) ? meta : undefined;
  } catch {
    return undefined;
  }
}

async function journalIdentity(journal: FileHandle, length: number): Promise<{ head: string; tail: string }> {
  const digest = async (from: number, to: number): Promise<string> => {
    const bytes = Buffer.alloc(to - from);
    const { bytesRead } = await journal.read(bytes, 0, bytes.length, from);
    return hash("sha256", bytes.subarray(0, bytesRead), "hex");
  };
  return { head: await digest(0, Math.min(length, HEAD_BYTES)), tail: await digest(Math.max(0, length - TAIL_BYTES), length) };
}

/** A multiple of 16, so no key straddles two chunks. */
const SCAN_BYTES = 1 << 20;

/** Sequential reads of the cache, checksumming what it reads, that say undefined/false at a short read. */
class Reader {
  position = 0;
  crc = 0;

  constructor(private readonly handle: FileHandle) {}

  async bytes(length: number, checksum = true): Promise<Buffer | undefined> {
    const bytes = Buffer.alloc(length);
    return (await this.into(bytes, checksum)) ? bytes : undefined;
  }

  async into(target: Uint8Array, checksum = true): Promise<boolean> {
    let done = 0;
    while (done < target.length) {
      const { bytesRead } = await this.handle.read(target, done, target.length - done, this.position + done);
      if (bytesRead === 0) return false;
      done += bytesRead;
    }
    if (checksum) this.crc = crc32(target, this.crc);
    this.position += target.length;
    return true;
  }

  /**
   * Reads `length` bytes a chunk at a time into a scratch buffer, checksumming them, and hands each
   * chunk to `use` with its offset from the start: the file is checked without being held.
   */
  async scan(length: number, use?: (chunk: Uint8Array, from: number) => void): Promise<boolean> {
    const scratch = new Uint8Array(Math.min(length, SCAN_BYTES));
    for (let from = 0; from < length; from += scratch.length) {
      const chunk = scratch.subarray(0, Math.min(scratch.length, length - from));
      if (!(await this.into(chunk))) return false;
      use?.(chunk, from);
    }
    return true;
  }

  async skip(length: number): Promise<boolean> {
    return length === 0 || (await this.into(new Uint8Array(length)));
  }

  async atEnd(): Promise<boolean> {
    const { bytesRead } = await this.handle.read(Buffer.alloc(1), 0, 1, this.position);
    return bytesRead === 0;
  }
}
