import { on } from "node:events";
import { stat } from "node:fs/promises";
import { BatchError, type ErrorKind } from "../errors.js";
import { siblingWorker } from "../sibling-worker.js";
import type { DerivedRows } from "./derived-rows.js";
import { unpackBatch, type PackedBatch } from "./input-batch-codec.js";
import { readInputBatches, type InputItem, type ResolvedInputSpec } from "./input-rows.js";

/**
 * The whole input, a batch at a time, read on a second core when it is big. Parsing the CSV,
 * checking each row and deriving its requestId are most of a plan pass over a million rows and a
 * good part of a result pass; on a thread of their own they run while the main thread fingerprints
 * bodies, looks rows up in the checkpoint, plans, and writes results. The items are the ones
 * readInputBatches makes on the main thread (test/input-reader-thread.test.ts compares them), in
 * the same order, with the same errors.
 */

/**
 * Below this (some 30,000 rows), a thread's start, about 0.1 s here with its own module loading,
 * costs about what it saves.
 */
export const OFF_THREAD_MIN_BYTES = 1 << 20;

/** Batches the thread may run ahead of the reader: enough to keep it busy, few enough to keep memory flat. */
const WINDOW = 4;

export interface InputWorkerData {
  spec: ResolvedInputSpec;
  derived?: { path: string; source: string; rows: number };
  window: number;
  /** Whether the thread fingerprints the bodies the spill does not cover, or leaves that to the receiver. */
  fingerprints: boolean;
}

export type FromInputWorker =
  | { type: "batch"; batch: PackedBatch }
  | { type: "done" }
  | { type: "error"; error: { name: string; message: string; stack?: string; kind?: string; code?: string } };

/**
 * readInputBatches(spec, undefined, derived), off the main thread when the file is at least
 * OFF_THREAD_MIN_BYTES. The bodies' fingerprints are left to the main thread, which balances a
 * plan pass; `fingerprintThere` has the thread make them, for a pass whose main thread is the
 * busier one (a result file without the plan pass's spill).
 */
export async function* readWholeInput(spec: ResolvedInputSpec, derived?: DerivedRows, fingerprintThere = false): AsyncGenerator<InputItem[]> {
  const size = await stat(spec.snapshot ?? spec.file).then(
    (s) => s.size,
    () => 0,
  );
  // An unreadable file is read here, so its error is the one the main thread would give.
  yield* size >= OFF_THREAD_MIN_BYTES ? readInputBatchesOffThread(spec, derived, fingerprintThere) : readInputBatches(spec, undefined, derived);
}

export async function* readInputBatchesOffThread(spec: ResolvedInputSpec, derived?: DerivedRows, fingerprintThere = false): AsyncGenerator<InputItem[]> {
  const data: InputWorkerData = {
    spec,
    derived: derived === undefined ? undefined : { path: derived.path, source: derived.source, rows: derived.rows },
    window: WINDOW,
    fingerprints: fingerprintThere,
  };
  const worker = siblingWorker(import.meta.url, "input-reader-worker", data);
  try {
    // In order; an error in the thread throws here, and its exit ends the loop.
    for await (const [message] of on(worker, "message", { close: ["exit"] }) as AsyncIterable<[FromInputWorker]>) {
      if (message.type === "done") return;
      if (message.type === "error") throw revived(message.error);
      // Credit first, so the thread reads the next batch while this one is used.
      worker.postMessage(1);
      yield unpackBatch(message.batch);
    }
    throw new Error("the input reader thread stopped before the end of the input");
  } finally {
    await worker.terminate();
  }
}

/** The thread's error as the main thread would have thrown it: a BatchError keeps its kind and code. */
function revived(error: Extract<FromInputWorker, { type: "error" }>["error"]): Error {
  const result =
    error.kind !== undefined && error.code !== undefined ? new BatchError(error.kind as ErrorKind, error.code, error.message) : new Error(error.message);
  result.name = error.name;
  if (error.stack !== undefined) result.stack = error.stack;
  return result;
}
