import { createHash } from "node:crypto";
import type { RowCounts } from "../checkpoint/records.js";
import { batchesWithStates } from "../checkpoint/prefetch.js";
import { outcomesOf, type CheckpointStore } from "../checkpoint/store.js";
import { writeFileAtomically } from "../fs/atomic-write.js";
import { RESULT_COLUMNS } from "./columns.js";
import { encodeRecord } from "../csv/encode-record.js";
import { neutralizeFormula } from "../csv/excel-safe.js";
import type { InputEncoding } from "../csv/encoding.js";
import type { DerivedRows } from "./derived-rows.js";
import { readWholeInput } from "./input-reader-thread.js";
import type { InputItem, ResolvedInputSpec } from "./input-rows.js";
import { resultFields, REQUEST_CHANGED, REQUEST_CHANGED_ACCEPTED, type ResultContext } from "./result-row.js";
import { claimResult } from "./result-owner.js";
import { targetLabel } from "../paypay/target.js";

export interface ResultCounts extends RowCounts {
  /** JPY issued per group, from the checkpoint. */
  issuedAmountByGroup: Map<string, number>;
  failedByCode: Map<string, number>;
  /** Pending rows that are pending because they changed while in doubt: a rerun alone cannot settle them. */
  changedPending?: number;
}

export interface WrittenResults {
  counts: ResultCounts;
  /** SHA-256 of the bytes written, so a later run can tell the file is still as written. */
  digest: string;
}

/**
 * `plain`: UTF-8, LF; with a BOM when the input was Shift_JIS, since whoever saved it from Excel will
 * open the result in Excel, which reads UTF-8 without a BOM as Shift_JIS and garbles every name.
 * `excel`: UTF-8 with BOM, CRLF, formula-looking cells neutralized (the `'` prefixes break joins,
 * so that stays opt-in).
 */
export type ResultFormat = "plain" | "excel";

function withBom(format: ResultFormat, input: InputEncoding): boolean {
  return format === "excel" || input === "cp932";
}

/** How the result file is written, for the summary. */
export function resultEncoding(format: ResultFormat, input: InputEncoding): string {
  if (format === "excel") return "UTF-8 with BOM, CRLF, formula-like cells neutralized (--excel)";
  return withBom(format, input) ? "UTF-8 with BOM (the input was Shift_JIS; Excel opens it as is)" : "UTF-8";
}

/**
 * Regenerates the result file from the run's input snapshot and the checkpoint: one row per input
 * row, in input order, input columns untouched, then the result columns. Atomic (temp file +
 * rename), mode 0600, and claimed for the checkpoint first (see result-owner.ts).
 */
export async function writeResults(
  spec: ResolvedInputSpec,
  store: CheckpointStore,
  out: string,
  format: ResultFormat = "plain",
  /** What the plan pass derived from the same snapshot (see derived-rows.ts): read back, not hashed again. */
  derived?: DerivedRows,
): Promise<WrittenResults> {
  const excel = format === "excel";
  const hash = createHash("sha256");
  const counts: ResultCounts = { rows: 0, issued: 0, failed: 0, pending: 0, changed: 0, accepted: 0, issuedAmountByGroup: new Map(), failedByCode: new Map() };
  const context: ResultContext = { campaign: store.campaign, target: store.target ? targetLabel(store.target) : "" };
  await claimResult(out, store.location, store.campaign);
  const delimiter = excel ? "windows" : "unix";
  const encode = (record: string[]): string => encodeRecord(excel ? record.map(neutralizeFormula) : record, delimiter);
  await writeFileAtomically(out, async (writeFile) => {
    // Encoded once: the digest and the file take the same bytes.
    const write = (text: string): Promise<void> => {
      const bytes = Buffer.from(text, "utf8");
      hash.update(bytes);
      return writeFile(bytes);
    };
    if (withBom(format, spec.encoding)) await write("\uFEFF");
    // One write per batch of input rows (see readWholeInput): the store is asked for a batch's
    // rows in input order, and the file grows by one buffer per batch.
    for await (const batch of batchesWithStates(store, readWholeInput(spec, derived, true))) {
      const lines: string[] = [];
      const states = batch.map((item) => (item.kind === "row" ? store.get(item.prepared.request.requestId) : undefined));
      const outcomes = await outcomesOf(store, states);
      for (let i = 0; i < batch.length; i++) {
        const item = batch[i] as InputItem;
        if (item.kind === "header") {
          lines.push(encode([...item.header, ...RESULT_COLUMNS]));
          continue;
        }
        if (item.kind === "empty") continue;
        counts.rows++;
        if (item.kind === "invalid") {
          // Only reachable when the input changed under a running job; say so on the row.
          const problem = item.problems.map((p) => `${p.column}: ${p.rule}`).join("; ");
          const fields = Object.fromEntries(RESULT_COLUMNS.map((c) => [c, ""])) as Record<(typeof RESULT_COLUMNS)[number], string>;
          Object.assign(fields, {
            campaign: context.campaign,
            status: "pending",
            error_code: "INVALID_ROW",
            error_message: problem,
            attempts: "0",
            target: context.target,
          });
          lines.push(encode([...item.fields, ...RESULT_COLUMNS.map((c) => fields[c])]));
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
        const record = item.fields.slice();
        for (const column of RESULT_COLUMNS) record.push(fields[column]);
        lines.push(encode(record));
      }
      if (lines.length > 0) await write(lines.join(""));
    }
  });
  return { counts, digest: hash.digest("hex") };
}
