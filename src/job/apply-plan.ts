import { setMaxListeners } from "node:events";
import pLimit from "p-limit";
import type { Logger } from "pino";
import type { OutcomeRecord, RowState } from "../checkpoint/records.js";
import type { CheckpointStore } from "../checkpoint/store.js";
import type { CreateOutcome } from "../paypay/outcome.js";
import type { GroupBudget } from "../paypay/types.js";
import { DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.js";
import { decideRow } from "./decide.js";
import { costsBudget } from "./plan.js";
import { readInputRows, type ResolvedInputSpec } from "./input-rows.js";
import { isRoutineRetry, RetryDigest } from "./retry-digest.js";
import type { RequestGate } from "./pacer.js";
import type { PreparedRow } from "./prepared-row.js";
import { sendWithRetries, type Sender } from "./send-with-retries.js";

/**
 * The applier: streams the input again and sends every row the planner marked "send", under the
 * concurrency limit, recording `sent` before a row's first request and its outcome after, both
 * durably. Stops taking rows on a signal or a fatal answer; stops a group when its budget runs out.
 */

export interface ApplySettings {
  concurrency: number;
  /** Paces request starts (--rate N, --rate auto); none means as fast as --concurrency allows. */
  gate?: RequestGate;
  maxAttempts: number;
  allowPartial: boolean;
  retryFailed: boolean;
  backoff?: BackoffPolicy;
}

/** What a progress display hears about; every method is optional. */
export interface IssueEvents {
  rowSettled?(status: "issued" | "failed" | "pending"): void;
  retried?(): void;
}

export interface ApplyDeps {
  api: Sender;
  logger: Logger;
  signal: AbortSignal;
  random?: () => number;
  events?: IssueEvents;
}

export type HaltReason = "fatal-api" | "interrupted" | undefined;

export interface Applied {
  halt: HaltReason;
  fatalMessage?: string;
  /** Groups that ran out of budget during this run. */
  exhaustedGroups: string[];
  requests: number;
  retries: number;
  /** Answers that were 429 RATE_LIMIT. */
  throttled: number;
  sentRows: number;
  /** From the first request to the last answer. */
  sendingMs: number;
}

export async function applyPlan(
  input: ResolvedInputSpec,
  settings: ApplySettings,
  deps: ApplyDeps,
  store: CheckpointStore,
  budgets: readonly GroupBudget[],
): Promise<Applied> {
  const { api, logger, events } = deps;
  const stop = new AbortController();
  const onExternalAbort = (): void => stop.abort();
  deps.signal.addEventListener("abort", onExternalAbort, { once: true });
  if (deps.signal.aborted) stop.abort();

  /** Groups PayPay answered BUDGET_NOT_ENOUGH for: their rows stop, even those mid-retry. */
  const exhausted = new Set<string>();
  /** Groups whose --allow-partial allowance is used up: later rows are not started. */
  const allowanceSpent = new Set<string>();
  const allowance = new Map(budgets.map((b) => [b.groupId, b.budget]));
  const limit = pLimit(settings.concurrency);
  // Rows between "sent recorded" and "outcome recorded": enough to keep every slot busy while
  // others wait on the disk, bounded so memory does not grow with the file.
  const maxRowsInProcess = settings.concurrency * 2 + 8;
  // Each row waiting on a backoff or the rate gate listens for the stop; that many is expected.
  setMaxListeners(maxRowsInProcess + 8, stop.signal);
  const retry = {
    maxAttempts: settings.maxAttempts,
    backoff: settings.backoff ?? DEFAULT_BACKOFF,
    random: deps.random ?? Math.random,
    gate: settings.gate,
  };
  const retryDigest = new RetryDigest(logger);
  const stats = { requests: 0, retries: 0, throttled: 0, sentRows: 0, firstSend: 0, lastAnswer: 0 };
  let fatalMessage: string | undefined;
  let failure: unknown;
  let slotFreed: () => void = () => undefined;
  let slotPromise = new Promise<void>((resolve) => (slotFreed = resolve));
  const counted: Sender = {
    createPointsCode: async (request) => {
      stats.requests++;
      if (stats.firstSend === 0) stats.firstSend = performance.now();
      const outcome = await api.createPointsCode(request);
      if (outcome.httpStatus === 429) stats.throttled++;
      return outcome;
    },
  };

  /** `state`: the row's checkpoint state as the loop read it (no other row shares its requestId). */
  const sendRow = async (row: PreparedRow, state: RowState | undefined): Promise<void> => {
    const { requestId, groupId, giftCardValue } = row.request;
    const inDoubtSameBody = (state?.status === "sent" || state?.status === "pending") && state.fp === row.fingerprint;
    if (!inDoubtSameBody) await store.recordSent(requestId, row.fingerprint, row.row);
    const shouldStop = (): boolean => stop.signal.aborted || exhausted.has(groupId);
    // Only the exchange with PayPay holds a concurrency slot; the durable writes before and after
    // it overlap with other rows' requests, so fsync latency does not stretch the request rate.
    // A stopping answer is acted on before the slot is released, so no queued row slips out after it.
    const { outcome, attempts } = await limit(async () => {
      const sent = await sendWithRetries(counted, row.request, retry, shouldStop, stop.signal, (retryable, attempt, delayMs) => {
        if (delayMs !== undefined) {
          stats.retries++;
          events?.retried?.();
        }
        const routine = isRoutineRetry(retryable);
        if (routine) retryDigest.add(retryable);
        logger[routine ? "debug" : "warn"](
          { requestId, row: row.row, attempt, httpStatus: retryable.httpStatus, code: retryable.errorCode, paypayRequestId: retryable.paypayRequestId, retryInMs: delayMs },
          `attempt failed: ${retryable.message}`,
        );
      });
      if (sent.outcome) actOnStoppingAnswer(sent.outcome, requestId, groupId);
      return sent;
    });
    stats.lastAnswer = performance.now();
    if (attempts > 0) stats.sentRows++;
    if (outcome === undefined) return; // stopped before the first attempt: stays "sent", resent next run
    const fields = outcomeFields(outcome);
    await store.recordOutcome({ rid: requestId, fp: row.fingerprint, attempts, groupId, value: giftCardValue, paypayRequestId: outcome.paypayRequestId, ...fields });
    events?.rowSettled?.(fields.status);
    if (outcome.kind === "rejected" && !outcome.groupExhausted) {
      logger.warn({ requestId, row: row.row, httpStatus: outcome.httpStatus, code: outcome.errorCode, paypayRequestId: outcome.paypayRequestId }, `row rejected: ${outcome.message}`);
    }
  };

  const actOnStoppingAnswer = (outcome: CreateOutcome, requestId: string, groupId: string): void => {
    if (outcome.kind === "rejected" && outcome.groupExhausted && !exhausted.has(groupId)) {
      exhausted.add(groupId);
      logger.warn({ groupId, requestId }, `group ${groupId} has no budget left: its remaining rows stay pending`);
    } else if (outcome.kind === "fatal" && !stop.signal.aborted) {
      fatalMessage = `PayPay refused the run: HTTP ${outcome.httpStatus ?? "?"} ${outcome.errorCode}: ${outcome.message}`;
      logger.error({ requestId, httpStatus: outcome.httpStatus, code: outcome.errorCode, paypayRequestId: outcome.paypayRequestId }, fatalMessage);
      stop.abort();
    }
  };

  const inFlight = new Set<Promise<void>>();
  try {
    for await (const item of readInputRows(input)) {
      if (stop.signal.aborted || failure) break;
      if (item.kind !== "row") continue;
      const row = item.prepared;
      const { groupId, giftCardValue } = row.request;
      const state = store.get(row.request.requestId);
      if (decideRow(row.fingerprint, state, settings.retryFailed) !== "send") continue;
      if (exhausted.has(groupId) || allowanceSpent.has(groupId)) continue;
      const left = allowance.get(groupId);
      if (settings.allowPartial && left !== undefined && costsBudget(row.fingerprint, state)) {
        // In input order, until the first row that no longer fits: the rest of the group waits.
        // Rows already admitted keep going; only later rows of the group are held back.
        if (giftCardValue > left) {
          allowanceSpent.add(groupId);
          continue;
        }
        allowance.set(groupId, left - giftCardValue);
      }
      while (inFlight.size >= maxRowsInProcess && !failure) await slotPromise;
      const task = sendRow(row, state)
        .catch((error: unknown) => {
          failure ??= error;
          stop.abort();
        })
        .finally(() => {
          inFlight.delete(task);
          slotFreed();
          slotPromise = new Promise<void>((resolve) => (slotFreed = resolve));
        });
      inFlight.add(task);
    }
  } finally {
    await Promise.all(inFlight);
    retryDigest.stop();
    deps.signal.removeEventListener("abort", onExternalAbort);
  }
  if (failure) throw failure;
  return {
    halt: fatalMessage ? "fatal-api" : deps.signal.aborted ? "interrupted" : undefined,
    fatalMessage,
    exhaustedGroups: [...new Set([...exhausted, ...allowanceSpent])],
    requests: stats.requests,
    retries: stats.retries,
    throttled: stats.throttled,
    sentRows: stats.sentRows,
    sendingMs: stats.firstSend === 0 ? 0 : stats.lastAnswer - stats.firstSend,
  };
}

function outcomeFields(outcome: CreateOutcome): Pick<OutcomeRecord, "status" | "code" | "data" | "errorCode" | "errorMessage" | "unknown"> {
  switch (outcome.kind) {
    case "issued":
      return { status: "issued", code: outcome.code, data: outcome.data };
    case "rejected":
      return outcome.groupExhausted
        ? { status: "pending", errorCode: outcome.errorCode, errorMessage: outcome.message }
        : { status: "failed", errorCode: outcome.errorCode, errorMessage: outcome.message };
    case "retryable":
      return { status: "pending", errorCode: outcome.errorCode, errorMessage: outcome.message, unknown: true };
    case "fatal":
      return { status: "pending", errorCode: outcome.errorCode, errorMessage: outcome.message };
  }
}
