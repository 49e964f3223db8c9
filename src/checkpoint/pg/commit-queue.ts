/**
 * Group commit for the database, as DurableAppender is for fsync: operations that arrive while a
 * transaction is committing share the next one, so the round trips per row fall as concurrency
 * rises, with no timer and nothing a caller believes committed that is not. After a failed commit
 * nothing later is attempted: the run stops, and a rerun reads what the database really holds.
 */
export class CommitQueue<Op> {
  private queue: Op[] = [];
  private waiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  private flushing: Promise<void> | undefined;
  private failure: Error | undefined;

  constructor(private readonly commit: (ops: Op[]) => Promise<void>) {}

  /** Resolves once `op` is committed. */
  submit(op: Op): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.queue.push(op);
    const committed = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flush());
    return committed;
  }

  /** Stops every later submit with `error` (the run lost its lock). */
  fail(error: Error): void {
    this.failure ??= error;
  }

  /** Resolves when everything submitted so far is committed (or failed). */
  async drain(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing;
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      const waiters = this.waiters;
      this.queue = [];
      this.waiters = [];
      try {
        if (this.failure) throw this.failure;
        await this.commit(batch);
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        this.failure ??= error as Error;
        for (const waiter of [...waiters, ...this.waiters]) waiter.reject(this.failure);
        this.queue = [];
        this.waiters = [];
      }
    }
    this.flushing = undefined;
  }
}
