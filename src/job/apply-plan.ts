import { setMaxListeners } from "node:events";
import pLimit from "p-limit";
import type { Logger } from "pino";
import type { OutcomeRecord, RowState } from "../checkpoint/records.js";
import type { CheckpointStore } from "../checkpoint/store.js";
import { serializeCreateBody } from "../paypay/client.js";
import type { CreateOutcome } from "../paypay/outcome.js";
import { afterDoubt, type ReplayBehaviour } from "./after-doubt.js";
import { DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.js";
import { plannedBatches, type PlannedSends } from "./planned-rows.js";
import { isRoutineRetry, RetryDigest } from "./retry-digest.js";
import type { RequestGate } from "./pacer.js";
import type { PreparedRow } from "./prepared-row.js";
import { sendWithRetries, type Sender } from "./send-with-retries.js";
import { plannedSend } from "./send-filter.js";

/**
 * The applier: streams the plan's input snapshot (never the user's file) and sends every row the
 * planner marked "send", holding back what --allow-partial's planned cutoffs hold back, under the
 * concurrency limit, recording `sent` before a row's first request and its outcome after, both
 * durably. Stops taking rows on a signal or a fatal answer; stops a group when its budget runs out.
 */

export interface ApplySettings {
  concurrency: number;
  /** Paces request starts (--rate N, --rate auto); none means as fast as --concurrency allows. */
  gate?: RequestGate;
  maxAttempts: number;
  retryFailed: boolean;
  backoff?: BackoffPolicy;
  /** What PayPay answers a repeated requestId, as `verify` found it [original]. */
  replay?: ReplayBehaviour;
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
  /** Halts shared with other processes of the campaign (workers); none: this run alone decides. */
  halts?: SharedHalts;
}

/** What workers share of a stopping answer: one's BUDGET_NOT_ENOUGH or fatal answer stops them all. */
export interface SharedHalts {
  groupHalted(groupId: string): boolean;
  haltGroup(groupId: string, reason: string): void;
  haltCampaign(reason: string): void;
}

export type HaltReason = "fatal-api" | "interrupted" | undefined;

/** What this run's issued rows charged, per group, to reconcile with how far each budget moved. */
export interface GroupCharges {
  /** Rows first sent by this run (or after a refusal) that came back issued: charged by this run. */
  charged: number;
  /** Rows in doubt when the run started that came back issued: an earlier run may have charged them. */
  inDoubtIssued: number;
  inDoubtIssuedRows: number;
}

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
  /** performance.now() at the first request; 0 when none was sent. */
  firstSendAt: number;
  chargesByGroup: Map<string, GroupCharges>;
}

/**
 * Rows between "sent recorded" and "outcome recorded": enough to keep every slot busy while others
 * wait on the disk (a group commit takes milliseconds; a quarter of the slots more covers it at any
 * rate), bounded so memory does not grow with the file. It is also what a crash can leave in doubt,
 * so it never exceeds 2c + 8 (the bound before issue #15). Every row in process keeps objects alive
 * that the garbage collector copies: at c = 256, 2c + 8 rows cost a fifth more of its time.
 */
export function rowsInProcessBound(concurrency: number): number {
  return concurrency + Math.min(concurrency + 8, (concurrency >> 2) + 16);
}

export async function applyPlan(planned: PlannedSends, settings: ApplySettings, deps: ApplyDeps, store: CheckpointStore): Promise<Applied> {
  const { api, logger, events } = deps;
  const stop = new AbortController();
  const onExternalAbort = (): void => stop.abort();
  deps.signal.addEventListener("abort", onExternalAbort, { once: true });
  if (deps.signal.aborted) stop.abort();

  /** Groups PayPay answered BUDGET_NOT_ENOUGH for: their rows stop, even those mid-retry. */
  const exhausted = new Set<string>();
  /** Groups with rows held back by --allow-partial's cutoff. */
  const heldBack = new Set<string>();
  const chargesByGroup = new Map<string, GroupCharges>();
  const limit = pLimit(settings.concurrency);
  const maxRowsInProcess = rowsInProcessBound(settings.concurrency);
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
  /** Rows taken by the loop and not yet settled (from before `sent` to after the outcome); the loop waits on `wakeLoop` when there are too many. */
  let rowsInProcess = 0;
  let wakeLoop: (() => void) | undefined;
  const slotFreed = (): void => {
    const wake = wakeLoop;
    wakeLoop = undefined;
    wake?.();
  };
  const counted: Sender = {
    createPointsCode: (request) => {
      stats.requests++;
      if (stats.firstSend === 0) stats.firstSend = performance.now();
      return api.createPointsCode(request);
    },
  };

  const rowEnded = (): void => {
    rowsInProcess--;
    slotFreed();
  };
  const rowFailed = (error: unknown): void => {
    failure ??= error;
    stop.abort();
    rowEnded();
  };
  /**
   * One row in process, counted from the loop's decision to its end; the first failure stops the
   * run. No async frame or closure of its own: each row in process keeps its objects alive, and the
   * garbage collector copies them (issue #15).
   */
  const processRow = (row: PreparedRow, state: RowState | undefined): void => {
    rowsInProcess++;
    sendRow(row, state).then(rowEnded, rowFailed);
  };

  /** `state`: the row's checkpoint state as the loop read it (no other row shares its requestId). */
  const sendRow = async (row: PreparedRow, state: RowState | undefined): Promise<void> => {
    const { requestId, groupId, giftCardValue } = row.request;
    // `sent` must say durably that a request may be out. A row already in doubt with this body says
    // so; any other (a pending row after BUDGET_NOT_ENOUGH, say) is recorded again before its request.
    const inDoubtSameBody = state?.inDoubt === true && state.fp === row.fingerprint;
    if (!inDoubtSameBody) await store.recordSent(requestId, row.fingerprint, row.row, store.keepsBodies ? serializeCreateBody(row.request) : undefined);
    if (store.owns?.(requestId) === false) return; // another worker holds the row now
    const shouldStop = (): boolean => stop.signal.aborted || exhausted.has(groupId) || deps.halts?.groupHalted(groupId) === true;
    // Only the exchange with PayPay holds a concurrency slot; the durable writes before and after
    // it overlap with other rows' requests, so fsync latency does not stretch the request rate.
    // A stopping answer is acted on before the slot is released, so no queued row slips out after it.
    const { outcome, attempts } = await limit(async () => {
      const sent = await sendWithRetries(counted, row.request, retry, shouldStop, stop.signal, (retryable, attempt, delayMs) => {
        // Every 429 is retryable (dispositionOf), so every one is counted here.
        if (retryable.httpStatus === 429) stats.throttled++;
        if (delayMs !== undefined) {
          stats.retries++;
          events?.retried?.();
        }
        const routine = isRoutineRetry(retryable);
        if (routine) retryDigest.add(retryable);
        logger[routine ? "debug" : "warn"](
          {
            requestId,
            row: row.row,
            attempt,
            httpStatus: retryable.httpStatus,
            code: retryable.errorCode,
            paypayRequestId: retryable.paypayRequestId,
            retryInMs: delayMs,
          },
          `attempt failed: ${retryable.message}`,
        );
      });
      if (sent.outcome) actOnStoppingAnswer(sent.outcome, requestId, groupId);
      return sent;
    });
    stats.lastAnswer = performance.now();
    if (attempts > 0) stats.sentRows++;
    if (outcome === undefined) return; // stopped before the first attempt: stays "sent", resent next run
    const fields = keepDoubt(afterDoubt(outcomeFields(outcome), { previous: state, attempts, replay: settings.replay ?? "original" }), state, attempts);
    const { giftCardName: name, startAt, endAt } = row.request;
    // Every field named, none spread: a spread into a literal is the slow path on every request.
    await store.recordOutcome({
      rid: requestId,
      fp: row.fingerprint,
      attempts,
      groupId,
      value: giftCardValue,
      name,
      startAt,
      endAt,
      paypayRequestId: outcome.paypayRequestId,
      status: fields.status,
      code: fields.code,
      data: fields.data,
      errorCode: fields.errorCode,
      errorMessage: fields.errorMessage,
      unknown: fields.unknown,
    });
    if (store.owns?.(requestId) === false) return; // recorded by the worker that took the row over: not ours to count
    if (fields.status === "issued") countCharge(chargesByGroup, groupId, giftCardValue, state?.inDoubt === true && state.fp === row.fingerprint);
    events?.rowSettled?.(fields.status);
    if (outcome.kind === "rejected" && !outcome.groupExhausted) {
      logger.warn(
        { requestId, row: row.row, httpStatus: outcome.httpStatus, code: outcome.errorCode, paypayRequestId: outcome.paypayRequestId },
        `row rejected: ${outcome.message}`,
      );
    }
  };

  const actOnStoppingAnswer = (outcome: CreateOutcome, requestId: string, groupId: string): void => {
    if (outcome.kind === "rejected" && outcome.groupExhausted && !exhausted.has(groupId)) {
      exhausted.add(groupId);
      logger.warn({ groupId, requestId }, `group ${groupId} has no budget left: its remaining rows stay pending`);
      deps.halts?.haltGroup(groupId, outcome.message);
    } else if (outcome.kind === "fatal" && !stop.signal.aborted) {
      fatalMessage = `PayPay refused the run: HTTP ${outcome.httpStatus ?? "?"} ${outcome.errorCode}: ${outcome.message}`;
      logger.error({ requestId, httpStatus: outcome.httpStatus, code: outcome.errorCode, paypayRequestId: outcome.paypayRequestId }, fatalMessage);
      deps.halts?.haltCampaign(fatalMessage);
      stop.abort();
    }
  };

  const waitForASlot = (): Promise<void> => new Promise<void>((resolve) => (wakeLoop = resolve));
  try {
    rows: for await (const batch of plannedBatches(store, planned)) {
      for (const row of batch) {
        if (stop.signal.aborted || failure) break rows;
        const { groupId } = row.request;
        const state = store.get(row.request.requestId);
        const planning = plannedSend(row, state, settings.retryFailed, planned.cutoffs);
        if (planning === "skip") continue;
        if (exhausted.has(groupId) || deps.halts?.groupHalted(groupId) === true) continue;
        if (planning === "held") {
          heldBack.add(groupId);
          continue;
        }
        while (rowsInProcess >= maxRowsInProcess && !failure) await waitForASlot();
        // Stopped while waiting for a slot: no further row gets a `sent` record it would never use.
        if (stop.signal.aborted || failure) break rows;
        processRow(row, state);
      }
    }
  } finally {
    while (rowsInProcess > 0) await waitForASlot();
    retryDigest.stop();
    deps.signal.removeEventListener("abort", onExternalAbort);
  }
  if (failure) throw failure;
  return {
    halt: fatalMessage ? "fatal-api" : deps.signal.aborted ? "interrupted" : undefined,
    fatalMessage,
    exhaustedGroups: [...new Set([...exhausted, ...heldBack])],
    requests: stats.requests,
    retries: stats.retries,
    throttled: stats.throttled,
    sentRows: stats.sentRows,
    sendingMs: stats.firstSend === 0 ? 0 : stats.lastAnswer - stats.firstSend,
    firstSendAt: stats.firstSend,
    chargesByGroup,
  };
}

function countCharge(byGroup: Map<string, GroupCharges>, groupId: string, value: number, wasInDoubt: boolean): void {
  const charges = byGroup.get(groupId) ?? { charged: 0, inDoubtIssued: 0, inDoubtIssuedRows: 0 };
  byGroup.set(groupId, charges);
  if (wasInDoubt) {
    charges.inDoubtIssued += value;
    charges.inDoubtIssuedRows++;
  } else {
    charges.charged += value;
  }
}

/**
 * A row left pending by a stopping answer (budget exhausted, credentials refused) stays in doubt when
 * an earlier request for it may have been issued: it was in doubt already, or an earlier attempt of
 * this dispatch got no settling answer. Its next run then resends the same body and never counts it
 * as a new charge.
 */
function keepDoubt(fields: ReturnType<typeof outcomeFields>, previous: RowState | undefined, attempts: number): ReturnType<typeof outcomeFields> {
  if (fields.status !== "pending" || fields.unknown === true) return fields;
  return previous?.inDoubt === true || attempts > 1 ? { ...fields, unknown: true } : fields;
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
