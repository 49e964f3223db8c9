import { readFile } from "node:fs/promises";
import { parse } from "csv-parse/sync";

/** What the simulator's ledger says of one code. */
export interface LedgerCode {
  requestId: string;
  code: string;
  charges: number;
}

export interface ExactlyOnce {
  /** Every row has one code, charged once, and the result file carries that code. */
  holds: boolean;
  codes: number;
  /** Codes beyond one per row, plus codes charged more than once. */
  duplicates: number;
  /** Rows of the input without an issued result row matching the ledger. */
  missing: number;
}

/**
 * Exactly once, checked from both ends: the simulator's ledger holds one code per input row, each
 * charged once, and the result file shows every row issued with the ledger's code for its requestId.
 */
export async function checkExactlyOnce(ledger: readonly LedgerCode[], resultFile: string, rows: number): Promise<ExactlyOnce> {
  const byRequestId = new Map(ledger.map((e) => [e.requestId, e]));
  const records = parse(await readFile(resultFile), { columns: true, bom: true }) as Array<Record<string, string>>;
  let matched = 0;
  for (const record of records) {
    const entry = byRequestId.get(record.request_id ?? "");
    if (record.status === "issued" && entry !== undefined && entry.code === record.points_code) matched++;
  }
  const duplicates = Math.max(0, ledger.length - rows) + ledger.filter((e) => e.charges !== 1).length;
  const missing = rows - matched;
  return { holds: duplicates === 0 && missing === 0 && records.length === rows, codes: ledger.length, duplicates, missing };
}
