import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import type { Logger } from "pino";
import { processIsAlive } from "../checkpoint/lock.js";
import { removeStaleTemps } from "../fs/atomic-write.js";
import { openStateBackend } from "../checkpoint/open-store.js";
import type { CheckpointStore } from "../checkpoint/store.js";
import { refuseOtherTarget } from "../checkpoint/target-binding.js";
import { BatchError } from "../errors.js";
import type { GroupBudget } from "../paypay/types.js";
import { describeTarget, type Target } from "../paypay/target.js";
import { completeRecord, runFingerprint } from "./finished-run.js";
import { applyPlan, type Applied, type ApplySettings, type IssueEvents } from "./apply-plan.js";
import { resultContinuation } from "./appended-result.js";
import type { InputEncoding } from "../csv/encoding.js";
import type { InputSpec, ResolvedInputSpec } from "./input-rows.js";
import { removeSnapshotsExcept, snapshotPath, snapshotTempBase, takeSnapshot } from "./input-snapshot.js";
import type { Plan } from "./plan.js";
import { derivedRowsPath, type DerivedRows } from "./derived-rows.js";
import { prepareRun, refusalOf, type PlanSettings, type PreparedRun } from "./prepare-run.js";
import { PhaseClock, type Phase } from "./phase-clock.js";
import { readBudgets } from "./read-budgets.js";
import { reconcile, type GroupReconciliation } from "./reconcile.js";
import { rewriteFinishedResult } from "./rewrite-result.js";
import { claimResult, refuseOtherOwner } from "./result-owner.js";
import type { Sender } from "./send-with-retries.js";
import { writeResults, type ResultCounts, type ResultFormat } from "./write-results.js";

/**
 * The issue job: plan (snapshot the input, validate, compare with budgets), record the plan, apply
 * it (send, record each outcome durably), reconcile budgets, then regenerate the result file from
 * the checkpoint. The order of side effects lives here; the planner is pure and the applier knows
 * nothing of files or locks. Nothing durable is created until the plan is accepted.
 */

export interface IssueJobOptions extends ApplySettings, PlanSettings {
  input: InputSpec;
  out: string;
  state: string;
  format: ResultFormat;
  /** `load`: record the plan and mark its rows for workers (src/worker), send nothing. */
  loadOnly?: boolean;
}

export interface IssueApi extends Sender {
  getGroupBudgets(): Promise<GroupBudget[]>;
}

export interface IssueJobDeps {
  api: IssueApi;
  /** Which PayPay `api` talks to: the checkpoint is bound to it. */
  target: Target;
  logger: Logger;
  /** Aborted on SIGINT/SIGTERM: stop taking rows, let in-flight requests finish. */
  signal: AbortSignal;
  random?: () => number;
  /** Asked once the plan is accepted, before anything is recorded or sent (a production run on a terminal). */
  confirm?(prepared: PreparedRun): Promise<boolean>;
  /** Called once the plan is recorded, before the first request: how many rows will be sent. */
  onPlanned?(plan: Plan): IssueEvents | undefined;
}

export interface IssueReport extends Applied {
  /** Rows marked for workers to claim (PostgreSQL state); undefined with the file journal. */
  marked?: number;
  /** Undefined when the run found its previous run finished and nothing changed (see finished-run.ts). */
  plan?: Plan;
  counts: ResultCounts;
  elapsedMs: number;
  /** Per group, how far the budget moved against what this run charged; empty when budgets were not read. */
  reconciliation: GroupReconciliation[];
  /** Set when the budgets after the run could not be read. */
  reconciliationError?: string;
  /** The input's encoding, which decides the result's (see write-results.ts). */
  encoding: InputEncoding;
  /** From the start of the run to its first request; undefined when nothing was sent. */
  firstRequestMs?: number;
  /** Wall and CPU time per phase, in order (see phase-clock.ts). */
  phases?: Phase[];
}

export async function runIssueJob(options: IssueJobOptions, deps: IssueJobDeps): Promise<IssueReport> {
  const started = performance.now();
  const clock = new PhaseClock();
  await mkdir(dirname(options.out), { recursive: true });
  // The file journal, or PostgreSQL: `state` is what messages name, `snapshots` where copies go.
  const backend = await openStateBackend(options.state, options.input.campaign);
  const state = backend.location;
  const snapshots = backend.snapshotBase;
  const lock = await backend.lock().catch(async (error: unknown) => {
    await backend.close();
    throw error;
  });
  // A run that loses its lock (PostgreSQL) stops taking rows at once, as on a signal.
  const signal = lock.lost ? AbortSignal.any([deps.signal, lock.lost]) : deps.signal;
  await removeStaleTemps(options.out, processIsAlive);
  await removeStaleTemps(snapshotTempBase(snapshots), processIsAlive);
  await removeStaleTemps(`${snapshots}.derived`, processIsAlive);
  let store: CheckpointStore | undefined;
  let planned: ResolvedInputSpec | undefined;
  let keepSnapshot: string | undefined;
  let derived: DerivedRows | undefined;
  try {
    // The user's file is read once, into an immutable copy: everything after plans and sends from it.
    const snapshot = await takeSnapshot(options.input.file, options.input.encoding, snapshots);
    clock.mark("snapshot");
    const input: ResolvedInputSpec = { ...options.input, encoding: snapshot.encoding, snapshot: snapshot.path };
    const fingerprint = runFingerprint(input, snapshot.digest, options, deps.target);
    const finished = await backend.finishedRun(fingerprint, options.out, options.retryFailed);
    clock.mark("finished-check");
    if (finished !== undefined && "resultOnly" in finished) {
      keepSnapshot = snapshot.path;
      const counts = await rewriteFinishedResult(
        backend,
        input,
        fingerprint,
        { ...options, target: deps.target, logger: deps.logger, inputBytes: snapshot.bytes },
        clock,
      );
      return { counts, ...nothingApplied(signal), reconciliation: [], elapsedMs: performance.now() - started, encoding: input.encoding, phases: clock.phases };
    }
    if (finished) {
      keepSnapshot = snapshot.path;
      deps.logger.info({ checkpoint: state }, "nothing changed since the last run finished: nothing to send");
      return {
        counts: finished.counts,
        ...nothingApplied(deps.signal),
        reconciliation: [],
        elapsedMs: performance.now() - started,
        encoding: input.encoding,
        phases: clock.phases,
      };
    }
    // Read before this run appends its plan: the result it may continue (see appended-result.ts).
    const previous = await backend.lastComplete?.();
    store = await backend.openExisting(input.campaign);
    clock.mark("replay");
    keepSnapshot = lastSnapshotOf(store, snapshots);
    if (store?.target) refuseOtherTarget(state, store.target, deps.target);
    await refuseOtherOwner(options.out, state, input.campaign, store?.lastPlan()?.out);
    const prepared = await prepareRun(input, store, options, () => readBudgets(deps.api, deps.random), { spillTo: derivedRowsPath(snapshots) });
    derived = prepared.derived;
    clock.mark("plan");
    const refusal = refusalOf(prepared, options);
    if (refusal) throw refusal;
    if (deps.confirm && prepared.plan.actions.send > 0 && !(await deps.confirm(prepared))) {
      throw new BatchError("usage", "NOT_CONFIRMED", "Not confirmed; nothing was sent");
    }

    store ??= await backend.create(input.campaign);
    if (await store.bindTarget(deps.target)) {
      deps.logger.warn({ checkpoint: state, target: deps.target }, `checkpoint from an earlier release: bound to ${describeTarget(deps.target)} from now on`);
    }
    if (options.acceptChanged) await acceptChanges(store, prepared, deps.logger);
    await backend.keepPlanInput(store, snapshot, input);
    await store.recordPlan({
      target: deps.target,
      input: resolve(input.file),
      snapshot: basename(snapshot.path),
      inputDigest: snapshot.digest,
      encoding: input.encoding,
      columns: input.columns,
      defaults: input.defaults,
      out: resolve(options.out),
      settingsDigest: fingerprint.settingsDigest,
      planDigest: planDigest(prepared),
      cutoffs: prepared.cutoffs,
      send: { rows: prepared.charges.newRows, amount: prepared.charges.newAmount, inDoubtRows: prepared.charges.inDoubtRows },
      ...(options.spend.maxTotal === undefined ? {} : { maxTotal: options.spend.maxTotal }),
    });
    // Claimed now, not when the result is first written: a second campaign racing for the same
    // --out is refused before it sends anything.
    await claimResult(options.out, state, input.campaign);
    planned = input;
    keepSnapshot = snapshot.path;
    await removeSnapshotsExcept(snapshots, keepSnapshot);
    clock.mark("record-plan");
    // The same plan as work for `work` processes: an interrupted `issue` can be finished by workers.
    const marked = await backend.markPlannedSends?.(store, input, options.retryFailed, prepared.cutoffs);
    if (options.loadOnly) {
      const { counts } = await writeResults(input, store, options.out, options.format, derived);
      return {
        plan: prepared.plan,
        marked,
        counts,
        ...nothingApplied(signal),
        reconciliation: [],
        elapsedMs: performance.now() - started,
        encoding: input.encoding,
        phases: clock.phases,
      };
    }
    const events = deps.onPlanned?.(prepared.plan);
    const applied =
      prepared.plan.actions.send > 0
        ? await applyPlan(
            { input, cutoffs: prepared.cutoffs, toSend: prepared.plan.sendRows, firstSend: prepared.plan.firstSend, derived },
            options,
            { ...deps, signal, events },
            store,
          )
        : nothingApplied(signal);
    clock.mark("send");
    const reconciled = await reconcileBudgets(prepared, applied, deps);
    clock.mark("reconcile");
    const continuation = await resultContinuation(previous, fingerprint, snapshot, prepared.plan, options.retryFailed);
    const { counts, digest, continued } = await writeResults(input, store, options.out, options.format, derived, continuation);
    if (continued)
      deps.logger.info(
        { out: options.out, fromRow: continuation?.from.row },
        "rows were appended to the last run's input: its result file was continued with theirs",
      );
    clock.mark("result");
    await store.recordComplete(completeRecord(fingerprint, digest, counts, snapshot.bytes));
    clock.mark("complete");
    return {
      plan: prepared.plan,
      counts,
      ...applied,
      ...reconciled,
      elapsedMs: performance.now() - started,
      firstRequestMs: applied.firstSendAt > 0 ? applied.firstSendAt - started : undefined,
      encoding: input.encoding,
      phases: clock.phases,
    };
  } catch (error) {
    // A run that recorded its plan still leaves an exact result file, whatever stopped it.
    if (store !== undefined && planned !== undefined) {
      await writeResults(planned, store, options.out, options.format, derived).catch(() => undefined);
    }
    throw error;
  } finally {
    // Each step runs whatever the one before did: a store that fails to close (a full disk) must
    // not keep the lock held or hide the error that stopped the run.
    try {
      await derived?.remove();
      await store?.close();
    } finally {
      try {
        // A refused run leaves no copy of its input behind, only the one its last recorded plan names.
        await removeSnapshotsExcept(snapshots, keepSnapshot).catch(() => undefined);
        await lock.release();
      } finally {
        await backend.close();
      }
    }
  }
}

function lastSnapshotOf(store: CheckpointStore | undefined, snapshots: string): string | undefined {
  const last = store?.lastPlan();
  return store && last?.t === "plan" ? snapshotPath(snapshots, last) : undefined;
}

/** Records --accept-changed for every issued row that now reads differently: reported from now on, exit 0. */
async function acceptChanges(store: CheckpointStore, prepared: PreparedRun, logger: Logger): Promise<void> {
  if (prepared.plan.actions.conflict === 0) return;
  for (const { requestId, fingerprint, row } of prepared.plan.conflicts) {
    await store.recordAccepted(requestId, fingerprint);
    logger.info({ requestId, row }, "accepted: this issued row changed since; its code stays and the change is reported");
  }
}

/** Commits to the ordered requestIds and bodies to send and to the cutoffs that hold rows back. */
export function planDigest(prepared: PreparedRun): string {
  return createHash("sha256").update(prepared.plan.sendDigest).update(JSON.stringify(prepared.cutoffs)).digest("hex");
}

async function reconcileBudgets(
  prepared: PreparedRun,
  applied: Applied,
  deps: IssueJobDeps,
): Promise<Pick<IssueReport, "reconciliation" | "reconciliationError">> {
  // After PayPay refused the credentials, another signed read would only be refused again.
  if (!prepared.budgets || applied.requests === 0 || applied.halt === "fatal-api") return { reconciliation: [] };
  try {
    const after = await readBudgets(deps.api, deps.random);
    const sending = [...prepared.plan.groups.values()].filter((g) => g.sendRows + g.inDoubtRows > 0).map((g) => g.groupId);
    const reconciliation = reconcile(prepared.budgets, after, applied.chargesByGroup, sending);
    for (const r of reconciliation.filter((x) => x.unexplained)) {
      deps.logger.warn({ ...r }, `group ${r.groupId}: the budget moved ${r.moved} JPY but this run charged ${r.charged} JPY`);
    }
    return { reconciliation };
  } catch (error) {
    if (!(error instanceof BatchError)) throw error;
    deps.logger.warn({ code: error.code }, `budgets after the run could not be read, so they were not reconciled: ${error.message}`);
    return { reconciliation: [], reconciliationError: error.message };
  }
}

function nothingApplied(signal: AbortSignal): Applied {
  return {
    halt: signal.aborted ? "interrupted" : undefined,
    exhaustedGroups: [],
    requests: 0,
    retries: 0,
    throttled: 0,
    sentRows: 0,
    sendingMs: 0,
    firstSendAt: 0,
    chargesByGroup: new Map(),
  };
}
