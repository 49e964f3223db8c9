import { open } from "node:fs/promises";
import { CheckpointError } from "../errors.js";
import { readJournal } from "./journal-reader.js";
import type { CheckpointRecord, OutcomeRecord, RowStatus } from "./records.js";

/**
 * Everything `status` shows, computed in one read of the journal: counts by latest status, JPY
 * issued per group, first and last activity, and the rows whose outcome is unknown.
 */
export interface CheckpointSummary {
  campaign: string;
  createdAt: string;
  rows: number;
  byStatus: Record<RowStatus | "sent", number>;
  issuedJpyByGroup: Map<string, number>;
  failedByCode: Map<string, number>;
  /** Sent with no outcome yet, or left pending after a retryable error: PayPay may have issued them. */
  inDoubt: number;
  firstActivity?: string;
  lastActivity?: string;
  runs: number;
  tornTail: boolean;
}

export async function summarizeCheckpoint(file: string): Promise<CheckpointSummary> {
  let handle;
  try {
    handle = await open(file, "r");
  } catch (error) {
    throw new CheckpointError("CHECKPOINT_NOT_FOUND", `${file}: cannot open checkpoint (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  try {
    const latest = new Map<string, { status: RowStatus | "sent"; outcome?: OutcomeRecord }>();
    const summary: CheckpointSummary = {
      campaign: "",
      createdAt: "",
      rows: 0,
      byStatus: { issued: 0, failed: 0, pending: 0, sent: 0 },
      issuedJpyByGroup: new Map(),
      failedByCode: new Map(),
      inDoubt: 0,
      runs: 0,
      tornTail: false,
    };
    const seen = (at: string): void => {
      if (summary.firstActivity === undefined || at < summary.firstActivity) summary.firstActivity = at;
      if (summary.lastActivity === undefined || at > summary.lastActivity) summary.lastActivity = at;
    };
    for await (const { record } of readJournal(handle, file, () => (summary.tornTail = true))) {
      const r = record as CheckpointRecord;
      if (r.t === "header") {
        summary.campaign = r.campaign;
        summary.createdAt = r.createdAt;
      } else if (r.t === "run") {
        summary.runs++;
        seen(r.at);
      } else if (r.t === "sent") {
        latest.set(r.rid, { status: "sent", outcome: latest.get(r.rid)?.outcome });
        seen(r.at);
      } else if (r.t === "outcome") {
        latest.set(r.rid, { status: r.status, outcome: r });
        seen(r.at);
      }
    }
    if (summary.campaign === "") throw new CheckpointError("CHECKPOINT_EMPTY", `${file}: not a points-code-batch checkpoint (no header record)`);
    for (const { status, outcome } of latest.values()) {
      summary.rows++;
      summary.byStatus[status]++;
      if (status === "issued" && outcome) summary.issuedJpyByGroup.set(outcome.groupId, (summary.issuedJpyByGroup.get(outcome.groupId) ?? 0) + outcome.value);
      if (status === "failed" && outcome?.errorCode) summary.failedByCode.set(outcome.errorCode, (summary.failedByCode.get(outcome.errorCode) ?? 0) + 1);
      // BUDGET_NOT_ENOUGH is a refusal, so PayPay issued nothing; any other pending or sent row may have been.
      if (status === "sent" || (status === "pending" && outcome?.errorCode !== "BUDGET_NOT_ENOUGH")) summary.inDoubt++;
    }
    return summary;
  } finally {
    await handle.close();
  }
}
