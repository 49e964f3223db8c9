import type { OutcomeRecord, RowState } from "../checkpoint/records.js";
import { decideRow } from "./decide.js";
import type { PreparedRow } from "./prepared-row.js";

/** The columns the tool appends to each input row of the result file, in order. */
export interface ResultFields {
  request_id: string;
  status: "issued" | "failed" | "pending";
  points_code: string;
  error_code: string;
  error_message: string;
  attempts: string;
  paypay_request_id: string;
  issued_at: string;
  response_data: string;
}

export const REQUEST_CHANGED = "REQUEST_CHANGED";

/**
 * A row's result from its checkpoint state and latest outcome. Pure. A row whose content changed
 * after it was sent is flagged, never silently shown as the new request's result.
 */
export function resultFields(row: PreparedRow, state: RowState | undefined, outcome: OutcomeRecord | undefined): ResultFields {
  const fields: ResultFields = {
    request_id: row.request.requestId,
    status: "pending",
    points_code: "",
    error_code: "",
    error_message: "",
    attempts: String(state?.attempts ?? 0),
    paypay_request_id: outcome?.paypayRequestId ?? "",
    issued_at: "",
    response_data: "",
  };
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
  if (action === "conflict") {
    fields.error_code = REQUEST_CHANGED;
    fields.error_message = "this row changed after its code was issued; the code shown is for the original request and nothing new was sent";
  } else if (action === "changed") {
    fields.error_code = REQUEST_CHANGED;
    fields.error_message = "this row changed after it was sent and the first request's outcome is unknown; restore the row, or rerun with --retry-failed to send the new request";
  }
  return fields;
}
