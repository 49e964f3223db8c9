import type { Argv, CommandModule } from "yargs";
import { readLockStatus, type LockStatus } from "../../checkpoint/lock-status.js";
import { summarizeCheckpoint, type CheckpointSummary } from "../../checkpoint/summarize.js";
import { yen } from "../../yen.js";

interface StatusFlags {
  checkpoint: string;
  json?: boolean;
}

export const statusCommand: CommandModule<object, StatusFlags> = {
  command: "status <checkpoint>",
  describe: "Show what a checkpoint holds: counts by status, JPY issued, rows in doubt, the lock",
  builder: (yargs) =>
    yargs
      .positional("checkpoint", { type: "string", demandOption: true, describe: "Checkpoint file (see issue --state)" })
      .option("json", { type: "boolean", describe: "Print JSON" })
      .example("$0 status samples/recipients.results.checkpoint", "How far did the sample run (npm start) get?") as unknown as Argv<StatusFlags>,
  handler: async (argv) => {
    const summary = await summarizeCheckpoint(argv.checkpoint);
    const lock = await readLockStatus(`${argv.checkpoint}.lock`);
    process.stdout.write(argv.json ? `${JSON.stringify(statusJson(summary, lock), null, 2)}\n` : `${formatStatus(argv.checkpoint, summary, lock)}\n`);
  },
};

function statusJson(summary: CheckpointSummary, lock: LockStatus) {
  return {
    campaign: summary.campaign,
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

function describeLock(lock: LockStatus): string {
  switch (lock.state) {
    case "free":
      return "free";
    case "held":
      return `held by a live run: pid ${lock.owner.pid} on ${lock.owner.host}, started ${lock.owner.startedAt}`;
    case "stale":
      return lock.owner ? `stale (pid ${lock.owner.pid} is gone); the next run takes it over` : "stale (unreadable); the next run takes it over";
    case "unknown":
      return `held from another host: pid ${lock.owner.pid} on ${lock.owner.host}, started ${lock.owner.startedAt}`;
  }
}
