import type { Logger } from "pino";
import { quoteIdent } from "../checkpoint/pg/migrations.js";
import type { PgConnections } from "../checkpoint/pg/pool.js";
import type { RequestGate } from "../job/pacer.js";
import type { RateSample } from "../job/rate-controller.js";

/**
 * A request rate shared by processes: a token bucket row per key in PostgreSQL (`campaign:<id>` for
 * --rate, `merchant:<origin>:<merchant id>` for --merchant-rate), refilled by the database's clock
 * and taken from in small batches with one UPDATE … RETURNING over every bucket the worker obeys, so
 * a request needs a token of each. A worker keeps the tokens it took and spends them one per request
 * start; at most a batch per worker is ever held unspent. With --rate auto the worker's own adaptive
 * controller decides when to start, and the shared buckets still cap it.
 */

export interface Bucket {
  key: string;
  rate: number;
}

export interface SharedRateOptions {
  connections: PgConnections;
  buckets: Bucket[];
  /** The worker's own gate (--rate auto), asked once a shared token is in hand. */
  local?: RequestGate;
  logger: Logger;
}

export class SharedRateGate implements RequestGate {
  private tokens = 0;
  private refilling = false;
  private retryAt = 0;
  private failures = 0;
  /** Round trips to the buckets and tokens they gave, for the claim-cost figures. */
  readonly stats = { takes: 0, tokens: 0 };
  private readonly batch: number;
  private readonly intervalMs: number;

  private constructor(private readonly options: SharedRateOptions) {
    const slowest = Math.min(...options.buckets.map((b) => b.rate));
    // About 50 ms of the slowest rate per take: small enough that tokens held unspent barely
    // lower the shared rate, large enough that the database sees a fraction of the requests.
    this.batch = Math.max(1, Math.min(50, Math.floor(slowest / 20)));
    this.intervalMs = Math.max(5, Math.min(100, (1000 * this.batch) / slowest));
  }

  static async open(options: SharedRateOptions): Promise<SharedRateGate> {
    const s = quoteIdent(options.connections.state.schema);
    await options.connections.withClient(async (client) => {
      for (const { key, rate } of [...options.buckets].sort((a, b) => a.key.localeCompare(b.key))) {
        // Idle time is saved up to a tenth of a second's worth at most, so a pause makes no burst.
        await client.query(
          `INSERT INTO ${s}.rate_buckets (key, rate, burst, tokens) VALUES ($1, $2, $3, 0)
           ON CONFLICT (key) DO UPDATE SET rate = excluded.rate, burst = excluded.burst`,
          [key, rate, Math.max(1, rate / 10)],
        );
      }
    });
    return new SharedRateGate(options);
  }

  acquire(): number {
    if (this.tokens < 1) {
      this.refill();
      return Math.max(1, Math.min(this.intervalMs, this.retryAt - performance.now()));
    }
    const wait = this.options.local?.acquire() ?? 0;
    if (wait > 0) return wait;
    this.tokens--;
    if (this.tokens < 1) this.refill();
    return 0;
  }

  onResult(sample: RateSample): void {
    this.options.local?.onResult?.(sample);
  }

  private refill(): void {
    if (this.refilling || performance.now() < this.retryAt) return;
    this.refilling = true;
    this.take(this.batch)
      .then((granted) => {
        this.failures = 0;
        this.tokens += granted;
        if (granted === 0) this.retryAt = performance.now() + this.intervalMs;
      })
      .catch((error: unknown) => {
        // The claims and writes report a lost database; the gate only waits and tries again.
        if (this.failures++ === 0) this.options.logger.warn({ error: (error as Error).message }, "could not take rate tokens; retrying");
        this.retryAt = performance.now() + 1000;
      })
      .finally(() => {
        this.refilling = false;
      });
  }

  private async take(want: number): Promise<number> {
    const s = quoteIdent(this.options.connections.state.schema);
    const keys = this.options.buckets.map((b) => b.key);
    const { rows } = await this.options.connections.withClient((client) =>
      client.query<{ n: number }>(
        `WITH a AS (
           SELECT key, least(burst, tokens + greatest(0, extract(epoch FROM clock_timestamp() - updated_at)) * rate) AS t
             FROM ${s}.rate_buckets WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE),
         g AS (SELECT greatest(0, least($2::integer, floor(min(t))))::integer AS n FROM a)
         UPDATE ${s}.rate_buckets b SET tokens = a.t - g.n, updated_at = clock_timestamp()
           FROM a, g WHERE b.key = a.key
         RETURNING g.n`,
        [keys, want],
      ),
    );
    const granted = rows[0]?.n ?? 0;
    this.stats.takes++;
    this.stats.tokens += granted;
    return granted;
  }
}
