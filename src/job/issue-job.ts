import { mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import pLimit from "p-limit";
import type { Logger } from "pino";
import { acquireLock } from "../checkpoint/lock.js";
import { JournalStore } from "../checkpoint/journal-store.js";
import type { CheckpointStore } from "../checkpoint/store.js";
import { BatchError } from "../errors.js";
import type { CreateOutcome } from "../paypay/outcome.js";
import type { GroupBudget } from "../paypay/types.js";
import { DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.js";
import { decideRow } from "./decide.js";
import { readInputRows, type InputSpec } from "./input-rows.js";
import { Pacer } from "./pacer.js";
import { readBudgets } from "./read-budgets.js";
import { checkBudgets, Planner, type Plan } from "./plan.js";
import type { PreparedRow } from "./prepared-row.js";
import { BudgetRefusedError, RowsInvalidError } from "./refusals.js";
import { sendWithRetries, type Sender } from "./send-with-retries.js";
import { writeResults, type ResultCounts } from "./write-results.js";

/**
 * The issue job: plan (read, validate, compare with budgets), apply (send under a concurrency limit,
 * record each outcome durably), then regenerate the result file from the checkpoint. The planner is
 * pure; this module is the applier and owns the order of side effects.
 */

export interface IssueJobOptions {
  input: InputSpec;
  out: string;
  state: string;
  concurrency: number;
  rate?: number;
  maxAttempts: number;
  allowPartial: boolean;
  retryFailed: boolean;
  backoff?: BackoffPolicy;
}

export interface IssueApi extends Sender {
  getGroupBudgets(): Promise<GroupBudget[]>;
}

export interface IssueJobDeps {
  api: IssueApi;
  logger: Logger;
  /** Aborted on SIGINT/SIGTERM: stop taking rows, let in-flight requests finish. */
  signal: AbortSignal;
  random?: () => number;
}

export type HaltReason = "fatal-api" | "interrupted" | undefined;

export interface IssueReport {
  plan: Plan;
  counts: ResultCounts;
  halt: HaltReason;
  fatalMessage?: string;
  /** Groups that ran out of budget during this run. */
  exhaustedGroups: string[];
  requests: number;
  retries: number;
  sentRows: number;
  elapsedMs: number;
  /** From the first request to the last answer. */
  sendingMs: number;
}

export async function runIssueJob(options: IssueJobOptions, deps: IssueJobDeps): Promise<IssueReport> {
  const started = performance.now();
  await mkdir(dirname(options.out), { recursive: true });
  await mkdir(dirname(options.state), { recursive: true });
  const lock = await acquireLock(`${options.state}.lock`);
  let store: CheckpointStore | undefined;
  try {
    store = await JournalStore.open(options.state, options.input.campaign);
    const inputStat = await stat(options.input.file);
    const plan = await buildPlan(options.input, store, options.retryFailed);
    if (plan.problems.length > 0) throw new RowsInvalidError(options.input.file, plan.problems);

    const budgets = plan.actions.send > 0 ? await readBudgets(deps.api, deps.random) : [];
    const budgetProblems = checkBudgets(plan, budgets);
    const blocking = budgetProblems.filter((p) => p.kind !== "shortfall" || !options.allowPartial);
    if (blocking.length > 0) {
      const hint = blocking.some((p) => p.kind === "shortfall") ? "Top up the group(s), or pass --allow-partial to issue in input order until the budget runs out." : "";
      throw new BudgetRefusedError(blocking, hint);
    }
    const afterPlan = await stat(options.input.file);
    if (afterPlan.size !== inputStat.size || afterPlan.mtimeMs !== inputStat.mtimeMs) {
      throw new BatchError("usage", "INPUT_CHANGED", `${options.input.file} changed while it was being checked; nothing was sent. Run again on a file nobody is editing`);
    }

    const applied = await applyPlan(options, deps, store, budgets, plan);
    const counts = await writeResults(options.input, store, options.out);
    return { plan, counts, ...applied, elapsedMs: performance.now() - started };
  } catch (error) {
    // A halted or failed run still leaves an exact result file, as long as it got past planning.
    if (store && !(error instanceof RowsInvalidError) && !(error instanceof BudgetRefusedError) && !isCheckpointOrUsage(error)) {
      await writeResults(options.input, store, options.out).catch(() => undefined);
    }
    throw error;
  } finally {
    await store?.close();
    await lock.release();
  }
}

function isCheckpointOrUsage(error: unknown): boolean {
  return error instanceof BatchError && (error.kind === "checkpoint" || error.kind === "usage");
}

export async function buildPlan(input: InputSpec, store: CheckpointStore | undefined, retryFailed: boolean): Promise<Plan> {
  const planner = new Planner(store, retryFailed);
  for await (const item of readInputRows(input)) planner.add(item);
  return planner.finish(input.file);
}

interface Applied {
  halt: HaltReason;
  fatalMessage?: string;
  exhaustedGroups: string[];
  requests: number;
  retries: number;
  sentRows: number;
  sendingMs: number;
}

async function applyPlan(options: IssueJobOptions, deps: IssueJobDeps, store: CheckpointStore, budgets: GroupBudget[], plan: Plan): Promise<Applied> {
  const { api, logger } = deps;
  const stop = new AbortController();
  const onExternalAbort = (): void => stop.abort();
  deps.signal.addEventListener("abort", onExternalAbort, { once: true });
  if (deps.signal.aborted) stop.abort();

  const exhausted = new Set<string>();
  const allowance = new Map(budgets.map((b) => [b.groupId, b.budget]));
  const limit = pLimit(options.concurrency);
  // Rows between "sent recorded" and "outcome recorded": enough to keep every slot busy while
  // others wait on the disk, bounded so memory does not grow with the file.
  const maxRowsInProcess = options.concurrency * 2 + 8;
  const settings = {
    maxAttempts: options.maxAttempts,
    backoff: options.backoff ?? DEFAULT_BACKOFF,
    random: deps.random ?? Math.random,
    pacer: options.rate ? new Pacer(options.rate) : undefined,
  };
  const stats = { requests: 0, retries: 0, sentRows: 0, firstSend: 0, lastAnswer: 0 };
  let fatalMessage: string | undefined;
  let failure: unknown;
  let slotFreed: () => void = () => undefined;
  let slotPromise = new Promise<void>((resolve) => (slotFreed = resolve));

  const sendRow = async (row: PreparedRow): Promise<void> => {
    const { requestId, groupId, giftCardValue } = row.request;
    const state = store.get(requestId);
    const inDoubtSameBody = (state?.status === "sent" || state?.status === "pending") && state.fp === row.fingerprint;
    if (!inDoubtSameBody) await store.recordSent(requestId, row.fingerprint, row.row);
    if (stats.firstSend === 0) stats.firstSend = performance.now();
    const shouldStop = (): boolean => stop.signal.aborted || exhausted.has(groupId);
    const counted: Pick<typeof api, "createPointsCode"> = {
      createPointsCode: (request) => {
        stats.requests++;
        return api.createPointsCode(request);
      },
    };
    // Only the exchange with PayPay holds a concurrency slot; the durable writes before and after
    // it overlap with other rows' requests, so fsync latency does not stretch the request rate.
    const { outcome, attempts } = await limit(() =>
      sendWithRetries(counted, row.request, settings, shouldStop, stop.signal, (retryable, attempt, delayMs) => {
        stats.retries += delayMs === undefined ? 0 : 1;
        logger.warn(
          { requestId, row: row.row, attempt, httpStatus: retryable.httpStatus, code: retryable.errorCode, paypayRequestId: retryable.paypayRequestId, retryInMs: delayMs },
          `attempt failed: ${retryable.message}`,
        );
      }),
    );
    stats.lastAnswer = performance.now();
    if (attempts > 0) stats.sentRows++;
    if (outcome === undefined) return; // stopped before the first attempt: stays "sent", resent next run
    const base = { rid: requestId, fp: row.fingerprint, attempts, groupId, value: giftCardValue, paypayRequestId: outcome.paypayRequestId };
    await store.recordOutcome({ ...base, ...outcomeFields(outcome) });
    if (outcome.kind === "rejected") {
      if (outcome.groupExhausted) {
        exhausted.add(groupId);
        logger.warn({ groupId, requestId }, `group ${groupId} has no budget left: its remaining rows stay pending`);
      } else {
        logger.warn({ requestId, row: row.row, httpStatus: outcome.httpStatus, code: outcome.errorCode, paypayRequestId: outcome.paypayRequestId }, `row rejected: ${outcome.message}`);
      }
    } else if (outcome.kind === "fatal" && !stop.signal.aborted) {
      fatalMessage = `PayPay refused the run: HTTP ${outcome.httpStatus ?? "?"} ${outcome.errorCode}: ${outcome.message}`;
      logger.error({ requestId, httpStatus: outcome.httpStatus, code: outcome.errorCode, paypayRequestId: outcome.paypayRequestId }, fatalMessage);
      stop.abort();
    }
  };

  const inFlight = new Set<Promise<void>>();
  try {
    for await (const item of readInputRows(options.input)) {
      if (stop.signal.aborted || failure) break;
      if (item.kind !== "row") continue;
      const row = item.prepared;
      const { groupId, giftCardValue } = row.request;
      if (decideRow(row.fingerprint, store.get(row.request.requestId), options.retryFailed) !== "send") continue;
      if (exhausted.has(groupId)) continue;
      const left = allowance.get(groupId);
      if (options.allowPartial && left !== undefined) {
        // In input order, until the first row that no longer fits: the rest of the group waits.
        if (giftCardValue > left) {
          exhausted.add(groupId);
          continue;
        }
        allowance.set(groupId, left - giftCardValue);
      }
      while (inFlight.size >= maxRowsInProcess && !failure) await slotPromise;
      const task = sendRow(row)
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
    deps.signal.removeEventListener("abort", onExternalAbort);
  }
  if (failure) throw failure;
  return {
    halt: fatalMessage ? "fatal-api" : deps.signal.aborted ? "interrupted" : undefined,
    fatalMessage,
    exhaustedGroups: [...exhausted],
    requests: stats.requests,
    retries: stats.retries,
    sentRows: stats.sentRows,
    sendingMs: stats.firstSend === 0 ? 0 : stats.lastAnswer - stats.firstSend,
  };
}

function outcomeFields(outcome: CreateOutcome): { status: "issued" | "failed" | "pending"; code?: string; data?: string; errorCode?: string; errorMessage?: string } {
  switch (outcome.kind) {
    case "issued":
      return { status: "issued", code: outcome.code, data: outcome.data };
    case "rejected":
      return outcome.groupExhausted
        ? { status: "pending", errorCode: outcome.errorCode, errorMessage: outcome.message }
        : { status: "failed", errorCode: outcome.errorCode, errorMessage: outcome.message };
    case "retryable":
    case "fatal":
      return { status: "pending", errorCode: outcome.errorCode, errorMessage: outcome.message };
  }
}
