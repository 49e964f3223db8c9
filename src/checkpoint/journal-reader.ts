import type { FileHandle } from "node:fs/promises";
import { CheckpointError } from "../errors.js";
import { decodeLine } from "./line-codec.js";

/**
 * Reads a journal front to back. A crash can tear only the last record (the one being written), so a
 * tail without its newline, or whose checksum fails with nothing after it, is dropped: it was never
 * acknowledged as durable. Damage anywhere before the tail is refused, naming file, line and byte:
 * skipping it could forget an issued code.
 */

export interface JournalLine {
  record: unknown;
  offset: number;
  length: number;
}

const CHUNK = 1 << 20;

export async function* readJournal(handle: FileHandle, file: string, onTornTail: (validLength: number) => void): AsyncGenerator<JournalLine> {
  let carry: Buffer = Buffer.alloc(0);
  let position = 0;
  let lineNumber = 0;
  let carryOffset = 0;
  let pendingBad: { offset: number; line: number } | undefined;

  const chunk = Buffer.allocUnsafe(CHUNK);
  for (;;) {
    const { bytesRead } = await handle.read(chunk, 0, CHUNK, position);
    if (bytesRead === 0) break;
    position += bytesRead;
    let buffer = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : Buffer.from(chunk.subarray(0, bytesRead));
    let start = 0;
    for (let nl = buffer.indexOf(0x0a, start); nl >= 0; nl = buffer.indexOf(0x0a, start)) {
      lineNumber++;
      if (pendingBad) throw damaged(file, pendingBad.line, pendingBad.offset);
      const line = buffer.subarray(start, nl);
      const record = decodeLine(line);
      const offset = carryOffset + start;
      if (record === undefined) pendingBad = { offset, line: lineNumber };
      else yield { record, offset, length: nl - start + 1 };
      start = nl + 1;
    }
    carryOffset += start;
    carry = buffer.subarray(start);
    buffer = Buffer.alloc(0);
  }
  // A complete line that fails its checksum is damage unless it is the very last line: a torn
  // write of the final record may have landed with its newline but garbage before it.
  if (pendingBad) {
    if (carry.length > 0) throw damaged(file, pendingBad.line, pendingBad.offset);
    onTornTail(pendingBad.offset);
    return;
  }
  if (carry.length > 0) onTornTail(carryOffset);
}

function damaged(file: string, line: number, offset: number): CheckpointError {
  return new CheckpointError(
    "CHECKPOINT_DAMAGED",
    `${file}: record at line ${line} (byte ${offset}) is damaged and more records follow it; ` +
      "refusing to resume, since skipping it could forget an issued code. Restore the file from a backup, or contact support with it",
  );
}
