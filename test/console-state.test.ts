import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { access, mkdir, writeFile } from "node:fs/promises";
import { collect, runCli, startCli, tempDir } from "./support/cli.js";
import { ALICE, BOB, ConsoleClient, startAccountsConsole, TODAY } from "./support/console.js";
import { GROUP, readResult, recipientsCsv } from "./support/csv.js";
import { assertLedgerMatchesResult, waitFor } from "./support/job.js";
import { freshSchema, pgSuites, sql, stateUrl } from "./support/pg.js";
import { startSimulator } from "./support/simulator.js";

/**
 * The console keeps state where the CLI does: a campaign stopped in the console is resumed by
 * `issue` on the same files, and a console on `--state postgresql://` is read by `status`.
 */

const FIELDS = { groupId: GROUP, name: "State test", startAt: "2094-04-01", endAt: "2094-06-30" };

async function prepareAndApprove(url: string, id: string, rows: number): Promise<ConsoleClient> {
  const alice = new ConsoleClient(url);
  await alice.signIn(ALICE);
  await alice.page("/new");
  assert.equal((await alice.upload("/campaigns", { id, ...FIELDS }, { name: `${id}.csv`, bytes: recipientsCsv(rows) })).status, 303);
  const bob = new ConsoleClient(url);
  await bob.signIn(BOB);
  const { html } = await bob.page(`/campaigns/${id}`);
  const digest = /data-testid="digest">([0-9a-f]{64})</.exec(html)?.[1] ?? "";
  assert.equal((await bob.post(`/campaigns/${id}/approve`, { digest, confirm: id })).status, 303);
  return bob;
}

async function exitShown(client: ConsoleClient, id: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { html } = await client.page(`/campaigns/${id}`);
    const exit = /data-testid="run-ended" data-exit="(\d+)"/.exec(html)?.[1];
    if (exit) return exit;
    assert.ok(Date.now() < deadline, `campaign ${id} did not end`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const { skip: pgSkip } = await pgSuites();

describe("console state is the CLI's state", () => {
  test("a campaign stopped in the console is resumed by `issue` on its folder: every row exactly once, and the console shows it", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    // Paced at 4 rows a second, 30 rows take 7 s: the Stop below lands well inside the run.
    const server = await startAccountsConsole(dir, sim, ["--rate", "4", "--concurrency", "1"]);
    const bob = await prepareAndApprove(server.url, "handover", 30);
    await waitFor(() => sim.ledger().length >= 2, 30_000, "two codes issued");
    assert.equal((await bob.post("/campaigns/handover/stop", {})).status, 303);
    assert.equal(await exitShown(bob, "handover"), "130");
    const stoppedAt = sim.ledger().length;
    assert.ok(stoppedAt < 30, `stopped after ${stoppedAt} of 30`);

    const folder = join(dir, "console", "campaigns", "handover");
    const cli = await runCli(
      [
        "issue",
        join(folder, "input.csv"),
        "--campaign",
        "handover",
        "--state",
        join(folder, "checkpoint"),
        "--out",
        join(folder, "results.csv"),
        "--group-id",
        GROUP,
        "--name",
        FIELDS.name,
        "--start-at",
        FIELDS.startAt,
        "--end-at",
        FIELDS.endAt,
        "--base-url",
        sim.baseUrl,
      ],
      { env: TODAY },
    );
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /30 rows — 30 issued, 0 failed, 0 pending/);
    assert.equal(sim.stats().createRequests, 30);
    assertLedgerMatchesResult(sim, await readResult(join(folder, "results.csv")), 30);
    const { html } = await bob.page("/campaigns/handover");
    assert.equal([...html.matchAll(/<tr class="status-issued">/g)].length, 30);
  });

  test("a campaign the CLI ran in the console's layout and stopped (Ctrl-C) is shown and finished by the console", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const folder = join(dir, "console", "campaigns", "from-cli");
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, "input.csv"), recipientsCsv(30));
    // Paced at 4 rows a second, 30 rows take 7 s: the SIGINT below lands well inside the run.
    const child = startCli(
      [
        "issue",
        join(folder, "input.csv"),
        "--campaign",
        "from-cli",
        "--state",
        join(folder, "checkpoint"),
        "--out",
        join(folder, "results.csv"),
        "--group-id",
        GROUP,
        "--name",
        FIELDS.name,
        "--start-at",
        FIELDS.startAt,
        "--end-at",
        FIELDS.endAt,
        "--base-url",
        sim.baseUrl,
        "--rate",
        "4",
        "--concurrency",
        "1",
      ],
      { env: TODAY },
    );
    const done = collect(child);
    await waitFor(() => sim.ledger().length >= 2, 30_000, "two codes issued");
    child.kill("SIGINT");
    const cli = await done;
    assert.equal(cli.code, 130, cli.stderr);
    const stoppedAt = sim.ledger().length;
    assert.ok(stoppedAt < 30, `stopped after ${stoppedAt} of 30`);

    const server = await startAccountsConsole(dir, sim);
    const bob = new ConsoleClient(server.url);
    await bob.signIn(BOB);
    assert.match((await bob.page("/")).html, /data-campaign="from-cli"[\s\S]*?\(command line\)/);
    const { html } = await bob.page("/campaigns/from-cli");
    const plan = /<tr data-group="\d+">([\s\S]*?)<\/tr>/.exec(html)?.[1] ?? "";
    const cells = [...plan.matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]);
    // Rows to send, "new (+in doubt)": rows the stopped run had marked sent count as in doubt.
    const toSend = (cells[3] ?? "").match(/\d+/g)?.map(Number) ?? [];
    assert.equal(
      toSend.reduce((a, b) => a + b, 0),
      30 - stoppedAt,
      `rows to send: ${plan}`,
    );
    assert.equal(cells[5], String(stoppedAt), `rows already issued: ${plan}`);
    const digest = /data-testid="digest">([0-9a-f]{64})</.exec(html)?.[1] ?? "";
    assert.equal((await bob.post("/campaigns/from-cli/approve", { digest, confirm: "from-cli" })).status, 303);
    assert.equal(await exitShown(bob, "from-cli"), "0");
    assertLedgerMatchesResult(sim, await readResult(join(folder, "results.csv")), 30);
    assert.equal(sim.stats().createRequests, 30);
  });

  test("on --state postgresql://, the console's campaign and its audit log are what `status` reads, from the database", {
    skip: pgSkip,
  }, async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const schema = freshSchema();
    const state = stateUrl(schema);
    const server = await startAccountsConsole(dir, sim, ["--state", state]);
    const bob = await prepareAndApprove(server.url, "pg-campaign", 8);
    assert.equal(await exitShown(bob, "pg-campaign"), "0");
    const folder = join(dir, "console", "campaigns", "pg-campaign");
    const rows = await readResult(join(folder, "results.csv"));
    assertLedgerMatchesResult(sim, rows, 8);

    // The audit log is the schema's table: each action of alice, bob and the run, in order.
    const table = await sql<{ campaign: string; who: string; action: string; plan_digest: string | null; detail: string | null }>(
      `SELECT campaign, who, action, plan_digest, detail FROM ${schema}.audit ORDER BY seq`,
    );
    const of = (campaign: string) => table.filter((a) => a.campaign === campaign).map((a) => `${a.who} ${a.action}`);
    assert.deepEqual(of("pg-campaign"), ["alice created", "alice checked", "bob approved", "console run-ended"]);
    assert.deepEqual(of(""), ["alice signed-in", "bob signed-in"]);
    const approved = table.find((a) => a.action === "approved");
    assert.match(approved?.plan_digest ?? "", /^[0-9a-f]{64}$/);
    const text = JSON.stringify(table);
    for (const secret of ["alice-secret-1", "bob-secret-2"]) assert.ok(!text.includes(secret), "no password in the audit table");
    for (const row of rows) assert.ok(!text.includes(row.points_code ?? "-"), "no code in the audit table");
    // …and no file: not beside the checkpoint, not the console's sign-in log.
    for (const file of [join(folder, "checkpoint.audit.jsonl"), join(dir, "console", "console.audit.jsonl")])
      await assert.rejects(access(file), { code: "ENOENT" }, `${file} is not written with a postgresql:// state`);
    // The console's page reads it back from the table.
    assert.match((await bob.page("/campaigns/pg-campaign")).html, new RegExp(`data-testid="audit"[\\s\\S]*bob[\\s\\S]*${approved?.plan_digest?.slice(0, 12)}`));

    const status = await runCli(["status", state, "--campaign", "pg-campaign"], { env: TODAY });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /8 row\(s\) recorded — 8 issued, 0 failed, 0 pending/);
    assert.match(status.stdout, /audit \(4 action\(s\)\):/);
    assert.match(status.stdout, /alice created: uploaded pg-campaign\.csv/);
    assert.match(status.stdout, new RegExp(`bob approved plan ${approved?.plan_digest?.slice(0, 12)}: may charge ¥`));
    assert.match(status.stdout, /console run-ended: exit 0: 8 issued, 0 failed, 0 pending/);
    assert.doesNotMatch(status.stdout, /signed-in/);
    const json = await runCli(["status", state, "--campaign", "pg-campaign", "--json"], { env: TODAY });
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { audit: { who: string; action: string; campaign: string; planDigest?: string }[] };
    assert.deepEqual(
      parsed.audit.map((a) => `${a.who} ${a.action} ${a.campaign}`),
      ["alice created", "alice checked", "bob approved", "console run-ended"].map((a) => `${a} pg-campaign`),
    );
    assert.equal(parsed.audit[2]?.planDigest, approved?.plan_digest);
    const excel = await bob.request("/campaigns/pg-campaign/results.csv?format=excel");
    assert.equal(excel.status, 200);
    const bytes = Buffer.from(await excel.arrayBuffer());
    assert.equal(bytes.subarray(0, 3).toString("hex"), "efbbbf");
    assert.equal(bytes.toString("utf8").split("\r\n").length, 10);
  });
});
