import { CheckpointError } from "../errors.js";
import { describeTarget, sameTarget, targetFlags, type Target } from "../paypay/target.js";

/**
 * Refuses a checkpoint bound to another PayPay. Its codes were issued there; counting them as issued
 * here would hand recipients codes this PayPay never made.
 */
export function refuseOtherTarget(location: string, recorded: Target, wanted: Target): void {
  if (sameTarget(recorded, wanted)) return;
  throw new CheckpointError(
    "CHECKPOINT_OTHER_TARGET",
    `${location} is bound to ${describeTarget(recorded)}, but this command targets ${describeTarget(wanted)}. ` +
      `Its codes exist only there: rerun with ${targetFlags(recorded)} to continue it, or give the new target its own checkpoint and result with --state and --out`,
  );
}
