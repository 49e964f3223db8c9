import type { InputItem } from "../job/input-rows.js";
import type { CheckpointStore } from "./store.js";

/**
 * The input's batches (see readInputBatches), each handed on once the checkpoint's states of its
 * rows are loaded: a store that keeps only a window of rows (PostgreSQL) answers get() for the
 * rows of the current batch, in one round trip per batch. A store without prefetch (the file
 * journal) gets the input's own iterable back: no extra step per batch.
 */
export function batchesWithStates(store: CheckpointStore | undefined, batches: AsyncIterable<InputItem[]>): AsyncIterable<InputItem[]> {
  const prefetch = store?.prefetch?.bind(store);
  return prefetch === undefined ? batches : prefetched(prefetch, batches);
}

async function* prefetched(prefetch: (requestIds: readonly string[]) => Promise<void>, batches: AsyncIterable<InputItem[]>): AsyncGenerator<InputItem[]> {
  for await (const batch of batches) {
    const ids: string[] = [];
    for (const item of batch) if (item.kind === "row") ids.push(item.prepared.request.requestId);
    await prefetch(ids);
    yield batch;
  }
}
