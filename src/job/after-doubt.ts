import type { OutcomeRecord, RowState } from "../checkpoint/records.js";

/**
 * What PayPay answers when a requestId it already issued under is sent again with the same body.
 * The contract assumes "original" (the first success again, no second charge); `verify` checks it,
 * and `--replay refused` (written by `verify --write-config`) says PayPay refuses the repeat instead.
 */
export const REPLAY_BEHAVIOURS = ["original", "refused"] as const;
export type ReplayBehaviour = (typeof REPLAY_BEHAVIOURS)[number];

export type RecordedFields = Pick<OutcomeRecord, "status" | "code" | "data" | "errorCode" | "errorMessage" | "unknown">;

export interface DoubtContext {
  /** The row's checkpoint state before this dispatch (an earlier run's), if any. */
  previous: RowState | undefined;
  /** Attempts this dispatch made: more than one means an earlier attempt's outcome was unknown. */
  attempts: number;
  replay: ReplayBehaviour;
}

/**
 * Whether PayPay may already hold a code for this row when its last answer came: an earlier run
 * left it sent or pending, or an earlier attempt of this dispatch got no settling answer (a 5XX, a
 * timeout, a reset, or a 429 too: which of those ever commit is not public, so every one counts).
 */
export function wasInDoubt(previous: RowState | undefined, attempts: number): boolean {
  return previous?.status === "sent" || previous?.status === "pending" || attempts > 1;
}

export const REPLAY_REFUSED_NOTE =
  "`verify` found that PayPay refuses a repeated requestId instead of answering the original code (replay: refused), " +
  "and an earlier request for this row may have issued one: the row stays in doubt, never failed; " +
  "ask PayPay support about its requestId (and the X-REQUEST-IDs in the log) before sending it under a new campaign";

/**
 * The record to write for a row's last answer, given whether the row was in doubt. When PayPay
 * answers a repeat with the original code (the default), answers mean what they say. When it refuses
 * a repeat, a refusal of a row in doubt may be that refusal, hiding a code already issued and
 * charged: the row must stay pending and in doubt (never "failed", which --retry-failed would
 * resend and a reader would take as "nothing issued").
 */
export function afterDoubt(fields: RecordedFields, context: DoubtContext): RecordedFields {
  if (context.replay === "original" || fields.status === "issued" || fields.unknown === true) return fields;
  if (!wasInDoubt(context.previous, context.attempts)) return fields;
  const answer = fields.errorCode ? `${fields.errorCode}: ${fields.errorMessage ?? ""}` : (fields.errorMessage ?? "");
  return { status: "pending", errorCode: fields.errorCode, errorMessage: `${answer}; ${REPLAY_REFUSED_NOTE}`, unknown: true };
}
