import { stringify } from "csv-stringify/sync";

/**
 * CSV cells as csv-stringify writes them (default options, "," and `"`), joined by "," and ended by
 * recordEnd, without its per-field cost: the result file runs 20 fields a row through here, a
 * million rows at a time, and csv-stringify spends about 0.5 µs a field on options and context
 * objects. Cells holding only plain text, commas or quotes are written here by the one rule
 * csv-stringify applies to them (a cell with `,` or `"` is quoted, its quotes doubled); a cell with
 * a line break, where the record delimiter decides, is left to csv-stringify itself.
 * test/encode-record.test.ts checks every record so written against csv-stringify's.
 */

export type RecordDelimiter = "unix" | "windows";

const SPECIAL = /[",\r\n]/;
const LINE_BREAK = /[\r\n]/;

export function recordEnd(delimiter: RecordDelimiter): string {
  return delimiter === "windows" ? "\r\n" : "\n";
}

/** One field of a record, for the caller to join with "," (see the top of this file). */
export function encodeCell(value: string, delimiter: RecordDelimiter): string {
  // Most cells hold none of the four, and many are empty: one test clears them.
  if (value.length === 0 || !SPECIAL.test(value)) return value;
  const quoted = quotedAscii(value);
  if (quoted !== undefined) return quoted;
  if (LINE_BREAK.test(value)) {
    const record = stringify([[value]], { record_delimiter: delimiter });
    return record.slice(0, record.length - (delimiter === "windows" ? 2 : 1));
  }
  return `"${value.replaceAll('"', '""')}"`;
}

/** Room for quoting an ASCII cell byte by byte: a quarter for the cell, the rest for the result. */
const scratch = Buffer.allocUnsafe(64 * 1024);
const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;

/**
 * An ASCII cell without a line break, quoted with its quotes doubled; undefined for any other cell.
 * The result file's biggest cell is response_data, a JSON object with some thirty quotes: V8's
 * replaceAll builds it one match at a time, slower than this loop, and a separate test for line
 * breaks would read the cell a second time. Only ASCII cells (one byte a character in UTF-8 and
 * Latin-1 alike) that fit take the loop.
 */
function quotedAscii(value: string): string | undefined {
  const length = value.length;
  if (length > scratch.length / 4 || Buffer.byteLength(value, "utf8") !== length) return undefined;
  scratch.write(value, 0, "latin1");
  const start = scratch.length / 4;
  let out = start;
  scratch[out++] = QUOTE;
  for (let i = 0; i < length; i++) {
    const byte = scratch[i] as number;
    if (byte === CR || byte === LF) return undefined;
    scratch[out++] = byte;
    if (byte === QUOTE) scratch[out++] = QUOTE;
  }
  scratch[out++] = QUOTE;
  return scratch.toString("latin1", start, out);
}
