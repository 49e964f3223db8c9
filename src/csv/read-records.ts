import { createReadStream } from "node:fs";
import { parse, type CsvError } from "csv-parse";
import iconv from "iconv-lite";
import { BatchError } from "../errors.js";
import type { InputEncoding } from "./encoding.js";

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

/** `label`: the name messages give the file, when `file` is a copy of it (a run's input snapshot). */
export async function* readCsvRecords(file: string, encoding: InputEncoding, label = file): AsyncGenerator<CsvRecord> {
  let header: string[] | undefined;
  const parser = parse({
    // Seen as the parser reads, ahead of what is handed out: an error can come first.
    on_record: (record: string[], context) => {
      if (context.records === 1) header = record;
      return record;
    },
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: 1024 * 1024,
  });
  const source = createReadStream(file);
  const decoder = iconv.decodeStream(encoding, { stripBOM: true });
  source.on("error", (error) => parser.destroy(error));
  decoder.on("error", (error: Error) => parser.destroy(error));
  source.pipe(decoder).pipe(parser);
  let row = 0;
  try {
    for await (const fields of parser as AsyncIterable<string[]>) {
      row++;
      yield { row, fields };
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).syscall !== undefined) throw inputReadError(label, error);
    const csvError = error as Partial<CsvError>;
    // The parser reads ahead of what it has handed out, so its own count places the error.
    const at = typeof csvError.records === "number" ? csvError.records + 1 : row + 1;
    const column = typeof csvError.column === "number" ? (header?.[csvError.column] ?? `(field ${csvError.column + 1})`) : undefined;
    throw new CsvSyntaxError(label, at, column, describeCsvError(csvError));
  } finally {
    source.destroy();
  }
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
