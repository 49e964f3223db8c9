import { closest } from "../cli/expect.js";
import { UsageError } from "../errors.js";

/** The logical columns the tool reads; each can be mapped to another header name. */
export const LOGICAL_COLUMNS = ["recipient_id", "amount", "gift_card_name", "group_id", "start_at", "end_at"] as const;
export type LogicalColumn = (typeof LOGICAL_COLUMNS)[number];

/** Columns the tool appends to each result row; an input header may not use these names. */
export const RESULT_COLUMNS = [
  "request_id",
  "campaign",
  "status",
  "points_code",
  "error_code",
  "error_message",
  "attempts",
  "paypay_request_id",
  "issued_at",
  "sent_group_id",
  "sent_amount",
  "sent_gift_card_name",
  "sent_start_at",
  "sent_end_at",
  "target",
  "response_data",
] as const;

export type ColumnMap = Record<LogicalColumn, string>;

/** Parses `--column recipient_id=member_no` entries into a full map (unmapped columns keep their names). */
export function parseColumnMap(entries: readonly string[]): ColumnMap {
  const map = Object.fromEntries(LOGICAL_COLUMNS.map((c) => [c, c])) as ColumnMap;
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    const logical = entry.slice(0, eq).trim();
    const header = entry.slice(eq + 1).trim();
    if (eq < 0 || header === "") {
      throw new UsageError(`Expected --column as logical=header (e.g. recipient_id=member_no), got "${entry}"`);
    }
    if (!(LOGICAL_COLUMNS as readonly string[]).includes(logical)) {
      throw new UsageError(`Unknown column "${logical}" in --column ${entry}: expected one of ${LOGICAL_COLUMNS.join(", ")}`);
    }
    map[logical as LogicalColumn] = header;
  }
  return map;
}

/** Where each logical column sits in a header row; -1 when the file lacks it. */
export type ColumnIndex = Record<LogicalColumn, number>;

export interface HeaderProblem {
  column: string;
  rule: string;
  /** A column every row needs is absent: no row can be read, so none is checked or listed. */
  missing?: boolean;
}

/** The flag that gives a default for each optional column, when the header lacks it. */
const DEFAULT_FLAGS: Partial<Record<LogicalColumn, { flag: string; key: "amount" | "giftCardName" | "groupId" | "startAt" | "endAt" }>> = {
  amount: { flag: "--value", key: "amount" },
  gift_card_name: { flag: "--name", key: "giftCardName" },
  group_id: { flag: "--group-id", key: "groupId" },
  start_at: { flag: "--start-at", key: "startAt" },
  end_at: { flag: "--end-at", key: "endAt" },
};

export function indexHeader(
  header: readonly string[],
  map: ColumnMap,
  defaults: Partial<Record<"amount" | "giftCardName" | "groupId" | "startAt" | "endAt", unknown>> = {},
): { index: ColumnIndex; problems: HeaderProblem[] } {
  const problems: HeaderProblem[] = [];
  const seen = new Set<string>();
  header.forEach((name, i) => {
    if (name.trim() === "") problems.push({ column: `(header ${i + 1})`, rule: "header names must not be empty" });
    else if (seen.has(name)) problems.push({ column: name, rule: "header names must be unique" });
    seen.add(name);
    if ((RESULT_COLUMNS as readonly string[]).includes(name)) {
      problems.push({ column: name, rule: "is reserved for the result file; rename it" });
    }
  });
  const index = Object.fromEntries(LOGICAL_COLUMNS.map((c) => [c, header.indexOf(map[c])])) as ColumnIndex;
  for (const column of LOGICAL_COLUMNS) {
    if (index[column] >= 0) continue;
    const fallback = DEFAULT_FLAGS[column];
    if (fallback && defaults[fallback.key] !== undefined) continue;
    problems.push({ column: map[column], rule: missingColumnRule(column, header, map, fallback?.flag), missing: true });
  }
  return { index, problems };
}

/**
 * Names what the header has and how to map it: the closest header (case ignored), or else the
 * first header that is not already another column, as `--column logical=header`.
 */
function missingColumnRule(column: LogicalColumn, header: readonly string[], map: ColumnMap, flag: string | undefined): string {
  const used = new Set(Object.values(map));
  const candidates = header.filter((h) => h.trim() !== "" && !used.has(h) && !(RESULT_COLUMNS as readonly string[]).includes(h));
  const near = closest(map[column], candidates);
  const example = near ?? candidates[0];
  const found = header.length === 0 ? "the header is empty" : `headers found: ${header.map((h) => JSON.stringify(h)).join(", ")}`;
  const hint =
    example === undefined
      ? ""
      : near !== undefined
        ? `; did you mean ${JSON.stringify(near)}? map it with --column ${column}=${near}`
        : `; map yours with --column ${column}=<header>, e.g. --column ${column}=${example}`;
  return `required column is missing from the header${flag ? ` (and ${flag} gives no default)` : ""}: ${found}${hint}`;
}
