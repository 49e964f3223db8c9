import type { RowState } from "../checkpoint/records.js";

/**
 * What to do with a valid row given what the checkpoint knows of its requestId. Pure; the heart of
 * exactly-once: a row is sent only when no code is known for it, and always under its same requestId.
 */
export type RowAction =
  /** Nothing recorded, or in doubt with the same body: send (again) with the same requestId. */
  | "send"
  /** Issued with this very body: nothing to do. */
  | "done"
  /** Rejected permanently before; stays failed unless --retry-failed. */
  | "keep-failed"
  /** Issued, but the row now asks for something else: report it, never send it. */
  | "conflict"
  /** A conflict an operator accepted (--accept-changed): still reported, no longer an error. */
  | "accepted"
  /** Sent with another body and the outcome is unknown: never sent until restored (a pending row not in doubt goes with --retry-failed). */
  | "changed";

export function decideRow(fingerprint: string, state: RowState | undefined, retryFailed: boolean): RowAction {
  if (state === undefined) return "send";
  const same = state.fp === fingerprint;
  switch (state.status) {
    case "issued":
      if (same) return "done";
      return state.acceptedFp === fingerprint ? "accepted" : "conflict";
    case "failed":
      return retryFailed ? "send" : "keep-failed";
    case "sent":
    case "pending":
      // A request in doubt may have issued a code for the body sent: another body under the same
      // requestId would be refused (or answered with that code) and the code lost, even with
      // --retry-failed. Only a row restored to what was sent can settle it.
      if (same) return "send";
      return retryFailed && !state.inDoubt ? "send" : "changed";
  }
}
