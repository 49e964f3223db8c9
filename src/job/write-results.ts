import { createReadStream } from "node:fs";
import type { RowCounts } from "../checkpoint/records.js";
import { batchesWithStates } from "../checkpoint/prefetch.js";
import { outcomesOf, type CheckpointStore } from "../checkpoint/store.js";
import { writeFileAtomically } from "../fs/atomic-write.js";
import type { InputEncoding } from "../csv/encoding.js";
import type { ResultContinuation } from "./appended-result.js";
import type { DerivedRows } from "./derived-rows.js";
import { countsOf } from "./finished-run.js";
import { readWholeInput } from "./input-reader-thread.js";
import { readInputBatches, type InputItem, type ResolvedInputSpec } from "./input-rows.js";
import { ResultLines } from "./result-lines.js";
import { claimResult } from "./result-owner.js";

export interface ResultCounts extends RowCounts {
  /** JPY issued per group, from the checkpoint. */
  issuedAmountByGroup: Map<string, number>;
  failedByCode: Map<string, number>;
  /** Pending rows that are pending because they changed while in doubt: a rerun alone cannot settle them. */
  changedPending?: number;
}

export interface WrittenResults {
  counts: ResultCounts;
  /** SHA-256 of the bytes written, so a later run can tell the file is still as written. */
  digest: string;
  /** The rows appended to the input were written after the last result file's bytes (see appended-result.ts). */
  continued?: boolean;
}

/**
 * `plain`: UTF-8, LF; with a BOM when the input was Shift_JIS, since whoever saved it from Excel will
 * open the result in Excel, which reads UTF-8 without a BOM as Shift_JIS and garbles every name.
 * `excel`: UTF-8 with BOM, CRLF, formula-looking cells neutralized (the `'` prefixes break joins,
 * so that stays opt-in).
 */
export type ResultFormat = "plain" | "excel";

function withBom(format: ResultFormat, input: InputEncoding): boolean {
  return format === "excel" || input === "cp932";
}

/** How the result file is written, for the summary. */
export function resultEncoding(format: ResultFormat, input: InputEncoding): string {
  if (format === "excel") return "UTF-8 with BOM, CRLF, formula-like cells neutralized (--excel)";
  return withBom(format, input) ? "UTF-8 with BOM (the input was Shift_JIS; Excel opens it as is)" : "UTF-8";
}

/**
 * Regenerates the result file from the run's input snapshot and the checkpoint: one row per input
 * row, in input order, input columns untouched, then the result columns. Atomic (temp file +
 * rename), mode 0600, and claimed for the checkpoint first (see result-owner.ts).
 */
export async function writeResults(
  spec: ResolvedInputSpec,
  store: CheckpointStore,
  out: string,
  format: ResultFormat = "plain",
  /** What the plan pass derived from the same snapshot (see derived-rows.ts): read back, not hashed again. */
  derived?: DerivedRows,
  /** The last result, to continue with the appended rows' lines when it is still as written (see appended-result.ts). */
  continuation?: ResultContinuation,
): Promise<WrittenResults> {
  await claimResult(out, store.location, store.campaign);
  const lines = new ResultLines(store, format);
  if (continuation) {
    const continued = await writeFileAtomically(out, (writeFile) => continueResults(spec, store, out, lines, continuation, writeFile)).then(
      () => ({ ...lines.finish(), continued: true }),
      (error: unknown) => {
        if (error instanceof NotAsWritten) return undefined;
        throw error;
      },
    );
    if (continued) return continued;
    lines.reset();
  }
  await writeFileAtomically(out, async (writeFile) => {
    if (withBom(format, spec.encoding)) await lines.write("\uFEFF", writeFile);
    // One write per batch of input rows (see readWholeInput): the store is asked for a batch's
    // rows in input order, and the file grows by one buffer per batch.
    for await (const batch of batchesWithStates(store, readWholeInput(spec, derived, true))) {
      await lines.write(await linesOf(batch, store, lines), writeFile);
    }
  });
  return lines.finish();
}

/** The last result file, found as it was written, then the lines of the rows appended to the input since. */
async function continueResults(
  spec: ResolvedInputSpec,
  store: CheckpointStore,
  out: string,
  lines: ResultLines,
  { previous, from }: ResultContinuation,
  writeFile: (data: Uint8Array) => Promise<void>,
): Promise<void> {
  // A last file that cannot be read is not as written; a failing write of the new one is the run's error.
  let reading = true;
  try {
    for await (const chunk of createReadStream(out, { highWaterMark: 1 << 20 })) {
      reading = false;
      await lines.write(chunk as Buffer, writeFile);
      reading = true;
    }
  } catch (error) {
    throw reading ? new NotAsWritten() : error;
  }
  // The file so far is the last one exactly: its bytes hash to the digest that run recorded.
  if (lines.digestSoFar() !== previous.resultDigest) throw new NotAsWritten();
  lines.continueFrom(countsOf(previous));
  for await (const batch of batchesWithStates(store, readInputBatches(spec, undefined, undefined, true, from))) {
    const appended = batch.filter((item) => item.kind !== "header");
    await lines.write(await linesOf(appended, store, lines), writeFile);
  }
}

/** A batch's result lines, from each row's checkpoint state and latest outcome. */
async function linesOf(batch: InputItem[], store: CheckpointStore, lines: ResultLines): Promise<string> {
  const states = batch.map((item) => (item.kind === "row" ? store.get(item.prepared.request.requestId) : undefined));
  return lines.of(batch, states, await outcomesOf(store, states));
}

/** The last result file is not as the last run wrote it (edited, replaced, gone): written whole instead. */
class NotAsWritten extends Error {}
