import { readFileSync, statSync } from "node:fs";
import pg from "pg";
import { isPostgresState } from "../../../src/checkpoint/pg/pg-url.js";
import { PG_URL } from "../../support/pg.js";

/**
 * What crash torture watches to aim a kill, in either store: whether a run holds the campaign's
 * lock, and a number that grows with every durable write (the journal's size; in PostgreSQL, the
 * rows' committed `sent` and outcome marks, read on a connection of the test's own).
 */
export interface ProgressProbe {
  lockHeld(pid: number): Promise<boolean>;
  progress(): Promise<number>;
  close(): Promise<void>;
}

export async function openProgressProbe(state: string): Promise<ProgressProbe> {
  if (!isPostgresState(state)) {
    return {
      lockHeld: async (pid) => {
        try {
          return readFileSync(`${state}.lock`, "utf8").includes(`"pid":${pid},`);
        } catch {
          return false;
        }
      },
      progress: async () => {
        try {
          return statSync(state).size;
        } catch {
          return 0;
        }
      },
      close: async () => undefined,
    };
  }
  const schema = new URL(state).searchParams.get("schema") ?? "points_code_batch";
  const client = new pg.Client({ connectionString: PG_URL });
  client.on("error", () => undefined);
  await client.connect();
  return {
    async lockHeld(pid) {
      const { rows } = await client.query<{ held: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                         WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = $1) AS held`,
        [`points-code-batch lock pid ${pid}`],
      );
      return rows[0]?.held === true;
    },
    async progress() {
      const { rows: found } = await client.query<{ table: string | null }>("SELECT to_regclass($1)::text AS table", [`${schema}.rows`]);
      if (found[0]?.table === null) return 0;
      const { rows } = await client.query<{ n: string }>(`SELECT (count(sent_at) + count(outcome_at))::text AS n FROM ${schema}.rows`);
      return Number(rows[0]?.n ?? 0);
    },
    close: () => client.end(),
  };
}
