/**
 * Batches of rows as consecutive parts of at most `size` rows, read from one iterator (nothing is
 * read ahead or held but the rest of a batch split at a part's end): the last part may be empty.
 * Batches, not rows, so a million rows cost a few thousand awaits, not a million.
 */
export async function* parts<T>(batches: AsyncIterable<readonly T[]>, size: number): AsyncGenerator<AsyncIterable<readonly T[]>> {
  const iterator = batches[Symbol.asyncIterator]();
  /** What is left of a batch split at the previous part's end. */
  let carry: readonly T[] = [];
  let ended = false;
  while (!ended) {
    let complete = false;
    const part = async function* (): AsyncGenerator<readonly T[]> {
      let room = size;
      while (room > 0) {
        let batch = carry;
        carry = [];
        if (batch.length === 0) {
          const next = await iterator.next();
          if (next.done) {
            ended = true;
            break;
          }
          batch = next.value;
        }
        if (batch.length > room) {
          carry = batch.slice(room);
          batch = batch.slice(0, room);
        }
        room -= batch.length;
        if (batch.length > 0) yield batch;
      }
      complete = true;
    };
    yield part();
    // A part that was not read to its end (the COPY failed) ends the load: the error is thrown by then.
    if (!complete) return;
  }
}
