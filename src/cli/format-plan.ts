import { describeEncoding } from "../csv/encoding.js";
import type { ResolvedInputSpec } from "../job/input-rows.js";
import { heldBackAmount } from "../job/plan.js";
import type { PreparedRun } from "../job/prepare-run.js";
import { describeCharges } from "../job/spend-guard.js";
import { describeTarget, isSimulated, type Target } from "../paypay/target.js";
import { yen } from "../yen.js";

/**
 * The plan as a person reads it: what a run would send, per group, against the live budget. What
 * would refuse the run (invalid rows included) is not here: the caller raises it, as `issue` would.
 */
export function formatPlan(
  input: ResolvedInputSpec,
  prepared: PreparedRun,
  checkpoint: string | undefined,
  notes: readonly (string | undefined)[],
  target: Target,
): string {
  const { plan } = prepared;
  const skipped = plan.emptyRows > 0 ? ` (skipped ${plan.emptyRows} empty row(s))` : "";
  const lines = [`plan for campaign ${input.campaign}: ${input.file} (${describeEncoding(input.encoding)}), ${plan.rows} row(s)${skipped}`];
  lines.push(`  target: ${describeTarget(target)}${isSimulated(target) ? " (SIMULATED: its codes are not real)" : ""}`);
  if (plan.problems.length > 0) {
    lines.push(`  ${plan.problems.length} problem(s) in the input: see below`);
    return lines.join("\n");
  }
  if (plan.firstStartAt && plan.lastEndAt) lines.push(`  dates: ${plan.firstStartAt} .. ${plan.lastEndAt}`);
  const a = plan.actions;
  lines.push(
    checkpoint
      ? `  checkpoint ${checkpoint}: ${a.done} already issued, ${a["keep-failed"]} failed (kept), ${a.conflict + a.changed} changed since sent, ${a.accepted} changed and accepted`
      : "  checkpoint: none yet (nothing issued)",
  );
  const budgets = new Map((prepared.budgets ?? []).map((b) => [b.groupId, b]));
  for (const group of plan.groups.values()) {
    const budget = budgets.get(group.groupId);
    const cutoff = prepared.cutoffs[group.groupId];
    const held = heldBackAmount(group, cutoff);
    const verdict =
      budget === undefined
        ? prepared.budgets
          ? "group not found"
          : "budget not read"
        : budget.budget >= group.sendAmount
          ? `budget ${yen(budget.budget)}, ${yen(budget.budget - group.sendAmount)} left after`
          : `budget ${yen(budget.budget)}, SHORT by ${yen(group.sendAmount - budget.budget)}`;
    lines.push(
      `  group ${group.groupId}: ${group.rows} row(s) ${yen(group.amount)}; to send ${group.sendRows} row(s) ${yen(group.sendAmount)}` +
        (group.inDoubtRows > 0 ? ` (+${group.inDoubtRows} in doubt ${yen(group.inDoubtAmount)}, resent under their requestId)` : "") +
        `; issued ${group.issuedRows} row(s) ${yen(group.issuedAmount)}; ${verdict}` +
        (cutoff === undefined ? "" : `; --allow-partial holds back ${held.rows} row(s) ${yen(held.amount)} from row ${cutoff}`),
    );
  }
  for (const problem of prepared.budgetProblems) lines.push(`  ! ${problem.message}`);
  for (const note of notes) if (note) lines.push(`  ${note}`);
  if (a.send > 0) lines.push(`  may charge ${describeCharges(prepared.charges)}`);
  lines.push(`  a run would send ${a.send} row(s); nothing was sent`);
  return lines.join("\n");
}
