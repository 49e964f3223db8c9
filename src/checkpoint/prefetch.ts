import type { InputItem } from "../job/input-rows.js";
import type { CheckpointStore } from "./store.js";

/**
 * The input's items, with the checkpoint's states of each chunk's rows loaded before the chunk is
 * handed on: a store that keeps only a window of rows (PostgreSQL) answers get() for the rows of
 * the current chunk, in one round trip per chunk. A store without prefetch (the file journal)
 * gets the items as they come, with nothing buffered.
 */

/** Rows per prefetch: one query each, and the most row states a windowed store holds at once. */
export const PREFETCH_ROWS = 1000;

export async function* rowsWithStates(store: CheckpointStore | undefined, items: AsyncIterable<InputItem>): AsyncGenerator<InputItem> {
  if (store?.prefetch === undefined) {
    yield* items;
    return;
  }
  let chunk: InputItem[] = [];
  let ids: string[] = [];
  for await (const item of items) {
    chunk.push(item);
    if (item.kind === "row") ids.push(item.prepared.request.requestId);
    if (chunk.length < PREFETCH_ROWS) continue;
    await store.prefetch(ids);
    yield* chunk;
    chunk = [];
    ids = [];
  }
  if (chunk.length === 0) return;
  await store.prefetch(ids);
  yield* chunk;
}
