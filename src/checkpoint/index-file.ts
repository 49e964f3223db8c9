import { hash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { crc32 } from "node:zlib";
import { writeFileAtomically } from "../fs/atomic-write.js";
import { growable } from "../growable-array.js";
import { RowIndex, type RowIndexParts } from "./row-index.js";

/**
 * A cache of a journal's replay, beside it (`<checkpoint>.index`): the row index's typed-array
 * columns as they stood at a byte offset of the journal, plus the few records replay keeps (header,
 * latest plan, target, accepted changes). Opening a million-row journal then reads some 60 MB of
 * arrays instead of parsing a million JSON records; only the records after the offset are replayed.
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
  const parts = index.parts();
  const meta: Meta<T> = {
    format: FORMAT,
    littleEndian: LITTLE_ENDIAN,
    journal: { ...mark, ...(await journalIdentity(journal, mark.length)) },
    state,
    rows: parts.ids.count,
    slots: parts.ids.slots.length,
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
    for (const column of columnsOf(parts)) {
      const bytes = new Uint8Array(column.buffer, column.byteOffset, column.byteLength);
      await put(bytes);
      await put(padding(bytes.length));
    }
    const trailer = Buffer.alloc(4);
    trailer.writeUInt32LE(crc);
    await write(trailer);
  });
}

/** The cached replay of `journal` (open, `size` bytes long), or undefined when there is none it can trust. */
export async function readIndexFile<T>(file: string, journal: FileHandle, size: number): Promise<CachedReplay<T> | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, "r");
  } catch {
    return undefined;
  }
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
    const expected = reader.position + columnBytes(meta.rows, meta.slots) + 4;
    if ((await handle.stat()).size !== expected) return undefined;
    const identity = await journalIdentity(journal, meta.journal.length);
    if (identity.head !== meta.journal.head || identity.tail !== meta.journal.tail) return undefined;
    // The index is made over empty columns first; the file is read into its own views of them.
    const index = RowIndex.fromParts(emptyParts(meta.rows, meta.slots));
    for (const column of columnsOf(index.parts())) {
      if (!(await reader.into(new Uint8Array(column.buffer, column.byteOffset, column.byteLength)))) return undefined;
      if (!(await reader.skip(padding(column.byteLength).length))) return undefined;
    }
    const crc = reader.crc;
    const trailer = await reader.bytes(4, false);
    if (!trailer || trailer.readUInt32LE() !== crc || !(await reader.atEnd())) return undefined;
    return { mark: { length: meta.journal.length, lines: meta.journal.lines }, state: meta.state, index };
  } catch (error) {
    // Parts that do not fit together are a damaged cache, not a damaged journal.
    if (error instanceof TypeError || error instanceof RangeError) return undefined;
    throw error;
  } finally {
    await handle.close();
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function columnsOf(parts: RowIndexParts): ArrayBufferView[] {
  return [parts.ids.slots, parts.ids.keys, parts.status, parts.inDoubt, parts.attempts, parts.fingerprint, parts.outcomeOffset, parts.outcomeLength];
}

/**
 * Columns for `rows` rows with the room a replay would have left (the next power of two): a run
 * that adds rows to a loaded index grows it no sooner than it would grow a replayed one.
 */
function emptyParts(rows: number, slots: number): RowIndexParts {
  const room = Math.max(1024, 2 ** Math.ceil(Math.log2(Math.max(rows, 1))));
  return {
    ids: { slots: growable(Int32Array, slots), keys: growable(Uint32Array, room * 4), count: rows },
    status: growable(Uint8Array, room),
    inDoubt: growable(Uint8Array, room),
    attempts: growable(Uint32Array, room),
    fingerprint: growable(Uint32Array, room * 4),
    outcomeOffset: growable(Float64Array, room),
    outcomeLength: growable(Uint32Array, room),
  };
}

/** The bytes of the columns for `rows` rows and `slots` slots, each padded to 8 (as columnsOf orders them). */
function columnBytes(rows: number, slots: number): number {
  const sizes = [slots * 4, rows * 16, rows, rows, rows * 4, rows * 16, rows * 8, rows * 4];
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

  async skip(length: number): Promise<boolean> {
    return length === 0 || (await this.into(new Uint8Array(length)));
  }

  async atEnd(): Promise<boolean> {
    const { bytesRead } = await this.handle.read(Buffer.alloc(1), 0, 1, this.position);
    return bytesRead === 0;
  }
}
