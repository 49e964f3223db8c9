import type { Target } from "../paypay/target.js";

/**
 * What a checkpoint remembers. The header (which campaign this checkpoint belongs to), `target`
 * (the one PayPay it is bound to), `plan` (the run's contract, written durably before its first
 * request), `sent` (written durably before a row's first request, with the fingerprint of the exact
 * body), `outcome` (written durably before the tool counts the row as done) and `accept` (an
 * operator's acknowledgement that an issued row changed since).
 */

export const CHECKPOINT_VERSION = 1;

export type RowStatus = "issued" | "failed" | "pending";

export interface HeaderRecord {
  t: "header";
  version: number;
  campaign: string;
  createdAt: string;
}

export interface SentRecord {
  t: "sent";
  rid: string;
  /** Fingerprint of the exact body sent under this requestId. */
  fp: string;
  row: number;
  at: string;
}

export interface OutcomeRecord {
  t: "outcome";
  rid: string;
  fp: string;
  status: RowStatus;
  /** Attempts made in this dispatch (the checkpoint adds them up across runs). */
  attempts: number;
  groupId: string;
  value: number;
  at: string;
  code?: string;
  /** The success's whole `data` object as JSON text. */
  data?: string;
  errorCode?: string;
  errorMessage?: string;
  paypayRequestId?: string;
  /** The rest of the body that was sent (groupId and value above), for the result's sent_* columns. */
  name?: string;
  startAt?: string;
  endAt?: string;
  /** Pending after an answer that leaves the outcome unknown: PayPay may have issued (and charged) it. */
  unknown?: boolean;
}

/** Binds the checkpoint to one PayPay: written once, when the checkpoint is created or first used. */
export interface TargetRecord {
  t: "target";
  at: string;
  target: Target;
}

/** The input settings every plan records, so `export` can rebuild the result from the checkpoint. */
export interface InputSettings {
  /** Absolute path of the user's input CSV (for messages; the run reads `snapshot`). */
  input: string;
  encoding: "utf8" | "cp932";
  columns: Record<string, string>;
  defaults: { amount?: number; giftCardName?: string; groupId?: string; startAt?: string; endAt?: string };
  out: string;
}

/**
 * The plan: the run's contract, recorded durably before its first request. The applier sends only
 * what it planned: the rows of `snapshot` (an immutable copy of the input taken while planning,
 * whose SHA-256 is `inputDigest`) that the planner marked to send, in input order, holding back
 * each group's rows from `cutoffs[group]` on. `planDigest` covers the ordered requestIds and body
 * fingerprints to send and the cutoffs. One record per run, whatever the number of rows, so replay
 * stays proportional to rows, not to runs.
 */
export interface PlanRecord extends InputSettings {
  t: "plan";
  at: string;
  target: Target;
  /** The snapshot's file name, beside the checkpoint. */
  snapshot: string;
  inputDigest: string;
  /** SHA-256 of the settings that shape a request body or the result (see finished-run.ts). */
  settingsDigest: string;
  planDigest: string;
  /** --allow-partial: group → the first spreadsheet row of that group held back for lack of budget. */
  cutoffs: Record<string, number>;
  /** Rows to send and the new charges they may make (rows in doubt excluded: see costsBudget). */
  send: { rows: number; amount: number; inDoubtRows: number };
  maxTotal?: number;
}

/** An operator accepted (--accept-changed) that an issued row now reads differently: report it, exit 0. */
export interface AcceptRecord {
  t: "accept";
  at: string;
  rid: string;
  /** The fingerprint of the changed body that was accepted; a further change is a conflict again. */
  fp: string;
}

/**
 * Written by releases before plans were recorded: how a run read its input. Still read, so a
 * checkpoint from such a release resumes and exports.
 */
export interface RunRecord extends InputSettings {
  t: "run";
  at: string;
}

/**
 * Written after a run wrote its result file: what the run read (digests of the input bytes and of
 * the settings that shape each request) and what it wrote. If nothing has changed since, the next
 * run of the same command has nothing to do and can say so without rereading a million rows.
 */
export interface CompleteRecord {
  t: "complete";
  at: string;
  inputDigest: string;
  /**
   * The input's length in bytes, so a later run can tell its input is this one with rows appended
   * (see appended-result.ts); missing from records of releases before it.
   */
  inputBytes?: number;
  settingsDigest: string;
  resultDigest: string;
  /** The result rows' layout (RESULT_LAYOUT in result-row.ts) when the result was written; missing before it. */
  resultLayout?: number;
  /** `accepted` is missing from records of releases before --accept-changed. */
  counts: Omit<RowCounts, "accepted"> & {
    accepted?: number;
    issuedAmountByGroup: Record<string, number>;
    failedByCode: Record<string, number>;
  };
}

/** How a run's rows ended up: in the complete record, the result counts and the summary. */
export interface RowCounts {
  rows: number;
  issued: number;
  failed: number;
  pending: number;
  /** Rows whose content changed after they were sent or issued (and nobody accepted the change). */
  changed: number;
  /** Issued rows whose change an operator accepted (--accept-changed): reported, not an error. */
  accepted: number;
}

export type CheckpointRecord = HeaderRecord | TargetRecord | PlanRecord | SentRecord | OutcomeRecord | AcceptRecord | RunRecord | CompleteRecord;

/** What a resume needs to know of one requestId, without holding its whole outcome in memory. */
export interface RowState {
  /** Fingerprint of the last body sent under this requestId. */
  fp: string;
  /** "sent" until an outcome is recorded: a request may have reached PayPay, outcome unknown. */
  status: RowStatus | "sent";
  /**
   * A request may have been issued and charged, and resending it under the same requestId costs
   * nothing more: "sent" without an outcome, or pending after an unknown outcome.
   */
  inDoubt: boolean;
  attempts: number;
  /** Where the latest outcome record sits, to read it back when writing the result. */
  outcomeAt?: { offset: number; length: number };
  /** An issued row's changed body that an operator accepted (--accept-changed). */
  acceptedFp?: string;
}
