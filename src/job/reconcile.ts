import type { GroupBudget } from "../paypay/types.js";
import { yen } from "../yen.js";
import type { GroupCharges } from "./apply-plan.js";

/**
 * Reconciliation: how far each group's budget moved during the run, against what the run's new codes
 * charged. Rows in doubt at the start came back issued, but their charge may belong to an earlier
 * run, so they are counted apart. Another issuer sharing the group explains a difference too, so it
 * is a warning, not an error. Pure.
 */

export interface GroupReconciliation {
  groupId: string;
  before: number;
  after: number;
  /** before − after */
  moved: number;
  /** Charged by this run's new codes (a replayed requestId charges nothing). */
  charged: number;
  /** Issued rows that were in doubt at the start: charged by this run or an earlier one. */
  inDoubtIssued: number;
  inDoubtIssuedRows: number;
  /** moved − charged */
  difference: number;
  /** The difference is more than the rows in doubt can explain (or negative). */
  unexplained: boolean;
}

export function reconcile(
  before: readonly GroupBudget[],
  after: readonly GroupBudget[],
  charges: ReadonlyMap<string, GroupCharges>,
  groups: Iterable<string>,
): GroupReconciliation[] {
  const afterById = new Map(after.map((b) => [b.groupId, b.budget]));
  const beforeById = new Map(before.map((b) => [b.groupId, b.budget]));
  const result: GroupReconciliation[] = [];
  for (const groupId of groups) {
    const b = beforeById.get(groupId);
    const a = afterById.get(groupId);
    if (b === undefined || a === undefined) continue;
    const c = charges.get(groupId) ?? { charged: 0, inDoubtIssued: 0, inDoubtIssuedRows: 0 };
    const moved = b - a;
    const difference = moved - c.charged;
    result.push({
      groupId,
      before: b,
      after: a,
      moved,
      charged: c.charged,
      inDoubtIssued: c.inDoubtIssued,
      inDoubtIssuedRows: c.inDoubtIssuedRows,
      difference,
      unexplained: difference < 0 || difference > c.inDoubtIssued,
    });
  }
  return result;
}

export function describeReconciliation(r: GroupReconciliation): string {
  const doubt =
    r.inDoubtIssuedRows > 0 ? `; ${r.inDoubtIssuedRows} row(s) in doubt came back issued (${yen(r.inDoubtIssued)}, charged by this run or an earlier one)` : "";
  const verdict = r.unexplained
    ? `; WARNING: the budget moved ${yen(Math.abs(r.difference))} ${r.difference > 0 ? "more" : "less"} than this run charged (another issuer on the group?)`
    : "";
  return `group ${r.groupId}: budget ${yen(r.before)} → ${yen(r.after)} (moved ${yen(r.moved)}), this run charged ${yen(r.charged)}${doubt}${verdict}`;
}
