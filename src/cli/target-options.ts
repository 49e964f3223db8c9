import type { Argv } from "yargs";
import { refuseOtherTarget } from "../checkpoint/target-binding.js";
import { UsageError } from "../errors.js";
import { ENVIRONMENT_NAMES } from "../paypay/environments.js";
import { describeTarget, type Target } from "../paypay/target.js";
import { expectOneOf } from "./expect.js";
import { targetOf } from "./connection.js";
import { CONNECTION_DEFAULTS } from "./connection.js";

/**
 * `status` and `export` read a checkpoint and talk to no PayPay, but a user who names a target
 * (--env, --base-url) is refused when the checkpoint is bound to another, as `issue` and `plan` are.
 */

export interface TargetFlags {
  env?: string;
  baseUrl?: string;
}

export function withTargetOptions<T>(yargs: Argv<T>) {
  return yargs
    .option("env", { type: "string", choices: ENVIRONMENT_NAMES, describe: "Check the checkpoint is bound to this PayPay environment", group: "Target:" })
    .option("base-url", { type: "string", describe: "Check the checkpoint is bound to this base URL", group: "Target:" });
}

export async function refuseOtherTargetFlags(location: string, recorded: Target | undefined, flags: TargetFlags): Promise<void> {
  if (flags.env === undefined && flags.baseUrl === undefined) return;
  const env = expectOneOf("--env", flags.env ?? CONNECTION_DEFAULTS.env, ENVIRONMENT_NAMES);
  const wanted = targetOf({ env, baseUrl: flags.baseUrl }, process.env);
  if (!recorded)
    throw new UsageError(
      `${location} is not bound to any PayPay yet (no run of this release used it), so it cannot be checked against ${describeTarget(wanted)}`,
      "CHECKPOINT_UNBOUND",
    );
  refuseOtherTarget(location, recorded, wanted);
}
