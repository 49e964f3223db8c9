/**
 * The SQL of a `sent` and an outcome record, shared by the one-round-trip group commit
 * (row-commit.ts) and the transaction path (store-ops.ts): two copies could drift apart, and a row
 * would then be recorded differently depending on which path a commit took. Both read their records
 * from a JSON recordset aliased `x`; `r` is the rows table.
 */

/** The recordset of `sent` records. */
export const SENT_RECORD = "x(rid uuid, fp text, body text, row integer)";

/** The columns a `sent` record inserts, and the values it inserts from `x` (campaign is $1). */
export const SENT_INSERT = {
  columns: "(campaign, request_id, fingerprint, body, row_no, status, in_doubt, sent_at)",
  values: "$1, x.rid, x.fp, x.body, x.row, 'sent', true, now()",
} as const;

/** A `sent` record over a row already there (a resend): the row is in doubt again, its first sent_at kept. */
export const SENT_CONFLICT = `ON CONFLICT (campaign, request_id) DO UPDATE SET fingerprint = excluded.fingerprint, body = coalesce(excluded.body, r.body),
  row_no = excluded.row_no, status = 'sent', in_doubt = true, sent_at = coalesce(r.sent_at, excluded.sent_at), updated_at = now()`;

/** The recordset of outcome records (outcomeRow in row-reads.ts). */
export const OUTCOME_RECORD = `x(rid uuid, fp text, status text, unknown boolean, attempts integer, group_id text,
  value bigint, name text, start_at text, end_at text, code text, data text, error_code text, error_message text,
  paypay_request_id text, at text)`;

/** What an outcome sets on its row: attempts add up across runs, and a settled row leaves the work queue. */
export const OUTCOME_SET = `fingerprint = x.fp, outcome_fp = x.fp, status = x.status, outcome_status = x.status,
  in_doubt = x.status = 'pending' AND coalesce(x.unknown, false), unknown_outcome = coalesce(x.unknown, false),
  attempts = r.attempts + x.attempts, outcome_attempts = x.attempts, group_id = x.group_id, value = x.value,
  gift_card_name = x.name, start_at = x.start_at, end_at = x.end_at, code = x.code, data = x.data,
  last_error_code = x.error_code, last_error_message = x.error_message, paypay_request_id = x.paypay_request_id,
  outcome_at = x.at, updated_at = now(), todo = r.todo AND x.status = 'pending', claim_token = NULL`;
