import { yen } from "../yen.js";
import type { VerifyReport } from "./report.js";

/** The report as a table a person reads: assumption, seen, verdict, what to set. */
export function formatVerifyReport(report: VerifyReport): string {
  const header = ["assumption", "seen", "verdict", "set"];
  const rows = report.findings.map((f) => [f.assumption, f.seen, f.verdict, f.fix ?? ""]);
  // Verdict second, so it lines up next to the assumption however long what was seen is.
  const order = [0, 2, 1, 3];
  const widths = order.map((i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    order
      .map((i, column) => cells[i]!.padEnd(widths[column]!))
      .join("  ")
      .trimEnd();
  const lines = [`verify against ${report.target}`, "", line(header), ...rows.map(line)];
  const { testCode } = report;
  if (testCode) {
    lines.push(
      "",
      `test code: ¥${testCode.giftCardValue} into group ${testCode.groupId} (${testCode.groupSource}), ${testCode.startAt}..${testCode.endAt}`,
      `  requestId ${testCode.requestId} (${testCode.requestIdSource})`,
    );
    const budgets = [testCode.budgetBefore, testCode.budgetAfterCreate, testCode.budgetAfterReplay, testCode.budgetAfterChangedBody];
    if (budgets.some((b) => b !== undefined)) {
      lines.push(
        `  group budget before, after the create, the replay and the changed body: ${budgets.map((b) => (b === undefined ? "-" : yen(b))).join(", ")}`,
      );
    }
  }
  const differed = report.findings.filter((f) => f.verdict === "differed").length;
  const held = report.findings.filter((f) => f.verdict === "held").length;
  lines.push("", `${held} held, ${differed} differed, ${report.findings.length - held - differed} not checked`);
  if (report.stopped) lines.push(`stopped: ${report.stopped}`);
  return `${lines.join("\n")}\n`;
}

/** The observed settings as a --config snippet (camelCase keys config-file.ts accepts). */
export function configSnippet(report: VerifyReport): string {
  return `${JSON.stringify(report.observed, null, 2)}\n`;
}
