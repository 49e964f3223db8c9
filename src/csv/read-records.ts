import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import { parse, type CsvError } from "csv-parse";
import iconv from "iconv-lite";
import { BatchError } from "../errors.js";
import type { InputEncoding } from "./encoding.js";
import type { RecordStart } from "./record-start.js";

/**
 * Streams a CSV file as raw records, so memory stays flat however long the file. Bytes that are not
 * valid in the file's encoding decode to U+FFFD; the row validator reports them by row and column
 * (see `UNDECODABLE`), so a mangled name never reaches PayPay.
 */

export interface CsvRecord {
  /** Spreadsheet row number of the record: the header is row 1. */
  row: number;
  fields: string[];
}

/** What an undecodable byte sequence becomes. */
export const UNDECODABLE = "\uFFFD";

/** The file is not readable CSV at some point: named by row (and column when known), nothing sent. */
export class CsvSyntaxError extends BatchError {
  constructor(file: string, row: number, column: string | undefined, message: string) {
    super("validation", "CSV_SYNTAX", `${file}: row ${row}${column === undefined ? "" : `, column ${column}`}: ${message}; nothing was sent`);
    this.name = "CsvSyntaxError";
  }
}

/**
 * Records handed out per batch: enough to spread the per-await cost, small enough to stay flat in
 * memory (1,024 with 256 KiB reads cost some 20 MB more peak RSS at 100,000 rows, for no CPU gain).
 */
export const CSV_BATCH_RECORDS = 256;

/**
 * Bytes per read of the input. Not more: csv-parse turns a whole chunk into records at once, and
 * 256 KiB chunks cost some 30 MB more peak RSS at 200,000 rows for no measurable CPU gain.
 */
const READ_CHUNK = 64 * 1024;

/**
 * Where a read may begin instead of the top (see record-start.ts): the header is read on its own,
 * then records from `offset`, the first of them numbered `row`.
 */
export interface StartAt extends RecordStart {
  row: number;
}

/** `label`: the name messages give the file, when `file` is a copy of it (a run's input snapshot). */
export async function* readCsvRecords(file: string, encoding: InputEncoding, label = file): AsyncGenerator<CsvRecord> {
  for await (const batch of readCsvBatches(file, encoding, label)) yield* batch;
}

/**
 * The same records in input order, a batch at a time: a million-row file costs a thousand awaits,
 * not a million, and a caller can look a batch's rows up in its store at once.
 */
export async function* readCsvBatches(file: string, encoding: InputEncoding, label = file, from?: StartAt): AsyncGenerator<CsvRecord[]> {
  let header: string[] | undefined;
  if (from !== undefined) {
    header = await firstRecord(file, encoding);
    // Unreadable alone: the whole read below says why, from the top.
    if (header === undefined) from = undefined;
    else yield [{ row: 1, fields: header }];
  }
  const parser = parse({
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: 1024 * 1024,
    // Mid-file there is no first line to tell the delimiter by: it is the one the header's line has.
    ...(from === undefined ? {} : { record_delimiter: from.recordDelimiter }),
  });
  const source = createReadStream(file, { highWaterMark: READ_CHUNK, start: from?.offset ?? 0 });
  source.on("error", (error) => parser.destroy(error));
  if (encoding === "utf8") {
    // csv-parse works on UTF-8 bytes and decodes each field whole (a byte sequence that is not UTF-8
    // becomes U+FFFD, as in any decoder), so UTF-8 goes in as read: a decoding stage would turn the
    // bytes into text only for the parser to turn them back into bytes.
    source.pipe(parser);
  } else {
    const decoder = iconv.decodeStream(encoding, { stripBOM: true });
    decoder.on("error", (error: Error) => parser.destroy(error));
    source.pipe(decoder).pipe(parser);
  }
  const firstRow = from?.row ?? 1;
  let row = firstRow - 1;
  try {
    for await (const records of recordBatches(parser, CSV_BATCH_RECORDS)) {
      header ??= records[0] as string[] | undefined;
      const batch: CsvRecord[] = new Array(records.length);
      for (let i = 0; i < records.length; i++) batch[i] = { row: ++row, fields: records[i] as string[] };
      yield batch;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).syscall !== undefined) throw inputReadError(label, error);
    const csvError = error as Partial<CsvError>;
    // The parser reads ahead of what it has handed out, so its own count places the error, and the
    // header may not have been handed out yet: then it is read again, alone, to name the column.
    const at = typeof csvError.records === "number" ? csvError.records + firstRow : row + 1;
    if (header === undefined && typeof csvError.column === "number" && at > 1) header = await firstRecord(file, encoding);
    const column = typeof csvError.column === "number" ? (header?.[csvError.column] ?? `(field ${csvError.column + 1})`) : undefined;
    throw new CsvSyntaxError(label, at, column, describeCsvError(csvError));
  } finally {
    source.destroy();
  }
}

/**
 * A readable's objects in batches of at most `max`, taken with read() (no promise per object).
 * Ends at 'end'; throws the stream's error. Every wait is preceded by a read() that found nothing,
 * so an event that fires while the caller holds a batch is never lost.
 */
async function* recordBatches(stream: Readable, max: number): AsyncGenerator<unknown[]> {
  let failure: Error | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  const onReadable = (): void => wake?.();
  const onEnd = (): void => {
    ended = true;
    wake?.();
  };
  const onError = (error: Error): void => {
    failure ??= error;
    wake?.();
  };
  stream.on("readable", onReadable);
  stream.on("end", onEnd);
  stream.on("error", onError);
  try {
    for (;;) {
      if (failure) throw failure;
      const batch: unknown[] = [];
      while (batch.length < max) {
        const record: unknown = stream.read();
        if (record === null) break;
        batch.push(record);
      }
      if (batch.length > 0) {
        yield batch;
        continue;
      }
      if (failure) throw failure;
      if (ended || stream.readableEnded) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    stream.off("readable", onReadable);
    stream.off("end", onEnd);
    stream.off("error", onError);
    if (!stream.destroyed) stream.destroy();
  }
}

/** The file's first record, or undefined when even that cannot be read (only for naming a column in an error). */
async function firstRecord(file: string, encoding: InputEncoding): Promise<string[] | undefined> {
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true, max_record_size: 1024 * 1024, to: 1 });
  const source = createReadStream(file);
  source.on("error", (error) => parser.destroy(error));
  source.pipe(iconv.decodeStream(encoding, { stripBOM: true })).pipe(parser);
  try {
    for await (const record of parser as AsyncIterable<string[]>) return record;
  } catch {
    return undefined;
  } finally {
    source.destroy();
  }
  return undefined;
}

/** A file-system failure reading the input, as a usage error naming the file. */
export function inputReadError(file: string, error: unknown): BatchError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return new BatchError("usage", "INPUT_NOT_FOUND", `${file}: no such file`);
  return new BatchError("usage", "INPUT_UNREADABLE", `${file}: cannot read (${code ?? (error as Error).message})`);
}

function describeCsvError(error: Partial<CsvError>): string {
  const line = typeof error.lines === "number" ? ` (line ${error.lines})` : "";
  switch (error.code) {
    case "CSV_QUOTE_NOT_CLOSED":
      return `a quoted field is never closed${line}`;
    case "CSV_INVALID_CLOSING_QUOTE":
    case "CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE":
      return `characters after a closing quote${line}; double any quote inside a quoted field ("")`;
    case "INVALID_OPENING_QUOTE":
      return `a quote inside a field that does not start with one${line}; quote the whole field and double the inner quote ("")`;
    case "CSV_MAX_RECORD_SIZE":
      return `a record is larger than 1 MiB${line}`;
    default:
      return `${error.message ?? "unreadable CSV"}`;
  }
}
