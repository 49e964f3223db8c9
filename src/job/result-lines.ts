import { createHash, type Hash } from "node:crypto";
import type { OutcomeRecord, RowState } from "../checkpoint/records.js";
import type { CheckpointStore } from "../checkpoint/store.js";
import { encodeCell, recordEnd } from "../csv/encode-record.js";
import { neutralizeFormula } from "../csv/excel-safe.js";
import { targetLabel } from "../paypay/target.js";
import { RESULT_COLUMNS } from "./columns.js";
import type { InputItem } from "./input-rows.js";
import { resultFields, REQUEST_CHANGED, REQUEST_CHANGED_ACCEPTED, type ResultContext } from "./result-row.js";
import type { ResultCounts, ResultFormat, WrittenResults } from "./write-results.js";

/**
 * The result file's lines, batch by batch, and what the file says in sum: each row counted by
 * status, and a digest of every byte written (so a later run can tell the file is still as written).
 */
export class ResultLines {
  private hash: Hash = createHash("sha256");
  private counts: ResultCounts = noCounts();
  private readonly context: ResultContext;
  /** A field as the file holds it: quoted where CSV needs it, formula-safe in the Excel format. */
  private readonly cell: (value: string) => string;
  private readonly end: string;

  constructor(store: CheckpointStore, format: ResultFormat) {
    this.context = { campaign: store.campaign, target: store.target ? targetLabel(store.target) : "" };
    const excel = format === "excel";
    this.cell = excel ? (value) => encodeCell(neutralizeFormula(value), "windows") : (value) => encodeCell(value, "unix");
    this.end = recordEnd(excel ? "windows" : "unix");
  }

  /** Writes text (encoded once, so the digest and the file take the same bytes) or bytes. */
  async write(data: string | Uint8Array, sink: (bytes: Uint8Array) => Promise<void>): Promise<void> {
    if (data.length === 0) return;
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    this.hash.update(bytes);
    await sink(bytes);
  }

  /** The lines of a batch of input items, in order, given each row's state and latest outcome. */
  of(batch: readonly InputItem[], states: readonly (RowState | undefined)[], outcomes: readonly (OutcomeRecord | undefined)[]): string {
    const { counts, context, cell, end } = this;
    // A line's cells are encoded straight from the input fields and the result fields, with no
    // record array in between: a million rows come through here (issue #15).
    const encode = (fields: readonly string[], result: Readonly<Record<ResultColumn, string>>): string => {
      const cells = new Array<string>(fields.length + RESULT_COLUMNS.length);
      let c = 0;
      for (const field of fields) cells[c++] = cell(field);
      for (const column of RESULT_COLUMNS) cells[c++] = cell(result[column]);
      // join() builds one flat string; `+=` per field would build a rope that costs more to flatten
      // (when the batch is encoded to bytes) than it saved.
      return cells.join(",") + end;
    };
    const lines: string[] = [];
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i] as InputItem;
      if (item.kind === "header") {
        lines.push(encode(item.header, HEADER));
        continue;
      }
      if (item.kind === "empty") continue;
      counts.rows++;
      if (item.kind === "invalid") {
        // Only reachable when the input changed under a running job; say so on the row.
        const problem = item.problems.map((p) => `${p.column}: ${p.rule}`).join("; ");
        const fields = Object.fromEntries(RESULT_COLUMNS.map((c) => [c, ""])) as Record<ResultColumn, string>;
        Object.assign(fields, {
          campaign: context.campaign,
          status: "pending",
          error_code: "INVALID_ROW",
          error_message: problem,
          attempts: "0",
          target: context.target,
        });
        lines.push(encode(item.fields, fields));
        counts.pending++;
        continue;
      }
      const { prepared } = item;
      const state = states[i];
      const outcome = outcomes[i];
      const fields = resultFields(prepared, state, outcome, context);
      counts[fields.status]++;
      if (fields.error_code === REQUEST_CHANGED) counts.changed++;
      if (fields.error_code === REQUEST_CHANGED && fields.status === "pending") counts.changedPending = (counts.changedPending ?? 0) + 1;
      if (fields.error_code === REQUEST_CHANGED_ACCEPTED) counts.accepted++;
      if (fields.status === "issued") {
        const group = outcome?.groupId ?? prepared.request.groupId;
        counts.issuedAmountByGroup.set(group, (counts.issuedAmountByGroup.get(group) ?? 0) + (outcome?.value ?? 0));
      }
      if (fields.status === "failed") counts.failedByCode.set(fields.error_code, (counts.failedByCode.get(fields.error_code) ?? 0) + 1);
      lines.push(encode(item.fields, fields));
    }
    return lines.join("");
  }

  /** Counts on from these: the rows of a file this one continues. */
  continueFrom(counts: ResultCounts): void {
    this.counts = counts;
  }

  /** Back to nothing written, nothing counted. */
  reset(): void {
    this.hash = createHash("sha256");
    this.counts = noCounts();
  }

  /** The digest of the bytes written so far; writing goes on. */
  digestSoFar(): string {
    return this.hash.copy().digest("hex");
  }

  finish(): WrittenResults {
    return { counts: this.counts, digest: this.hash.digest("hex") };
  }
}

type ResultColumn = (typeof RESULT_COLUMNS)[number];

/** The header's result cells: each column's name. */
const HEADER = Object.fromEntries(RESULT_COLUMNS.map((column) => [column, column])) as Record<ResultColumn, string>;

function noCounts(): ResultCounts {
  return { rows: 0, issued: 0, failed: 0, pending: 0, changed: 0, accepted: 0, issuedAmountByGroup: new Map(), failedByCode: new Map() };
}
