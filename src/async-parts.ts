/**
 * `rows` as consecutive parts of at most `size` rows, read from one iterator (nothing is read
 * ahead or held): the last part may be empty.
 */
export async function* parts<T>(rows: AsyncIterable<T>, size: number): AsyncGenerator<AsyncIterable<T>> {
  const iterator = rows[Symbol.asyncIterator]();
  let ended = false;
  while (!ended) {
    let taken = 0;
    yield {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<T>> => {
          if (ended || taken >= size) return { done: true, value: undefined };
          const next = await iterator.next();
          if (next.done) ended = true;
          else taken++;
          return next;
        },
      }),
    };
    // A part that was not read to its end (the COPY failed) ends the load: the error is thrown by then.
    if (!ended && taken < size) return;
  }
}
