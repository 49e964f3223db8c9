#!/usr/bin/env node
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { UsageError } from "./errors.js";
import { budgetCommand } from "./cli/commands/budget.js";
import { consoleCommand } from "./cli/commands/console.js";
import { exportCommand } from "./cli/commands/export.js";
import { statusCommand } from "./cli/commands/status.js";
import { issueCommand } from "./cli/commands/issue.js";
import { loadCommand } from "./cli/commands/load.js";
import { workCommand } from "./cli/commands/work.js";
import { planCommand } from "./cli/commands/plan.js";
import { migrateCommand } from "./cli/commands/migrate.js";
import { purgeCommand } from "./cli/commands/purge.js";
import { simulatorCommand } from "./cli/commands/simulator.js";
import { verifyCommand } from "./cli/commands/verify.js";
import { EXIT, exitCodeOfError } from "./cli/exit-codes.js";
import { closest } from "./cli/expect.js";

/** yargs names an unknown flag; we also name the closest known one. */
function withSuggestion(message: string, known: string[]): string {
  const unknown = /^Unknown arguments?: (.+)$/.exec(message)?.[1]?.split(", ")[0];
  const suggestion = unknown
    ? closest(
        unknown,
        known.filter((k) => k.includes("-") || k === k.toLowerCase()),
      )
    : undefined;
  return suggestion ? `${message} (did you mean --${suggestion}?)` : message;
}

/** Every option yargs knows at the moment of failure (the command's own included). */
function knownOptions(parser: unknown): string[] {
  // getOptions() exists on the instance but is missing from @types/yargs.
  return Object.keys((parser as { getOptions(): { key: Record<string, unknown> } }).getOptions().key);
}

/** The entry point: parses the command line, runs a command, and alone decides the exit code. */
async function main(argv: string[]): Promise<void> {
  try {
    const parser = yargs(argv);
    await parser
      .scriptName("points-code-batch")
      .usage(
        "$0 <command> [options]\n\nBulk-issue PayPay Points Codes from a CSV: validated, idempotent, resumable.\nCredentials come from PAYPAY_API_KEY, PAYPAY_API_SECRET and PAYPAY_MERCHANT_ID.",
      )
      .command(issueCommand)
      .command(planCommand)
      .command(loadCommand)
      .command(workCommand)
      .command(budgetCommand)
      .command(statusCommand)
      .command(exportCommand)
      .command(purgeCommand)
      .command(migrateCommand)
      .command(verifyCommand)
      .command(simulatorCommand)
      .command(consoleCommand)
      .demandCommand(1, "Name a command: issue, plan, load, work, budget, status, export, purge, migrate, verify, simulator or console")
      .strict()
      .recommendCommands()
      .epilogue(
        "Exit codes: 0 all issued; 1 internal error; 2 refused (usage, validation, budget), nothing sent; 3 some rows failed; 4 rows pending, rerun to resume; 5 locked by another run.",
      )
      .fail((message, error) => {
        throw error ?? new UsageError(withSuggestion(message, knownOptions(parser)));
      })
      .help()
      .version()
      .wrap(Math.min(110, process.stdout.columns || 110))
      .parseAsync();
  } catch (error) {
    const code = exitCodeOfError(error);
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(code === EXIT.internal ? `points-code-batch: internal error: ${message}\n` : `points-code-batch: ${message}\n`);
    if (code === EXIT.internal && process.env.DEBUG && error instanceof Error) process.stderr.write(`${error.stack ?? ""}\n`);
    if (error instanceof UsageError && code === EXIT.refused) process.stderr.write("Run with --help for usage.\n");
    process.exitCode = code;
  }
}

await main(hideBin(process.argv));
