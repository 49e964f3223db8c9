import type { Argv, CommandModule } from "yargs";
import { readBudgets } from "../../job/read-budgets.js";
import { createLogger, LOG_LEVELS } from "../../log.js";
import { openConnection, CONNECTION_DEFAULTS } from "../connection.js";
import { withConnectionOptions } from "../connection-options.js";
import { expectInteger, expectOneOf, expectString } from "../expect.js";
import { ENVIRONMENT_NAMES } from "../../paypay/environments.js";
import type { GroupBudget } from "../../paypay/types.js";
import { yen } from "../../yen.js";

interface BudgetFlags {
  env?: string;
  baseUrl?: string;
  createPath?: string;
  budgetPath?: string;
  codeField?: string;
  timeout?: string;
  logLevel?: string;
  logFile?: string;
  json?: boolean;
}

export const budgetCommand: CommandModule<object, BudgetFlags> = {
  command: "budget",
  describe: "Print every group's remaining budget",
  builder: (yargs) =>
    withConnectionOptions(yargs)
      .option("json", { type: "boolean", describe: "Print JSON (groupId as a bare int64 number)" })
      .example("$0 budget", "Budgets of the embedded simulator")
      .example(
        "PAYPAY_API_KEY=… PAYPAY_API_SECRET=… PAYPAY_MERCHANT_ID=… $0 budget --env sandbox --json",
        "Budgets in PayPay's sandbox, as JSON",
      ) as unknown as Argv<BudgetFlags>,
  handler: async (argv) => {
    const logger = createLogger(expectOneOf("--log-level", argv.logLevel ?? "warn", LOG_LEVELS), argv.logFile);
    const timeoutMs = argv.timeout === undefined ? CONNECTION_DEFAULTS.budgetTimeoutMs : expectInteger("--timeout", argv.timeout, 1, 600_000);
    const connection = await openConnection(
      {
        ...CONNECTION_DEFAULTS,
        env: expectOneOf("--env", argv.env ?? CONNECTION_DEFAULTS.env, ENVIRONMENT_NAMES),
        baseUrl: argv.baseUrl === undefined ? undefined : expectString("--base-url", argv.baseUrl),
        budgetPath: argv.budgetPath ?? CONNECTION_DEFAULTS.budgetPath,
        createPath: argv.createPath ?? CONNECTION_DEFAULTS.createPath,
        budgetTimeoutMs: timeoutMs,
      },
      process.env,
      logger,
    );
    try {
      const groups = await readBudgets(connection.client);
      process.stdout.write(argv.json ? budgetsJson(groups) : budgetsTable(groups, connection.description));
    } finally {
      await connection.close();
      logger.flush();
    }
  },
};

/** JSON with groupId as a bare number of every digit, as PayPay writes it. */
export function budgetsJson(groups: readonly GroupBudget[]): string {
  const items = groups.map((g) => `{"groupId":${g.groupId},"budget":${g.budget},"maxPeriodDays":${g.maxPeriodDays ?? null}}`);
  return `{"groups":[${items.join(",")}]}\n`;
}

export function budgetsTable(groups: readonly GroupBudget[], source: string): string {
  const rows = [["group_id", "budget_jpy", "max_period_days"], ...groups.map((g) => [g.groupId, yen(g.budget), String(g.maxPeriodDays ?? "-")])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  "));
  return `${lines.join("\n")}\n(${groups.length} group(s) from ${source})\n`;
}
