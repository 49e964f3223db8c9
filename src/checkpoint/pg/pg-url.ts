import { UsageError } from "../../errors.js";

/**
 * `--state postgresql://…` (or `postgres://…`) keeps a campaign's state in PostgreSQL. The URL is
 * handed to `pg`, which fills what it leaves out from the libpq environment (PGHOST, PGPORT,
 * PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE). One parameter is ours, not libpq's: `schema`
 * (default points_code_batch), taken out before the URL reaches `pg`.
 */

export const DEFAULT_SCHEMA = "points_code_batch";

const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

export interface PgState {
  /** The URL for `pg`, password included: never print it. */
  connectionString: string;
  schema: string;
  /** The URL without its password, for messages and files. */
  display: string;
  /** Values that must never appear in output: the URL's password and PGPASSWORD. */
  secrets: string[];
}

export function isPostgresState(state: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(state);
}

export function parsePgState(state: string, env: NodeJS.ProcessEnv = process.env): PgState {
  let url: URL;
  try {
    url = new URL(state);
  } catch {
    throw new UsageError(`Expected --state to be a file or a URL postgresql://user@host:port/database, got ${JSON.stringify(redactUrl(state))}`);
  }
  const schema = url.searchParams.get("schema") ?? DEFAULT_SCHEMA;
  if (!SCHEMA_PATTERN.test(schema)) {
    throw new UsageError(`Expected the URL's schema parameter to be a lower-case SQL identifier (letters, digits, _), got ${JSON.stringify(schema)}`);
  }
  url.searchParams.delete("schema");
  const password = url.password === "" ? undefined : decodeURIComponent(url.password);
  // pg also reads a password from the query (`?password=`, `?sslpassword=`): a secret like the other.
  const queryPasswords = ["password", "sslpassword"].map((name) => url.searchParams.get(name) ?? undefined);
  const secrets = [password, url.password, ...queryPasswords, env.PGPASSWORD].filter((s): s is string => s !== undefined && s !== "");
  const display = new URL(url.href);
  display.password = "";
  display.searchParams.delete("password");
  display.searchParams.delete("sslpassword");
  display.searchParams.set("schema", schema);
  return { connectionString: url.href, schema, display: display.href, secrets };
}

/** A URL as text with any password taken out (for input that may not even parse). */
export function redactUrl(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):[^\s@/]*@/gi, "$1:***@");
}

/** `text` with every secret (and any URL password) replaced by ***, for any message or log line. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let redacted = redactUrl(text);
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length > 0) redacted = redacted.split(secret).join("***");
  }
  return redacted;
}

/** --state as messages and files may show it: a PostgreSQL URL without its password, a file as is. */
export function displayState(state: string, campaign?: string): string {
  if (!isPostgresState(state)) return state;
  try {
    const { display } = parsePgState(state, {});
    return campaign === undefined ? display : `${display}#${campaign}`;
  } catch {
    return redactUrl(state);
  }
}
