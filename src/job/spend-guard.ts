import { BatchError } from "../errors.js";
import { yen } from "../yen.js";
import { heldBackAmount, type Plan } from "./plan.js";

/**
 * The money a run may move, and the guard against moving far more than meant (an amount column in
 * sen instead of yen spends 100 times the budget planned). Pure.
 */

export interface Charges {
  /** Rows whose request charges a group, after --allow-partial's cutoffs. */
  newRows: number;
  newAmount: number;
  /** Rows resent under a requestId whose first request may already have been charged. */
  inDoubtRows: number;
  inDoubtAmount: number;
}

export function chargesOf(plan: Plan, cutoffs: Record<string, number>): Charges {
  const charges: Charges = { newRows: 0, newAmount: 0, inDoubtRows: 0, inDoubtAmount: 0 };
  for (const group of plan.groups.values()) {
    const held = heldBackAmount(group, cutoffs[group.groupId]);
    charges.newRows += group.sendRows - held.rows;
    charges.newAmount += group.sendAmount - held.amount;
    charges.inDoubtRows += group.inDoubtRows;
    charges.inDoubtAmount += group.inDoubtAmount;
  }
  return charges;
}

export interface SpendGuard {
  /** --max-total: the most the run may charge, rows in doubt included (they may charge once). */
  maxTotal?: number;
  /** A production run with nobody at a terminal to confirm the total must state --max-total. */
  capRequired: boolean;
}

export function describeCharges(charges: Charges): string {
  const doubt = charges.inDoubtRows > 0 ? ` (+${yen(charges.inDoubtAmount)} for ${charges.inDoubtRows} row(s) in doubt, charged at most once)` : "";
  return `${yen(charges.newAmount)} for ${charges.newRows} new row(s)${doubt}`;
}

export function spendRefusal(charges: Charges, guard: SpendGuard): BatchError | undefined {
  const worst = charges.newAmount + charges.inDoubtAmount;
  if (guard.maxTotal !== undefined && worst > guard.maxTotal) {
    return new BatchError(
      "usage",
      "OVER_MAX_TOTAL",
      `This run may charge ${describeCharges(charges)}, more than --max-total ${yen(guard.maxTotal)}; nothing was sent. ` +
        "Check the amount column is in yen (not sen) and the rows are the ones meant, or raise --max-total",
    );
  }
  if (guard.maxTotal === undefined && guard.capRequired && worst > 0) {
    return new BatchError(
      "usage",
      "MAX_TOTAL_REQUIRED",
      `A production run with no terminal to confirm it must state the money it may move: this one would charge ${describeCharges(charges)}. ` +
        "Pass --max-total <yen> (or the config key maxTotal); nothing was sent",
    );
  }
  return undefined;
}
