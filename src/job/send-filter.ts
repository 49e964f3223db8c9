import type { RowState } from "../checkpoint/records.js";
import { decideRow } from "./decide.js";
import { costsBudget } from "./plan.js";
import type { PreparedRow } from "./prepared-row.js";

/**
 * Whether a recorded plan sends a row: the applier asks it row by row, and `load` asks it to mark
 * the rows workers will claim, so both follow the very same plan. "held": --allow-partial's cutoff
 * holds the row back.
 */
export function plannedSend(row: PreparedRow, state: RowState | undefined, retryFailed: boolean, cutoffs: Record<string, number>): "send" | "skip" | "held" {
  if (decideRow(row.fingerprint, state, retryFailed) !== "send") return "skip";
  const cutoff = cutoffs[row.request.groupId];
  return cutoff !== undefined && row.row >= cutoff && costsBudget(row.fingerprint, state) ? "held" : "send";
}
