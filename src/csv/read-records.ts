import { createReadStream } from "node:fs";
import { Transform, type TransformCallback } from "node:stream";
import { parse, type CsvError } from "csv-parse";
import { BatchError } from "../errors.js";

/**
 * Streams a CSV file as raw records, so memory stays flat however long the file. Decoding is strict:
 * a byte sequence that is not UTF-8 stops the read with its position, instead of turning silently
 * into U+FFFD and reaching PayPay as a mangled name.
 */

export interface CsvRecord {
  /** Spreadsheet row number of the record: the header is row 1. */
  row: number;
  fields: string[];
}

export class CsvSyntaxError extends BatchError {
  constructor(file: string, row: number | undefined, message: string) {
    super("validation", "CSV_SYNTAX", `${file}${row === undefined ? "" : `, row ${row}`}: ${message}`);
    this.name = "CsvSyntaxError";
  }
}

class StrictUtf8Decoder extends Transform {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  private bytesSeen = 0;
  private linesSeen = 1;

  constructor(private readonly file: string) {
    super({ readableObjectMode: false, decodeStrings: true });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.decode(chunk, true, callback);
  }

  override _flush(callback: TransformCallback): void {
    this.decode(Buffer.alloc(0), false, callback);
  }

  private decode(chunk: Buffer, stream: boolean, callback: TransformCallback): void {
    let text: string;
    try {
      text = this.decoder.decode(chunk, { stream });
    } catch {
      callback(
        new CsvSyntaxError(this.file, undefined, `invalid UTF-8 byte sequence in line ${this.linesSeen} (within bytes ${this.bytesSeen}..${this.bytesSeen + chunk.length}); save the file as UTF-8 or pass --encoding`),
      );
      return;
    }
    this.bytesSeen += chunk.length;
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) this.linesSeen++;
    callback(null, text);
  }
}

export async function* readCsvRecords(file: string): AsyncGenerator<CsvRecord> {
  const parser = parse({
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: 1024 * 1024,
  });
  const source = createReadStream(file);
  const decoder = new StrictUtf8Decoder(file);
  source.on("error", (error) => parser.destroy(error));
  decoder.on("error", (error) => parser.destroy(error));
  source.pipe(decoder).pipe(parser);
  let row = 0;
  try {
    for await (const fields of parser as AsyncIterable<string[]>) {
      row++;
      yield { row, fields };
    }
  } catch (error) {
    if (error instanceof BatchError) throw error;
    const systemCode = (error as NodeJS.ErrnoException).code;
    if (systemCode === "ENOENT") throw new BatchError("usage", "INPUT_NOT_FOUND", `${file}: no such file`);
    if (systemCode === "EISDIR" || systemCode === "EACCES") throw new BatchError("usage", "INPUT_UNREADABLE", `${file}: cannot read (${systemCode})`);
    const csvError = error as Partial<CsvError>;
    const at = typeof csvError.records === "number" ? csvError.records + 1 : undefined;
    throw new CsvSyntaxError(file, at, describeCsvError(csvError));
  } finally {
    source.destroy();
  }
}

function describeCsvError(error: Partial<CsvError>): string {
  const line = typeof error.lines === "number" ? ` (line ${error.lines})` : "";
  switch (error.code) {
    case "CSV_QUOTE_NOT_CLOSED":
      return `a quoted field is never closed${line}`;
    case "CSV_INVALID_CLOSING_QUOTE":
    case "CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE":
      return `characters after a closing quote${line}; double any quote inside a quoted field ("")`;
    case "CSV_MAX_RECORD_SIZE":
      return `a record is larger than 1 MiB${line}`;
    default:
      return `${error.message ?? "unreadable CSV"}`;
  }
}
