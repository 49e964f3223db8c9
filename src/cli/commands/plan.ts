import type { Argv, CommandModule } from "yargs";
import { loadConfigFile } from "../config-file.js";
import { resolveIssueSettings, type IssueFlags } from "../issue-settings.js";
import { runPlan } from "../plan-runner.js";
import { todayFrom } from "../today.js";
import { withIssueOptions } from "./issue.js";
import { isInteractive } from "../confirm.js";

export const planCommand: CommandModule<object, IssueFlags> = {
  command: "plan <csv>",
  describe: "Validate every row and show what `issue` would send, against live budgets; sends nothing",
  builder: (yargs) =>
    withIssueOptions(yargs)
      .example("$0 plan recipients.csv --config campaign.json", "Check a campaign file before issuing")
      .example(
        "PAYPAY_API_KEY=… PAYPAY_API_SECRET=… PAYPAY_MERCHANT_ID=… $0 plan recipients.csv --config campaign.json --env production",
        "Compare with production budgets",
      ) as unknown as Argv<IssueFlags>,
  handler: async (argv) => {
    const config = argv.config ? await loadConfigFile(String(argv.config)) : {};
    const { text, refusal } = await runPlan(resolveIssueSettings(argv, config, todayFrom(process.env), isInteractive()), process.env);
    process.stdout.write(`${text}\n`);
    // What `issue` would stop on, with the same message and exit code (the entry point decides it).
    if (refusal) throw refusal;
  },
};
