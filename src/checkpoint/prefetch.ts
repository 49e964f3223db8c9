import type { InputItem } from "../job/input-rows.js";
import type { CheckpointStore } from "./store.js";

/**
 * The input's items, with the checkpoint's states of each chunk's rows loaded before the chunk is
 * handed on: a store that keeps only a window of rows (PostgreSQL) answers get() for the rows of
 * the current chunk, in one round trip per chunk. A store without prefetch (the file journal)
 * gets the input's own iterable back: no buffering, no extra step per row.
 */

/** Rows per prefetch: one query each, and the most row states a windowed store holds at once. */
export const PREFETCH_ROWS = 1000;

export function rowsWithStates(store: CheckpointStore | undefined, items: AsyncIterable<InputItem>): AsyncIterable<InputItem> {
  const prefetch = store?.prefetch?.bind(store);
  return prefetch === undefined ? items : prefetched(prefetch, items);
}

async function* prefetched(prefetch: (requestIds: readonly string[]) => Promise<void>, items: AsyncIterable<InputItem>): AsyncGenerator<InputItem> {
  let chunk: InputItem[] = [];
  let ids: string[] = [];
  for await (const item of items) {
    chunk.push(item);
    if (item.kind === "row") ids.push(item.prepared.request.requestId);
    if (chunk.length < PREFETCH_ROWS) continue;
    await prefetch(ids);
    yield* chunk;
    chunk = [];
    ids = [];
  }
  if (chunk.length === 0) return;
  await prefetch(ids);
  yield* chunk;
}
