/**
 * What a checkpoint remembers. The header (which campaign this checkpoint belongs to), `run` (how a
 * run read its input), `sent` (written durably before a row's first request, with the fingerprint
 * of the exact body), and `outcome` (written durably before the tool counts the row as done).
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
  /** Pending after an answer that leaves the outcome unknown: PayPay may have issued (and charged) it. */
  unknown?: boolean;
}

/**
 * Written once a run has planned, before it sends: how the input was read, so `export` can rebuild the
 * result file from the checkpoint alone (given the input file is still there).
 */
export interface RunRecord {
  t: "run";
  at: string;
  /** Absolute path of the input CSV. */
  input: string;
  encoding: "utf8" | "cp932";
  columns: Record<string, string>;
  defaults: { amount?: number; giftCardName?: string; groupId?: string; startAt?: string; endAt?: string };
  out: string;
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
  settingsDigest: string;
  resultDigest: string;
  counts: RowCounts & {
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
  /** Rows whose content changed after they were sent or issued. */
  changed: number;
}

export type CheckpointRecord = HeaderRecord | SentRecord | OutcomeRecord | RunRecord | CompleteRecord;

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
}
