import { BatchError } from "../errors.js";
import type { BudgetProblem } from "./plan.js";
import type { RowProblem } from "./validate-row.js";

/** The input has invalid rows: every one is listed, and nothing was sent. */
export class RowsInvalidError extends BatchError {
  constructor(
    readonly file: string,
    readonly problems: readonly RowProblem[],
  ) {
    super("validation", "INVALID_ROWS", formatProblems(file, problems));
    this.name = "RowsInvalidError";
  }
}

export function formatProblems(file: string, problems: readonly RowProblem[]): string {
  const rows = new Set(problems.map((p) => p.row)).size;
  const lines = problems.map((p) => `  ${file}: row ${p.row}, column ${p.column}, value ${JSON.stringify(p.value)}: ${p.rule}`);
  return [`${file}: ${rows} invalid row(s), ${problems.length} problem(s); nothing was sent:`, ...lines].join("\n");
}

/** Live group budgets cannot serve the plan (or a group is missing): nothing was sent. */
export class BudgetRefusedError extends BatchError {
  constructor(readonly problems: readonly BudgetProblem[], hint: string) {
    super("budget", "BUDGET_REFUSED", ["Refusing to issue; nothing was sent:", ...problems.map((p) => `  ${p.message}`), hint].filter(Boolean).join("\n"));
    this.name = "BudgetRefusedError";
  }
}
