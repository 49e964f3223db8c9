import { JournalStore, type JournalInfo } from "./journal-store.js";
import type { PlanRecord, RowStatus, RunRecord } from "./records.js";
import type { Target } from "../paypay/target.js";
import type { CheckpointStore } from "./store.js";

/**
 * Everything `status` shows: counts by latest status, JPY issued per group, failures by code,
 * first and last activity, and the rows whose outcome is unknown. Reads the checkpoint without
 * changing it, in the same bounded memory as a resume.
 */
export interface CheckpointSummary extends JournalInfo {
  campaign: string;
  /** Undefined for a checkpoint no run of this release has used yet. */
  target?: Target;
  lastPlan?: PlanRecord | RunRecord;
  rows: number;
  byStatus: Record<RowStatus | "sent", number>;
  issuedJpyByGroup: Map<string, number>;
  failedByCode: Map<string, number>;
  /** Sent with no outcome yet, or left pending after an unknown outcome: PayPay may have issued them. */
  inDoubt: number;
}

export async function summarizeCheckpoint(file: string): Promise<CheckpointSummary> {
  const store = await JournalStore.open(file, "", { readOnly: true });
  try {
    return await summarizeStore(store, store.info);
  } finally {
    await store.close();
  }
}

/** The summary of a store that holds every row's state (the journal); PostgreSQL's is SQL (pg/pg-summary.ts). */
export async function summarizeStore(store: CheckpointStore & Pick<JournalStore, "entries">, info: JournalInfo): Promise<CheckpointSummary> {
  const summary = emptySummary(store, info);
  for (const [, state] of store.entries()) {
    summary.rows++;
    summary.byStatus[state.status]++;
    if (state.inDoubt) summary.inDoubt++;
    if (state.status !== "issued" && state.status !== "failed") continue;
    const outcome = await store.readOutcome(state);
    if (!outcome) continue;
    if (state.status === "issued") summary.issuedJpyByGroup.set(outcome.groupId, (summary.issuedJpyByGroup.get(outcome.groupId) ?? 0) + outcome.value);
    else if (outcome.errorCode) summary.failedByCode.set(outcome.errorCode, (summary.failedByCode.get(outcome.errorCode) ?? 0) + 1);
  }
  return summary;
}

/** A summary with the store's identity and nothing counted yet: each store counts its own way. */
export function emptySummary(store: CheckpointStore, info: JournalInfo): CheckpointSummary {
  return {
    campaign: store.campaign,
    target: store.target,
    lastPlan: store.lastPlan(),
    ...info,
    rows: 0,
    byStatus: { issued: 0, failed: 0, pending: 0, sent: 0 },
    issuedJpyByGroup: new Map(),
    failedByCode: new Map(),
    inDoubt: 0,
  };
}
