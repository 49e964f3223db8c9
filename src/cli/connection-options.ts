import type { Argv } from "yargs";
import { ENVIRONMENT_NAMES } from "../paypay/environments.js";

/** The flags every command that talks to PayPay shares. No credentials: those come from the environment. */
export function withConnectionOptions<T>(yargs: Argv<T>) {
  return yargs
    .option("env", {
      type: "string",
      choices: ENVIRONMENT_NAMES,
      describe: "PayPay environment (local = embedded simulator) [default: local]",
      group: "Connection:",
    })
    .option("base-url", { type: "string", describe: "Override the environment's base URL (https://, or http:// to loopback only)", group: "Connection:" })
    .option("create-path", { type: "string", describe: "Create Points Code path [default: /v1/points_code]", group: "Connection:" })
    .option("budget-path", { type: "string", describe: "Group budget path [default: /v1/points_code/budget]", group: "Connection:" })
    .option("code-field", { type: "string", describe: "Field of a success's data holding the code [default: giftCardCode]", group: "Connection:" })
    .option("timeout", { type: "string", describe: "Per-attempt timeout in ms [default: 30000]", group: "Connection:" })
    .option("log-level", { type: "string", describe: "trace, debug, info, warn, error, fatal or silent [default: info]", group: "Output:" })
    .option("log-file", { type: "string", describe: "Write JSON logs to this file instead of stderr", group: "Output:" });
}
