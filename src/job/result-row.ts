import type { OutcomeRecord, RowState } from "../checkpoint/records.js";
import { decideRow } from "./decide.js";
import type { PreparedRow } from "./prepared-row.js";

/** The columns the tool appends to each input row of the result file (order: RESULT_COLUMNS). */
export interface ResultFields {
  request_id: string;
  campaign: string;
  status: "issued" | "failed" | "pending";
  points_code: string;
  error_code: string;
  error_message: string;
  attempts: string;
  paypay_request_id: string;
  issued_at: string;
  /** The values actually sent under request_id; for an issued row, the ones its code was issued for. */
  sent_group_id: string;
  sent_amount: string;
  sent_gift_card_name: string;
  sent_start_at: string;
  sent_end_at: string;
  /** Which PayPay: "SIMULATED (…)" for a simulator, so a simulated code never passes for a real one. */
  target: string;
  response_data: string;
}

/**
 * The layout of a result row: which columns, and how each is written from a row's state. Recorded
 * with each result (the complete record), so a later run continues a result file only when its
 * rows would be written alike (see appended-result.ts). Bump it with any change to what a row's
 * line holds for the same state.
 */
export const RESULT_LAYOUT = 1;

export const REQUEST_CHANGED = "REQUEST_CHANGED";
export const REQUEST_CHANGED_ACCEPTED = "REQUEST_CHANGED_ACCEPTED";

/** Who the row belongs to, the same for every row of a result file. */
export interface ResultContext {
  campaign: string;
  target: string;
}

/**
 * A row's result from its checkpoint state and latest outcome. Pure. A row whose content changed
 * after it was sent is flagged, never silently shown as the new request's result.
 */
export function resultFields(row: PreparedRow, state: RowState | undefined, outcome: OutcomeRecord | undefined, context: ResultContext): ResultFields {
  // Every field named in one literal, no spread: a million rows come through here (issue #15).
  const fields: ResultFields = {
    request_id: row.request.requestId,
    campaign: context.campaign,
    status: "pending",
    points_code: "",
    error_code: "",
    error_message: "",
    attempts: String(state?.attempts ?? 0),
    paypay_request_id: outcome?.paypayRequestId ?? "",
    issued_at: "",
    sent_group_id: "",
    sent_amount: "",
    sent_gift_card_name: "",
    sent_start_at: "",
    sent_end_at: "",
    target: context.target,
    response_data: "",
  };
  setSentValues(fields, row, state, outcome);
  if (state === undefined) return fields;
  const action = decideRow(row.fingerprint, state, false);
  if (state.status === "issued" && outcome) {
    fields.status = "issued";
    fields.points_code = outcome.code ?? "";
    fields.issued_at = outcome.at;
    fields.response_data = outcome.data ?? "";
  } else if (state.status === "failed" && outcome) {
    fields.status = "failed";
    fields.error_code = outcome.errorCode ?? "";
    fields.error_message = outcome.errorMessage ?? "";
  } else if (state.status === "pending" && outcome) {
    fields.error_code = outcome.errorCode ?? "";
    fields.error_message = outcome.errorMessage ?? "";
  }
  if (action === "accepted") {
    fields.error_code = REQUEST_CHANGED_ACCEPTED;
    fields.error_message = "this row changed after its code was issued and the change was accepted (--accept-changed); the code is for the sent_* values";
  } else if (action === "conflict") {
    fields.error_code = REQUEST_CHANGED;
    fields.error_message =
      "this row changed after its code was issued; the code is for the sent_* values and nothing new was sent (restore the row, or accept the change with --accept-changed)";
  } else if (action === "changed") {
    fields.error_code = REQUEST_CHANGED;
    fields.error_message =
      "this row changed after it was sent and that request's outcome is unknown; restore the row to what was sent so a rerun can settle it (a new body is never sent under a requestId that may have issued a code)";
  }
  return fields;
}

/**
 * What was actually sent under the row's requestId: the outcome's record of the body, or, for a row
 * sent with no outcome yet (or recorded by an older release), the row's body when it is still the
 * one sent. Blank when nothing was sent, or when what was sent is no longer known.
 */
function setSentValues(fields: ResultFields, row: PreparedRow, state: RowState | undefined, outcome: OutcomeRecord | undefined): void {
  if (state === undefined) return;
  if (outcome?.name !== undefined && outcome.fp === state.fp) {
    fields.sent_group_id = outcome.groupId;
    fields.sent_amount = String(outcome.value);
    fields.sent_gift_card_name = outcome.name;
    fields.sent_start_at = outcome.startAt ?? "";
    fields.sent_end_at = outcome.endAt ?? "";
    return;
  }
  if (state.fp !== row.fingerprint) return;
  const { groupId, giftCardValue, giftCardName, startAt, endAt } = row.request;
  fields.sent_group_id = groupId;
  fields.sent_amount = String(giftCardValue);
  fields.sent_gift_card_name = giftCardName;
  fields.sent_start_at = startAt;
  fields.sent_end_at = endAt;
}
