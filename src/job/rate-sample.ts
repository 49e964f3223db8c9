import type { CreateOutcome } from "../paypay/outcome.js";
import type { RateSample } from "./rate-controller.js";

/**
 * What an answer says about the server's load, for `--rate auto`. A refusal of the request itself
 * (400s, BUDGET_NOT_ENOUGH) was served, so it counts as ok; resets and 500s say nothing about load.
 */
export function rateSampleOf(outcome: CreateOutcome, latencyMs: number): RateSample {
  if (outcome.kind === "issued" || outcome.kind === "rejected") return { kind: "ok", latencyMs };
  if (outcome.kind === "fatal") return { kind: "error", latencyMs };
  // By status as well as code: a gateway's 429 may come without a PayPay envelope.
  if (outcome.httpStatus === 429 || outcome.httpStatus === 503 || outcome.errorCode === "RATE_LIMIT" || outcome.errorCode === "MAINTENANCE_MODE") {
    return { kind: "throttled", latencyMs, retryAfterMs: outcome.retryAfterMs };
  }
  if (outcome.errorCode === "TIMEOUT") return { kind: "overloaded", latencyMs };
  return { kind: "error", latencyMs };
}
