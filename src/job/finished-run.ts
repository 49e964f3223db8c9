import { createHash } from "node:crypto";
import { chmod, open } from "node:fs/promises";
import { fileSha256 } from "../fs/file-digest.js";
import { resolve } from "node:path";
import { readLastRecord } from "../checkpoint/journal-reader.js";
import type { CompleteRecord } from "../checkpoint/records.js";
import type { Target } from "../paypay/target.js";
import type { ResolvedInputSpec } from "./input-rows.js";
import { RESULT_LAYOUT } from "./result-row.js";
import type { ResultCounts, ResultFormat } from "./write-results.js";

/**
 * The fast path of a rerun that has nothing to do (cron running a finished campaign again). It
 * holds only when the checkpoint ends with the previous run's `complete` record and the input bytes,
 * the request-shaping settings and the result file are all exactly as that run left them, with no
 * row pending or changed. Anything else takes the full path, which rereads and rechecks every row.
 */

export interface RunFingerprint {
  inputDigest: string;
  settingsDigest: string;
}

/**
 * `inputDigest`: SHA-256 of the input's bytes, from the snapshot the run took. The target is part of
 * the settings: a finished run against one PayPay says nothing about another.
 */
export function runFingerprint(
  input: ResolvedInputSpec,
  inputDigest: string,
  settings: { retryFailed: boolean; format: ResultFormat; out: string },
  target: Target,
): RunFingerprint {
  const shaping = JSON.stringify([
    input.campaign,
    input.encoding,
    input.columns,
    input.defaults,
    settings.retryFailed,
    settings.format,
    resolve(settings.out),
    target,
  ]);
  return {
    inputDigest,
    settingsDigest: createHash("sha256").update(shaping).digest("hex"),
  };
}

/**
 * What a rerun can skip. `counts`: everything, nothing changed since the last run finished.
 * `resultOnly`: the plan and the sending; only the result file is not as that run wrote it
 * (deleted, moved in from elsewhere, edited), so it is written again from the checkpoint and the
 * same input, as `export` would. Undefined: there is work to do.
 */
export type FinishedRun = { counts: ResultCounts } | { resultOnly: true };

export async function finishedRun(state: string, fingerprint: RunFingerprint, out: string, retryFailed: boolean): Promise<FinishedRun | undefined> {
  const last = await lastCompleteRecord(state);
  if (!unchangedSince(last, fingerprint, retryFailed)) return undefined;
  if (!(await resultAsWritten(last, out))) return { resultOnly: true };
  // Both hold codes: a rerun tightens them even when it has nothing else to do.
  await chmod(state, 0o600);
  return { counts: countsOf(last) };
}

/** The checkpoint's last record when it is a `complete` record: the last run finished, and nothing happened since. */
export async function lastCompleteRecord(state: string): Promise<CompleteRecord | undefined> {
  const handle = await open(state, "r").catch(() => undefined);
  if (!handle) return undefined;
  try {
    const last = (await readLastRecord(handle)) as CompleteRecord | undefined;
    return last?.t === "complete" ? last : undefined;
  } finally {
    await handle.close();
  }
}

/** Whether the run that `last` completed would be repeated exactly, but for its result file: nothing to send. */
function unchangedSince(last: CompleteRecord | undefined, fingerprint: RunFingerprint, retryFailed: boolean): last is CompleteRecord {
  if (last?.t !== "complete" || last.inputDigest !== fingerprint.inputDigest || last.settingsDigest !== fingerprint.settingsDigest) return false;
  return !(last.counts.pending > 0 || last.counts.changed > 0 || (retryFailed && last.counts.failed > 0));
}

/** The counts of `last` when the run it completed would be repeated exactly (the result file too). */
export async function countsIfUnchanged(
  last: CompleteRecord | undefined,
  fingerprint: RunFingerprint,
  out: string,
  retryFailed: boolean,
): Promise<ResultCounts | undefined> {
  return unchangedSince(last, fingerprint, retryFailed) && (await resultAsWritten(last, out)) ? countsOf(last) : undefined;
}

/** Whether the result file is still the one `last` recorded, byte for byte; it holds codes, so it is kept at 0600. */
async function resultAsWritten(last: CompleteRecord, out: string): Promise<boolean> {
  if ((await fileSha256(out).catch(() => undefined)) !== last.resultDigest) return false;
  await chmod(out, 0o600);
  return true;
}

/** A complete record's counts as a run reports them. */
export function countsOf(record: CompleteRecord): ResultCounts {
  return {
    ...record.counts,
    accepted: record.counts.accepted ?? 0,
    issuedAmountByGroup: new Map(Object.entries(record.counts.issuedAmountByGroup)),
    failedByCode: new Map(Object.entries(record.counts.failedByCode)),
  };
}

export function completeRecord(fingerprint: RunFingerprint, resultDigest: string, counts: ResultCounts, inputBytes: number): Omit<CompleteRecord, "t" | "at"> {
  return {
    ...fingerprint,
    inputBytes,
    resultDigest,
    resultLayout: RESULT_LAYOUT,
    counts: {
      rows: counts.rows,
      issued: counts.issued,
      failed: counts.failed,
      pending: counts.pending,
      changed: counts.changed,
      accepted: counts.accepted,
      issuedAmountByGroup: Object.fromEntries(counts.issuedAmountByGroup),
      failedByCode: Object.fromEntries(counts.failedByCode),
    },
  };
}
