/**
 * The error hierarchy. Every error a user can act on is a `BatchError` with a stable `code`; the
 * entry point alone turns them into exit codes (see `exitCodeOf` in cli/exit-codes.ts).
 */

export type ErrorKind =
  /** Bad flags, config or environment: nothing was sent. */
  | "usage"
  /** One or more input rows are invalid: nothing was sent. */
  | "validation"
  /** Group budgets cannot cover the rows to issue: nothing was sent. */
  | "budget"
  /** Another live run holds the checkpoint. */
  | "locked"
  /** A checkpoint exists but cannot be trusted (damaged, other campaign, unknown version). */
  | "checkpoint"
  /** PayPay refused the credentials or the client: stop the run. */
  | "fatal-api"
  /** Rows changed after they were sent or issued: reported, and the run is not clean until resolved. */
  | "rows-changed"
  /** The shared state store (PostgreSQL) could not be reached or written, or the run lost its lock: rerun. */
  | "state-lost";

export class BatchError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;

  constructor(kind: ErrorKind, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BatchError";
    this.kind = kind;
    this.code = code;
  }
}

export class UsageError extends BatchError {
  constructor(message: string, code = "USAGE") {
    super("usage", code, message);
    this.name = "UsageError";
  }
}

export class CheckpointError extends BatchError {
  constructor(code: string, message: string) {
    super("checkpoint", code, message);
    this.name = "CheckpointError";
  }
}

/** PostgreSQL failed under a run: nothing it could not commit was counted; a rerun resumes. */
export class StateLostError extends BatchError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super("state-lost", code, message, options);
    this.name = "StateLostError";
  }
}

export class LockedError extends BatchError {
  constructor(message: string) {
    super("locked", "LOCKED", message);
    this.name = "LockedError";
  }
}
