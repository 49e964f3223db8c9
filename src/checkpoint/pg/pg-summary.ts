import type pg from "pg";
import type { JournalInfo } from "../journal-store.js";
import { emptySummary, type CheckpointSummary } from "../summarize.js";
import type { PgStore } from "./pg-store.js";

/**
 * `status` of a campaign in PostgreSQL, from aggregates over its rows: the same figures as the
 * journal's summary (summarize.ts), without reading the rows into the process. Rows only loaded at
 * plan time ('planned') were never sent and are not counted, as in the journal.
 */
export async function summarizePgCampaign(client: pg.PoolClient, s: string, store: PgStore, info: JournalInfo): Promise<CheckpointSummary> {
  const summary = emptySummary(store, info);
  const byStatus = await client.query<{ status: keyof CheckpointSummary["byStatus"]; rows: string; in_doubt: string }>(
    `SELECT status, count(*)::text AS rows, count(*) FILTER (WHERE in_doubt)::text AS in_doubt
       FROM ${s}.rows WHERE campaign = $1 AND status <> 'planned' GROUP BY status`,
    [store.campaign],
  );
  for (const r of byStatus.rows) {
    summary.rows += Number(r.rows);
    summary.byStatus[r.status] += Number(r.rows);
    summary.inDoubt += Number(r.in_doubt);
  }
  // The latest outcome's group and value, as the journal's summary reads them; sums as text (bigint).
  const issued = await client.query<{ group_id: string; jpy: string }>(
    `SELECT group_id, sum(value)::text AS jpy FROM ${s}.rows WHERE campaign = $1 AND status = 'issued' AND outcome_at IS NOT NULL GROUP BY group_id ORDER BY min(seq)`,
    [store.campaign],
  );
  for (const r of issued.rows) summary.issuedJpyByGroup.set(r.group_id, Number(r.jpy));
  const failed = await client.query<{ code: string; rows: string }>(
    `SELECT last_error_code AS code, count(*)::text AS rows FROM ${s}.rows
      WHERE campaign = $1 AND status = 'failed' AND outcome_at IS NOT NULL AND last_error_code IS NOT NULL AND last_error_code <> ''
      GROUP BY last_error_code ORDER BY min(seq)`,
    [store.campaign],
  );
  for (const r of failed.rows) summary.failedByCode.set(r.code, Number(r.rows));
  return summary;
}
