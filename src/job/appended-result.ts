import type { CompleteRecord } from "../checkpoint/records.js";
import type { StartAt } from "../csv/read-records.js";
import { prefixOf } from "../csv/record-start.js";
import type { RunFingerprint } from "./finished-run.js";
import type { Plan } from "./plan.js";
import { RESULT_LAYOUT } from "./result-row.js";

/**
 * A nightly campaign's CSV grows: yesterday's rows, then today's. When this run's input is the last
 * finished run's input with records appended, and this run sent nothing but appended rows, every
 * row of the last result file is still what a full write would put there: its row's state has not
 * moved since, nor has anything its line is made of. The result is then that file's bytes (checked
 * against the digest the last run recorded) followed by the appended rows' lines, instead of a
 * million rows read, looked up and encoded again (see write-results.ts).
 */
export interface ResultContinuation {
  /** The last run's complete record: its result's digest and counts. */
  previous: CompleteRecord;
  /** Where the appended records start in the input, and the first one's row number. */
  from: StartAt;
}

export async function resultContinuation(
  previous: CompleteRecord | undefined,
  fingerprint: RunFingerprint,
  snapshot: { path: string; bytes: number },
  plan: Plan,
  retryFailed: boolean,
): Promise<ResultContinuation | undefined> {
  if (previous?.t !== "complete" || previous.inputBytes === undefined || previous.resultLayout !== RESULT_LAYOUT) return undefined;
  // The same campaign, target, columns, defaults, format and --out: every line is made the same way.
  if (previous.settingsDigest !== fingerprint.settingsDigest) return undefined;
  const { counts } = previous;
  if (counts.pending > 0 || counts.changed > 0 || (counts.accepted ?? 0) > 0 || (retryFailed && counts.failed > 0)) return undefined;
  if (plan.actions.conflict > 0 || plan.actions.changed > 0 || plan.actions.accepted > 0) return undefined;
  if (snapshot.bytes <= previous.inputBytes) return undefined;
  const prefix = await prefixOf(snapshot.path, previous.inputBytes);
  if (prefix.digest !== previous.inputDigest || prefix.records === undefined) return undefined;
  const firstAppended = prefix.records + 1;
  // A row of the last input that this run sent again would read differently now.
  if (plan.firstSend !== undefined && plan.firstSend.row < firstAppended) return undefined;
  return { previous, from: { offset: previous.inputBytes, row: firstAppended, recordDelimiter: prefix.recordDelimiter } };
}
