import { stringify } from "csv-stringify/sync";
import { intBetween } from "./seed.js";

/**
 * Recipient files for the proofs: a stable recipient_id, an amount, and pass-through columns that
 * need quoting (commas, quotes, newlines, CJK, emoji) so "every input row exactly once, in order,
 * untouched" is tested on hard cells, not only on plain ASCII.
 */

export const GROUP_ID = "29952775505428481";
export const HEADER = ["recipient_id", "amount", "email", "note"] as const;

export interface Recipients {
  header: string[];
  rows: string[][];
  text: string;
  /** Sum of all amounts: what the group's budget must drop by, exactly once per recipient. */
  total: number;
}

const NOTES = [
  "",
  "plain",
  'comma, and "quotes"',
  "two\nlines",
  "春のキャンペーン",
  "emoji 🎉👍🏽",
  "=SUM(A1:A2)",
  " leading and trailing spaces ",
  "tab\there",
  "crlf\r\ninside",
];

export function recipientsTable(count: number, random: () => number, prefix = "P"): Recipients {
  const rows: string[][] = [];
  let total = 0;
  for (let i = 1; i <= count; i++) {
    const amount = intBetween(random, 1, 300);
    total += amount;
    const id = i % 7 === 0 ? `会員-${prefix}${i}` : `${prefix}-${String(i).padStart(5, "0")}`;
    const note = NOTES[intBetween(random, 0, NOTES.length - 1)]!;
    rows.push([id, String(amount), `user${i}@example.com`, note]);
  }
  const header = [...HEADER];
  return { header, rows, total, text: stringify([header, ...rows]) };
}

/** Campaign flags giving every default the table leaves out (name, group, dates). */
export function campaignArgs(campaign: string): string[] {
  return ["--campaign", campaign, "--name", "信頼性テスト", "--group-id", GROUP_ID, "--start-at", "2094-04-01", "--end-at", "2094-06-30"];
}
