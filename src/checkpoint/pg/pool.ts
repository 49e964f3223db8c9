import pg from "pg";
import { BatchError, StateLostError } from "../../errors.js";
import { type PgState, redactSecrets } from "./pg-url.js";

/**
 * Connections to the state database. `pg` gives a checked-out client no error listener, so a
 * connection that drops while checked out would crash the process: every client gets one here, and
 * a client that failed is destroyed (`release(true)`), never handed out again. int64 columns stay
 * strings: `pg`'s default, and nothing here installs parseInt8.
 */

/**
 * Every wait on the database is bounded, so a fault ends the run (exit 4) instead of hanging it:
 * a server that does not answer within 10 s refuses the connection; a statement the server does not
 * answer within QUERY_TIMEOUT_MS (a silent network, a hung host) fails and its connection is
 * destroyed; TCP keepalive notices a peer that vanished without waiting for the kernel's two hours.
 * The server-side bound is BOUND_STATEMENTS below.
 */
export const QUERY_TIMEOUT_MS = 120_000;
const CLIENT_SETTINGS = { connectionTimeoutMillis: 10_000, keepAlive: true, keepAliveInitialDelayMillis: 10_000, query_timeout: QUERY_TIMEOUT_MS };

/**
 * A statement blocked by another session's lock fails after 30 s (SQLSTATE 57014), unless the
 * server, database, role or URL (`options=-c statement_timeout=…`) sets a timeout of its own,
 * which wins. Run first on every new connection (pg queues it before any other statement).
 */
export const DEFAULT_STATEMENT_TIMEOUT = "30s";
const BOUND_STATEMENTS = `SELECT set_config('statement_timeout', '${DEFAULT_STATEMENT_TIMEOUT}', false) WHERE current_setting('statement_timeout') = '0'`;

export class PgConnections {
  readonly pool: pg.Pool;

  constructor(readonly state: PgState) {
    this.pool = new pg.Pool({ ...CLIENT_SETTINGS, connectionString: state.connectionString, max: 4, application_name: `points-code-batch pid ${process.pid}` });
    // An idle client that drops (pg_terminate_backend, a restart) is removed by the pool; only note it.
    this.pool.on("error", () => undefined);
    // A failure here fails the connection's next statement too, which reports it.
    this.pool.on("connect", (client) => void client.query(BOUND_STATEMENTS).catch(() => undefined));
  }

  /** A client of its own, outside the pool (the run's lock connection). */
  async dedicated(onLost: (error: Error) => void): Promise<pg.Client> {
    const client = new pg.Client({
      ...CLIENT_SETTINGS,
      connectionString: this.state.connectionString,
      application_name: `points-code-batch lock pid ${process.pid}`,
    });
    client.on("error", onLost);
    client.on("end", () => onLost(new Error("connection closed")));
    try {
      await client.connect();
      await client.query(BOUND_STATEMENTS);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw this.wrap(error, "STATE_UNREACHABLE", "cannot connect");
    }
    return client;
  }

  /** Runs `work` in one transaction on a pooled client; a client that failed is destroyed. */
  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query("BEGIN");
      try {
        const result = await work(client);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      }
    });
  }

  /**
   * As transaction(), with the statements `first` sent in the same round trip as BEGIN (one
   * simple-query message, so they take no parameters: they are built with the client, whose
   * escapeLiteral quotes values), and the rows of the last of them handed to `work`. If one fails,
   * the transaction is rolled back as for any failure in `work`.
   */
  async transactionFrom<R extends pg.QueryResultRow, T>(
    first: (client: pg.PoolClient) => string,
    work: (client: pg.PoolClient, rows: R[]) => Promise<T>,
  ): Promise<T> {
    return this.withClient(async (client) => {
      try {
        // A simple query of several statements answers with one result per statement.
        const results = (await client.query(`BEGIN; ${first(client)}`)) as unknown as Array<pg.QueryResult<R>>;
        const result = await work(client, (Array.isArray(results) ? results.at(-1)?.rows : undefined) ?? []);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      }
    });
  }

  async withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw this.wrap(error, "STATE_UNREACHABLE", "cannot connect");
    }
    let broken: Error | undefined;
    const onError = (error: Error): void => {
      broken = error;
    };
    client.on("error", onError);
    try {
      return await work(client);
    } catch (error) {
      // A server-side error (a constraint, a fence) leaves the connection usable; anything else does not.
      if (!(error instanceof BatchError) && !isServerError(error)) broken ??= error as Error;
      throw error instanceof BatchError ? error : this.wrap(error, "STATE_WRITE_FAILED", "statement failed");
    } finally {
      client.off("error", onError);
      client.release(broken ?? false);
    }
  }

  /** A database error as a BatchError whose message holds no password. */
  wrap(error: unknown, code: string, what: string): BatchError {
    if (error instanceof BatchError) return error;
    const message = redactSecrets((error as Error)?.message ?? String(error), this.state.secrets);
    return new StateLostError(code, `PostgreSQL ${this.state.display}: ${what}: ${message}; nothing unrecorded was counted, rerun to resume`);
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}

/** An error the server sent (it has a SQLSTATE), as opposed to a dropped or refused connection. */
function isServerError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code)) return false;
  // Class 57 (operator intervention: admin shutdown, terminated) and 08 (connection) break the client.
  return !code.startsWith("57") && !code.startsWith("08");
}
