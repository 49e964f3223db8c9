import type pg from "pg";
import type { OutcomeRecord, RowState, RowStatus } from "../records.js";

/**
 * Reads of the rows table: the states and outcomes of a chunk of rows, and one outcome by seq. seq
 * is read as text (bigint stays a string in `pg`).
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

/** The outcome columns, as read back into an OutcomeRecord (outcomeRecord). */
const OUTCOME_COLUMNS = `outcome_fp, outcome_status, outcome_attempts, unknown_outcome, group_id, value::text AS value,
  outcome_at, code, data, last_error_code, last_error_message, paypay_request_id, gift_card_name, start_at, end_at`;

interface OutcomeColumns {
  rid: string;
  outcome_fp: string;
  outcome_status: RowStatus;
  outcome_attempts: number;
  unknown_outcome: boolean;
  group_id: string;
  value: string;
  outcome_at: string | null;
  code: string | null;
  data: string | null;
  last_error_code: string | null;
  last_error_message: string | null;
  paypay_request_id: string | null;
  gift_card_name: string | null;
  start_at: string | null;
  end_at: string | null;
}

/** A chunk of rows as prefetch reads them: states by requestId, and the outcomes among them by seq. */
export interface RowReads {
  states: Map<string, RowState>;
  outcomes: Map<number, OutcomeRecord>;
}

/**
 * The states of those of `requestIds` a run has sent (rows only loaded at plan time are not in
 * them), and their outcomes, in one query by primary key: no process ever holds every row's state,
 * and a result reads each chunk's outcomes with its states, whatever the order of seq (an input
 * changed after its first plan has rows whose seq is far from their place).
 */
export async function readRowStates(client: pg.PoolClient, s: string, campaign: string, requestIds: readonly string[]): Promise<RowReads> {
  const reads: RowReads = { states: new Map(), outcomes: new Map() };
  if (requestIds.length === 0) return reads;
  const { rows } = await client.query<
    OutcomeColumns & { fp: string; status: RowStatus | "sent"; in_doubt: boolean; attempts: number; seq_text: string; accepted_fp: string | null }
  >(
    `SELECT request_id::text AS rid, fingerprint AS fp, status, in_doubt, attempts, seq::text AS seq_text, accepted_fp, ${OUTCOME_COLUMNS}
       FROM ${s}.rows WHERE campaign = $1 AND request_id = ANY($2::uuid[]) AND status <> 'planned'`,
    [campaign, requestIds],
  );
  for (const r of rows) {
    const seq = Number(r.seq_text);
    const outcome = outcomeRecord(r);
    if (outcome) reads.outcomes.set(seq, outcome);
    reads.states.set(r.rid, {
      fp: r.fp,
      status: r.status,
      inDoubt: r.in_doubt,
      attempts: r.attempts,
      ...(outcome ? { outcomeAt: { offset: seq, length: 1 } } : {}),
      ...(r.accepted_fp === null ? {} : { acceptedFp: r.accepted_fp }),
    });
  }
  return reads;
}

/** The outcome of the row `seq`: for a row whose outcome was written after its chunk was read. */
export async function readOutcomeBySeq(client: pg.PoolClient, s: string, campaign: string, seq: number): Promise<OutcomeRecord | undefined> {
  const { rows } = await client.query<OutcomeColumns>(`SELECT request_id::text AS rid, ${OUTCOME_COLUMNS} FROM ${s}.rows WHERE campaign = $1 AND seq = $2`, [
    campaign,
    String(seq),
  ]);
  return rows[0] === undefined ? undefined : outcomeRecord(rows[0]);
}

/** Undefined for a row with no outcome yet (sent, in flight or in doubt). */
function outcomeRecord(r: OutcomeColumns): OutcomeRecord | undefined {
  if (r.outcome_at === null) return undefined;
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
  return record;
}
