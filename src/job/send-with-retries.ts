import { setTimeout as sleep } from "node:timers/promises";
import type { CreateOutcome, RetryableOutcome } from "../paypay/outcome.js";
import type { CreatePointsCodeRequest } from "../paypay/types.js";
import { backoffDelay, type BackoffPolicy } from "./backoff.js";
import type { RequestGate } from "./pacer.js";
import { rateSampleOf } from "./rate-sample.js";

/**
 * Sends one row until it gets an answer that settles it, or attempts run out, or the run stops.
 * Every attempt carries the same requestId; the client signs each one afresh.
 */

export interface Sender {
  createPointsCode(request: CreatePointsCodeRequest): Promise<CreateOutcome>;
}

export interface RetrySettings {
  maxAttempts: number;
  backoff: BackoffPolicy;
  random: () => number;
  gate?: RequestGate;
}

export interface SendResult {
  /** The last answer; undefined only when the run stopped before the first attempt. */
  outcome: CreateOutcome | undefined;
  attempts: number;
}

export async function sendWithRetries(
  sender: Sender,
  request: CreatePointsCodeRequest,
  settings: RetrySettings,
  shouldStop: () => boolean,
  signal: AbortSignal,
  onRetryable: (outcome: RetryableOutcome, attempt: number, delayMs: number | undefined) => void,
): Promise<SendResult> {
  let outcome: CreateOutcome | undefined;
  for (let attempt = 1; attempt <= settings.maxAttempts; attempt++) {
    const { gate } = settings;
    for (let wait = gate?.acquire() ?? 0; wait > 0; wait = gate?.acquire() ?? 0) {
      if (shouldStop() || !(await pause(wait, signal))) return { outcome, attempts: attempt - 1 };
    }
    if (shouldStop()) return { outcome, attempts: attempt - 1 };
    const started = performance.now();
    outcome = await sender.createPointsCode(request);
    gate?.onResult?.(rateSampleOf(outcome, performance.now() - started));
    if (outcome.kind !== "retryable") return { outcome, attempts: attempt };
    const last = attempt === settings.maxAttempts;
    const delay = last ? undefined : backoffDelay(attempt, settings.random(), settings.backoff, outcome.retryAfterMs);
    onRetryable(outcome, attempt, delay);
    if (delay === undefined || shouldStop() || !(await pause(delay, signal))) return { outcome, attempts: attempt };
  }
  return { outcome, attempts: settings.maxAttempts };
}

/** Waits `ms`; false when the run was told to stop meanwhile. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
