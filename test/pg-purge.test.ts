import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { SCHEMA_VERSION } from "../src/checkpoint/pg/migrations.js";
import { PgAuditLog } from "../src/checkpoint/pg/pg-audit.js";
import { acquireRunLock } from "../src/checkpoint/pg/run-lock.js";
import { parsePgState } from "../src/checkpoint/pg/pg-url.js";
import { PgConnections } from "../src/checkpoint/pg/pool.js";
import { collect, runCli, startCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, GROUP, readResult, recipientsCsv } from "./support/csv.js";
import { issueArgs, waitFor } from "./support/job.js";
import { freshSchema, pgSuites, sql, stateUrl } from "./support/pg.js";
import { startSimulator } from "./support/simulator.js";

/**
 * `purge` against a real PostgreSQL: only campaigns whose latest run finished more than N days ago
 * lose their input cells, recipient ids, bodies, codes, data and input copies; their counts and
 * totals stay (and equal the ledger's); status says PURGED, export and a rerun refuse (exit 2,
 * nothing sent); a campaign that has not finished, a run in progress, no terminal without --yes
 * and a file state are all refused with nothing deleted.
 */

const { skip } = await pgSuites();

const PASSWORD = "pg-purge-secret-5d1e";
const DAY_MS = 86_400_000;

describe("purge (PostgreSQL state)", { skip }, () => {
  test("purges only campaigns finished more than N days ago, keeps their totals; status, export and issue say so", { timeout: 180_000 }, async () => {
    const dir = await tempDir("pcb-purge-");
    const sim = await startSimulator({ seed: 11 });
    const schema = freshSchema();
    const state = stateUrl(schema, PASSWORD);
    const args = async (name: string, rows: number, extra: string[] = []) =>
      issueArgs(
        await writeText(dir, `${name}.csv`, recipientsCsv(rows, { start: name === "old" ? 1 : name === "recent" ? 1001 : 2001 })),
        sim,
        ...campaignFlags(name),
        "--out",
        join(dir, `${name}.out.csv`),
        "--state",
        state,
        "--concurrency",
        "2",
        ...extra,
      );
    const oldArgs = await args("old", 30);
    for (const [name, a] of [
      ["old", oldArgs],
      ["recent", await args("recent", 10)],
    ] as const) {
      const run = await runCli(a);
      assert.equal(run.code, 0, `${name}: ${run.stderr}`);
    }
    const oldResult = await readResult(join(dir, "old.out.csv"));
    // A third campaign whose run was killed: it has not finished, however old it is.
    const killedArgs = await args("killed", 100, ["--max-attempts", "100"]);
    const before = sim.ledger().length;
    const child = startCli(killedArgs);
    const done = collect(child, 60_000);
    await waitFor(() => sim.ledger().length >= before + 5, 30_000, "5 codes of the killed run");
    child.kill("SIGKILL");
    assert.equal((await done).signal, "SIGKILL");

    // "old" finished 40 days ago, "recent" today.
    await sql(`UPDATE ${schema}.campaigns SET last_complete = jsonb_set(last_complete, '{at}', to_jsonb($1::text)) WHERE campaign = 'old'`, [
      new Date(Date.now() - 40 * DAY_MS).toISOString(),
    ]);
    const personal = async (campaign: string) =>
      (
        await sql<{ n: string }>(
          `SELECT count(*)::text AS n FROM ${schema}.rows WHERE campaign = $1
             AND (cells IS NOT NULL OR recipient_id IS NOT NULL OR body IS NOT NULL OR code IS NOT NULL OR data IS NOT NULL)`,
          [campaign],
        )
      )[0]?.n;
    const snapshots = async (campaign: string) =>
      (await sql<{ n: string }>(`SELECT count(*)::text AS n FROM ${schema}.snapshots WHERE campaign = $1`, [campaign]))[0]?.n;
    assert.deepEqual([await personal("old"), await personal("recent"), await snapshots("old")], ["30", "10", "1"]);

    // No terminal, no --yes: refused, nothing deleted.
    const unconfirmed = await runCli(["purge", state, "--older-than", "30"]);
    assert.equal(unconfirmed.code, 2, unconfirmed.stderr);
    assert.match(unconfirmed.stderr, /pass --yes to purge without a terminal/);
    assert.match(unconfirmed.stdout, /^ {2}old: finished .*, 30 row\(s\), 30 issued/m);
    assert.equal(await personal("old"), "30");

    const dry = await runCli(["purge", state, "--older-than", "30", "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^1 campaign\(s\) in .* finished more than 30 day\(s\) ago:$/m);
    assert.doesNotMatch(dry.stdout, /recent|killed/);
    assert.match(dry.stdout, /dry run: nothing deleted/);
    assert.equal(await personal("old"), "30");

    // "old" is 40 days done: not due at 45 days.
    const notYet = await runCli(["purge", state, "--older-than", "45", "--yes"]);
    assert.equal(notYet.code, 0, notYet.stderr);
    assert.match(notYet.stdout, /nothing to purge/);
    assert.equal(await personal("old"), "30");

    // The console's record of who approved "old" (its audit table) is what a purge must keep.
    const audit = new PgAuditLog(new PgConnections(parsePgState(state)));
    try {
      await audit.append({ who: "bob", action: "approved", campaign: "old", planDigest: "d".repeat(64), detail: "may charge ¥9" });
      await audit.append({ who: "console", action: "run-ended", campaign: "old", detail: "exit 0" });
    } finally {
      await audit.close();
    }

    const purged = await runCli(["purge", state, "--older-than", "30", "--yes"]);
    assert.equal(purged.code, 0, purged.stderr);
    const kept = await sql<{ who: string; action: string }>(`SELECT who, action FROM ${schema}.audit WHERE campaign = 'old' ORDER BY seq`);
    assert.deepEqual(
      kept.map((a) => `${a.who} ${a.action}`),
      ["bob approved", "console run-ended"],
      "a purge keeps the audit log",
    );
    const purgedStatus = await runCli(["status", state, "--campaign", "old"]);
    assert.equal(purgedStatus.code, 0, purgedStatus.stderr);
    assert.match(
      purgedStatus.stdout,
      /PURGED[\s\S]*audit \(2 action\(s\)\):\n {4}\S+ bob approved plan d{12}: may charge ¥9\n {4}\S+ console run-ended: exit 0/,
    );
    const total = oldResult.reduce((n, r) => n + Number(r.amount), 0);
    assert.match(purged.stdout, new RegExp(`purged old: 30 row\\(s\\), 30 issued \\(¥${total.toLocaleString("en-US")}\\)`));
    assert.deepEqual([await personal("old"), await snapshots("old")], ["0", "0"], "old: nothing personal left");
    assert.deepEqual([await personal("recent"), await snapshots("recent")], ["10", "1"], "recent: untouched");
    assert.equal(Number(await personal("killed")) > 0, true, "killed: untouched");
    const [remaining] = await sql<{ masked: string }>(
      `SELECT count(*)::text AS masked FROM ${schema}.issued_codes WHERE campaign = 'old' AND code IS NOT NULL`,
    );
    assert.equal(remaining?.masked, "0", "no full code of old is readable");

    // The totals kept equal what PayPay charged.
    const oldRids = new Set(oldResult.map((r) => r.request_id));
    const oldLedger = sim.ledger().filter((e) => oldRids.has(e.requestId));
    assert.equal(oldLedger.length, 30);
    const oldCharged = oldLedger.reduce((n, e) => n + e.giftCardValue, 0);
    assert.equal(oldCharged, total);
    const totals = await sql(`SELECT group_id, issued_rows, issued_jpy::text, failed_rows FROM ${schema}.purged_totals WHERE campaign = 'old'`);
    assert.deepEqual(totals, [{ group_id: GROUP, issued_rows: 30, issued_jpy: String(total), failed_rows: 0 }]);

    const status = await runCli(["status", state, "--campaign", "old"]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /PURGED on \S+ \(finished \S+\)/);
    assert.match(status.stdout, new RegExp(`30 row\\(s\\) — 30 issued, 0 failed, ¥${total.toLocaleString("en-US")} issued in all`));
    const json = JSON.parse((await runCli(["status", state, "--campaign", "old", "--json"])).stdout) as { purged: { issued: number; issuedJpy: string } };
    assert.deepEqual([json.purged.issued, json.purged.issuedJpy], [30, String(total)]);

    const exported = await runCli(["export", state, "--campaign", "old", "--out", join(dir, "again.csv")]);
    assert.equal(exported.code, 2, exported.stderr);
    assert.match(exported.stderr, /this campaign was purged on .*only its counts remain \(30 row\(s\), 30 issued, 0 failed/);

    const calls = [...sim.callsByRequestId().values()].reduce((a, b) => a + b, 0);
    const rerun = await runCli(oldArgs);
    assert.equal(rerun.code, 2, rerun.stderr);
    assert.match(rerun.stderr, /this campaign was purged on .*Give a new run a new --campaign id/);
    const planned = await runCli(["plan", ...oldArgs.slice(1)]);
    assert.equal(planned.code, 2, planned.stderr);
    assert.match(planned.stderr, /this campaign was purged on/);
    assert.equal(
      [...sim.callsByRequestId().values()].reduce((a, b) => a + b, 0),
      calls,
      "nothing sent for a purged campaign",
    );

    // A campaign that has not finished is never purged, however it is asked.
    const unfinished = await runCli(["purge", state, "--older-than", "0", "--campaign", "killed", "--yes"]);
    assert.equal(unfinished.code, 2, unfinished.stderr);
    assert.match(unfinished.stderr, /campaign killed is not due for a purge: not finished/);
    assert.equal(Number(await personal("killed")) > 0, true);

    for (const run of [unconfirmed, dry, purged, status, exported, rerun, unfinished]) {
      assert.ok(!run.stdout.includes(PASSWORD) && !run.stderr.includes(PASSWORD), "no password in any output");
    }
  });

  test("a campaign a run holds is not purged (exit 5); it is once the run is over", { timeout: 120_000 }, async () => {
    const dir = await tempDir("pcb-purge-lock-");
    const sim = await startSimulator({ seed: 12 });
    const schema = freshSchema();
    const state = stateUrl(schema);
    const args = issueArgs(
      await writeText(dir, "in.csv", recipientsCsv(20)),
      sim,
      ...campaignFlags("held"),
      "--out",
      join(dir, "out.csv"),
      "--state",
      state,
      "--max-attempts",
      "100",
    );
    assert.equal((await runCli(args)).code, 0);
    // The campaign's run lock, taken as a run takes it (the moment between a run starting and
    // recording its plan, when the campaign still looks finished).
    const connections = new PgConnections(parsePgState(state, {}));
    const lock = await acquireRunLock(connections, "held");
    try {
      const held = await runCli(["purge", state, "--older-than", "0", "--yes"]);
      assert.equal(held.code, 5, held.stderr);
      assert.match(held.stderr, /skipped held: campaign held in .* is locked by a run in progress \(pid \d+ on /);
      const [cells] = await sql<{ n: string }>(`SELECT count(*)::text AS n FROM ${schema}.rows WHERE cells IS NOT NULL`);
      assert.equal(cells?.n, "20", "nothing deleted");
    } finally {
      await lock.release();
      await connections.close();
    }
    const purged = await runCli(["purge", state, "--older-than", "0", "--yes"]);
    assert.equal(purged.code, 0, purged.stderr);
    assert.match(purged.stdout, /purged held: 20 row\(s\)/);
  });

  test("a schema from the release before purge (version 1, with a finished campaign) is migrated forward and purges", { timeout: 120_000 }, async () => {
    const dir = await tempDir("pcb-purge-upgrade-");
    const sim = await startSimulator({ seed: 13 });
    const schema = freshSchema();
    const state = stateUrl(schema);
    const args = issueArgs(await writeText(dir, "in.csv", recipientsCsv(12)), sim, ...campaignFlags("before"), "--out", join(dir, "out.csv"), "--state", state);
    assert.equal((await runCli(args)).code, 0);
    // Back to what version 1 created: migrations 2 (purge), 3 (workers) and 4 (audit) are exactly these additions.
    await sql(`DROP TABLE ${schema}.audit`);
    await sql(`DROP TABLE ${schema}.purged_totals`);
    await sql(`ALTER TABLE ${schema}.campaigns DROP COLUMN purged_at, DROP COLUMN purged_summary`);
    await sql(`DROP TABLE ${schema}.group_halts, ${schema}.workers, ${schema}.rate_buckets`);
    await sql(`ALTER TABLE ${schema}.campaigns DROP COLUMN halt`);
    await sql(`ALTER TABLE ${schema}.rows DROP COLUMN todo, DROP COLUMN planned_body, DROP COLUMN planned_group, DROP COLUMN claim_token`);
    await sql(`DELETE FROM ${schema}.schema_version WHERE version > 1`);
    const purged = await runCli(["purge", state, "--older-than", "0", "--yes"]);
    assert.equal(purged.code, 0, purged.stderr);
    assert.match(purged.stdout, /purged before: 12 row\(s\), 12 issued/);
    const versions = await sql<{ version: number }>(`SELECT version FROM ${schema}.schema_version ORDER BY version`);
    assert.deepEqual(
      versions.map((v) => v.version),
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
  });

  test("a file state: purge refuses and says what retention means for a file", async () => {
    const run = await runCli(["purge", "some.checkpoint", "--older-than", "30", "--yes"]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /purge is for a postgresql:\/\/ state; some\.checkpoint is a checkpoint file.*delete its checkpoint/);
  });
});
