import { describeEncoding } from "../csv/encoding.js";
import type { ResolvedInputSpec } from "../job/input-rows.js";
import type { PlanOutcome } from "../job/prepare-plan.js";
import { formatProblems } from "../job/refusals.js";
import { yen } from "../yen.js";

/** The plan as a person reads it: what a run would send, per group, against the live budget. */
export function formatPlan(
  input: ResolvedInputSpec,
  outcome: PlanOutcome,
  checkpoint: string | undefined,
  notes: readonly (string | undefined)[],
  problemsCsv?: string,
): string {
  const { plan } = outcome;
  const skipped = plan.emptyRows > 0 ? ` (skipped ${plan.emptyRows} empty row(s))` : "";
  const lines = [`plan for campaign ${input.campaign}: ${input.file} (${describeEncoding(input.encoding)}), ${plan.rows} row(s)${skipped}`];
  if (plan.problems.length > 0) {
    lines.push(formatProblems(input.file, plan.problems, { problemsCsv }));
    return lines.join("\n");
  }
  if (plan.firstStartAt && plan.lastEndAt) lines.push(`  dates: ${plan.firstStartAt} .. ${plan.lastEndAt}`);
  const a = plan.actions;
  lines.push(
    checkpoint
      ? `  checkpoint ${checkpoint}: ${a.done} already issued, ${a["keep-failed"]} failed (kept), ${a.conflict + a.changed} changed since sent`
      : "  checkpoint: none yet (nothing issued)",
  );
  const budgets = new Map((outcome.budgets ?? []).map((b) => [b.groupId, b]));
  for (const group of plan.groups.values()) {
    const budget = budgets.get(group.groupId);
    const verdict =
      budget === undefined
        ? outcome.budgets
          ? "group not found"
          : "budget not read"
        : budget.budget >= group.sendAmount
          ? `budget ${yen(budget.budget)}, ${yen(budget.budget - group.sendAmount)} left after`
          : `budget ${yen(budget.budget)}, SHORT by ${yen(group.sendAmount - budget.budget)}`;
    lines.push(
      `  group ${group.groupId}: ${group.rows} row(s) ${yen(group.amount)}; to send ${group.sendRows} row(s) ${yen(group.sendAmount)}` +
        (group.inDoubtRows > 0 ? ` (+${group.inDoubtRows} in doubt ${yen(group.inDoubtAmount)}, resent under their requestId)` : "") +
        `; issued ${group.issuedRows} row(s) ${yen(group.issuedAmount)}; ${verdict}`,
    );
  }
  for (const problem of outcome.budgetProblems) lines.push(`  ! ${problem.message}`);
  for (const note of notes) if (note) lines.push(`  ${note}`);
  lines.push(`  a run would send ${a.send} row(s); nothing was sent`);
  return lines.join("\n");
}
