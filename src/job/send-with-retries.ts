import { setTimeout as sleep } from "node:timers/promises";
import pRetry from "p-retry";
import type { CreateOutcome, RetryableOutcome } from "../paypay/outcome.js";
import type { CreatePointsCodeRequest } from "../paypay/types.js";
import { backoffDelay, type BackoffPolicy } from "./backoff.js";
import type { RequestGate } from "./pacer.js";
import { rateSampleOf } from "./rate-sample.js";

/**
 * Sends one row until it gets an answer that settles it, or attempts run out, or the run stops.
 * Every attempt carries the same requestId; the client signs each one afresh. p-retry counts the
 * retries; the delay between attempts is the pure backoff (full jitter, with the server's
 * Retry-After as a floor), which p-retry's own timing cannot express, so p-retry's is set to zero
 * and the wait happens in onFailedAttempt, which also ends the retries when the run stops.
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

/** A retryable answer, thrown so p-retry tries again. */
class RetryableAnswer extends Error {
  constructor(readonly outcome: RetryableOutcome) {
    super(outcome.message);
  }
}

/** The run stopped (signal, fatal answer, group out of budget) before this attempt was sent. */
class Stopped extends Error {}

export async function sendWithRetries(
  sender: Sender,
  request: CreatePointsCodeRequest,
  settings: RetrySettings,
  shouldStop: () => boolean,
  signal: AbortSignal,
  onRetryable: (outcome: RetryableOutcome, attempt: number, delayMs: number | undefined) => void,
): Promise<SendResult> {
  // Most rows settle on their first attempt, with no rate gate: that attempt is made here, with no
  // closure or p-retry call per row (about 14 µs of CPU a call), which the retries below need.
  if (settings.gate === undefined) {
    if (shouldStop()) return { outcome: undefined, attempts: 0 };
    const first = await sender.createPointsCode(request);
    if (first.kind !== "retryable") return { outcome: first, attempts: 1 };
    return retrying({ sender, request, settings, shouldStop, signal, onRetryable }, first);
  }
  return retrying({ sender, request, settings, shouldStop, signal, onRetryable }, undefined);
}

interface Sending {
  sender: Sender;
  request: CreatePointsCodeRequest;
  settings: RetrySettings;
  shouldStop: () => boolean;
  signal: AbortSignal;
  onRetryable: (outcome: RetryableOutcome, attempt: number, delayMs: number | undefined) => void;
}

/** The rest of sendWithRetries: after the first answer, when it was retryable, or from the start with a rate gate. */
async function retrying(sending: Sending, first: RetryableOutcome | undefined): Promise<SendResult> {
  const { sender, request, settings, shouldStop, signal, onRetryable } = sending;
  let last: CreateOutcome | undefined = first;
  let attempts = first === undefined ? 0 : 1;
  const attempt = async (): Promise<CreateOutcome> => {
    // Without a gate there is nothing to wait for: no promise per attempt for it.
    if (settings.gate === undefined ? shouldStop() : !(await passGate(settings.gate, shouldStop, signal))) throw new Stopped();
    attempts++;
    const started = performance.now();
    last = await sender.createPointsCode(request);
    settings.gate?.onResult?.(rateSampleOf(last, performance.now() - started));
    if (last.kind === "retryable") throw new RetryableAnswer(last);
    return last;
  };
  /** After a retryable answer: report it, then wait out the backoff; throws to end the retries. */
  const afterFailure = async (error: unknown): Promise<void> => {
    if (!(error instanceof RetryableAnswer)) throw error;
    const delay = attempts >= settings.maxAttempts ? undefined : backoffDelay(attempts, settings.random(), settings.backoff, error.outcome.retryAfterMs);
    onRetryable(error.outcome, attempts, delay);
    if (delay === undefined || shouldStop() || !(await pause(delay, signal))) throw error;
  };
  try {
    if (first === undefined) {
      try {
        return { outcome: await attempt(), attempts };
      } catch (error) {
        await afterFailure(error);
      }
    } else {
      await afterFailure(new RetryableAnswer(first));
    }
    const outcome = await pRetry(attempt, {
      retries: settings.maxAttempts - attempts - 1,
      minTimeout: 0,
      factor: 1,
      onFailedAttempt: ({ error }) => afterFailure(error),
    });
    return { outcome, attempts };
  } catch (error) {
    if (error instanceof RetryableAnswer || error instanceof Stopped) return { outcome: last, attempts };
    throw error;
  }
}

/** Waits for the rate gate; false when the run was told to stop meanwhile. */
async function passGate(gate: RequestGate, shouldStop: () => boolean, signal: AbortSignal): Promise<boolean> {
  for (let wait = gate.acquire(); wait > 0; wait = gate.acquire()) {
    if (shouldStop() || !(await pause(wait, signal))) return false;
  }
  return !shouldStop();
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
