/** The shape every section returns, and its Markdown rendering. */

export interface Target {
  name: string;
  /** e.g. "≥ 0.95" */
  target: string;
  /** The measured median the target is judged on, as shown. */
  measured: string;
  pass: boolean;
  /** How far from the target, in words (e.g. "−0.03 (3 % short)"); empty when it passes comfortably. */
  margin: string;
}

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
}

export interface SectionResult {
  id: string;
  title: string;
  params: Record<string, unknown>;
  /** Every raw sample, as measured. */
  samples: unknown[];
  /** Medians and spreads per point. */
  summary: unknown;
  targets: Target[];
  tables: Table[];
  notes: string[];
  seconds: number;
  /** Which run measured this section (a --merge keeps other sections from earlier runs). */
  measuredIn?: { date: string; command: string; gitHead: string; loadAverageAtStart?: number[]; loadAverageAtEnd?: number[] };
}

export function markdownTable(t: Table): string {
  const esc = (s: string): string => s.replace(/\|/g, "\\|");
  return [
    `**${t.title}**`,
    "",
    `| ${t.columns.map(esc).join(" | ")} |`,
    `|${t.columns.map(() => "---").join("|")}|`,
    ...t.rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}

export function targetsTable(targets: Target[]): Table {
  return {
    title: "Targets",
    columns: ["target", "wanted", "measured (median)", "result", "margin"],
    rows: targets.map((t) => [t.name, t.target, t.measured, t.pass ? "PASS" : "**MISS**", t.margin]),
  };
}

export function sectionMarkdown(s: SectionResult): string {
  const parts = [`## ${s.title}`, ""];
  const params = Object.entries(s.params)
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(", ");
  const when = s.measuredIn ? ` Measured ${s.measuredIn.date} by \`${s.measuredIn.command}\` (git ${s.measuredIn.gitHead}).` : "";
  parts.push(`Parameters: ${params}. Section time ${s.seconds.toFixed(0)} s.${when}`, "");
  if (s.targets.length > 0) parts.push(markdownTable(targetsTable(s.targets)), "");
  for (const t of s.tables) parts.push(markdownTable(t), "");
  for (const n of s.notes) parts.push(`- ${n}`);
  if (s.notes.length > 0) parts.push("");
  return parts.join("\n");
}

/** "+3.1 %" style relative margin of `value` against `limit`. */
export function relMargin(value: number, limit: number): string {
  const pct = ((value - limit) / limit) * 100;
  return `${pct >= 0 ? "+" : "−"}${Math.abs(pct).toFixed(1)} %`;
}
