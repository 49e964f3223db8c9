import { randomBytes } from "node:crypto";
import { after } from "node:test";
import pg from "pg";

/**
 * The PostgreSQL the tests run against: PCB_TEST_PG_URL, else postgresql://root@127.0.0.1:5432/test
 * (trust authentication, as on the development and CI machines). Each test gets a schema of its own,
 * dropped when the test file ends.
 */
export const PG_URL = process.env.PCB_TEST_PG_URL ?? "postgresql://root@127.0.0.1:5432/test";

/** Why PostgreSQL cannot be used, or undefined when it can. */
export async function pgUnavailable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (error) {
    return `no PostgreSQL at ${PG_URL} (${(error as Error).message}); set PCB_TEST_PG_URL to point the tests at one`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Whether this machine runs the PostgreSQL suites: `unavailable` says why not, `skip` is the
 * one line a suite's `describe` shows for it. With CI=true they are mandatory: a server that cannot
 * be reached throws instead.
 */
export async function pgSuites(): Promise<{ unavailable: string | undefined; skip: string | false }> {
  const unavailable = await pgUnavailable();
  if (unavailable && process.env.CI === "true") throw new Error(`CI=true: the PostgreSQL suites are mandatory, but ${unavailable}`);
  return { unavailable, skip: unavailable ? `PostgreSQL suites skipped: ${unavailable}` : false };
}

export function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  return queryAt<R>(PG_URL, text, values);
}

/** One statement on a connection of its own to `connectionString` (a test's own database or cluster). */
export async function queryAt<R extends pg.QueryResultRow = pg.QueryResultRow>(connectionString: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** A fresh schema name, dropped (with everything in it) after the test file. */
export function freshSchema(): string {
  const schema = `pcb_test_${randomBytes(6).toString("hex")}`;
  after(() => sql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  return schema;
}

/** The --state URL for `schema`, with `password` in it when given (trust auth never asks for it). */
export function stateUrl(schema: string, password?: string): string {
  const url = new URL(PG_URL);
  if (password !== undefined) url.password = password;
  url.searchParams.set("schema", schema);
  return url.href;
}
