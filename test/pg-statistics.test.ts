import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { runCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, recipientsCsv } from "./support/csv.js";
import { freshSchema, pgSuites, sql, stateUrl } from "./support/pg.js";
import { startSimulator } from "./support/simulator.js";

/**
 * A plan's bulk load leaves the rows table analyzed, so a run's first chunk reads find rows by
 * their keys. Without statistics the planner took a campaign for a few hundred rows and read each
 * chunk by scanning the whole campaign (150 ms a chunk at 100,000 rows, a fifth of the send rate).
 */

const { skip } = await pgSuites();

describe("statistics after a plan's load", { skip }, () => {
  test("the tool analyzes the rows table it loaded, and a chunk of requestIds is read by key", async () => {
    const dir = await tempDir("pcb-pg-stats-");
    const sim = await startSimulator({ latencyMs: 0, seed: 3 });
    const schema = freshSchema();
    const input = await writeText(dir, "in.csv", recipientsCsv(5000));
    const loaded = await runCli([
      "load",
      input,
      "--base-url",
      sim.baseUrl,
      ...campaignFlags("stats"),
      "--state",
      stateUrl(schema),
      "--out",
      join(dir, "out.csv"),
    ]);
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.equal(sim.stats().createRequests, 0, "load sends nothing");

    // A manual ANALYZE (the tool's) sets last_analyze; autovacuum's would set last_autoanalyze.
    // Statistics views are flushed shortly after a transaction ends: poll for up to 10 s.
    let analyzed: string | null = null;
    for (let i = 0; i < 50 && analyzed === null; i++) {
      const [row] = await sql<{ last_analyze: string | null }>(
        "SELECT last_analyze::text AS last_analyze FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'rows'",
        [schema],
      );
      analyzed = row?.last_analyze ?? null;
      if (analyzed === null) await sleep(200);
    }
    assert.notEqual(analyzed, null, "the rows table was analyzed by the tool");

    const ids = await sql<{ rid: string }>(`SELECT request_id::text AS rid FROM ${schema}.rows ORDER BY row_no LIMIT 256`);
    const plan = await sql<{ "QUERY PLAN": string }>(
      `EXPLAIN SELECT request_id FROM ${schema}.rows WHERE campaign = 'stats' AND request_id = ANY($1::uuid[]) AND status <> 'planned'`,
      [ids.map((r) => r.rid)],
    );
    const text = plan.map((r) => r["QUERY PLAN"]).join("\n");
    assert.match(text, /Index Cond: \(\(campaign = 'stats'::text\) AND \(request_id = ANY/, text);
  });
});
