import { BatchError } from "../errors.js";
import type { IssueReport } from "../job/issue-job.js";
import type { VerifyReport } from "../verify/report.js";
import type { WorkReport } from "../worker/run-worker.js";

/** The exit codes, the one contract a scheduler reads. Decided here and nowhere else. */
export const EXIT = {
  /** Every row issued (or nothing to do). */
  ok: 0,
  /** A bug or an unexpected failure (disk full, checkpoint write failed). */
  internal: 1,
  /** Usage, validation or budget refusal: nothing was sent. */
  refused: 2,
  /** Finished; some rows failed permanently (or changed after issuing). */
  someFailed: 3,
  /** Halted with rows pending: rerun to resume. */
  pending: 4,
  /** Another run holds the checkpoint. */
  locked: 5,
  /** Interrupted by SIGINT / SIGTERM (128 + signal number). */
  sigint: 130,
  sigterm: 143,
} as const;

export function exitCodeOfError(error: unknown): number {
  if (!(error instanceof BatchError)) return EXIT.internal;
  switch (error.kind) {
    case "usage":
    case "validation":
    case "budget":
    case "checkpoint":
      return EXIT.refused;
    case "locked":
      return EXIT.locked;
    case "fatal-api":
    case "state-lost":
      return EXIT.pending;
    case "rows-changed":
      return EXIT.someFailed;
  }
}

export function exitCodeOfReport(report: IssueReport, signal: NodeJS.Signals | undefined): number {
  if (report.halt === "interrupted" && signal) return signal === "SIGTERM" ? EXIT.sigterm : EXIT.sigint;
  // Rows that changed while in doubt wait for the operator, not for a rerun: they count as changed (3).
  if (report.counts.pending > (report.counts.changedPending ?? 0)) return EXIT.pending;
  if (report.counts.failed > 0 || report.counts.changed > 0) return EXIT.someFailed;
  return EXIT.ok;
}

/** verify: 4 when it could not go on (unreachable, credentials refused, outcome unknown), 3 when an assumption differed. */
export function exitCodeOfVerify(report: VerifyReport): number {
  if (report.stopped !== undefined) return EXIT.pending;
  if (report.findings.some((f) => f.verdict === "differed")) return EXIT.someFailed;
  return EXIT.ok;
}

/**
 * work: as issue, over the whole campaign once this worker is done (it exits only when no row is
 * left to any live worker): 4 while rows stay pending (a halt, attempts run out: `load` again), 3
 * when some failed, 0 when every row is issued.
 */
export function exitCodeOfWork(report: WorkReport, signal: NodeJS.Signals | undefined): number {
  if (report.halt === "interrupted" && signal) return signal === "SIGTERM" ? EXIT.sigterm : EXIT.sigint;
  if (report.campaign.pending > 0 || report.halt !== undefined) return EXIT.pending;
  if (report.campaign.failed > 0) return EXIT.someFailed;
  return EXIT.ok;
}
