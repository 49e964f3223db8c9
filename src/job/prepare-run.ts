import { batchesWithStates } from "../checkpoint/prefetch.js";
import type { CheckpointStore } from "../checkpoint/store.js";
import { BatchError } from "../errors.js";
import type { GroupBudget } from "../paypay/types.js";
import { DerivedRowsWriter, type DerivedRows } from "./derived-rows.js";
import { readWholeInput } from "./input-reader-thread.js";
import type { ResolvedInputSpec } from "./input-rows.js";
import { checkBudgets, planCutoffs, Planner, type BudgetProblem, type Plan } from "./plan.js";
import { BudgetRefusedError, RowsInvalidError } from "./refusals.js";
import { chargesOf, spendRefusal, type Charges, type SpendGuard } from "./spend-guard.js";

/**
 * Planning, shared by `issue` and `plan` so the two always agree: read the input once into a plan,
 * compare it with live budgets, plan --allow-partial's cutoffs and the money at stake, and say what
 * (if anything) refuses the run. Sends nothing but the budget read.
 */

export interface PlanSettings {
  retryFailed: boolean;
  allowPartial: boolean;
  acceptChanged: boolean;
  spend: SpendGuard;
}

export interface PreparedRun {
  input: ResolvedInputSpec;
  plan: Plan;
  /** Undefined when budgets were not read: nothing to send, invalid rows, or the read failed. */
  budgets?: GroupBudget[];
  /** Why budgets could not be read; a refusal only when there are rows to send. */
  budgetError?: BatchError;
  budgetProblems: BudgetProblem[];
  cutoffs: Record<string, number>;
  charges: Charges;
  /** With `spillTo`: each valid row's requestId and fingerprint, for the result pass (the caller removes it). */
  derived?: DerivedRows;
}

export async function prepareRun(
  input: ResolvedInputSpec,
  store: CheckpointStore | undefined,
  settings: PlanSettings,
  readBudgets: () => Promise<GroupBudget[]>,
  options: { evenWithNothingToSend?: boolean; spillTo?: string } = {},
): Promise<PreparedRun> {
  const planner = new Planner(store, settings.retryFailed, input.columns.recipient_id, settings.allowPartial);
  const spill = options.spillTo === undefined ? undefined : await DerivedRowsWriter.create(options.spillTo, input.snapshot ?? input.file);
  let derived: DerivedRows | undefined;
  try {
    for await (const batch of batchesWithStates(store, readWholeInput(input))) {
      for (const item of batch) {
        planner.add(item);
        if (item.kind === "row") spill?.add(item.prepared.row, item.prepared.request.requestId, item.prepared.fingerprint);
      }
      await spill?.flushIfFull();
    }
    derived = await spill?.finish();
  } catch (error) {
    await spill?.discard();
    throw error;
  }
  const plan = planner.finish(input.file);
  const prepared: PreparedRun = { input, plan, budgetProblems: [], cutoffs: {}, charges: chargesOf(plan, {}), derived };
  // A finished campaign rerun from cron needs no PayPay call at all; `plan` shows budgets anyway.
  const idle = plan.actions.send === 0 && !options.evenWithNothingToSend;
  if (plan.problems.length > 0 || idle) return prepared;
  try {
    prepared.budgets = await readBudgets();
  } catch (error) {
    if (!(error instanceof BatchError)) throw error;
    prepared.budgetError = error;
    return prepared;
  }
  prepared.budgetProblems = checkBudgets(plan, prepared.budgets);
  if (settings.allowPartial) prepared.cutoffs = planCutoffs(plan, prepared.budgets);
  prepared.charges = chargesOf(plan, prepared.cutoffs);
  return prepared;
}

/** The budget problems a run must stop on: all of them, but shortfalls under --allow-partial. */
export function blockingProblems(prepared: PreparedRun, allowPartial: boolean): BudgetProblem[] {
  return prepared.budgetProblems.filter((p) => p.kind !== "shortfall" || !allowPartial);
}

/**
 * The first reason the run must not send anything: invalid rows, budgets unreadable, a missing
 * group, a period too long, a budget short, more money than --max-total. Undefined: go.
 */
export function refusalOf(prepared: PreparedRun, settings: PlanSettings): BatchError | undefined {
  const { plan } = prepared;
  if (plan.problems.length > 0) return new RowsInvalidError(prepared.input.file, plan.problems);
  if (plan.actions.send === 0) return undefined;
  if (prepared.budgetError) return prepared.budgetError;
  const blocking = blockingProblems(prepared, settings.allowPartial);
  if (blocking.length > 0) {
    const hint = blocking.some((p) => p.kind === "shortfall")
      ? "Top up the group(s), or pass --allow-partial to issue in input order until the budget runs out."
      : "";
    return new BudgetRefusedError(blocking, hint);
  }
  return spendRefusal(prepared.charges, settings.spend);
}

/**
 * Rows that changed since they were sent or issued: the run sends the rest, then exits 3 until the
 * row is restored or, for an issued row, its change accepted (--accept-changed).
 */
export function changedRowsNote(plan: Plan, acceptChanged: boolean): string | undefined {
  const conflicts = acceptChanged ? 0 : plan.actions.conflict;
  const changed = conflicts + plan.actions.changed;
  if (changed === 0) return undefined;
  const ways = [
    conflicts > 0 ? "restore an issued row, or pass --accept-changed to keep its code and report the change" : "",
    plan.actions.changed > 0
      ? "restore a row in doubt to what was sent, so a rerun can settle it under its requestId (its new content is never sent under that requestId)"
      : "",
  ].filter(Boolean);
  return `${changed} row(s) changed after they were sent (REQUEST_CHANGED in the result): ${ways.join("; ")}`;
}
