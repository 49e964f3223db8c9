import { setTimeout as sleep } from "node:timers/promises";

/**
 * A worker's transaction that failed is tried once more on a fresh connection: a transaction is
 * atomic, and every write a worker makes is fenced by its claim, so doing it again can only apply
 * what did not commit (or find the row taken over). The case it is for: a worker frozen inside a
 * transaction has that session ended by the server (idle_in_transaction_session_timeout), so that
 * its row locks stop blocking the worker taking its rows over; once resumed it must carry on.
 */
export async function retryOnce<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch {
    await sleep(100);
    return work();
  }
}
