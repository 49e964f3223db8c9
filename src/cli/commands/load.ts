import type { Argv, CommandModule } from "yargs";
import { isPostgresState } from "../../checkpoint/pg/pg-url.js";
import { UsageError } from "../../errors.js";
import { runIssueJob } from "../../job/issue-job.js";
import { createLogger } from "../../log.js";
import { yen } from "../../yen.js";
import { loadConfigFile } from "../config-file.js";
import { confirmAtTerminal, isInteractive } from "../confirm.js";
import { openConnection } from "../connection.js";
import { resolveIssueSettings, type IssueFlags } from "../issue-settings.js";
import { writeProblemsOf } from "../problems-file.js";
import { onStopSignals } from "../stop-signals.js";
import { todayFrom } from "../today.js";
import { withIssueOptions } from "./issue.js";

/**
 * `load`: `issue` up to its recorded plan (same validation, same budget check, same refusals, same
 * spend guard), then the plan's rows marked for `work` processes; nothing is sent.
 */
export const loadCommand: CommandModule<object, IssueFlags> = {
  command: "load <csv>",
  describe: "Validate, plan against live budgets and record the plan in PostgreSQL for `work` processes; sends nothing",
  builder: (yargs) =>
    withIssueOptions(yargs).example(
      "$0 load recipients.csv --config campaign.json --state postgresql://batch@db/points --campaign spring-2099",
      "Record the campaign; then start any number of `work` processes",
    ) as unknown as Argv<IssueFlags>,
  handler: async (argv) => {
    const config = argv.config ? await loadConfigFile(String(argv.config)) : {};
    const settings = resolveIssueSettings(argv, config, todayFrom(process.env), isInteractive());
    if (!isPostgresState(settings.job.state)) {
      throw new UsageError("Expected --state postgresql://…: workers share a campaign through PostgreSQL (with a checkpoint file, use `issue`)");
    }
    const logger = createLogger(settings.logLevel, settings.logFile);
    const stop = onStopSignals(logger);
    try {
      const connection = await openConnection(settings.connection, process.env, logger);
      try {
        const report = await runIssueJob(
          { ...settings.job, loadOnly: true },
          {
            api: connection.client,
            target: connection.target,
            logger,
            confirm: settings.confirm ? (prepared) => confirmAtTerminal(prepared, connection.target) : undefined,
            signal: stop.signal,
          },
        ).catch(async (error: unknown) => {
          await writeProblemsOf(error, settings.problemsCsv);
          throw error;
        });
        const { counts, plan } = report;
        const lines = [
          `campaign ${settings.job.input.campaign}: ${counts.rows} rows — ${report.marked ?? 0} to send, ${counts.issued} issued, ${counts.failed} failed, ${counts.pending} pending`,
        ];
        if (plan) {
          const amount = [...plan.groups.values()].reduce((sum, g) => sum + g.sendAmount, 0);
          lines.push(`  plan recorded: ${plan.actions.send} row(s) to send, ${yen(amount)} at most; nothing was sent`);
        } else lines.push("  nothing changed since the last run finished: nothing to send");
        lines.push(`  start workers: points-code-batch work --state <the same URL> --campaign ${settings.job.input.campaign}`);
        process.stdout.write(`${lines.join("\n")}\n`);
      } finally {
        await connection.close();
      }
    } finally {
      stop.dispose();
      logger.flush();
    }
  },
};
