import { batchesWithStates } from "../checkpoint/prefetch.js";
import type { CheckpointStore } from "../checkpoint/store.js";
import { recordStart } from "../csv/record-start.js";
import type { DerivedRows } from "./derived-rows.js";
import { readInputBatches, type InputItem, type ResolvedInputSpec } from "./input-rows.js";
import type { Plan } from "./plan.js";
import type { PreparedRow } from "./prepared-row.js";
import type { RowSet } from "./row-set.js";

/**
 * The part of a recorded plan the applier follows: the rows come from `input.snapshot`, or (a
 * worker) from `rows`, claimed from the database.
 */
export type PlannedSends = {
  /** --allow-partial: group → first spreadsheet row held back. */
  cutoffs: Record<string, number>;
} & (
  | {
      input: ResolvedInputSpec;
      toSend?: RowSet;
      firstSend?: Plan["firstSend"];
      /** What the plan pass derived from the same snapshot: read back, not hashed again (see derived-rows.ts). */
      derived?: DerivedRows;
    }
  | { rows: AsyncIterable<PreparedRow> }
);

/** The rows to consider, a batch at a time: the snapshot's (only the plan's rows to send, when it knows them), or a worker's claims. */
export async function* plannedBatches(store: CheckpointStore, planned: PlannedSends): AsyncGenerator<PreparedRow[]> {
  if ("rows" in planned) {
    for await (const row of planned.rows) yield [row];
    return;
  }
  const { toSend, firstSend, derived } = planned;
  const only = toSend === undefined ? undefined : (row: number): boolean => toSend.has(row);
  if (only !== undefined && firstSend !== undefined && (yield* fromFirstSend(store, planned.input, only, firstSend, derived))) return;
  for await (const batch of batchesWithStates(store, readInputBatches(planned.input, only, derived))) yield rowsOf(batch);
}

/**
 * The plan's rows read from the first one it sends on, without parsing the rows before it (a
 * rerun that sends the rows appended to a big file, a resume after a crash). The record found
 * there must be that row, with the requestId and body the plan pass read; otherwise nothing is
 * yielded and the answer is false, and the caller reads from the top.
 */
async function* fromFirstSend(
  store: CheckpointStore,
  input: ResolvedInputSpec,
  only: (row: number) => boolean,
  first: NonNullable<Plan["firstSend"]>,
  derived: DerivedRows | undefined,
): AsyncGenerator<PreparedRow[], boolean> {
  const start = await recordStart(input.snapshot ?? input.file, first.row).catch(() => undefined);
  if (start === undefined) return false;
  const batches = batchesWithStates(store, readInputBatches(input, only, derived, true, { ...start, row: first.row }))[Symbol.asyncIterator]();
  try {
    let rows: PreparedRow[] = [];
    // Until the first row is seen to be the plan's, anything amiss, an error included, means: read from the top.
    try {
      while (rows.length === 0) {
        const next = await batches.next();
        if (next.done) return false;
        rows = rowsOf(next.value);
      }
    } catch {
      return false;
    }
    const row = rows[0] as PreparedRow;
    if (row.row !== first.row || row.request.requestId !== first.requestId || row.fingerprint !== first.fingerprint) return false;
    yield rows;
    for (let next = await batches.next(); !next.done; next = await batches.next()) yield rowsOf(next.value);
    return true;
  } finally {
    await batches.return?.(undefined);
  }
}

function rowsOf(batch: readonly InputItem[]): PreparedRow[] {
  const rows: PreparedRow[] = [];
  for (const item of batch) if (item.kind === "row") rows.push(item.prepared);
  return rows;
}
