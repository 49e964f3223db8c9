import { mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Logger } from "pino";
import { acquireLock, processIsAlive } from "../checkpoint/lock.js";
import { removeStaleTemps } from "../fs/atomic-write.js";
import { JournalStore } from "../checkpoint/journal-store.js";
import type { CheckpointStore } from "../checkpoint/store.js";
import { BatchError } from "../errors.js";
import type { GroupBudget } from "../paypay/types.js";
import { completeRecord, finishedRunCounts, runFingerprint } from "./finished-run.js";
import { applyPlan, type Applied, type ApplySettings, type IssueEvents } from "./apply-plan.js";
import { scanInput, type InputEncoding } from "../csv/encoding.js";
import type { InputSpec, ResolvedInputSpec } from "./input-rows.js";
import type { Plan } from "./plan.js";
import { preparePlan, refuseIfBlocked } from "./prepare-plan.js";
import { readBudgets } from "./read-budgets.js";
import type { Sender } from "./send-with-retries.js";
import { writeResults, type ResultCounts, type ResultFormat } from "./write-results.js";

/**
 * The issue job: plan (read, validate, compare with budgets), apply (send, record each outcome
 * durably), then regenerate the result file from the checkpoint. The order of side effects lives
 * here; the planner is pure and the applier knows nothing of files or locks.
 */

export interface IssueJobOptions extends ApplySettings {
  input: InputSpec;
  out: string;
  state: string;
  format: ResultFormat;
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
  /** Called once the plan is known, before the first request: how many rows will be sent. */
  onPlanned?(plan: Plan): IssueEvents | undefined;
}

export interface IssueReport extends Applied {
  /** Undefined when the run found its previous run finished and nothing changed (see finished-run.ts). */
  plan?: Plan;
  counts: ResultCounts;
  elapsedMs: number;
  /** The input's encoding, which decides the result's (see write-results.ts). */
  encoding: InputEncoding;
}

export async function runIssueJob(options: IssueJobOptions, deps: IssueJobDeps): Promise<IssueReport> {
  const started = performance.now();
  const scan = await scanInput(options.input.file, options.input.encoding, true);
  const input: ResolvedInputSpec = { ...options.input, encoding: scan.encoding };
  await mkdir(dirname(options.out), { recursive: true });
  await mkdir(dirname(options.state), { recursive: true });
  const lock = await acquireLock(`${options.state}.lock`);
  await removeStaleTemps(options.out, processIsAlive);
  let store: CheckpointStore | undefined;
  let planned = false;
  try {
    const fingerprint = runFingerprint(input, scan.digest, options);
    const finished = await finishedRunCounts(options.state, fingerprint, options.out, options.retryFailed);
    if (finished) {
      deps.logger.info({ checkpoint: options.state }, "nothing changed since the last run finished: nothing to send");
      return { counts: finished, ...nothingApplied(deps.signal), elapsedMs: performance.now() - started, encoding: input.encoding };
    }
    store = await JournalStore.open(options.state, input.campaign);
    const before = await stat(input.file);
    const prepared = await preparePlan(input, store, options.retryFailed, () => readBudgets(deps.api, deps.random));
    refuseIfBlocked(input.file, prepared, options.allowPartial);
    const after = await stat(input.file);
    if (after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
      throw new BatchError("usage", "INPUT_CHANGED", `${input.file} changed while it was being checked; nothing was sent. Run again on a file nobody is editing`);
    }
    await store.recordRun({ input: resolve(input.file), encoding: input.encoding, columns: input.columns, defaults: input.defaults, out: resolve(options.out) });
    planned = true;
    const events = deps.onPlanned?.(prepared.plan);
    // A finished campaign rerun (from cron, say) has nothing to send: skip the second read of the input.
    const applied = prepared.plan.actions.send > 0 ? await applyPlan(input, options, { ...deps, events }, store, prepared.budgets ?? []) : nothingApplied(deps.signal);
    const { counts, digest } = await writeResults(input, store, options.out, options.format);
    await store.recordComplete(completeRecord(fingerprint, digest, counts));
    return { plan: prepared.plan, counts, ...applied, elapsedMs: performance.now() - started, encoding: input.encoding };
  } catch (error) {
    // A run that got past planning still leaves an exact result file, whatever stopped it.
    if (store !== undefined && planned) {
      await writeResults(input, store, options.out, options.format).catch(() => undefined);
    }
    throw error;
  } finally {
    await store?.close();
    await lock.release();
  }
}

function nothingApplied(signal: AbortSignal): Applied {
  return { halt: signal.aborted ? "interrupted" : undefined, exhaustedGroups: [], requests: 0, retries: 0, throttled: 0, sentRows: 0, sendingMs: 0 };
}
