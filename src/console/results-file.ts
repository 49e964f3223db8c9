import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { parse } from "csv-parse/sync";
import { JournalStore } from "../checkpoint/journal-store.js";
import { PgReader } from "../checkpoint/pg/pg-reader.js";
import { isPostgresState } from "../checkpoint/pg/pg-url.js";
import { CheckpointError } from "../errors.js";
import { parseColumnMap } from "../job/columns.js";
import type { ResolvedInputSpec } from "../job/input-rows.js";
import { snapshotPath, verifySnapshot } from "../job/input-snapshot.js";
import { writeResults } from "../job/write-results.js";
import type { Campaign } from "./campaign-store.js";
import type { ConsoleContext } from "./context.js";

const SHOWN_ROWS = 1000;

/** The first rows of the result file as the page shows them: never the code column. */
export async function resultRows(ctx: ConsoleContext, c: Campaign): Promise<{ row: number; recipient: string; status: string; error: string }[] | undefined> {
  const file = ctx.store.resultPath(c.id);
  const size = await stat(file).then(
    (s) => s.size,
    () => undefined,
  );
  if (size === undefined) return undefined;
  const handle = await open(file, "r");
  let text: string;
  try {
    // Enough for the rows shown; a cut last record is dropped by relax options below.
    const buffer = Buffer.alloc(Math.min(size, 4 * 1024 * 1024));
    await handle.read(buffer, 0, buffer.length, 0);
    text = buffer.toString("utf8");
  } finally {
    await handle.close();
  }
  const records = parse(text, { bom: true, relax_column_count: true, to_line: SHOWN_ROWS + 1, skip_records_with_error: true }) as string[][];
  const [header, ...rows] = records;
  if (!header) return [];
  const recipientHeader = c.fields.columns.find((x) => x.startsWith("recipient_id="))?.slice("recipient_id=".length) ?? "recipient_id";
  const at = (name: string) => header.indexOf(name);
  const [recipient, status, error] = [at(recipientHeader), at("status"), at("error_code")];
  return rows.map((r, i) => ({ row: i + 2, recipient: r[recipient] ?? "", status: r[status] ?? "", error: r[error] ?? "" }));
}

/**
 * The Excel form, written as `export --excel` writes it: from the run's own copy of its input and
 * the checkpoint, UTF-8 with BOM, CRLF, formula-like cells neutralized, mode 0600.
 */
export async function writeExcelResult(ctx: ConsoleContext, c: Campaign): Promise<string> {
  const state = ctx.store.statePath(c.id);
  const reader = isPostgresState(state) ? await PgReader.open(state, c.id, ctx.env) : undefined;
  const store = reader ? reader.store : await JournalStore.open(state, c.id, { readOnly: true });
  try {
    const run = store?.lastPlan();
    if (!store || !run || run.t !== "plan") throw new CheckpointError("CHECKPOINT_NO_RUN", `Campaign ${c.id} has no run yet: nothing to download`);
    const snapshot = reader ? await reader.snapshotFile(run) : snapshotPath(state, run);
    await verifySnapshot(snapshot, run.inputDigest);
    const input: ResolvedInputSpec = {
      file: run.input,
      snapshot,
      encoding: run.encoding,
      campaign: store.campaign,
      columns: parseColumnMap(Object.entries(run.columns).map(([k, v]) => `${k}=${v}`)),
      defaults: run.defaults,
    };
    const out = ctx.store.excelPath(c.id);
    await writeResults(input, store, out, "excel");
    return out;
  } finally {
    await (reader ?? store)?.close();
  }
}

/** Sends a result file as an attachment: the codes travel in the body only, never in a URL. */
export async function sendAttachment(res: ServerResponse, file: string, name: string): Promise<void> {
  await stat(file);
  res.writeHead(200, { "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": `attachment; filename="${name}"` });
  await new Promise<void>((resolve, reject) => {
    createReadStream(file).on("error", reject).pipe(res).on("finish", resolve).on("error", reject);
  });
}
