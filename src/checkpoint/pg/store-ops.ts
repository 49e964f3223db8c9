import type pg from "pg";
import type { OutcomeRecord, RowStatus } from "../records.js";
import type { OutcomeRow } from "./row-reads.js";
import { OUTCOME_RECORD, OUTCOME_SET, SENT_CONFLICT, SENT_INSERT, SENT_RECORD } from "./row-sql.js";

/**
 * What PgStore commits (its ops), and the statements of its transaction path (pg-store.ts fenced):
 * campaign records, acceptances, and `sent` and outcome records when they cannot go in one
 * statement (row-commit.ts). A segment is a run of ops of one kind, one statement.
 */

export type Op =
  | { k: "sent"; rid: string; fp: string; row: number; body: string | null }
  | { k: "outcome"; outcome: Omit<OutcomeRecord, "t" | "at">; at: string; seq?: number }
  | { k: "accept"; rid: string; fp: string }
  | { k: "campaign"; column: "target" | "latest_plan" | "last_complete" | "opened_at"; value: unknown };

/** The row an op writes; a campaign record has none, and commits alone. */
export function opKey(op: Op): string | undefined {
  if (op.k === "campaign") return undefined;
  return (op.k === "outcome" ? op.outcome.rid : op.rid).toLowerCase();
}

/**
 * A batch that row-commit.ts can write in one statement: `sent` and outcome records only, no row
 * twice (two CTEs of one statement must not write the same row); otherwise undefined.
 */
export function sentAndOutcomes(ops: Op[]): { sent: Array<Op & { k: "sent" }>; outcomes: Array<Op & { k: "outcome" }> } | undefined {
  const sent: Array<Op & { k: "sent" }> = [];
  const outcomes: Array<Op & { k: "outcome" }> = [];
  const rids = new Set<string>();
  for (const op of ops) {
    if (op.k === "sent") sent.push(op);
    else if (op.k === "outcome") outcomes.push(op);
    else return undefined;
    const rid = opKey(op) ?? "";
    if (rids.has(rid)) return undefined;
    rids.add(rid);
  }
  return { sent, outcomes };
}

/** Consecutive operations of one kind, no requestId twice (one statement may touch a row once). */
export function* segments(ops: Op[]): Generator<Op[]> {
  let current: Op[] = [];
  let rids = new Set<string>();
  for (const op of ops) {
    const rid = opKey(op);
    const head = current[0];
    if (head && (head.k !== op.k || head.k === "campaign" || (rid !== undefined && rids.has(rid)))) {
      yield current;
      current = [];
      rids = new Set();
    }
    current.push(op);
    if (rid !== undefined) rids.add(rid);
  }
  if (current.length > 0) yield current;
}

export function outcomeRow(op: { outcome: Omit<OutcomeRecord, "t" | "at">; at: string }): OutcomeRow {
  const o = op.outcome;
  return {
    rid: o.rid,
    fp: o.fp,
    status: o.status satisfies RowStatus,
    unknown: o.unknown === true,
    attempts: o.attempts,
    group_id: o.groupId,
    value: o.value,
    name: o.name ?? null,
    start_at: o.startAt ?? null,
    end_at: o.endAt ?? null,
    code: o.code ?? null,
    data: o.data ?? null,
    error_code: o.errorCode ?? null,
    error_message: o.errorMessage ?? null,
    paypay_request_id: o.paypayRequestId ?? null,
    at: op.at,
  };
}

/**
 * One segment (segments()) as a statement of the store's transaction path. For outcomes, the seq of
 * each row written, by requestId (lower case, as PostgreSQL prints a uuid).
 */
export async function commitSegment(client: pg.PoolClient, s: string, campaign: string, ops: Op[]): Promise<Map<string, number> | undefined> {
  const first = ops[0];
  if (!first) return;
  if (first.k === "campaign") {
    for (const op of ops as Array<Op & { k: "campaign" }>) {
      const value = op.column === "opened_at" ? op.value : JSON.stringify(op.value);
      await client.query(`UPDATE ${s}.campaigns SET ${op.column} = $2 WHERE campaign = $1`, [campaign, value]);
    }
  } else if (first.k === "sent") {
    const rows = (ops as Array<Op & { k: "sent" }>).map(({ rid, fp, row, body }) => ({ rid, fp, row, body }));
    await client.query(
      `INSERT INTO ${s}.rows AS r ${SENT_INSERT.columns}
       SELECT ${SENT_INSERT.values} FROM jsonb_to_recordset($2::jsonb) AS ${SENT_RECORD}
       ${SENT_CONFLICT}`,
      [campaign, JSON.stringify(rows)],
    );
  } else if (first.k === "accept") {
    const rows = (ops as Array<Op & { k: "accept" }>).map(({ rid, fp }) => ({ rid, fp }));
    await client.query(
      `UPDATE ${s}.rows AS r SET accepted_fp = x.fp, updated_at = now() FROM jsonb_to_recordset($2::jsonb) AS x(rid uuid, fp text)
        WHERE r.campaign = $1 AND r.request_id = x.rid`,
      [campaign, JSON.stringify(rows)],
    );
  } else {
    const outcomes = ops as Array<Op & { k: "outcome" }>;
    const { rows } = await client.query<{ rid: string; seq: string }>(
      `UPDATE ${s}.rows AS r SET ${OUTCOME_SET}
       FROM jsonb_to_recordset($2::jsonb) AS ${OUTCOME_RECORD}
       WHERE r.campaign = $1 AND r.request_id = x.rid
       RETURNING r.request_id::text AS rid, r.seq::text AS seq`,
      [campaign, JSON.stringify(outcomes.map(outcomeRow))],
    );
    return new Map(rows.map((r) => [r.rid, Number(r.seq)]));
  }
  return undefined;
}
