import { writeFile } from "node:fs/promises";
import type { Argv, CommandModule } from "yargs";
import { isPostgresState } from "../../checkpoint/pg/pg-url.js";
import { UsageError } from "../../errors.js";
import { REPLAY_BEHAVIOURS } from "../../job/after-doubt.js";
import { createLogger, LOG_LEVELS } from "../../log.js";
import { describeTarget, isSimulated } from "../../paypay/target.js";
import { ENVIRONMENT_NAMES } from "../../paypay/environments.js";
import { DEFAULT_LEASE_MS, runWorker, type WorkReport } from "../../worker/run-worker.js";
import { CONNECTION_DEFAULTS, openConnection, type ConnectionSettings } from "../connection.js";
import { withConnectionOptions } from "../connection-options.js";
import { exitCodeOfWork } from "../exit-codes.js";
import { expectInteger, expectOneOf, expectPositiveNumber, expectString } from "../expect.js";
import { ISSUE_DEFAULTS } from "../issue-settings.js";
import { createPacing, round } from "../pacing.js";
import { onStopSignals } from "../stop-signals.js";

type WorkFlags = Partial<Record<string, unknown>>;

export const workCommand: CommandModule<object, WorkFlags> = {
  command: "work",
  describe: "Send the rows `load` recorded, as one of any number of workers on any hosts; needs no CSV",
  builder: (yargs) =>
    withConnectionOptions(yargs)
      .option("state", { type: "string", demandOption: true, describe: "postgresql:// URL of the campaign's state", group: "Campaign:" })
      .option("campaign", { type: "string", demandOption: true, describe: "The campaign `load` recorded", group: "Campaign:" })
      .option("concurrency", { type: "string", describe: "Requests in flight at most, in this worker [default: 4]", group: "Sending:" })
      .option("rate", {
        type: "string",
        describe: "Requests per second at most over all live workers of the campaign, or auto: this worker finds PayPay's limit (AIMD)",
        group: "Sending:",
      })
      .option("max-rate", { type: "string", describe: "Ceiling for --rate auto, in this worker", group: "Sending:" })
      .option("merchant-rate", {
        type: "string",
        describe: "Requests per second at most over every worker of every campaign of this merchant in the same database",
        group: "Sending:",
      })
      .option("max-attempts", { type: "string", describe: "Attempts per row before it is left pending [default: 8]", group: "Sending:" })
      .option("lease", { type: "string", describe: "How long a claim lasts without a heartbeat, in ms [default: 30000]", group: "Sending:" })
      .option("replay", { type: "string", describe: "What PayPay answers a repeated requestId: original or refused [default: original]", group: "Sending:" })
      .option("summary-json", { type: "string", describe: "Also write this worker's summary as JSON to this file", group: "Output:" })
      .example(
        "$0 work --state postgresql://batch@db/points --campaign spring-2099 --concurrency 8 --rate 40",
        "One worker; start as many as you like",
      ) as unknown as Argv<WorkFlags>,
  handler: async (argv) => {
    const state = expectString("--state", argv.state);
    if (!isPostgresState(state)) throw new UsageError("Expected --state postgresql://…: workers share a campaign through PostgreSQL");
    const campaign = expectString("--campaign", argv.campaign);
    const rate = argv.rate === undefined ? undefined : argv.rate === "auto" ? "auto" : expectPositiveNumber("--rate", argv.rate, 100_000);
    const maxRate = argv.maxRate === undefined ? undefined : expectPositiveNumber("--max-rate", argv.maxRate, 100_000);
    const merchantRate = argv.merchantRate === undefined ? undefined : expectPositiveNumber("--merchant-rate", argv.merchantRate, 100_000);
    const connectionSettings: ConnectionSettings = {
      env: expectOneOf("--env", argv.env ?? CONNECTION_DEFAULTS.env, ENVIRONMENT_NAMES),
      baseUrl: argv.baseUrl === undefined ? undefined : expectString("--base-url", argv.baseUrl),
      createPath: expectString("--create-path", argv.createPath ?? CONNECTION_DEFAULTS.createPath, /^\//, "a path starting with /"),
      budgetPath: expectString("--budget-path", argv.budgetPath ?? CONNECTION_DEFAULTS.budgetPath, /^\//, "a path starting with /"),
      codeField: expectString("--code-field", argv.codeField ?? CONNECTION_DEFAULTS.codeField),
      timeoutMs: argv.timeout === undefined ? CONNECTION_DEFAULTS.timeoutMs : expectInteger("--timeout", argv.timeout, 1, 600_000),
      budgetTimeoutMs: CONNECTION_DEFAULTS.budgetTimeoutMs,
    };
    const logger = createLogger(
      expectOneOf("--log-level", argv.logLevel ?? ISSUE_DEFAULTS.logLevel, LOG_LEVELS),
      argv.logFile === undefined ? undefined : expectString("--log-file", argv.logFile),
    );
    const stop = onStopSignals(logger);
    try {
      const connection = await openConnection(connectionSettings, process.env, logger);
      // --rate N is shared through the database; only --rate auto (and --max-rate) pace this worker alone.
      const pacing = createPacing(rate === "auto" ? { rate, maxRate } : { maxRate }, logger);
      try {
        const report = await runWorker(
          {
            state,
            campaign,
            leaseMs: argv.lease === undefined ? DEFAULT_LEASE_MS : expectInteger("--lease", argv.lease, 100, 3_600_000),
            concurrency: expectInteger("--concurrency", argv.concurrency ?? ISSUE_DEFAULTS.concurrency, 1, 1024),
            maxAttempts: expectInteger("--max-attempts", argv.maxAttempts ?? ISSUE_DEFAULTS.maxAttempts, 1, 100),
            retryFailed: true,
            replay: expectOneOf("--replay", argv.replay ?? "original", REPLAY_BEHAVIOURS),
            gate: pacing.gate,
            ...(typeof rate === "number" ? { sharedRate: rate } : {}),
            ...(merchantRate === undefined ? {} : { merchantRate }),
            ...(pacing.controller === undefined ? {} : { adaptive: pacing.controller }),
          },
          { api: connection.client, target: connection.target, logger, signal: stop.signal, env: process.env },
        ).finally(() => pacing.stop());
        const exitCode = exitCodeOfWork(report, stop.received());
        const summary = workSummaryJson(report, exitCode, connection.target);
        if (argv.summaryJson !== undefined)
          await writeFile(expectString("--summary-json", argv.summaryJson), `${JSON.stringify(summary, null, 2)}\n`, { mode: 0o600 });
        process.stdout.write(`${formatWorkSummary(report, campaign, connection.target)}\n`);
        process.exitCode = exitCode;
      } finally {
        await connection.close();
      }
    } finally {
      stop.dispose();
      logger.flush();
    }
  },
};

function workSummaryJson(report: WorkReport, exitCode: number, target: Parameters<typeof isSimulated>[0]) {
  const seconds = report.elapsedMs / 1000;
  return {
    exitCode,
    worker: { host: report.worker.host, pid: report.worker.pid },
    target,
    simulated: isSimulated(target),
    claimed: report.claimed,
    settled: report.settled,
    requests: report.requests,
    retries: report.retries,
    throttled: report.throttled,
    elapsedSeconds: round(seconds),
    requestsPerSecond: round(report.sendingMs > 0 ? report.requests / (report.sendingMs / 1000) : 0),
    claims: { trips: report.claims.trips, ms: round(report.claims.ms), rateTakes: report.claims.rateTakes },
    campaign: report.campaign,
    halt: report.campaignHalt ?? null,
    haltedGroups: report.haltedGroups,
  };
}

function formatWorkSummary(report: WorkReport, campaign: string, target: Parameters<typeof isSimulated>[0]): string {
  const s = report.settled;
  const c = report.campaign;
  const rps = report.sendingMs > 0 ? report.requests / (report.sendingMs / 1000) : 0;
  const lines = [
    `worker pid ${report.worker.pid} on ${report.worker.host}, campaign ${campaign}: claimed ${report.claimed} row(s) — ${s.issued} issued, ${s.failed} failed, ${s.pending} pending` +
      (s.lost > 0 ? `; ${s.lost} taken over by another worker (not counted here)` : ""),
  ];
  if (isSimulated(target)) lines.push(`  SIMULATED: ${describeTarget(target)}; these codes are not real PayPay codes and must not be handed out`);
  lines.push(`  ${report.requests} request(s), ${report.retries} retries, ${round(rps)} req/s, ${round(report.elapsedMs / 1000)} s`);
  lines.push(`  campaign: ${c.rows} rows — ${c.issued} issued, ${c.failed} failed, ${c.pending} pending`);
  for (const group of report.haltedGroups) lines.push(`  group ${group}: halted (no budget left); its rows stay pending until the next load`);
  if (report.campaignHalt !== undefined) lines.push(`  stopped: ${report.campaignHalt}`);
  return lines.join("\n");
}
