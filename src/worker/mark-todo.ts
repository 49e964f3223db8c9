import type pg from "pg";
import { quoteIdent } from "../checkpoint/pg/migrations.js";
import type { PgConnections } from "../checkpoint/pg/pool.js";
import { batchesWithStates } from "../checkpoint/prefetch.js";
import type { CheckpointStore } from "../checkpoint/store.js";
import { StateLostError } from "../errors.js";
import { readWholeInput } from "../job/input-reader-thread.js";
import type { ResolvedInputSpec } from "../job/input-rows.js";
import { plannedSend } from "../job/send-filter.js";
import { serializeCreateBody } from "../paypay/client.js";

/**
 * The step that turns a recorded plan into work for `work` processes: every row the plan sends
 * (plannedSend, as the applier decides it) is marked `todo` with the exact body it will carry, and
 * every claim and halt of an earlier plan is cleared. Runs under the campaign's exclusive lock, each
 * transaction fenced by the run's generation like every other write of the run.
 */

const BATCH = 1000;

export interface TodoMarking {
  connections: PgConnections;
  campaign: string;
  generation: string;
}

export async function markPlannedSends(
  target: TodoMarking,
  store: CheckpointStore,
  input: ResolvedInputSpec,
  retryFailed: boolean,
  cutoffs: Record<string, number>,
): Promise<number> {
  const s = quoteIdent(target.connections.state.schema);
  await fenced(target, async (client) => {
    await client.query(
      `UPDATE ${s}.rows SET todo = false, claim_token = NULL, planned_body = NULL, planned_group = NULL
        WHERE campaign = $1 AND (todo OR claim_token IS NOT NULL OR planned_body IS NOT NULL)`,
      [target.campaign],
    );
    // A new plan is a new start: budgets topped up, credentials fixed.
    await client.query(`UPDATE ${s}.campaigns SET halt = NULL WHERE campaign = $1`, [target.campaign]);
    await client.query(`DELETE FROM ${s}.group_halts WHERE campaign = $1`, [target.campaign]);
  });
  let marked = 0;
  let batch: Array<{ rid: string; body: string; group_id: string }> = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const json = JSON.stringify(batch);
    marked += batch.length;
    batch = [];
    await fenced(target, async (client) => {
      await client.query(
        `UPDATE ${s}.rows AS r SET todo = true, planned_body = x.body, planned_group = x.group_id
           FROM jsonb_to_recordset($2::jsonb) AS x(rid uuid, body text, group_id text)
          WHERE r.campaign = $1 AND r.request_id = x.rid`,
        [target.campaign, json],
      );
    });
  };
  for await (const items of batchesWithStates(store, readWholeInput(input))) {
    for (const item of items) {
      if (item.kind !== "row") continue;
      const row = item.prepared;
      if (plannedSend(row, store.get(row.request.requestId), retryFailed, cutoffs) !== "send") continue;
      batch.push({ rid: row.request.requestId, body: serializeCreateBody(row.request), group_id: row.request.groupId });
    }
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  return marked;
}

async function fenced(target: TodoMarking, work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  const s = quoteIdent(target.connections.state.schema);
  await target.connections.transaction(async (client) => {
    const { rows } = await client.query<{ generation: string }>(`SELECT generation FROM ${s}.campaigns WHERE campaign = $1 FOR SHARE`, [target.campaign]);
    if (rows[0]?.generation !== target.generation) {
      throw new StateLostError(
        "STATE_FENCED",
        `campaign ${target.campaign}: another run has taken the campaign over from this one; this run writes nothing more`,
      );
    }
    await work(client);
  });
}
