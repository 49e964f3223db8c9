import type { CheckpointStore } from "../checkpoint/store.js";
import type { GroupBudget } from "../paypay/types.js";
import { readInputRows, type ResolvedInputSpec } from "./input-rows.js";
import { checkBudgets, Planner, type BudgetProblem, type Plan } from "./plan.js";
import { BudgetRefusedError, RowsInvalidError } from "./refusals.js";

/**
 * Reads the whole input once, folds it with the checkpoint into a plan, and compares the plan with
 * live budgets. Sends nothing but the budget read. Shared by `issue`, `issue --dry-run` and `plan`.
 */

export interface PlanOutcome {
  plan: Plan;
  /** Undefined when budgets were not read (nothing to send, or the caller chose not to). */
  budgets?: GroupBudget[];
  budgetProblems: BudgetProblem[];
}

export async function preparePlan(
  input: ResolvedInputSpec,
  store: CheckpointStore | undefined,
  retryFailed: boolean,
  /** Undefined, or resolving to undefined (`plan` after a failed read): budgets not compared. */
  readBudgets: (() => Promise<GroupBudget[] | undefined>) | undefined,
  options: { evenWithNothingToSend?: boolean } = {},
): Promise<PlanOutcome> {
  const planner = new Planner(store, retryFailed, input.columns.recipient_id);
  for await (const item of readInputRows(input)) planner.add(item);
  const plan = planner.finish(input.file);
  // A finished campaign rerun from cron needs no PayPay call at all; `plan` shows budgets anyway.
  const idle = plan.actions.send === 0 && !options.evenWithNothingToSend;
  if (plan.problems.length > 0 || idle || !readBudgets) return { plan, budgetProblems: [] };
  const budgets = await readBudgets();
  if (!budgets) return { plan, budgetProblems: [] };
  return { plan, budgets, budgetProblems: checkBudgets(plan, budgets) };
}

/** The budget problems a run must stop on: all of them, but shortfalls under --allow-partial. */
export function blockingProblems(outcome: PlanOutcome, allowPartial: boolean): BudgetProblem[] {
  return outcome.budgetProblems.filter((p) => p.kind !== "shortfall" || !allowPartial);
}

/** Throws the refusal a run must stop on: invalid rows, a missing group, a period too long, a budget short. */
export function refuseIfBlocked(file: string, outcome: PlanOutcome, allowPartial: boolean): void {
  if (outcome.plan.problems.length > 0) throw new RowsInvalidError(file, outcome.plan.problems);
  const blocking = blockingProblems(outcome, allowPartial);
  if (blocking.length > 0) {
    const hint = blocking.some((p) => p.kind === "shortfall") ? "Top up the group(s), or pass --allow-partial to issue in input order until the budget runs out." : "";
    throw new BudgetRefusedError(blocking, hint);
  }
}
