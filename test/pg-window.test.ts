import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { migrate } from "../src/checkpoint/pg/migrations.js";
import { PgStore } from "../src/checkpoint/pg/pg-store.js";
import { parsePgState } from "../src/checkpoint/pg/pg-url.js";
import { PgConnections } from "../src/checkpoint/pg/pool.js";
import { acquireRunLock } from "../src/checkpoint/pg/run-lock.js";
import { CSV_BATCH_RECORDS } from "../src/csv/read-records.js";
import { runCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, readResult, recipientsCsv } from "./support/csv.js";
import { assertLedgerMatchesResult, issueArgs } from "./support/job.js";
import { freshSchema, pgSuites, sql, stateUrl } from "./support/pg.js";
import { startSimulator } from "./support/simulator.js";

/**
 * The PostgreSQL store holds no campaign in memory: row states are read a chunk at a time
 * (prefetch), status counts come from SQL, and the plan's input is loaded with COPY. Against a real
 * server (support/pg.ts) and the built CLI.
 */

const { skip } = await pgSuites();

const rid = (i: number): string => `00000000-0000-5000-8000-${String(i).padStart(12, "0")}`;

describe("PostgreSQL state a chunk at a time", { skip }, () => {
  test("a campaign over several prefetch chunks: a rerun without the result file sends nothing and rebuilds it; status counts from SQL", async () => {
    // Several read batches, each one prefetch (prefetch.ts), and a partial last one.
    const rows = CSV_BATCH_RECORDS * 9 + 100;
    const dir = await tempDir("pcb-pgw-");
    const sim = await startSimulator({ latencyMs: 0, seed: 3 });
    const input = await writeText(dir, "in.csv", recipientsCsv(rows));
    const schema = freshSchema();
    const state = stateUrl(schema);
    const out = join(dir, "out.csv");
    const args = issueArgs(input, sim, ...campaignFlags("window"), "--out", out, "--state", state, "--concurrency", "16");
    const first = await runCli(args, { timeoutMs: 180_000 });
    assert.equal(first.code, 0, first.stderr);
    const result = await readResult(out);
    assertLedgerMatchesResult(sim, result, rows);

    // Every row of every chunk must read back issued, or the planner would send it again.
    const calls = [...sim.callsByRequestId().values()].reduce((a, b) => a + b, 0);
    await rm(out);
    const rerun = await runCli(args, { timeoutMs: 180_000 });
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.equal(
      [...sim.callsByRequestId().values()].reduce((a, b) => a + b, 0),
      calls,
      "the rerun sent nothing",
    );
    assert.deepEqual(await readResult(out), result, "the result file rebuilt from the database, chunk by chunk");

    const status = await runCli(["status", state, "--campaign", "window", "--json"]);
    assert.equal(status.code, 0, status.stderr);
    const json = JSON.parse(status.stdout) as { rows: number; issued: number; pending: number; inDoubt: number; issuedJpyByGroup: Record<string, number> };
    const jpy = result.reduce((sum, r) => sum + Number(r.amount), 0);
    assert.deepEqual([json.rows, json.issued, json.pending, json.inDoubt], [rows, rows, 0, 0]);
    assert.deepEqual(Object.values(json.issuedJpyByGroup), [jpy]);
  });

  test("get() answers only for the latest prefetch; a requestId outside it is refused, never taken as unsent", async () => {
    const schema = freshSchema();
    const connections = new PgConnections(parsePgState(stateUrl(schema), {}));
    try {
      await migrate(connections);
      const lock = await acquireRunLock(connections, "prefetch");
      try {
        const store = await PgStore.open(connections, "prefetch", { generation: lock.generation, create: true });
        await Promise.all([0, 1, 2].map((i) => store.recordSent(rid(i), `fp${i}`, i + 2)));
        await store.recordOutcome({ rid: rid(1), fp: "fp1", status: "issued", attempts: 1, groupId: "1", value: 100, code: "CODE0001" });
        await store.close();
        const reopened = await PgStore.open(connections, "prefetch", {});
        assert.throws(() => reopened.get(rid(0)), { code: "STATE_NOT_PREFETCHED" });
        await reopened.prefetch([rid(0), rid(1), rid(9)]);
        assert.deepEqual(
          [reopened.get(rid(0))?.status, reopened.get(rid(1))?.status, reopened.get(rid(9))],
          ["sent", "issued", undefined],
          "sent, issued, and a requestId never sent",
        );
        assert.equal(reopened.get(rid(0))?.inDoubt, true);
        assert.throws(() => reopened.get(rid(2)), { code: "STATE_NOT_PREFETCHED" });
        await reopened.prefetch([rid(2)]);
        assert.equal(reopened.get(rid(2))?.status, "sent");
        assert.throws(() => reopened.get(rid(1)), { code: "STATE_NOT_PREFETCHED" }, "the window moved on");
      } finally {
        await lock.release();
      }
    } finally {
      await connections.close();
    }
  });

  test("the bulk load keeps every cell and the snapshot's bytes exactly: tabs, backslashes, line breaks, quotes, \\N, Japanese", async () => {
    const dir = await tempDir("pcb-pgw-");
    const sim = await startSimulator({ latencyMs: 0, seed: 5 });
    const notes = ["tab\there", "back\\slash \\N", "line\nbreak", "crlf\r\nend", 'quote "q"', "山田 太郎", "\\.", ""];
    const csvCell = (v: string): string => `"${v.replace(/"/g, '""')}"`;
    const lines = ["recipient_id,amount,note", ...notes.map((note, i) => `R-${i},${100 + i},${csvCell(note)}`)];
    const input = await writeText(dir, "in.csv", `${lines.join("\r\n")}\r\n`);
    const schema = freshSchema();
    const out = join(dir, "out.csv");
    const run = await runCli(issueArgs(input, sim, ...campaignFlags("cells"), "--out", out, "--state", stateUrl(schema)));
    assert.equal(run.code, 0, run.stderr);
    const stored = await sql<{ recipient_id: string; row_no: number; cells: Record<string, string> }>(
      `SELECT recipient_id, row_no, cells FROM ${schema}.rows ORDER BY row_no`,
    );
    assert.deepEqual(
      stored,
      notes.map((note, i) => ({ recipient_id: `R-${i}`, row_no: i + 2, cells: { recipient_id: `R-${i}`, amount: String(100 + i), note } })),
    );
    const [snapshot] = await sql<{ bytes: Buffer }>(`SELECT bytes FROM ${schema}.snapshots`);
    assert.ok(snapshot?.bytes.equals(await readFile(input)), "the snapshot streamed in holds the input's exact bytes");
  });
});
