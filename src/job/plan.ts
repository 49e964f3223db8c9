import { createHash, type Hash } from "node:crypto";
import type { RowState } from "../checkpoint/records.js";
import type { CheckpointStore } from "../checkpoint/store.js";
import { growable, grownTo } from "../growable-array.js";
import { FirstRows } from "./first-rows.js";
import { UuidIndex } from "../checkpoint/uuid-index.js";
import type { GroupBudget } from "../paypay/types.js";
import { daysBetween } from "../dates.js";
import { decideRow, type RowAction } from "./decide.js";
import { RowSet } from "./row-set.js";
import type { InputItem } from "./input-rows.js";
import type { RowProblem } from "./validate-row.js";
import { yen } from "../yen.js";

/**
 * The planner: folds the checked input and the checkpoint into what a run would do, without sending
 * anything. Pure but for reading the checkpoint's index. The issue job, `plan` and `--dry-run` share it.
 */

export interface GroupPlan {
  groupId: string;
  rows: number;
  amount: number;
  /** Rows to send that cost budget: new rows, refused ones, --retry-failed ones. */
  sendRows: number;
  sendAmount: number;
  /** Rows resent under their requestId whose first request may already have been charged. */
  inDoubtRows: number;
  inDoubtAmount: number;
  issuedRows: number;
  issuedAmount: number;
  /** Period length in days → how many rows ask for it and the first such row. */
  periods: Map<number, { count: number; firstRow: number }>;
  /** Rows that cost budget, in input order (spreadsheet row, yen), kept only for --allow-partial's cutoff. */
  costing?: { rows: Uint32Array; amounts: Uint32Array; length: number };
}

export interface Plan {
  header: string[];
  rows: number;
  /** Rows whose cells are all empty, skipped like blank lines (not counted in `rows`). */
  emptyRows: number;
  problems: RowProblem[];
  actions: Record<RowAction, number>;
  groups: Map<string, GroupPlan>;
  firstStartAt?: string;
  lastEndAt?: string;
  /** SHA-256 over the ordered requestIds and body fingerprints of the rows to send. */
  sendDigest: string;
  /** Issued rows that now read differently, for --accept-changed to acknowledge. */
  conflicts: { requestId: string; fingerprint: string; row: number }[];
  /** The spreadsheet rows whose action is "send" (those the send digest covers). */
  sendRows: RowSet;
  /** The first of them, so the applier can begin reading the input there, and know it found it. */
  firstSend?: { row: number; requestId: string; fingerprint: string };
}

export class Planner {
  private readonly plan: Plan = {
    header: [],
    rows: 0,
    emptyRows: 0,
    problems: [],
    actions: { send: 0, done: 0, "keep-failed": 0, conflict: 0, accepted: 0, changed: 0 },
    groups: new Map(),
    sendDigest: "",
    conflicts: [],
    sendRows: new RowSet(),
  };
  private readonly sendHash: Hash = createHash("sha256");
  /** requestId → first row, to name the original of a duplicate; compact for million-row files. */
  private readonly seen = new UuidIndex();
  private readonly firstRows = new FirstRows();
  /**
   * The first row of each requestId the checkpoint already holds, by its id there (0: not seen yet):
   * 4 bytes a row, where `seen` costs some 30. A rerun of a big campaign finds nearly every row there.
   */
  private storedFirstRows = growable(Uint32Array, 0);
  private sawHeader = false;

  constructor(
    private readonly store: CheckpointStore | undefined,
    private readonly retryFailed: boolean,
    /** The header name of recipient_id (after --column), to name it in duplicate problems. */
    private readonly recipientColumn = "recipient_id",
    /** Keep each group's costing rows, so --allow-partial's cutoff can be planned against budgets. */
    private readonly keepCostingRows = false,
  ) {}

  add(item: InputItem): void {
    const plan = this.plan;
    if (item.kind === "header") {
      this.sawHeader = true;
      plan.header = item.header;
      plan.problems.push(...item.problems);
      return;
    }
    if (item.kind === "empty") {
      plan.emptyRows++;
      return;
    }
    plan.rows++;
    if (item.kind === "invalid") {
      plan.problems.push(...item.problems);
      if (item.requestId !== undefined && item.recipientId !== undefined) this.isDuplicate(item.requestId, item.recipientId, item.row);
      return;
    }
    const { prepared } = item;
    if (this.isDuplicate(prepared.request.requestId, prepared.recipientId, prepared.row)) return;

    const state = this.store?.get(prepared.request.requestId);
    const action = decideRow(prepared.fingerprint, state, this.retryFailed);
    plan.actions[action]++;
    const { groupId, giftCardValue, startAt, endAt } = prepared.request;
    const group = plan.groups.get(groupId) ?? newGroup(groupId);
    plan.groups.set(groupId, group);
    group.rows++;
    group.amount += giftCardValue;
    if (action === "conflict") plan.conflicts.push({ requestId: prepared.request.requestId, fingerprint: prepared.fingerprint, row: prepared.row });
    if (action === "send") {
      this.sendHash.update(`${prepared.request.requestId} ${prepared.fingerprint}\n`);
      plan.sendRows.add(prepared.row);
      plan.firstSend ??= { row: prepared.row, requestId: prepared.request.requestId, fingerprint: prepared.fingerprint };
    }
    if (action === "send" && costsBudget(prepared.fingerprint, state)) {
      group.sendRows++;
      group.sendAmount += giftCardValue;
      if (this.keepCostingRows) keepCosting(group, prepared.row, giftCardValue);
    } else if (action === "send") {
      group.inDoubtRows++;
      group.inDoubtAmount += giftCardValue;
    } else if (action === "done" || action === "conflict" || action === "accepted") {
      group.issuedRows++;
      group.issuedAmount += giftCardValue;
    }
    const days = daysBetween(startAt, endAt);
    const period = group.periods.get(days);
    if (period) period.count++;
    else group.periods.set(days, { count: 1, firstRow: prepared.row });
    if (plan.firstStartAt === undefined || startAt < plan.firstStartAt) plan.firstStartAt = startAt;
    if (plan.lastEndAt === undefined || endAt > plan.lastEndAt) plan.lastEndAt = endAt;
  }

  /** Records the row's recipient; a second sighting is a problem naming the first row. */
  private isDuplicate(requestId: string, recipientId: string, row: number): boolean {
    const first = this.firstSighting(requestId, row);
    if (first === undefined) return false;
    this.plan.problems.push({ row, column: this.recipientColumn, value: recipientId, rule: `duplicates row ${first}; each recipient may appear once` });
    return true;
  }

  /** Undefined the first time a requestId comes by (noting its row); afterwards, that first row. */
  private firstSighting(requestId: string, row: number): number | undefined {
    const stored = this.store?.rowId?.(requestId) ?? -1;
    if (stored >= 0) {
      if (stored >= this.storedFirstRows.length) {
        this.storedFirstRows = grownTo(this.storedFirstRows, Math.max(1024, stored + 1 + (stored >> 1)));
      }
      const first = this.storedFirstRows[stored] ?? 0;
      if (first > 0) return first;
      this.storedFirstRows[stored] = row;
      return undefined;
    }
    const { id, added } = this.seen.add(requestId);
    if (!added) return this.firstRows.rowOf(id);
    this.firstRows.push(id, row);
    return undefined;
  }

  finish(file: string): Plan {
    if (!this.sawHeader) this.plan.problems.push({ row: 1, column: "(header)", value: "", rule: `${file} is empty: expected a header row` });
    this.plan.sendDigest = this.sendHash.digest("hex");
    return this.plan;
  }
}

function keepCosting(group: GroupPlan, row: number, amount: number): void {
  group.costing ??= { rows: growable(Uint32Array, 256), amounts: growable(Uint32Array, 256), length: 0 };
  const costing = group.costing;
  if (costing.length === costing.rows.length) {
    costing.rows = grownTo(costing.rows, costing.length * 2);
    costing.amounts = grownTo(costing.amounts, costing.length * 2);
  }
  costing.rows[costing.length] = row;
  costing.amounts[costing.length] = amount;
  costing.length++;
}

/**
 * --allow-partial: per group whose budget is short, the first row held back. Rows are admitted in
 * input order until the first that no longer fits; it and every later costing row of the group
 * wait. Rows in doubt cost nothing new and are never held. Pure.
 */
export function planCutoffs(plan: Plan, budgets: readonly GroupBudget[]): Record<string, number> {
  const left = new Map(budgets.map((b) => [b.groupId, b.budget]));
  const cutoffs: Record<string, number> = {};
  for (const group of plan.groups.values()) {
    let budget = left.get(group.groupId);
    const costing = group.costing;
    if (budget === undefined || costing === undefined || group.sendAmount <= budget) continue;
    for (let i = 0; i < costing.length; i++) {
      const amount = costing.amounts[i] ?? 0;
      if (amount > budget) {
        cutoffs[group.groupId] = costing.rows[i] ?? 0;
        break;
      }
      budget -= amount;
    }
  }
  return cutoffs;
}

/** What the held-back rows would have cost, per group: the new charges a plan with cutoffs leaves out. */
export function heldBackAmount(group: GroupPlan, cutoff: number | undefined): { rows: number; amount: number } {
  const held = { rows: 0, amount: 0 };
  const costing = group.costing;
  if (cutoff === undefined || costing === undefined) return held;
  for (let i = 0; i < costing.length; i++) {
    if ((costing.rows[i] ?? 0) >= cutoff) {
      held.rows++;
      held.amount += costing.amounts[i] ?? 0;
    }
  }
  return held;
}

function newGroup(groupId: string): GroupPlan {
  return { groupId, rows: 0, amount: 0, sendRows: 0, sendAmount: 0, inDoubtRows: 0, inDoubtAmount: 0, issuedRows: 0, issuedAmount: 0, periods: new Map() };
}

/**
 * Whether sending this row may spend budget. A row in doubt with the same body was probably charged
 * already, and PayPay replays it for free; counting it again would block the very resume that
 * recovers its code. If it was not charged after all, BUDGET_NOT_ENOUGH stops its group mid-run.
 */
export function costsBudget(fingerprint: string, state: RowState | undefined): boolean {
  return !(state?.inDoubt && state.fp === fingerprint);
}

/** One reason the live group budgets cannot serve the plan. */
export interface BudgetProblem {
  groupId: string;
  kind: "missing-group" | "shortfall" | "period";
  message: string;
  /** JPY missing, for a shortfall. */
  shortfall?: number;
}

/** Compares the plan with live budgets. Pure. */
export function checkBudgets(plan: Plan, budgets: readonly GroupBudget[]): BudgetProblem[] {
  const byId = new Map(budgets.map((b) => [b.groupId, b]));
  const problems: BudgetProblem[] = [];
  for (const group of plan.groups.values()) {
    if (group.sendRows + group.inDoubtRows === 0) continue;
    const budget = byId.get(group.groupId);
    if (!budget) {
      problems.push({
        groupId: group.groupId,
        kind: "missing-group",
        message: `group ${group.groupId} does not exist for this merchant (${group.sendRows} rows use it)`,
      });
      continue;
    }
    const max = budget.maxPeriodDays;
    if (max !== undefined) {
      const over = [...group.periods].filter(([days]) => days > max);
      if (over.length > 0) {
        const count = over.reduce((sum, [, p]) => sum + p.count, 0);
        const firstRow = Math.min(...over.map(([, p]) => p.firstRow));
        problems.push({
          groupId: group.groupId,
          kind: "period",
          message: `group ${group.groupId} allows at most ${max} days from start_at to end_at; ${count} row(s) ask for more (first: row ${firstRow})`,
        });
      }
    }
    if (group.sendAmount > budget.budget) {
      const shortfall = group.sendAmount - budget.budget;
      problems.push({
        groupId: group.groupId,
        kind: "shortfall",
        shortfall,
        message: `group ${group.groupId} needs ${yen(group.sendAmount)} for ${group.sendRows} row(s) but has ${yen(budget.budget)} left: short by ${yen(shortfall)}`,
      });
    }
  }
  return problems;
}
