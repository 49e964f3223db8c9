import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFile, readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { CLI, childEnv, runCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, GROUP, readResult, recipientsCsv } from "./support/csv.js";
import { assertLedgerMatchesResult, fileMode, issueArgs } from "./support/job.js";
import { startSimulator } from "./support/simulator.js";
import { createSimulator } from "../src/simulator/index.js";
import { acquireLock } from "../src/checkpoint/lock.js";

const FIXTURES = resolve(import.meta.dirname, "fixtures");

async function fixture(dir: string, name: string): Promise<string> {
  const file = join(dir, name);
  await copyFile(join(FIXTURES, name), file);
  return file;
}

describe("plan and --dry-run", () => {
  test("prints rows, JPY per group, dates, checkpoint progress and the budget verdict; sends nothing", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ groups: [{ groupId: GROUP, budget: 5000, maxPeriodDays: 365, minAmount: 1 }] });
    const input = await writeText(dir, "in.csv", recipientsCsv(10, { amount: () => 300 }));
    const plan = await runCli(["plan", input, "--base-url", sim.baseUrl, ...campaignFlags()]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /plan for campaign test-campaign: .*in\.csv \(UTF-8\), 10 row\(s\)/);
    assert.match(plan.stdout, /dates: 2094-04-01 \.\. 2094-06-30/);
    assert.match(plan.stdout, /checkpoint: none yet/);
    assert.match(
      plan.stdout,
      new RegExp(`group ${GROUP}: 10 row\\(s\\) ¥3,000; to send 10 row\\(s\\) ¥3,000; issued 0 row\\(s\\) ¥0; budget ¥5,000, ¥2,000 left after`),
    );
    assert.match(plan.stdout, /a run would send 10 row\(s\); nothing was sent/);
    assert.equal(sim.stats().createRequests, 0);

    // Half issued, then plan again: the checkpoint's progress shows, and still nothing is sent.
    await writeFile(input, recipientsCsv(5, { amount: () => 300 }));
    assert.equal((await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", join(dir, "in.results.csv")))).code, 0);
    await writeFile(input, recipientsCsv(10, { amount: () => 300 }));
    const creates = sim.stats().createRequests;
    const again = await runCli(["issue", input, "--dry-run", "--base-url", sim.baseUrl, ...campaignFlags()]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /checkpoint .*in\.results\.checkpoint: 5 already issued/);
    assert.match(again.stdout, /to send 5 row\(s\) ¥1,500; issued 5 row\(s\) ¥1,500; budget ¥3,500/);
    assert.equal(sim.stats().createRequests, creates);
  });

  test("a group the live budgets no longer list is named as not found, even with nothing left to send to it", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ groups: [{ groupId: GROUP, budget: 5000, maxPeriodDays: 365, minAmount: 1 }] });
    const input = await writeText(dir, "in.csv", recipientsCsv(3, { amount: () => 300 }));
    assert.equal((await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", join(dir, "in.results.csv")))).code, 0);
    // The same PayPay (same address: a checkpoint is bound to it) now lists another group only.
    const port = new URL(sim.baseUrl).port;
    await sim.close();
    const other = createSimulator({ groups: [{ groupId: "29952775505428485", budget: 5000, maxPeriodDays: 365, minAmount: 1 }] });
    await other.start(Number(port), "127.0.0.1");
    after(() => other.close());
    const plan = await runCli(["plan", input, "--base-url", other.baseUrl, ...campaignFlags()]);
    assert.equal(plan.code, 0, "nothing to send, so nothing blocks");
    assert.match(plan.stdout, new RegExp(`group ${GROUP}: 3 row\\(s\\) ¥900; to send 0 row\\(s\\) ¥0; issued 3 row\\(s\\) ¥900; group not found`));
    assert.match(plan.stdout, /budgets from /);
  });

  test("a short budget or a bad row exits 2, still without a create call", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ groups: [{ groupId: GROUP, budget: 500, maxPeriodDays: 365, minAmount: 1 }] });
    const input = await writeText(dir, "in.csv", recipientsCsv(10, { amount: () => 300 }));
    const short = await runCli(["plan", input, "--base-url", sim.baseUrl, ...campaignFlags()]);
    assert.equal(short.code, 2);
    assert.match(short.stdout, /SHORT by ¥2,500/);
    const bad = await writeText(dir, "bad.csv", "recipient_id,amount\nA,1e3\n");
    const invalid = await runCli(["plan", bad, "--base-url", sim.baseUrl, ...campaignFlags()]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /row 2, column amount, value "1e3"/);
    assert.equal(sim.stats().createRequests, 0);
  });
});

describe("budget", () => {
  test("--json keeps every digit of an int64 group id; the table shows yen", async () => {
    const sim = await startSimulator({ groups: [{ groupId: GROUP, budget: 1234567, maxPeriodDays: 30, minAmount: 1 }] });
    const json = await runCli(["budget", "--json", "--base-url", sim.baseUrl]);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(json.stdout, `{"groups":[{"groupId":${GROUP},"budget":1234567,"maxPeriodDays":30}]}\n`);
    const table = await runCli(["budget", "--base-url", sim.baseUrl]);
    assert.match(table.stdout, new RegExp(`${GROUP}\\s+¥1,234,567\\s+30`));
  });
});

describe("status and export", () => {
  test("status counts issued, failed and pending, JPY per group, activity and the lock", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ groups: [{ groupId: GROUP, budget: 100_000, maxPeriodDays: 365, minAmount: 150 }] });
    const input = await writeText(dir, "in.csv", recipientsCsv(6, { amount: (i) => (i === 2 ? 100 : 200) }));
    const out = join(dir, "out.csv");
    assert.equal((await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out))).code, 3);
    const state = join(dir, "out.checkpoint");
    const status = await runCli(["status", state, "--json"]);
    assert.equal(status.code, 0, status.stderr);
    const json = JSON.parse(status.stdout);
    assert.deepEqual(
      [json.campaign, json.rows, json.issued, json.failed, json.pending, json.inDoubt, json.issuedJpyByGroup, json.failedByCode, json.runs, json.lock],
      ["test-campaign", 6, 5, 1, 0, 0, { [GROUP]: 1000 }, { INVALID_CHARGE_CODE_AMOUNT: 1 }, 1, { state: "free" }],
    );
    assert.ok(json.firstActivity <= json.lastActivity);

    // A run holding the lock shows as such: the kernel's flock decides, not the file's content.
    const held = await acquireLock(`${state}.lock`);
    try {
      const text = await runCli(["status", state]);
      assert.match(text.stdout, new RegExp(`lock: held by a run in progress \\(pid ${process.pid} on ${hostname()}, started `));
      assert.match(text.stdout, /6 row\(s\) recorded — 5 issued, 1 failed, 0 pending/);
    } finally {
      await held.release();
    }
  });

  test("export rewrites a deleted result file byte for byte, and as Excel on request", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await writeText(dir, "in.csv", recipientsCsv(20));
    const out = join(dir, "out.csv");
    assert.equal((await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out))).code, 0);
    const original = await readFile(out);
    await rm(out);
    const exported = await runCli(["export", join(dir, "out.checkpoint"), "--out", out]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /20 row\(s\) — 20 issued, 0 failed, 0 pending/);
    assert.deepEqual(await readFile(out), original);
    assert.equal(await fileMode(out), 0o600);
    const creates = sim.stats().createRequests;
    const excel = join(dir, "excel.csv");
    assert.equal((await runCli(["export", join(dir, "out.checkpoint"), "--out", excel, "--excel"])).code, 0);
    const text = await readFile(excel, "utf8");
    assert.ok(text.startsWith("\uFEFFrecipient_id,amount,email,request_id"));
    assert.equal(text.split("\r\n").length, 22);
    assert.equal(sim.stats().createRequests, creates, "export sends nothing");
  });
});

describe("progress, logs and summary", () => {
  test("no progress bar without a TTY; failed attempts logged with requestId, status, code and X-REQUEST-ID; summary JSON", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ faults: { error500BeforeCommit: 0.3 }, seed: 11 });
    const input = await writeText(dir, "in.csv", recipientsCsv(30));
    const log = join(dir, "run.log");
    const summaryFile = join(dir, "summary.json");
    const result = await runCli(
      issueArgs(input, sim, ...campaignFlags(), "--out", join(dir, "out.csv"), "--log-file", log, "--summary-json", summaryFile, "--max-attempts", "20"),
    );
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /issuing \[/);
    const lines = (await readFile(log, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const failed = lines.filter((l) => l.msg?.startsWith("attempt failed"));
    const injected = sim.stats().faultsInjected.error500BeforeCommit;
    assert.ok(injected > 0, "the simulator injected faults");
    assert.equal(failed.length, injected, "every failed attempt is logged, once");
    // Per row, every request the server read but the last one failed, and is logged under that row's requestId.
    const loggedByRid = new Map<string, number>();
    for (const entry of failed) loggedByRid.set(entry.requestId, (loggedByRid.get(entry.requestId) ?? 0) + 1);
    const calls = sim.callsByRequestId();
    assert.equal(calls.size, 30);
    for (const [rid, n] of calls) assert.equal(loggedByRid.get(rid) ?? 0, n - 1, `failed attempts logged for ${rid}`);
    for (const entry of failed) {
      assert.match(entry.requestId, /^[0-9a-f-]{36}$/);
      assert.equal(entry.httpStatus, 500);
      assert.equal(entry.code, "SERVICE_ERROR");
      assert.match(entry.paypayRequestId, /^[A-Za-z0-9-]+$/);
    }
    const summary = JSON.parse(await readFile(summaryFile, "utf8"));
    assert.equal(summary.exitCode, 0);
    assert.equal(summary.issued, 30);
    assert.equal(summary.retries, sim.stats().faultsInjected.error500BeforeCommit);
    assert.equal(summary.requests, 30 + summary.retries);
    assert.deepEqual(summary.issuedJpyByGroup, { [GROUP]: sim.ledger().reduce((sum, e) => sum + e.giftCardValue, 0) });
    assert.ok(summary.elapsedSeconds > 0 && summary.requestsPerSecond > 0);
    assert.match(result.stdout, /30 rows — 30 issued, 0 failed, 0 pending/);
  });

  test("on a TTY a live bar shows done/total, rate, ETA, retries and failures", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ latencyMs: 30 });
    const input = await writeText(dir, "in.csv", recipientsCsv(40));
    const command = [
      process.execPath,
      CLI,
      ...issueArgs(input, sim, ...campaignFlags(), "--out", join(dir, "o.csv"), "--log-level", "error", "--concurrency", "2"),
    ]
      .map((a) => `'${a.replace(/'/g, "'\\''")}'`)
      .join(" ");
    // `script` gives the child a pseudo-terminal, as a person's shell would.
    const child = spawn("script", ["-qfec", command, "/dev/null"], { env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let screen = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (screen += c));
    const code = await new Promise<number | null>((done) => child.on("close", done));
    assert.equal(code, 0, screen);
    assert.match(screen, /issuing \[[^\]]*\] 40\/40 settled \| [\d.]+ req\/s \| ETA \S+ \| issued 40, failed 0, pending 0 \| retries 0/);
    assert.match(screen, /40 rows — 40 issued/);
  });
});

describe("encodings and Excel", () => {
  test("a Shift_JIS (CP932) file from Excel is detected; names reach PayPay intact; columns pass through as UTF-8", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await fixture(dir, "members-shift_jis.csv");
    const out = join(dir, "out.csv");
    const args = issueArgs(
      input,
      sim,
      "--campaign",
      "sjis",
      "--column",
      "recipient_id=会員番号",
      "--column",
      "amount=金額",
      "--column",
      "gift_card_name=キャンペーン名",
      "--group-id",
      GROUP,
      "--start-at",
      "2094-04-01",
      "--end-at",
      "2094-04-30",
      "--out",
      out,
    );
    const result = await runCli(args);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      sim
        .ledger()
        .map((e) => e.giftCardName)
        .sort(),
      ["春のありがとう①", "春のありがとう①", "母の日ギフト"],
    );
    const rows = await readResult(out);
    assert.deepEqual(
      rows.map((r) => [r.会員番号, r.氏名]),
      [
        ["K-001", "山田 太郎"],
        ["K-002", "髙橋 花子"],
        ["K-003", "斎藤 ｼﾞﾛｳ"],
      ],
    );
    assertLedgerMatchesResult(sim, rows, 3);
    const plan = await runCli(["plan", input, ...args.slice(2)]);
    assert.match(plan.stdout, /\(Shift_JIS \(CP932\)\)/);
  });

  test("a UTF-8 BOM never leaks into the first header name; quoted newlines survive", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await fixture(dir, "members-utf8-bom.csv");
    const out = join(dir, "out.csv");
    const result = await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out));
    assert.equal(result.code, 0, result.stderr);
    const text = await readFile(out, "utf8");
    assert.ok(text.startsWith("recipient_id,amount,memo,request_id"), JSON.stringify(text.slice(0, 40)));
    assert.deepEqual(
      (await readResult(out)).map((r) => r.memo),
      ["ボム付き", "改行\nあり"],
    );
  });

  test("bytes that are not valid UTF-8 (forced) are a validation error naming row and column; nothing sent", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = join(dir, "broken.csv");
    await writeFile(input, Buffer.concat([Buffer.from("recipient_id,amount,memo\nA,100,ok\nB,100,"), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from("\n")]));
    const result = await runCli(issueArgs(input, sim, ...campaignFlags(), "--encoding", "utf-8"));
    assert.equal(result.code, 2);
    assert.match(result.stderr, /row 3, column memo, value ".*": contains bytes that are not valid UTF-8/);
    assert.equal(sim.stats().requests, 0);
  });

  test("--excel neutralizes formula cells and writes BOM + CRLF; the default stays plain UTF-8", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await fixture(dir, "formula-injection.csv");
    const plain = join(dir, "plain.csv");
    const excel = join(dir, "excel.csv");
    assert.equal((await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", plain, "--state", join(dir, "s")))).code, 0);
    assert.equal((await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", excel, "--state", join(dir, "s"), "--excel"))).code, 0);
    const plainText = await readFile(plain, "utf8");
    assert.ok(!plainText.startsWith("\uFEFF") && !plainText.includes("\r\n"));
    assert.deepEqual(
      (await readResult(plain)).map((r) => [r.gift_card_name, r.memo]),
      [
        ["=1+1", '=HYPERLINK("http://evil.example","click")'],
        ["+81 thanks", "@SUM(A1:A2)"],
        ["-spring-", "\ttabbed"],
        ["normal", "plain"],
      ],
    );
    const excelText = await readFile(excel, "utf8");
    assert.ok(excelText.startsWith("\uFEFFrecipient_id,"));
    assert.equal(excelText.split("\r\n").length - 1, 5, "every record ends with CRLF");
    const rows = await readResult(excel);
    assert.deepEqual(
      rows.map((r) => [r["\uFEFFrecipient_id"] ?? r.recipient_id, r.gift_card_name, r.memo]),
      [
        ["F-1", "'=1+1", `'=HYPERLINK("http://evil.example","click")`],
        ["F-2", "'+81 thanks", "'@SUM(A1:A2)"],
        ["F-3", "'-spring-", "'\ttabbed"],
        ["F-4", "normal", "plain"],
      ],
    );
    assert.ok(rows.every((r) => r.status === "issued"));
    // What reached PayPay is the name as written, not the neutralized cell.
    assert.deepEqual(
      sim
        .ledger()
        .map((e) => e.giftCardName)
        .sort(),
      ["+81 thanks", "-spring-", "=1+1", "normal"],
    );
  });
});

describe("config file, flags and help", () => {
  test("unknown config keys and credentials in a config file are refused by name", async () => {
    const dir = await tempDir();
    const input = await writeText(dir, "in.csv", recipientsCsv(1));
    const typo = await writeText(dir, "typo.json", `{"campaign":"c","concurency":4}`);
    const result = await runCli(["plan", input, "--config", typo]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown key "concurency" \(did you mean "concurrency"\?\)/);
    const secret = await writeText(dir, "secret.json", `{"campaign":"c","apiSecret":"s3cr3t-value"}`);
    const refused = await runCli(["plan", input, "--config", secret]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /"apiSecret" must not be in a file/);
    assert.doesNotMatch(refused.stderr, /s3cr3t-value/);
  });

  test("flags override the config file", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await writeText(dir, "in.csv", "recipient_id\nA\n");
    const config = await writeText(
      dir,
      "c.json",
      `{"campaign":"c","groupId":${GROUP},"name":"from file","value":100,"startAt":"2094-04-01","endAt":"2094-04-30"}`,
    );
    assert.equal((await runCli(issueArgs(input, sim, "--config", config, "--value", "700", "--out", join(dir, "o.csv")))).code, 0);
    assert.deepEqual(
      sim.ledger().map((e) => [e.groupId, e.giftCardName, e.giftCardValue]),
      [[GROUP, "from file", 700]],
    );
  });

  test("an unknown flag is refused with the closest valid one suggested; bad values say what was expected", async () => {
    const misspelt = await runCli(["issue", "x.csv", "--campain", "c"]);
    assert.equal(misspelt.code, 2);
    assert.match(misspelt.stderr, /Unknown argument: campain \(did you mean --campaign\?\)/);
    const bad = await runCli(["issue", "x.csv", "--campaign", "c", "--concurrency", "0"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Expected --concurrency to be an integer from 1 to 1024, got "0"/);
  });

  test("every command's --help has examples", async () => {
    for (const command of ["issue", "plan", "budget", "status", "export", "simulator"]) {
      const help = await runCli([command, "--help"]);
      assert.equal(help.code, 0, command);
      assert.match(help.stdout, /Examples:\n {2}points-code-batch /, command);
    }
  });
});
