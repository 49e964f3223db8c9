import { createHash } from "node:crypto";
import { open } from "node:fs/promises";

/**
 * Where record `record` (1 = the header) of a CSV file starts (undefined when the file has no such
 * record), found by a scan of its bytes that follows quotes and line ends only: some 50 ms for a
 * million rows, where parsing them costs seconds. It lets the applier begin reading at the first
 * row a plan sends (a rerun that sends the rows appended to a big file, a resume after a crash)
 * instead of parsing every row before it.
 *
 * It mirrors what csv-parse does with a file the plan pass read whole (read-records.ts): the record
 * delimiter is the first line end outside quotes (CRLF, LF or CR), and lines with nothing on them
 * are skipped. It cannot judge a file csv-parse would refuse, so whoever starts at the offset checks
 * that the record there is the one expected (planned-rows.ts) and reads from the top otherwise.
 * Bytes 0x22, 0x0A and 0x0D stand for `"`, LF and CR alone in UTF-8 and in Shift_JIS, whose second
 * bytes never take those values.
 */
export interface RecordStart {
  /** Byte offset of the line the record is on (empty lines before it may follow; the parser skips them). */
  offset: number;
  recordDelimiter: "\r\n" | "\n" | "\r";
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const CHUNK = 1 << 20;

export async function recordStart(file: string, record: number): Promise<RecordStart | undefined> {
  if (!Number.isInteger(record) || record < 2) return undefined;
  const scan = new LineScan(record - 1);
  for await (const { bytes, position } of chunksOf(file, Number.POSITIVE_INFINITY)) {
    const offset = scan.feed(bytes, position);
    if (offset >= 0) return { offset, recordDelimiter: scan.delimiter ?? "\n" };
  }
  return undefined;
}

/**
 * The first `bytes` bytes of a file: their SHA-256, and how many records they hold when they end
 * where a record ends (after its line end, outside quotes); undefined records otherwise, or when
 * the file is shorter. Tells a file that is another with records appended (see appended-result.ts).
 */
export async function prefixOf(file: string, bytes: number): Promise<{ digest: string; records?: number; recordDelimiter: RecordStart["recordDelimiter"] }> {
  const scan = new LineScan(Number.POSITIVE_INFINITY);
  const hash = createHash("sha256");
  let read = 0;
  for await (const chunk of chunksOf(file, bytes)) {
    hash.update(chunk.bytes);
    scan.feed(chunk.bytes, chunk.position);
    read += chunk.bytes.length;
  }
  return {
    digest: hash.digest("hex"),
    records: read === bytes && scan.atRecordEnd() ? scan.records : undefined,
    recordDelimiter: scan.delimiter ?? "\n",
  };
}

/** The file's first `limit` bytes (or all of it), a reused 1 MiB buffer at a time, each with its offset. */
async function* chunksOf(file: string, limit: number): AsyncGenerator<{ bytes: Buffer; position: number }> {
  const handle = await open(file, "r");
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (let position = 0; position < limit; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, limit - position), position);
      if (bytesRead === 0) return;
      yield { bytes: buffer.subarray(0, bytesRead), position };
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

/** Counts records as csv-parse ends them, up to the `wanted`th, across chunks. */
class LineScan {
  delimiter: RecordStart["recordDelimiter"] | undefined;
  /** Records ended so far. */
  records = 0;
  private inQuotes = false;
  /** Whether the line so far holds anything, a quote included: a line that does not is skipped. */
  private content = false;
  /** The byte before was a CR outside quotes: the next one tells a CRLF from a lone CR. */
  private afterCr = false;

  constructor(private readonly wanted: number) {}

  /** Where the line after the wanted record starts: the answer once a record is seen to follow. */
  private after = -1;

  /** The offset where the record after the wanted one starts, once this chunk shows it is there; -1 before. */
  feed(bytes: Buffer, base: number): number {
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i] as number;
      if (this.after >= 0) {
        // Only empty lines so far: the parser skips them, and the end of the file means no record.
        if (byte !== CR && byte !== LF) return this.after;
        continue;
      }
      if (this.inQuotes) {
        if (byte === QUOTE) this.inQuotes = false;
        continue;
      }
      if (this.afterCr) {
        this.afterCr = false;
        this.delimiter ??= byte === LF ? "\r\n" : "\r";
        if (this.delimiter === "\r\n" && byte === LF) {
          if (this.lineEnded()) this.after = base + i + 1;
          continue;
        }
        if (this.delimiter === "\r") {
          if (this.lineEnded()) {
            this.after = base + i;
            i--;
            continue;
          }
        } else this.content = true;
      }
      if (byte === QUOTE) {
        this.inQuotes = true;
        this.content = true;
      } else if (byte === CR && this.delimiter !== "\n") {
        this.afterCr = true;
      } else if (byte === LF && (this.delimiter ?? "\n") === "\n") {
        this.delimiter = "\n";
        if (this.lineEnded()) this.after = base + i + 1;
      } else {
        this.content = true;
      }
    }
    return -1;
  }

  /**
   * Whether the bytes so far end a record: outside quotes, nothing after the last line end, and no
   * CR whose meaning the next byte decides.
   */
  atRecordEnd(): boolean {
    return this.records > 0 && !this.inQuotes && !this.content && !this.afterCr;
  }

  /** True when the line that just ended was the wanted record. */
  private lineEnded(): boolean {
    if (!this.content) return false;
    this.content = false;
    return ++this.records === this.wanted;
  }
}
