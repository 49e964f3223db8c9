import type pg from "pg";
import type { OutcomeRecord, RowState, RowStatus } from "../records.js";

/**
 * Reads of the rows table: the states of a chunk of rows, and outcomes back in windows of seq. seq is
 * read as text (bigint stays a string in `pg`) under another name than the column: ORDER BY seq
 * must sort the numbers, not their text.
 */

/** One outcome as pg-store.ts sends it to jsonb_to_recordset. */
export interface OutcomeRow {
  rid: string;
  fp: string;
  status: RowStatus;
  unknown: boolean;
  attempts: number;
  group_id: string;
  value: number;
  name: string | null;
  start_at: string | null;
  end_at: string | null;
  code: string | null;
  data: string | null;
  error_code: string | null;
  error_message: string | null;
  paypay_request_id: string | null;
  at: string;
}

const OUTCOME_WINDOW = 1000;

/**
 * requestId → state of those of `requestIds` a run has sent (rows only loaded at plan time are not
 * in it): one query for a chunk of rows, so no process ever holds every row's state.
 */
export async function readRowStates(client: pg.PoolClient, s: string, campaign: string, requestIds: readonly string[]): Promise<Map<string, RowState>> {
  const states = new Map<string, RowState>();
  if (requestIds.length === 0) return states;
  const { rows } = await client.query<{
    rid: string;
    fp: string;
    status: RowStatus | "sent";
    in_doubt: boolean;
    attempts: number;
    seq_text: string;
    has_outcome: boolean;
    accepted_fp: string | null;
  }>(
    `SELECT request_id::text AS rid, fingerprint AS fp, status, in_doubt, attempts, seq::text AS seq_text, outcome_at IS NOT NULL AS has_outcome, accepted_fp
       FROM ${s}.rows WHERE campaign = $1 AND request_id = ANY($2::uuid[]) AND status <> 'planned'`,
    [campaign, requestIds],
  );
  for (const r of rows) {
    states.set(r.rid, {
      fp: r.fp,
      status: r.status,
      inDoubt: r.in_doubt,
      attempts: r.attempts,
      ...(r.has_outcome ? { outcomeAt: { offset: Number(r.seq_text), length: 1 } } : {}),
      ...(r.accepted_fp === null ? {} : { acceptedFp: r.accepted_fp }),
    });
  }
  return states;
}

/** The outcomes of rows from `seq` on, in seq order: one query serves a thousand rows of a result. */
export async function readOutcomeWindow(client: pg.PoolClient, s: string, campaign: string, seq: number): Promise<Map<number, OutcomeRecord>> {
  const { rows } = await client.query<{
    seq_text: string;
    rid: string;
    outcome_fp: string;
    outcome_status: RowStatus;
    outcome_attempts: number;
    unknown_outcome: boolean;
    group_id: string;
    value: string;
    outcome_at: string;
    code: string | null;
    data: string | null;
    last_error_code: string | null;
    last_error_message: string | null;
    paypay_request_id: string | null;
    gift_card_name: string | null;
    start_at: string | null;
    end_at: string | null;
  }>(
    `SELECT seq::text AS seq_text, request_id::text AS rid, outcome_fp, outcome_status, outcome_attempts, unknown_outcome, group_id, value::text AS value,
            outcome_at, code, data, last_error_code, last_error_message, paypay_request_id, gift_card_name, start_at, end_at
       FROM ${s}.rows WHERE campaign = $1 AND seq >= $2 AND outcome_at IS NOT NULL ORDER BY seq LIMIT ${OUTCOME_WINDOW}`,
    [campaign, String(seq)],
  );
  const window = new Map<number, OutcomeRecord>();
  for (const r of rows) {
    const record: OutcomeRecord = {
      t: "outcome",
      rid: r.rid,
      fp: r.outcome_fp,
      status: r.outcome_status,
      attempts: r.outcome_attempts,
      groupId: r.group_id,
      // Yen amounts (at most 100,000 per code): well inside a JS number.
      value: Number(r.value),
      at: r.outcome_at,
    };
    if (r.code !== null) record.code = r.code;
    if (r.data !== null) record.data = r.data;
    if (r.last_error_code !== null) record.errorCode = r.last_error_code;
    if (r.last_error_message !== null) record.errorMessage = r.last_error_message;
    if (r.paypay_request_id !== null) record.paypayRequestId = r.paypay_request_id;
    if (r.gift_card_name !== null) record.name = r.gift_card_name;
    if (r.start_at !== null) record.startAt = r.start_at;
    if (r.end_at !== null) record.endAt = r.end_at;
    if (r.unknown_outcome) record.unknown = true;
    window.set(Number(r.seq_text), record);
  }
  return window;
}
