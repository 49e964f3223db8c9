import { readFile } from "node:fs/promises";
import { parse } from "csv-parse/sync";

export const GROUP = "29952775505428481";

/** A recipients CSV of `count` rows: recipient_id R-00001…, amount 100 + i % 50. */
export function recipientsCsv(count: number, options: { start?: number; amount?: (i: number) => number } = {}): string {
  const start = options.start ?? 1;
  const amount = options.amount ?? ((i: number) => 100 + (i % 50));
  const lines = ["recipient_id,amount,email"];
  for (let i = start; i < start + count; i++) lines.push(`R-${String(i).padStart(5, "0")},${amount(i)},user${i}@example.com`);
  return `${lines.join("\n")}\n`;
}

/** The standard campaign flags for the default simulator group. */
export function campaignFlags(campaign = "test-campaign"): string[] {
  return ["--campaign", campaign, "--name", "テスト", "--group-id", GROUP, "--start-at", "2094-04-01", "--end-at", "2094-06-30"];
}

export type ResultRow = Record<string, string>;

export async function readResult(file: string): Promise<ResultRow[]> {
  return parse(await readFile(file, "utf8"), { columns: true, bom: true }) as ResultRow[];
}
