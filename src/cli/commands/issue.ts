import { writeFile } from "node:fs/promises";
import type { Argv, CommandModule } from "yargs";
import { displayState } from "../../checkpoint/pg/pg-url.js";
import { runIssueJob } from "../../job/issue-job.js";
import { resultEncoding } from "../../job/write-results.js";
import { createLogger } from "../../log.js";
import { loadConfigFile } from "../config-file.js";
import { openConnection } from "../connection.js";
import { withConnectionOptions } from "../connection-options.js";
import { exitCodeOfReport } from "../exit-codes.js";
import { resolveIssueSettings, type IssueFlags } from "../issue-settings.js";
import { runPlan } from "../plan-runner.js";
import { onStopSignals } from "../stop-signals.js";
import { createPacing } from "../pacing.js";
import { createProgress, type Progress } from "../progress.js";
import { formatSummary, summaryJson } from "../summary.js";
import { confirmAtTerminal, isInteractive } from "../confirm.js";
import { expectBoolean } from "../expect.js";
import { writeProblemsOf } from "../problems-file.js";
import { pastStartNote, todayFrom } from "../today.js";
import type { Plan } from "../../job/plan.js";
import type { Logger } from "pino";

export function withIssueOptions<T>(yargs: Argv<T>) {
  return withConnectionOptions(yargs)
    .positional("csv", { type: "string", demandOption: true, describe: "Recipients CSV (header row; recipient_id, amount, …)" })
    .option("campaign", { type: "string", describe: "Campaign id: with recipient_id it derives each row's requestId", group: "Campaign:" })
    .option("config", { type: "string", describe: "JSON file with any option but secrets (flags win)", group: "Campaign:" })
    .option("column", { type: "string", array: true, describe: "Map a column: logical=header, e.g. recipient_id=member_no", group: "Campaign:" })
    .option("value", { type: "string", describe: "Default amount (JPY) for rows without one", group: "Campaign:" })
    .option("name", { type: "string", describe: "Default gift card name (1..40 characters)", group: "Campaign:" })
    .option("group-id", { type: "string", describe: "Default PayPay group id (int64)", group: "Campaign:" })
    .option("start-at", { type: "string", describe: "Default start date yyyy-MM-dd", group: "Campaign:" })
    .option("end-at", { type: "string", describe: "Default end date yyyy-MM-dd", group: "Campaign:" })
    .option("out", { type: "string", describe: "Result CSV [default: <input>.results.csv]", group: "Files:" })
    .option("state", { type: "string", describe: "Checkpoint file [default: beside the result, .checkpoint]", group: "Files:" })
    .option("encoding", { type: "string", describe: "Input encoding: auto, utf-8 or shift_jis (cp932) [default: auto]", group: "Files:" })
    .option("excel", { type: "boolean", describe: "Write the result for Excel: UTF-8 with BOM, CRLF, formula-like cells neutralized", group: "Files:" })
    .option("summary-json", { type: "string", describe: "Also write the summary as JSON to this file", group: "Output:" })
    .option("problems-csv", { type: "string", describe: "When rows are refused, write every problem (row, column, value, rule) to this CSV", group: "Output:" })
    .option("concurrency", { type: "string", describe: "Requests in flight at most [default: 4]", group: "Sending:" })
    .option("rate", { type: "string", describe: "Requests per second at most, or auto: find and hold PayPay's limit (AIMD)", group: "Sending:" })
    .option("max-rate", { type: "string", describe: "Ceiling for --rate auto (or a fixed rate when --rate is not given)", group: "Sending:" })
    .option("max-attempts", { type: "string", describe: "Attempts per row before it is left pending [default: 8]", group: "Sending:" })
    .option("allow-partial", { type: "boolean", describe: "When a group's budget is short, issue in input order until it runs out", group: "Sending:" })
    .option("retry-failed", { type: "boolean", describe: "Send rows that failed permanently again, with their current content", group: "Sending:" })
    .option("accept-changed", {
      type: "boolean",
      describe: "Accept that issued rows changed since: keep their codes, report the change, exit 0",
      group: "Sending:",
    })
    .option("max-total", {
      type: "string",
      describe: "Refuse a run that may charge more than this many yen (required for production without a terminal)",
      group: "Sending:",
    })
    .option("yes", { type: "boolean", describe: "Do not ask before a production run on a terminal (--max-total still applies)", group: "Sending:" })
    .option("replay", {
      type: "string",
      describe:
        "What PayPay answers a repeated requestId, as `verify` found: original or refused (then a refusal after an unknown outcome keeps the row in doubt) [default: original]",
      group: "Sending:",
    })
    .option("dry-run", { type: "boolean", describe: "Only plan: validate and compare with budgets, send nothing (same as `plan`)", group: "Sending:" });
}

export const issueCommand: CommandModule<object, IssueFlags> = {
  command: "issue <csv>",
  describe: "Issue a Points Code for every row of a CSV: validated, idempotent, resumable",
  builder: (yargs) =>
    withIssueOptions(yargs)
      .example(
        "$0 issue recipients.csv --campaign spring-2099 --value 500 --name 'Spring thanks' --group-id 29952775505428481 --start-at 2099-04-01 --end-at 2099-06-30",
        "Issue ¥500 to every row",
      )
      .example("$0 issue recipients.csv --config campaign.json --env production", "Options from a file, credentials from PAYPAY_* variables")
      .example("$0 issue members.csv --config campaign.json --column recipient_id=member_no", "Use the member_no column as recipient_id")
      .example(
        "$0 issue recipients.csv --config campaign.json --rate auto --max-rate 50 --concurrency 16",
        "Adapt to PayPay's rate limit, never above 50 req/s",
      ) as unknown as Argv<IssueFlags>,
  handler: async (argv) => {
    const config = argv.config ? await loadConfigFile(String(argv.config)) : {};
    const settings = resolveIssueSettings(argv, config, todayFrom(process.env), isInteractive());
    if (expectBoolean("--dry-run", argv.dryRun ?? config.dryRun ?? false)) {
      const { text, refusal } = await runPlan(settings, process.env);
      process.stdout.write(`${text}\n`);
      if (refusal) throw refusal;
      return;
    }
    const logger = createLogger(settings.logLevel, settings.logFile);
    // Every acknowledged outcome is already durable, so a second signal may leave at once.
    const stopSignals = onStopSignals(logger);
    try {
      const connection = await openConnection(settings.connection, process.env, logger);
      try {
        let progress: Progress | undefined;
        const pacing = createPacing(settings.pacing, logger);
        const report = await runIssueJob(
          { ...settings.job, gate: pacing.gate },
          {
            api: connection.client,
            target: connection.target,
            logger,
            confirm: settings.confirm ? (prepared) => confirmAtTerminal(prepared, connection.target) : undefined,
            signal: stopSignals.signal,
            onPlanned: (plan) => {
              warnOfPastStart(plan, settings.job.input.today, logger);
              progress = createProgress(plan.actions.send, pacing.controller);
              return progress;
            },
          },
        )
          .catch(async (error: unknown) => {
            await writeProblemsOf(error, settings.problemsCsv);
            throw error;
          })
          .finally(() => {
            progress?.stop();
            pacing.stop();
          });
        const exitCode = exitCodeOfReport(report, stopSignals.received());
        const summary = summaryJson(
          report,
          exitCode,
          {
            campaign: settings.job.input.campaign,
            input: settings.job.input.file,
            result: settings.job.out,
            checkpoint: displayState(settings.job.state, settings.job.input.campaign),
          },
          connection.target,
          pacing.controller,
          resultEncoding(settings.job.format, report.encoding),
        );
        if (settings.summaryJson) await writeFile(settings.summaryJson, `${JSON.stringify(summary, null, 2)}\n`, { mode: 0o600 });
        process.stdout.write(`${formatSummary(summary, report.fatalMessage)}\n`);
        process.exitCode = exitCode;
      } finally {
        await connection.close();
      }
    } finally {
      stopSignals.dispose();
      logger.flush();
    }
  },
};

function warnOfPastStart(plan: Plan, today: string | undefined, logger: Logger): void {
  const note = pastStartNote(plan, today);
  if (note) logger.warn({ firstStartAt: plan.firstStartAt, today }, note);
}
