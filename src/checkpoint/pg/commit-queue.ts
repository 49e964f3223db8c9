/**
 * Group commit for the database, as DurableAppender is for fsync: operations that arrive while a
 * transaction is committing share the next one, so the round trips per row fall as concurrency
 * rises, with no timer and nothing a caller believes committed that is not. After a failed commit
 * nothing later is attempted: the run stops, and a rerun reads what the database really holds.
 *
 * With `inFlight` above 1, the next transaction may start while earlier ones commit, so an op
 * waits for a round trip less. That is safe because a caller awaits its op before it writes the
 * same row again: ops in flight together are independent. The queue checks it anyway: a batch
 * that touches a key of a transaction in flight, or holds an op without a key (a campaign's own
 * record), waits for the transactions in flight to end, and a keyless op commits alone.
 */
export interface CommitQueueOptions<Op> {
  /** Transactions committing at once; 1 unless given. */
  inFlight?: number;
  /** The row an op writes; undefined for an op that must commit with nothing else in flight. */
  key?: (op: Op) => string | undefined;
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

export class CommitQueue<Op> {
  private queue: Op[] = [];
  private waiters: Waiter[] = [];
  private scheduled = false;
  /** The keys each transaction in flight touches; undefined for one that must be alone. */
  private readonly running = new Set<Set<string> | undefined>();
  private idle: Array<() => void> = [];
  private failure: Error | undefined;
  private readonly inFlight: number;
  private readonly key: (op: Op) => string | undefined;

  constructor(
    private readonly commit: (ops: Op[]) => Promise<void>,
    options: CommitQueueOptions<Op> = {},
  ) {
    this.inFlight = Math.max(1, options.inFlight ?? 1);
    // Without keys every op is taken to need the database alone: one transaction at a time.
    this.key = options.key ?? (() => undefined);
  }

  /** Resolves once `op` is committed. */
  submit(op: Op): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.queue.push(op);
    const committed = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.schedule();
    return committed;
  }

  /** Stops every later submit with `error` (the run lost its lock). */
  fail(error: Error): void {
    this.failure ??= error;
  }

  /** Resolves when everything submitted so far is committed (or failed). */
  async drain(): Promise<void> {
    while (this.scheduled || this.running.size > 0 || this.queue.length > 0) {
      await new Promise<void>((resolve) => this.idle.push(resolve));
    }
  }

  /** One macrotask later: ops submitted in the same turn share a transaction. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Starts transactions while there are queued ops, free slots, and no conflict with those in flight. */
  private pump(): void {
    while (this.queue.length > 0 && this.running.size < this.inFlight) {
      if (this.failure) {
        this.rejectQueued(this.failure);
        break;
      }
      const keys = this.inFlight === 1 ? new Set<string>() : this.keysOf(this.queue);
      if (this.running.size > 0 && (keys === undefined || [...this.running].some((k) => k === undefined || [...keys].some((key) => k.has(key))))) break;
      const batch = this.queue;
      const waiters = this.waiters;
      this.queue = [];
      this.waiters = [];
      this.running.add(keys);
      void this.run(batch, waiters, keys);
    }
    this.notifyIdle();
  }

  private async run(batch: Op[], waiters: Waiter[], keys: Set<string> | undefined): Promise<void> {
    try {
      if (this.failure) throw this.failure;
      await this.commit(batch);
      for (const waiter of waiters) waiter.resolve();
    } catch (error) {
      this.failure ??= error as Error;
      for (const waiter of waiters) waiter.reject(this.failure);
      this.rejectQueued(this.failure);
    } finally {
      this.running.delete(keys);
      this.pump();
    }
  }

  /** The keys of `ops`, or undefined when one of them must commit alone. */
  private keysOf(ops: Op[]): Set<string> | undefined {
    const keys = new Set<string>();
    for (const op of ops) {
      const key = this.key(op);
      if (key === undefined) return undefined;
      keys.add(key);
    }
    return keys;
  }

  private rejectQueued(error: Error): void {
    for (const waiter of this.waiters) waiter.reject(error);
    this.queue = [];
    this.waiters = [];
  }

  private notifyIdle(): void {
    if (this.scheduled || this.running.size > 0 || this.queue.length > 0) return;
    const idle = this.idle;
    this.idle = [];
    for (const resolve of idle) resolve();
  }
}
