import type { FileHandle } from "node:fs/promises";

/**
 * Appends records to a file and resolves each append once it is on disk (written and fdatasync'd).
 * Group commit: appends that arrive while a flush is running share the next write and fdatasync,
 * so the cost per record falls as concurrency rises, with no timer and no window of unsynced data
 * that a caller believes durable.
 */
export class DurableAppender {
  private queue: Buffer[] = [];
  private waiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  private flushing = false;
  private failure: Error | undefined;
  private end: number;

  constructor(
    private readonly handle: FileHandle,
    startOffset: number,
  ) {
    this.end = startOffset;
  }

  /** Queues `line`; returns its byte offset and a promise that resolves when it is durable. */
  append(line: Buffer): { offset: number; durable: Promise<void> } {
    const offset = this.end;
    if (this.failure) return { offset, durable: Promise.reject(this.failure) };
    this.end += line.length;
    this.queue.push(line);
    const durable = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    }
    return { offset, durable };
  }

  /** Resolves when everything appended so far is durable. */
  async drain(): Promise<void> {
    while (this.flushing) await new Promise((resolve) => setImmediate(resolve));
    if (this.failure) throw this.failure;
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      const waiters = this.waiters;
      this.queue = [];
      this.waiters = [];
      try {
        await this.handle.writev(batch);
        await this.handle.datasync();
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        // After a failed write or sync nothing later can be trusted to be durable: fail everything.
        this.failure = new Error(`checkpoint write failed: ${(error as Error).message}`);
        for (const waiter of [...waiters, ...this.waiters]) waiter.reject(this.failure);
        this.queue = [];
        this.waiters = [];
      }
    }
    this.flushing = false;
  }
}
