import type { FileHandle } from "node:fs/promises";
import { CheckpointError } from "../errors.js";
import { decodeLine } from "./line-codec.js";

/**
 * Reads a journal front to back. A crash can tear only the record being written: its bytes stop
 * short of the newline that ends every record (a cut, or zeros where the file system had not written
 * yet). Such an unterminated tail was never acknowledged as durable, so it is dropped. Every line
 * that does end in a newline must check out: one that does not is damage, wherever it sits (even
 * last: a lost newline merges two good records into one bad line), and is refused naming file, line
 * and byte, since skipping it could forget an issued code.
 */

export interface JournalLine {
  record: unknown;
  offset: number;
  length: number;
}

const CHUNK = 1 << 20;

/**
 * `from`: start at this byte offset, which begins line `from.lines + 1` (where a cached replay,
 * index-file.ts, left off), so messages still name the journal's own line numbers.
 */
export async function* readJournal(
  handle: FileHandle,
  file: string,
  onTornTail: (validLength: number) => void,
  from: { length: number; lines: number } = { length: 0, lines: 0 },
): AsyncGenerator<JournalLine> {
  let carry: Buffer = Buffer.alloc(0);
  let position = from.length;
  let lineNumber = from.lines;
  let carryOffset = from.length;

  const chunk = Buffer.allocUnsafe(CHUNK);
  for (;;) {
    const { bytesRead } = await handle.read(chunk, 0, CHUNK, position);
    if (bytesRead === 0) break;
    position += bytesRead;
    let buffer = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : Buffer.from(chunk.subarray(0, bytesRead));
    let start = 0;
    for (let nl = buffer.indexOf(0x0a, start); nl >= 0; nl = buffer.indexOf(0x0a, start)) {
      lineNumber++;
      const line = buffer.subarray(start, nl);
      const record = decodeLine(line);
      const offset = carryOffset + start;
      if (record === undefined) throw damaged(file, lineNumber, offset);
      yield { record, offset, length: nl - start + 1 };
      start = nl + 1;
    }
    carryOffset += start;
    carry = buffer.subarray(start);
    buffer = Buffer.alloc(0);
  }
  if (carry.length > 0) onTornTail(carryOffset);
}

function damaged(file: string, line: number, offset: number): CheckpointError {
  return new CheckpointError(
    "CHECKPOINT_DAMAGED",
    `${file}: record at line ${line} (byte ${offset}) is damaged (its checksum does not match); ` +
      "refusing to resume, since skipping it could forget an issued code. Restore the file from a backup, or contact support with it",
  );
}

/**
 * The journal's last record, read from its tail alone; undefined when the file does not end with a
 * whole, valid record (torn, damaged or empty: the caller then does a full read, which says why).
 */
export async function readLastRecord(handle: FileHandle): Promise<unknown> {
  const { size } = await handle.stat();
  let span = Math.min(size, 64 * 1024);
  for (;;) {
    const tail = Buffer.allocUnsafe(span);
    await handle.read(tail, 0, span, size - span);
    if (tail[span - 1] !== 0x0a) return undefined;
    const start = tail.subarray(0, span - 1).lastIndexOf(0x0a) + 1;
    if (start > 0 || span === size) return decodeLine(tail.subarray(start, span - 1));
    span = Math.min(size, span * 4);
  }
}
