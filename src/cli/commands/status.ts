import type { Argv, CommandModule } from "yargs";
import { describeOwner } from "../../checkpoint/lock.js";
import { readLockStatus, type LockStatus } from "../../checkpoint/lock-status.js";
import { summarizeCheckpoint, type CheckpointSummary } from "../../checkpoint/summarize.js";
import { PgReader } from "../../checkpoint/pg/pg-reader.js";
import { isPostgresState } from "../../checkpoint/pg/pg-url.js";
import type { PurgedSummary } from "../../checkpoint/pg/purge.js";
import { CheckpointError } from "../../errors.js";
import { yen } from "../../yen.js";
import { auditPathOf, formatAuditEntry, readAudit, type AuditEntry } from "../../audit/audit-log.js";
import { formatWorkerStatus } from "../../worker/worker-status.js";
import { describeTarget, isSimulated } from "../../paypay/target.js";
import { refuseOtherTargetFlags, withTargetOptions, type TargetFlags } from "../target-options.js";

interface StatusFlags extends TargetFlags {
  checkpoint: string;
  campaign?: string;
  json?: boolean;
  audit?: string;
}

export const statusCommand: CommandModule<object, StatusFlags> = {
  command: "status <checkpoint>",
  describe: "Show what a checkpoint holds: counts by status, JPY issued, rows in doubt, the lock",
  builder: (yargs) =>
    withTargetOptions(yargs)
      .positional("checkpoint", { type: "string", demandOption: true, describe: "Checkpoint file, or postgresql:// URL (see issue --state)" })
      .option("campaign", { type: "string", describe: "The campaign, with a postgresql:// state" })
      .option("json", { type: "boolean", describe: "Print JSON" })
      .option("audit", {
        type: "string",
        describe:
          "The console's audit log file to show [default: <checkpoint>.audit.jsonl beside a checkpoint file; the database's audit table with a postgresql:// state]",
      })
      .example("$0 status samples/recipients.results.checkpoint", "How far did the sample run (npm start) get?") as unknown as Argv<StatusFlags>,
  handler: async (argv) => {
    if (isPostgresState(argv.checkpoint)) {
      const reader = await PgReader.open(argv.checkpoint, argv.campaign, process.env);
      try {
        // A console campaign's audit log is in the database (kept through a purge); --audit names a file instead.
        const audit = argv.audit === undefined ? await reader.audit() : await readAudit(argv.audit);
        if (reader.purged) {
          process.stdout.write(
            argv.json
              ? `${JSON.stringify({ campaign: reader.campaign, purged: reader.purged, audit }, null, 2)}\n`
              : `${formatPurged(reader.location, reader.purged)}${formatAudit(audit)}\n`,
          );
          return;
        }
        if (!reader.store) throw new CheckpointError("CHECKPOINT_NOT_FOUND", `${reader.location}: no run of this campaign has got past planning`);
        const summary = await reader.summary(reader.store);
        await refuseOtherTargetFlags(reader.location, summary.target, argv);
        const lock = await reader.lockStatus();
        const workers = await reader.workerStatus();
        process.stdout.write(
          argv.json
            ? `${JSON.stringify({ ...statusJson(summary, lock), ...(workers ? { workers } : {}), audit }, null, 2)}\n`
            : `${[formatStatus(reader.location, summary, lock), ...(workers ? formatWorkerStatus(workers) : [])].join("\n")}${formatAudit(audit)}\n`,
        );
      } finally {
        await reader.close();
      }
      return;
    }
    const summary = await summarizeCheckpoint(argv.checkpoint);
    await refuseOtherTargetFlags(argv.checkpoint, summary.target, argv);
    const lock = await readLockStatus(`${argv.checkpoint}.lock`);
    // A campaign run from the console has an audit log beside its checkpoint: who approved what.
    const audit = await readAudit(argv.audit ?? auditPathOf(argv.checkpoint));
    process.stdout.write(
      argv.json
        ? `${JSON.stringify({ ...statusJson(summary, lock), audit }, null, 2)}\n`
        : `${formatStatus(argv.checkpoint, summary, lock)}${formatAudit(audit)}\n`,
    );
  },
};

function statusJson(summary: CheckpointSummary, lock: LockStatus) {
  return {
    campaign: summary.campaign,
    target: summary.target ?? null,
    simulated: summary.target ? isSimulated(summary.target) : null,
    lastPlan:
      summary.lastPlan?.t === "plan"
        ? {
            at: summary.lastPlan.at,
            inputDigest: summary.lastPlan.inputDigest,
            planDigest: summary.lastPlan.planDigest,
            send: summary.lastPlan.send,
            maxTotal: summary.lastPlan.maxTotal ?? null,
          }
        : null,
    createdAt: summary.createdAt,
    rows: summary.rows,
    issued: summary.byStatus.issued,
    failed: summary.byStatus.failed,
    pending: summary.byStatus.pending + summary.byStatus.sent,
    inDoubt: summary.inDoubt,
    issuedJpyByGroup: Object.fromEntries(summary.issuedJpyByGroup),
    failedByCode: Object.fromEntries(summary.failedByCode),
    firstActivity: summary.firstActivity ?? null,
    lastActivity: summary.lastActivity ?? null,
    runs: summary.runs,
    lock,
  };
}

function formatStatus(file: string, s: CheckpointSummary, lock: LockStatus): string {
  const lines = [
    `checkpoint ${file}: campaign ${s.campaign}, created ${s.createdAt}`,
    `  target: ${s.target ? `${describeTarget(s.target)}${isSimulated(s.target) ? " (SIMULATED)" : ""}` : "not bound yet (written by an earlier release; the next run binds it)"}`,
    `  ${s.rows} row(s) recorded — ${s.byStatus.issued} issued, ${s.byStatus.failed} failed, ${s.byStatus.pending + s.byStatus.sent} pending`,
    `  in doubt (sent, outcome unknown; a rerun resolves them under the same requestId): ${s.inDoubt}`,
  ];
  for (const [group, jpy] of s.issuedJpyByGroup) lines.push(`  group ${group}: ${yen(jpy)} issued`);
  for (const [code, count] of s.failedByCode) lines.push(`  failed ${code}: ${count}`);
  lines.push(`  activity: ${s.firstActivity ?? "-"} .. ${s.lastActivity ?? "-"} over ${s.runs} run(s)`);
  if (s.tornTail) lines.push("  the last record is torn (a crash mid-write); the next run drops it");
  lines.push(`  lock: ${describeLock(lock)}`);
  return lines.join("\n");
}

function formatAudit(audit: readonly AuditEntry[]): string {
  if (audit.length === 0) return "";
  return `\n  audit (${audit.length} action(s)):\n${audit.map((e) => `    ${formatAuditEntry(e)}`).join("\n")}`;
}

function describeLock(lock: LockStatus): string {
  return lock.state === "free" ? "free" : `held by a run in progress (${describeOwner(lock.owner)})`;
}

function formatPurged(location: string, p: PurgedSummary): string {
  const lines = [
    `campaign ${location}: PURGED on ${p.purgedAt} (finished ${p.finishedAt})`,
    "  its input cells, recipient ids, bodies, codes and PayPay data were deleted; these counts were kept:",
    `  ${p.rows} row(s) — ${p.issued} issued, ${p.failed} failed, ${yen(Number(p.issuedJpy))} issued in all`,
  ];
  for (const g of p.groups) lines.push(`  group ${g.groupId}: ${g.issuedRows} issued, ${yen(Number(g.issuedJpy))}; ${g.failedRows} failed`);
  for (const [code, count] of Object.entries(p.failedByCode)) lines.push(`  failed ${code}: ${count}`);
  return lines.join("\n");
}
