import { describeEncoding, resolveEncoding, type EncodingChoice, type InputEncoding } from "../csv/encoding.js";
import { readCsvBatches, UNDECODABLE, type StartAt } from "../csv/read-records.js";
import { indexHeader, type ColumnIndex, type ColumnMap } from "./columns.js";
import type { DerivedRows, DerivedRowsReader } from "./derived-rows.js";
import { preparedAs, prepareRowWith, type PreparedRow } from "./prepared-row.js";
import { requestIdDeriver } from "./request-id.js";
import { validateRow, type RowDefaults, type RowProblem } from "./validate-row.js";

/**
 * The input file as a stream of checked rows. Every record comes out either prepared (requestId,
 * body, fingerprint) or with the list of its problems, so one pass can report every bad row.
 */

export interface InputSpec {
  file: string;
  /** "auto" until the job resolves it once, so every pass reads the file the same way. */
  encoding: EncodingChoice;
  campaign: string;
  columns: ColumnMap;
  defaults: RowDefaults;
  /** The immutable copy of `file` a run planned from, read instead of it; messages still name `file`. */
  snapshot?: string;
  /**
   * Today in Asia/Tokyo (yyyy-MM-dd) when the run checks for past dates: an end date before it is
   * refused. Fixed once per run so every pass reads the rows alike; unset by `export`, which only
   * rewrites what a past run did.
   */
  today?: string;
}

export type ResolvedInputSpec = InputSpec & { encoding: InputEncoding };

export async function resolveInput(spec: InputSpec): Promise<ResolvedInputSpec> {
  return { ...spec, encoding: await resolveEncoding(spec.file, spec.encoding) };
}

export type InputItem =
  | { kind: "header"; header: string[]; index: ColumnIndex; problems: RowProblem[] }
  | { kind: "row"; fields: string[]; prepared: PreparedRow }
  /** Every cell empty (`,,,` that Excel leaves below a table): skipped like a blank line, and counted. */
  | { kind: "empty"; fields: string[]; row: number }
  /** `requestId` is set when the row's recipient_id itself is valid, so duplicates are still found. */
  | { kind: "invalid"; fields: string[]; problems: RowProblem[]; row: number; recipientId?: string; requestId?: string };

export async function* readInputRows(spec: ResolvedInputSpec): AsyncGenerator<InputItem> {
  for await (const batch of readInputBatches(spec)) yield* batch;
}

/**
 * The same items, a batch of rows at a time (see readCsvBatches): what the planner, applier and
 * result writer loop over. With `only`, data rows it refuses are left out (the header never is).
 * With `derived`, valid rows take the requestId and fingerprint the plan pass derived for them,
 * when this pass reads the file that spill was made from. With `fingerprints` false, valid rows
 * the spill does not cover come out with an empty fingerprint: only for the reader thread, whose
 * receiver derives them (input-batch-codec.ts).
 */
export async function* readInputBatches(
  spec: ResolvedInputSpec,
  only?: (row: number) => boolean,
  derived?: DerivedRows,
  fingerprints = true,
  /** Begin at this record (after the header) instead of the top: see record-start.ts. */
  from?: StartAt,
): AsyncGenerator<InputItem[]> {
  // Only the very file the spill was made from gets its reader (see derived-rows.ts).
  const known = await derived?.readerFor(spec.snapshot ?? spec.file);
  try {
    yield* checkedBatches(spec, only, known, fingerprints, from);
  } finally {
    await known?.close();
  }
}

async function* checkedBatches(
  spec: ResolvedInputSpec,
  only: ((row: number) => boolean) | undefined,
  derived: DerivedRowsReader | undefined,
  fingerprints: boolean,
  from: StartAt | undefined,
): AsyncGenerator<InputItem[]> {
  let header: string[] | undefined;
  let index: ColumnIndex | undefined;
  const requestIdOf = requestIdDeriver(spec.campaign);
  for await (const records of readCsvBatches(spec.snapshot ?? spec.file, spec.encoding, spec.file, from)) {
    await derived?.ensure(records.length, records[0]?.row);
    const items: InputItem[] = [];
    for (const { row, fields } of records) {
      if (header === undefined || index === undefined) {
        header = fields;
        const indexed = indexHeader(fields, spec.columns, spec.defaults);
        index = indexed.index;
        const problems = [
          ...undecodable(
            fields,
            fields.map((_, i) => `(header ${i + 1})`),
            row,
            spec.encoding,
          ),
          ...indexed.problems.map((p) => ({ row, column: p.column, value: p.missing ? "" : p.column, rule: p.rule })),
        ];
        items.push({ kind: "header", header, index, problems });
        // Without a column every row needs, each row would only repeat the header's problem.
        if (indexed.problems.some((p) => p.missing)) {
          yield items;
          return;
        }
        continue;
      }
      // `only`: the caller wants these rows alone (the applier, the plan's rows to send); the rest are not even checked.
      if (only === undefined || only(row)) items.push(inputItem(spec, header, index, requestIdOf, row, fields, derived, fingerprints));
    }
    if (items.length > 0) yield items;
  }
}

function inputItem(
  spec: ResolvedInputSpec,
  header: string[],
  index: ColumnIndex,
  requestIdOf: (recipientId: string) => string,
  row: number,
  fields: string[],
  derived: DerivedRowsReader | undefined,
  fingerprints: boolean,
): InputItem {
  if (allEmpty(fields)) return { kind: "empty", fields, row };
  if (anyUndecodable(fields)) return { kind: "invalid", fields, row, problems: undecodable(fields, header, row, spec.encoding) };
  if (fields.length !== header.length) {
    const rule = `has ${fields.length} fields but the header has ${header.length}; check quoting and separators`;
    return { kind: "invalid", fields, row, problems: [{ row, column: "(row)", value: "", rule }] };
  }
  const result = validateRow(fields, row, index, spec.columns, spec.defaults, spec.today);
  if ("problems" in result) {
    const recipientId = fields[index.recipient_id];
    const recipientOk = recipientId !== undefined && !result.problems.some((p) => p.column === spec.columns.recipient_id);
    return {
      kind: "invalid",
      fields,
      row,
      problems: result.problems,
      ...(recipientOk ? { recipientId, requestId: requestIdOf(recipientId) } : {}),
    };
  }
  const known = derived?.take(row);
  return { kind: "row", fields, prepared: known ? preparedAs(result.ok, known) : prepareRowWith(requestIdOf, result.ok, fingerprints) };
}

function allEmpty(fields: readonly string[]): boolean {
  for (const field of fields) if (field !== "") return false;
  return true;
}

function anyUndecodable(fields: readonly string[]): boolean {
  for (const field of fields) if (field.includes(UNDECODABLE)) return true;
  return false;
}

/** Fields holding bytes that the file's encoding cannot decode: named so the user can fix that cell. */
function undecodable(fields: readonly string[], header: readonly string[], row: number, encoding: InputEncoding): RowProblem[] {
  const problems: RowProblem[] = [];
  fields.forEach((value, i) => {
    if (value.includes(UNDECODABLE)) {
      const rule = `contains bytes that are not valid ${describeEncoding(encoding)}; save the file as UTF-8, or pass --encoding`;
      problems.push({ row, column: header[i] ?? `(field ${i + 1})`, value, rule });
    }
  });
  return problems;
}
