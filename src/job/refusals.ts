import { stringify } from "csv-stringify/sync";
import { BatchError } from "../errors.js";
import type { BudgetProblem } from "./plan.js";
import type { RowProblem } from "./validate-row.js";

/** The input has invalid rows: every one is listed (grouped, capped), and nothing was sent. */
export class RowsInvalidError extends BatchError {
  constructor(
    readonly file: string,
    readonly problems: readonly RowProblem[],
  ) {
    super("validation", "INVALID_ROWS", formatProblems(file, problems));
    this.name = "RowsInvalidError";
  }

  /** Once every problem is written to a file, the message points there instead of at the flag. */
  notePrinted(problemsCsv: string): void {
    this.message = formatProblems(this.file, this.problems, { problemsCsv });
  }
}

/** A terminal screen: past this, the refusal lists the first groups and says how to get the rest. */
export const MAX_PROBLEM_LINES = 36;
const MAX_RANGES = 6;

interface ProblemGroup {
  column: string;
  rule: string;
  rows: number[];
  values: string[];
}

/**
 * One line per (column, rule), with the rows it holds for as consecutive ranges
 * (`rows 2–301 (300 rows), column amount, value "1e3": …`), at most MAX_PROBLEM_LINES lines.
 */
export function formatProblems(file: string, problems: readonly RowProblem[], options: { problemsCsv?: string } = {}): string {
  const rows = new Set(problems.map((p) => p.row));
  const parts = [
    ...(rows.has(1) ? ["the header is not usable"] : []),
    ...(rows.size > (rows.has(1) ? 1 : 0) ? [`${rows.size - (rows.has(1) ? 1 : 0)} invalid row(s)`] : []),
  ];
  const groups = groupProblems(problems);
  const shown = groups.slice(0, MAX_PROBLEM_LINES);
  const lines = shown.map((g) => {
    // A column missing from the header has no value to show.
    const value = g.rows.length === 1 && g.rows[0] === 1 && g.values[0] === "" ? "" : `, ${describeValues(g.values)}`;
    return `  ${file}: ${describeRows(g.rows)}, column ${g.column}${value}: ${g.rule}`;
  });
  const head = `${file}: ${parts.join(" and ")}, ${problems.length} problem(s); nothing was sent:`;
  if (options.problemsCsv) lines.push(`  every problem (row, column, value, rule) is in ${options.problemsCsv}`);
  else if (groups.length > shown.length) {
    lines.push(`  … and ${groups.length - shown.length} more kind(s) of problem; pass --problems-csv <file> to write every problem (row, column, value, rule)`);
  }
  return [head, ...lines].join("\n");
}

function groupProblems(problems: readonly RowProblem[]): ProblemGroup[] {
  const groups = new Map<string, ProblemGroup>();
  for (const p of problems) {
    const key = JSON.stringify([p.column, p.rule]);
    let group = groups.get(key);
    if (!group) {
      group = { column: p.column, rule: p.rule, rows: [], values: [] };
      groups.set(key, group);
    }
    group.rows.push(p.row);
    if (group.values.length <= 3 && !group.values.includes(p.value)) group.values.push(p.value);
  }
  return [...groups.values()];
}

/** `row 7`, or `rows 2–301 (300 rows)`, or `rows 2–4, 7, 9–12, … (45 rows)`. */
export function describeRows(rows: readonly number[]): string {
  if (rows.length === 1) return `row ${rows[0]}`;
  const sorted = [...rows].sort((a, b) => a - b);
  const ranges: string[] = [];
  let start = sorted[0]!;
  let end = start;
  for (const row of [...sorted.slice(1), Infinity]) {
    if (row === end + 1 || row === end) {
      end = row;
      continue;
    }
    ranges.push(start === end ? String(start) : `${start}–${end}`);
    start = end = row;
  }
  const listed = ranges.length > MAX_RANGES ? `${ranges.slice(0, MAX_RANGES).join(", ")}, …` : ranges.join(", ");
  return `rows ${listed} (${rows.length} rows)`;
}

function describeValues(values: readonly string[]): string {
  if (values.length === 1) return `value ${JSON.stringify(values[0])}`;
  const listed = values
    .slice(0, 3)
    .map((v) => JSON.stringify(v))
    .join(", ");
  return `values ${listed}${values.length > 3 ? ", …" : ""}`;
}

/** Every problem, one per line, for a person to sort and filter: row, column, value, rule. */
export function problemsCsv(problems: readonly RowProblem[]): string {
  return stringify([["row", "column", "value", "rule"], ...problems.map((p) => [String(p.row), p.column, p.value, p.rule])]);
}

/** Live group budgets cannot serve the plan (or a group is missing): nothing was sent. */
export class BudgetRefusedError extends BatchError {
  constructor(
    readonly problems: readonly BudgetProblem[],
    hint: string,
  ) {
    super("budget", "BUDGET_REFUSED", ["Refusing to issue; nothing was sent:", ...problems.map((p) => `  ${p.message}`), hint].filter(Boolean).join("\n"));
    this.name = "BudgetRefusedError";
  }
}
