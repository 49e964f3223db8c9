import type pg from "pg";
import type { OutcomeRow } from "./row-reads.js";
import { OUTCOME_RECORD, OUTCOME_SET, SENT_CONFLICT, SENT_INSERT, SENT_RECORD } from "./row-sql.js";

/**
 * A group commit of `sent` and outcome records in one round trip: one statement, its own (implicit)
 * transaction, prepared once per connection. The fence is in the statement: a MATERIALIZED CTE
 * reads the campaign row under FOR SHARE, and every write is gated on its generation being the
 * run's (a one-time filter, evaluated before any row is written). A run taking the campaign over
 * bumps the generation under the row's exclusive lock, so it waits for a commit in progress, and a
 * commit that comes after it writes nothing and reports the new generation. pg-store.ts's
 * transaction path stays for everything else (campaign records, acceptances, a complete record to
 * clear); this one is the hot path of a run, three round trips and two statements' planning saved
 * per commit.
 */

/** One `sent` record as the statement reads it (json_to_recordset). */
export interface SentRow {
  rid: string;
  fp: string;
  row: number;
  body: string | null;
}

/**
 * What the commit wrote: the fence's generation (undefined when the campaign row is gone) and,
 * for each outcome, its row's seq by requestId (lower case, as PostgreSQL prints a uuid).
 */
export interface RowCommit {
  generation: string | undefined;
  /** Rows the `sent` records wrote: one each, unless fenced. */
  sent: number;
  seqs: Map<string, number>;
}

/**
 * `json` rather than `jsonb`: the parameter is parsed once, by json_to_recordset, instead of being
 * built into a jsonb value first. The upsert of `sent` and the outcome's UPDATE are the transaction
 * path's (row-sql.ts), one CTE each.
 */
function text(s: string): string {
  return `WITH fence AS MATERIALIZED (SELECT generation FROM ${s}.campaigns WHERE campaign = $1 FOR SHARE),
  sent AS (
    INSERT INTO ${s}.rows AS r ${SENT_INSERT.columns}
    SELECT ${SENT_INSERT.values} FROM json_to_recordset($3::json) AS ${SENT_RECORD}
     WHERE (SELECT generation FROM fence) = $2::bigint
    ${SENT_CONFLICT}
    RETURNING 1),
  outcome AS (
    UPDATE ${s}.rows AS r SET ${OUTCOME_SET}
    FROM json_to_recordset($4::json) AS ${OUTCOME_RECORD}
    WHERE r.campaign = $1 AND r.request_id = x.rid AND (SELECT generation FROM fence) = $2::bigint
    RETURNING r.request_id::text AS rid, r.seq::text AS seq)
SELECT f.generation::text AS generation, o.rid, o.seq, (SELECT count(*) FROM sent)::int AS sent
  FROM fence f LEFT JOIN outcome o ON true`;
}

/** Statement names are per connection; one pool serves one schema, so one name serves it. */
const NAME = "pcb-row-commit-v1";

export async function commitRows(
  client: pg.PoolClient,
  s: string,
  campaign: string,
  generation: string,
  sent: readonly SentRow[],
  outcomes: readonly OutcomeRow[],
): Promise<RowCommit> {
  const { rows } = await client.query<{ generation: string; rid: string | null; seq: string | null; sent: number }>({
    name: NAME,
    text: text(s),
    values: [campaign, generation, JSON.stringify(sent), JSON.stringify(outcomes)],
  });
  const seqs = new Map<string, number>();
  for (const r of rows) if (r.rid !== null && r.seq !== null) seqs.set(r.rid, Number(r.seq));
  return { generation: rows[0]?.generation, sent: rows[0]?.sent ?? 0, seqs };
}
