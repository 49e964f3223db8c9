import { parentPort, workerData } from "node:worker_threads";
import { DerivedRows } from "./derived-rows.js";
import { packBatch } from "./input-batch-codec.js";
import type { FromInputWorker, InputWorkerData } from "./input-reader-thread.js";
import { readInputBatches } from "./input-rows.js";

/**
 * The thread that reads, checks and prepares the input for input-reader-thread.ts: the same
 * readInputBatches as on the main thread, each batch packed and posted. It stays at most `window`
 * batches ahead of the reader, so a slow reader never makes it hold the file in memory.
 */

const port = parentPort;
if (port === null) throw new Error("input-reader-worker.ts runs as a worker thread");
const { spec, derived, window, fingerprints } = workerData as InputWorkerData;

let credit = window;
let wake: (() => void) | undefined;
const onCredit = (): void => {
  credit++;
  wake?.();
};
port.on("message", onCredit);

const post = (message: FromInputWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

try {
  const spill = derived === undefined ? undefined : new DerivedRows(derived.path, derived.source, derived.rows);
  // Fingerprints are left to the receiver unless it asks: in a plan pass, hashing every body here
  // would make this thread the slower of the two (see input-batch-codec.ts).
  for await (const items of readInputBatches(spec, undefined, spill, fingerprints)) {
    const batch = packBatch(items);
    post({ type: "batch", batch }, [batch.ends.buffer as ArrayBuffer, batch.numbers.buffer as ArrayBuffer]);
    credit--;
    while (credit <= 0) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  }
  post({ type: "done" });
} catch (error) {
  const e = error as Partial<Error & { kind: string; code: string }>;
  post({ type: "error", error: { name: e.name ?? "Error", message: e.message ?? String(error), stack: e.stack, kind: e.kind, code: e.code } });
}
// Nothing left to wait for: the thread ends once its messages are out.
port.off("message", onCredit);
