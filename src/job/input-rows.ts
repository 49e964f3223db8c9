import { readCsvRecords } from "../csv/read-records.js";
import { indexHeader, type ColumnIndex, type ColumnMap } from "./columns.js";
import { prepareRow, type PreparedRow } from "./prepared-row.js";
import { validateRow, type RowDefaults, type RowProblem } from "./validate-row.js";

/**
 * The input file as a stream of checked rows. Every record comes out either prepared (requestId,
 * body, fingerprint) or with the list of its problems, so one pass can report every bad row.
 */

export interface InputSpec {
  file: string;
  campaign: string;
  columns: ColumnMap;
  defaults: RowDefaults;
}

export type InputItem =
  | { kind: "header"; header: string[]; index: ColumnIndex; problems: RowProblem[] }
  | { kind: "row"; fields: string[]; prepared: PreparedRow }
  | { kind: "invalid"; fields: string[]; problems: RowProblem[] };

export async function* readInputRows(spec: InputSpec): AsyncGenerator<InputItem> {
  let header: string[] | undefined;
  let index: ColumnIndex | undefined;
  for await (const { row, fields } of readCsvRecords(spec.file)) {
    if (header === undefined || index === undefined) {
      header = fields;
      const indexed = indexHeader(fields, spec.columns);
      index = indexed.index;
      const problems = indexed.problems.map((p) => ({ row, column: p.column, value: p.column, rule: p.rule }));
      yield { kind: "header", header, index, problems };
      continue;
    }
    if (fields.length !== header.length) {
      const rule = `has ${fields.length} fields but the header has ${header.length}; check quoting and separators`;
      yield { kind: "invalid", fields, problems: [{ row, column: "(row)", value: "", rule }] };
      continue;
    }
    const result = validateRow(fields, row, index, spec.columns, spec.defaults);
    if ("problems" in result) yield { kind: "invalid", fields, problems: result.problems };
    else yield { kind: "row", fields, prepared: prepareRow(spec.campaign, result.ok) };
  }
}
