import { chmod, writeFile } from "node:fs/promises";
import type { Argv, CommandModule } from "yargs";
import { UsageError } from "../../errors.js";
import { isInt64String } from "../../paypay/int64.js";
import { credentialsFromEnv } from "../../paypay/credentials.js";
import { ENVIRONMENTS, ENVIRONMENT_NAMES } from "../../paypay/environments.js";
import { LOCAL_CREDENTIALS } from "../../simulator/index.js";
import { configSnippet, formatVerifyReport } from "../../verify/format.js";
import { runVerify } from "../../verify/run-verify.js";
import { loadConfigFile } from "../config-file.js";
import { CONNECTION_DEFAULTS, openConnection } from "../connection.js";
import { withConnectionOptions } from "../connection-options.js";
import { exitCodeOfVerify } from "../exit-codes.js";
import { expectInteger, expectOneOf, expectString } from "../expect.js";

type VerifyFlags = Partial<Record<string, unknown>>;

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when requests go to PayPay's production API, by name or by URL. */
function isProduction(env: string, baseUrl: string | undefined): boolean {
  if (baseUrl === undefined) return env === "production";
  try {
    return new URL(baseUrl).hostname === new URL(ENVIRONMENTS.production).hostname;
  } catch {
    return false; // openConnection names the bad URL
  }
}

export const verifyCommand: CommandModule<object, VerifyFlags> = {
  command: "verify",
  describe: "Check the API's assumed contract (paths, code field, replay, clock) against the selected PayPay",
  builder: (yargs) =>
    withConnectionOptions(yargs)
      .option("config", {
        type: "string",
        describe: "JSON file with connection options (env, baseUrl, paths, codeField, groupId); flags win",
        group: "Verify:",
      })
      .option("issue-test-code", {
        type: "boolean",
        describe: "Also check create, code field, replay and a changed body by issuing one ¥1 code",
        group: "Verify:",
      })
      .option("confirm-production", { type: "boolean", describe: "Allow --issue-test-code against production (it issues and charges ¥1)", group: "Verify:" })
      .option("group-id", { type: "string", describe: "Group to issue the test code into [default: the budget read's first group]", group: "Verify:" })
      .option("request-id", {
        type: "string",
        describe: "requestId of the test code (a UUID) [default: derived from the merchant and today's date, JST]",
        group: "Verify:",
      })
      .option("json", { type: "string", describe: "Write the report as JSON to this file (mode 0600: it holds the test code)", group: "Output:" })
      .option("write-config", { type: "string", describe: "Write the observed settings (paths, codeField, replay) as a --config snippet", group: "Output:" })
      .example(
        "PAYPAY_API_KEY=… PAYPAY_API_SECRET=… PAYPAY_MERCHANT_ID=… $0 verify --env sandbox",
        "Clock, credentials and the budget read, sending nothing that costs",
      )
      .example("$0 verify --env sandbox --issue-test-code --write-config verified.json", "Everything, issuing one ¥1 code in the sandbox")
      .example(
        "$0 verify --env production --issue-test-code --confirm-production --group-id 29952775505428481",
        "The same in production: issues and charges ¥1",
      ) as unknown as Argv<VerifyFlags>,
  handler: async (argv) => {
    const config = argv.config === undefined ? {} : await loadConfigFile(expectString("--config", argv.config));
    const pick = (key: string): unknown => argv[key] ?? (config as Record<string, unknown>)[key];
    const env = expectOneOf("--env", pick("env") ?? CONNECTION_DEFAULTS.env, ENVIRONMENT_NAMES);
    const baseUrl = pick("baseUrl") === undefined ? undefined : expectString("--base-url", pick("baseUrl"));
    const issueTestCode = argv.issueTestCode === true;
    if (issueTestCode && isProduction(env, baseUrl) && argv.confirmProduction !== true) {
      throw new UsageError(
        "--issue-test-code against production issues and charges one ¥1 code: add --confirm-production to do it (nothing was sent)",
        "PRODUCTION_NOT_CONFIRMED",
      );
    }
    const groupId = pick("groupId");
    if (groupId !== undefined && (typeof groupId !== "string" || !isInt64String(groupId) || groupId.startsWith("-") || groupId === "0")) {
      throw new UsageError(`Expected --group-id to be a positive 64-bit integer, got ${JSON.stringify(groupId)}`);
    }
    const requestId = argv.requestId === undefined ? undefined : expectString("--request-id", argv.requestId, UUID_PATTERN, "a UUID");
    const settings = {
      ...CONNECTION_DEFAULTS,
      env,
      baseUrl,
      createPath: expectString("--create-path", pick("createPath") ?? CONNECTION_DEFAULTS.createPath, /^\//, "a path starting with /"),
      budgetPath: expectString("--budget-path", pick("budgetPath") ?? CONNECTION_DEFAULTS.budgetPath, /^\//, "a path starting with /"),
      codeField: expectString("--code-field", pick("codeField") ?? CONNECTION_DEFAULTS.codeField),
      timeoutMs: pick("timeout") === undefined ? CONNECTION_DEFAULTS.timeoutMs : expectInteger("--timeout", pick("timeout"), 1, 600_000),
    };
    const jsonFile = argv.json === undefined ? undefined : expectString("--json", argv.json);
    const configFile = argv.writeConfig === undefined ? undefined : expectString("--write-config", argv.writeConfig);

    const connection = await openConnection(settings, process.env);
    try {
      const report = await runVerify(connection.client, {
        ...settings,
        target: connection.description,
        issueTestCode,
        groupId: groupId as string | undefined,
        requestId,
        merchantId: (credentialsFromEnv(process.env) ?? LOCAL_CREDENTIALS).merchantId,
        now: Date.now,
      });
      if (jsonFile !== undefined) {
        await writeFile(jsonFile, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 });
        await chmod(jsonFile, 0o600); // an existing file keeps its mode through writeFile
      }
      if (configFile !== undefined) await writeFile(configFile, configSnippet(report));
      process.stdout.write(formatVerifyReport(report));
      process.exitCode = exitCodeOfVerify(report);
    } finally {
      await connection.close();
    }
  },
};
