import { stringify } from "csv-stringify/sync";

/**
 * One CSV record as csv-stringify writes it (default options, "," and `"`), without its per-field
 * cost: the result file runs 20 fields a row through here, a million rows at a time, and
 * csv-stringify spends about 0.5 µs a field on options and context objects. Cells holding only plain
 * text, commas or quotes are written here by the one rule csv-stringify applies to them (a cell with
 * `,` or `"` is quoted, its quotes doubled); a cell with a line break, where the record delimiter
 * decides, is left to csv-stringify itself. test/encode-record.test.ts checks every output against
 * csv-stringify's.
 */

export type RecordDelimiter = "unix" | "windows";

const SPECIAL = /[",\r\n]/;
const LINE_BREAK = /[\r\n]/;

export function encodeRecord(fields: readonly string[], delimiter: RecordDelimiter = "unix"): string {
  // join() builds one flat string; `+=` per field would build a rope that costs more to flatten
  // (when the batch is encoded to bytes) than it saved.
  const cells = new Array<string>(fields.length);
  for (let i = 0; i < fields.length; i++) cells[i] = encodeField(fields[i] ?? "", delimiter);
  return cells.join(",") + (delimiter === "windows" ? "\r\n" : "\n");
}

function encodeField(value: string, delimiter: RecordDelimiter): string {
  // Most cells hold none of the four: one test clears them.
  if (!SPECIAL.test(value)) return value;
  if (LINE_BREAK.test(value)) {
    const record = stringify([[value]], { record_delimiter: delimiter });
    return record.slice(0, record.length - (delimiter === "windows" ? 2 : 1));
  }
  return `"${doubledQuotes(value)}"`;
}

/** Room for doubling the quotes of an ASCII cell byte by byte: half for the cell, half for the result. */
const scratch = Buffer.allocUnsafe(64 * 1024);

function doubledQuotes(value: string): string {
  const length = value.length;
  // The result file's biggest cell is response_data, a JSON object with some thirty quotes; V8's
  // replaceAll builds it one match at a time, at twice the cost of this loop. Only ASCII cells
  // (one byte a character in UTF-8 and Latin-1 alike) that fit take the loop.
  if (length > scratch.length / 4 || Buffer.byteLength(value, "utf8") !== length) return value.replaceAll('"', '""');
  scratch.write(value, 0, "latin1");
  const half = scratch.length / 2;
  let out = half;
  for (let i = 0; i < length; i++) {
    const byte = scratch[i] as number;
    scratch[out++] = byte;
    if (byte === QUOTE) scratch[out++] = QUOTE;
  }
  return scratch.toString("latin1", half, out);
}

const QUOTE = 0x22;
