import type { RowCounts } from "../checkpoint/records.js";
import type { IssueReport } from "../job/issue-job.js";
import type { RateController } from "../job/rate-controller.js";
import type { Phase } from "../job/phase-clock.js";
import { yen } from "../yen.js";
import { describeReconciliation, type GroupReconciliation } from "../job/reconcile.js";
import { describeTarget, isSimulated, type Target } from "../paypay/target.js";
import { rateHistoryJson, round } from "./pacing.js";

/** The end-of-run summary, for people (text on stdout) and for automation (`--summary-json`). */

export interface SummaryJson extends RowCounts {
  exitCode: number;
  campaign: string;
  input: string;
  result: string;
  /** How the result file is written: UTF-8, with a BOM for Excel or not. */
  resultEncoding: string;
  checkpoint: string;
  target: Target;
  /** True for a simulator: its codes are not money and must never be handed out. */
  simulated: boolean;
  /** Rows whose cells were all empty (Excel leftovers), skipped like blank lines. */
  skippedEmptyRows: number;
  failedByCode: Record<string, number>;
  issuedJpyByGroup: Record<string, number>;
  exhaustedGroups: string[];
  halt: string | null;
  requests: number;
  retries: number;
  /** Answers that were 429 RATE_LIMIT. */
  throttled: number;
  elapsedSeconds: number;
  requestsPerSecond: number;
  /** With --rate auto: the adaptive rate over time (1 s points, merged when long). */
  rateHistory?: ReturnType<typeof rateHistoryJson>;
  adaptiveRate?: { final: number; estimatedLimit: number | null; cuts: number };
  /** Per group: how far the budget moved during the run against what the run charged. */
  reconciliation: GroupReconciliation[];
  /** Groups whose budget moved by more (or less) than this run and its rows in doubt explain. */
  reconciliationWarnings: string[];
  reconciliationError: string | null;
  /** Seconds from the start of the run to its first request; null when nothing was sent. */
  firstRequestSeconds: number | null;
  /** Where the run's time went: wall and CPU ms per phase (snapshot, replay, plan, record-plan, send, reconcile, result, complete). */
  phases: Phase[];
}

export function summaryJson(
  report: IssueReport,
  exitCode: number,
  paths: { campaign: string; input: string; result: string; checkpoint: string },
  target: Target,
  controller?: RateController,
  resultEncoding = "UTF-8",
): SummaryJson {
  const { counts } = report;
  const adaptive = controller
    ? {
        rateHistory: rateHistoryJson(controller.history()),
        adaptiveRate: {
          final: round(controller.rate),
          estimatedLimit: controller.limit === undefined ? null : round(controller.limit),
          cuts: controller.stats.cuts,
        },
      }
    : {};
  return {
    exitCode,
    ...paths,
    target,
    simulated: isSimulated(target),
    resultEncoding,
    skippedEmptyRows: report.plan?.emptyRows ?? 0,
    rows: counts.rows,
    issued: counts.issued,
    failed: counts.failed,
    pending: counts.pending,
    changed: counts.changed,
    accepted: counts.accepted,
    failedByCode: Object.fromEntries(counts.failedByCode),
    issuedJpyByGroup: Object.fromEntries(counts.issuedAmountByGroup),
    exhaustedGroups: report.exhaustedGroups,
    halt: report.halt ?? null,
    requests: report.requests,
    retries: report.retries,
    throttled: report.throttled,
    elapsedSeconds: round(report.elapsedMs / 1000),
    requestsPerSecond: report.sendingMs > 0 ? round((report.requests * 1000) / report.sendingMs) : 0,
    ...adaptive,
    reconciliation: report.reconciliation,
    reconciliationWarnings: report.reconciliation.filter((r) => r.unexplained).map(describeReconciliation),
    reconciliationError: report.reconciliationError ?? null,
    firstRequestSeconds: report.firstRequestMs === undefined ? null : round(report.firstRequestMs / 1000),
    phases: report.phases ?? [],
  };
}

export function formatSummary(summary: SummaryJson, fatalMessage: string | undefined): string {
  const lines = [`campaign ${summary.campaign}: ${summary.rows} rows — ${summary.issued} issued, ${summary.failed} failed, ${summary.pending} pending`];
  if (summary.skippedEmptyRows > 0) lines.push(`  skipped ${summary.skippedEmptyRows} empty row(s) (every cell blank)`);
  for (const [code, count] of Object.entries(summary.failedByCode)) lines.push(`  failed ${code}: ${count}`);
  if (summary.simulated) lines.push(`  SIMULATED: ${describeTarget(summary.target)}; these codes are not real PayPay codes and must not be handed out`);
  if (summary.target.kind === "embedded-simulator")
    lines.push("  (the embedded simulator's ledger is new on every run: a rerun replays recorded codes from the checkpoint)");
  if (summary.changed > 0)
    lines.push(
      `  ${summary.changed} row(s) changed after they were sent (REQUEST_CHANGED in the result): restore them (a row in doubt must be restored to settle), or --accept-changed for issued rows`,
    );
  if (summary.accepted > 0) lines.push(`  ${summary.accepted} issued row(s) changed since and were accepted (REQUEST_CHANGED_ACCEPTED in the result)`);
  for (const [group, jpy] of Object.entries(summary.issuedJpyByGroup)) lines.push(`  group ${group}: ${yen(jpy)} issued`);
  for (const group of summary.exhaustedGroups) lines.push(`  group ${group}: budget exhausted, its remaining rows are pending`);
  if (fatalMessage) lines.push(`  halted: ${fatalMessage}`);
  if (summary.halt === "interrupted") lines.push("  interrupted: in-flight requests were finished and recorded");
  lines.push(
    `  ${summary.requests} request(s), ${summary.retries} retr${summary.retries === 1 ? "y" : "ies"}, ${summary.requestsPerSecond} req/s, ${summary.elapsedSeconds} s`,
  );
  if (summary.throttled > 0) lines.push(`  ${summary.throttled} answer(s) were 429 RATE_LIMIT`);
  if (summary.adaptiveRate) {
    const limit = summary.adaptiveRate.estimatedLimit;
    lines.push(
      `  adaptive rate: ended at ${summary.adaptiveRate.final} req/s${limit === null ? "" : `, PayPay's limit estimated at ${limit} req/s`}, ${summary.adaptiveRate.cuts} cut(s)`,
    );
  }
  for (const r of summary.reconciliation) lines.push(`  ${describeReconciliation(r)}`);
  if (summary.reconciliationError) lines.push(`  budgets not reconciled: ${summary.reconciliationError}`);
  lines.push(`  result: ${summary.result} (${summary.resultEncoding})`);
  lines.push(`  checkpoint: ${summary.checkpoint}`);
  if (summary.pending > 0) lines.push("  rows are pending: run the same command again to resume (issued rows are never sent twice)");
  return lines.join("\n");
}
