import assert from "node:assert/strict";
import { createServer } from "node:net";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { parse } from "csv-parse/sync";
import { runCli, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, GROUP, readResult, recipientsCsv } from "./support/csv.js";
import { exists, fileMode, issueArgs } from "./support/job.js";
import { startSimulator } from "./support/simulator.js";
import { CONFIG_KEYS } from "../src/cli/config-file.js";

/** Issue 12: what a new user ran into, each point through the built CLI. */

const SAMPLES = resolve(import.meta.dirname, "../samples");
const FIXTURES = resolve(import.meta.dirname, "fixtures");
/** Today, pinned for the child (see src/cli/today.ts). */
const TODAY = { POINTS_CODE_BATCH_TODAY: "2094-03-15" };

function rows(count: number, line: (i: number) => string, header: string): string {
  return `${[header, ...Array.from({ length: count }, (_, i) => line(i + 1))].join("\n")}\n`;
}

const lineCount = (text: string): number => text.trimEnd().split("\n").length;

describe("errors grouped and capped", () => {
  test("a header without recipient_id is one problem: the headers found, the --column to use, no per-row lines", async () => {
    const dir = await tempDir();
    const config = join(dir, "campaign.json");
    await copyFile(join(SAMPLES, "campaign.json"), config);
    const input = await writeText(
      dir,
      "members.csv",
      rows(300, (i) => `M-${i},500,m${i}@example.com`, "member_no,amount,email"),
    );
    const result = await runCli(["issue", input, "--config", config]);
    assert.equal(result.code, 2, result.stderr);
    assert.ok(lineCount(result.stderr) <= 4, result.stderr);
    assert.match(result.stderr, /header is not usable/);
    assert.match(result.stderr, /headers found: "member_no", "amount", "email"/);
    assert.match(result.stderr, /--column recipient_id=member_no/);
    assert.doesNotMatch(result.stderr, /row 2\b|rows 2/);

    const cased = await writeText(
      dir,
      "cased.csv",
      rows(3, (i) => `M-${i},500`, "Recipient_ID,amount"),
    );
    const plan = await runCli(["plan", cased, "--config", config]);
    assert.equal(plan.code, 2);
    // plan names what refuses the run where issue does: on stderr, after the plan on stdout.
    assert.match(plan.stderr, /did you mean "Recipient_ID"\? map it with --column recipient_id=Recipient_ID/);
    assert.doesNotMatch(plan.stdout + plan.stderr, /row 2/);
  });

  test("a flag that would make every row invalid is one flag error", async () => {
    const dir = await tempDir();
    const input = await writeText(dir, "in.csv", recipientsCsv(299));
    const flags = ["--campaign", "c", "--name", "n", "--group-id", GROUP, "--start-at", "2094-04-01", "--end-at", "2094-03-01"];
    const result = await runCli(["issue", input, ...flags], { env: TODAY });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^points-code-batch: Expected --end-at to be on or after --start-at \(2094-04-01\), got "2094-03-01"$/m);
    assert.ok(lineCount(result.stderr) <= 2, result.stderr);
    const longName = await runCli(["plan", input, ...flags.slice(0, 2), "--name", "あ".repeat(41), ...flags.slice(4, 8), "--end-at", "2094-06-30"], {
      env: TODAY,
    });
    assert.equal(longName.code, 2);
    assert.match(longName.stderr, /Expected --name to be 1 to 40 characters/);
    assert.doesNotMatch(longName.stdout + longName.stderr, /row 2/);
  });

  test("the same problem on many rows is one line with row ranges; a long list is capped and --problems-csv writes all of it (0600)", async () => {
    const dir = await tempDir();
    const same = await writeText(
      dir,
      "same.csv",
      rows(300, (i) => `R-${i},1e3`, "recipient_id,amount"),
    );
    const grouped = await runCli(["plan", same, ...campaignFlags()], { env: TODAY });
    assert.equal(grouped.code, 2);
    assert.match(grouped.stderr, /rows 2–301 \(300 rows\), column amount, value "1e3": must be a whole number of yen/);
    assert.ok(lineCount(grouped.stderr) <= 3, grouped.stderr);

    // 80 different problems (each a different duplicate) plus scattered rows of one kind.
    const lines = ["recipient_id,amount"];
    for (let i = 1; i <= 80; i++) lines.push(`D-${i},100`, `D-${i},100`);
    for (let i = 1; i <= 20; i++) lines.push(`B-${i},${i % 2 === 0 ? "0x10" : "100"}`);
    const many = await writeText(dir, "many.csv", `${lines.join("\n")}\n`);
    const capped = await runCli(["issue", many, ...campaignFlags()], { env: TODAY });
    assert.equal(capped.code, 2);
    assert.ok(lineCount(capped.stderr) <= 40, `${lineCount(capped.stderr)} lines:\n${capped.stderr}`);
    assert.match(capped.stderr, /more kind\(s\) of problem; pass --problems-csv <file> to write every problem/);

    const problems = join(dir, "problems.csv");
    const written = await runCli(["issue", many, ...campaignFlags(), "--problems-csv", problems], { env: TODAY });
    assert.equal(written.code, 2);
    assert.match(written.stderr, new RegExp(`every problem \\(row, column, value, rule\\) is in ${problems.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    assert.equal(await fileMode(problems), 0o600);
    const listed = parse(await readFile(problems, "utf8"), { columns: true }) as Array<Record<string, string>>;
    assert.equal(listed.length, 90);
    assert.deepEqual(Object.keys(listed[0]!), ["row", "column", "value", "rule"]);
    assert.deepEqual(
      listed.find((p) => p.value === "D-80"),
      { row: "161", column: "recipient_id", value: "D-80", rule: "duplicates row 160; each recipient may appear once" },
    );
    assert.equal(listed.filter((p) => p.value === "0x10").length, 10);
  });
});

describe("the result file and the input from Excel", () => {
  test("a Shift_JIS input gives a UTF-8 result with a BOM, without formula quoting; the summary says so", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = join(dir, "members.csv");
    await copyFile(join(FIXTURES, "members-shift_jis.csv"), input);
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
    const result = await runCli(args, { env: TODAY });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /result: .*out\.csv \(UTF-8 with BOM \(the input was Shift_JIS; Excel opens it as is\)\)/);
    const bytes = await readFile(out);
    assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    assert.ok(!bytes.includes(Buffer.from("\r\n")), "line ends stay LF without --excel");
    assert.deepEqual(
      (await readResult(out)).map((r) => r.氏名),
      ["山田 太郎", "髙橋 花子", "斎藤 ｼﾞﾛｳ"],
    );

    const utf8 = await writeText(dir, "plain.csv", recipientsCsv(2));
    const plain = await runCli(issueArgs(utf8, sim, ...campaignFlags(), "--out", join(dir, "plain.out.csv")), { env: TODAY });
    assert.match(plain.stdout, /result: .*plain\.out\.csv \(UTF-8\)$/m);
    assert.notEqual((await readFile(join(dir, "plain.out.csv")))[0], 0xef);
  });

  test("rows of empty cells (Excel's ,,,) are skipped like blank lines and counted in the summary", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await writeText(dir, "in.csv", `${recipientsCsv(3)},,\n\n,,\n"",,""\n`);
    const out = join(dir, "out.csv");
    const result = await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out), { env: TODAY });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /3 rows — 3 issued, 0 failed, 0 pending\n {2}skipped 3 empty row\(s\)/);
    assert.equal((await readResult(out)).length, 3);
    const plan = await runCli(["plan", input, "--base-url", sim.baseUrl, ...campaignFlags()], { env: TODAY });
    assert.match(plan.stdout, /3 row\(s\) \(skipped 3 empty row\(s\)\)/);
  });
});

describe("config keys are the flags' names", () => {
  test("every flag of issue (and plan) is a config key under its camelCase name", async () => {
    const help = await runCli(["issue", "--help"]);
    const flags = new Set([...help.stdout.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]!));
    for (const notAKey of ["help", "version", "config"]) assert.ok(flags.delete(notAKey), notAKey);
    const camel = [...flags].map((flag) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())).sort();
    assert.ok(camel.includes("column") && camel.includes("problemsCsv") && camel.length > 25, camel.join());
    assert.deepEqual(camel, [...CONFIG_KEYS].filter((k) => k !== "columns").sort());
  });

  test("column works as a list and as an object; columns stays as an alias; a bad shape says what is expected", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await writeText(
      dir,
      "m.csv",
      rows(2, (i) => `M-${i},300`, "member_no,yen"),
    );
    const base = { campaign: "keys", groupId: GROUP, name: "n", startAt: "2094-04-01", endAt: "2094-06-30" };
    const forms: Array<[string, unknown]> = [
      ["column", ["recipient_id=member_no", "amount=yen"]],
      ["column", { recipient_id: "member_no", amount: "yen" }],
      ["columns", ["recipient_id=member_no", "amount=yen"]],
      ["columns", { recipient_id: "member_no", amount: "yen" }],
    ];
    for (const [i, [key, value]] of forms.entries()) {
      const config = await writeText(dir, `c${i}.json`, JSON.stringify({ ...base, [key]: value, concurrency: 2, maxAttempts: 3, logLevel: "warn" }));
      const result = await runCli(issueArgs(input, sim, "--config", config, "--out", join(dir, `o${i}.csv`)), { env: TODAY });
      assert.equal(result.code, 0, `${key} ${JSON.stringify(value)}: ${result.stderr}`);
      assert.match(result.stdout, /2 rows — 2 issued/);
    }
    assert.equal(sim.ledger().length, 2, "the same requestIds each time: issued once");
    const bad = await writeText(dir, "bad.json", JSON.stringify({ ...base, column: 5 }));
    const refused = await runCli(["plan", input, "--config", bad], { env: TODAY });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /Expected "column" in the config file to be a list like \["recipient_id=member_no"\] or an object/);
  });
});

describe("past dates", () => {
  test("an end date before today (Asia/Tokyo) is refused from a row or a flag; a past start date is one warning", async () => {
    const MAY_15 = { POINTS_CODE_BATCH_TODAY: "2094-05-15" };
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await writeText(
      dir,
      "in.csv",
      rows(3, (i) => `P-${i},100,2094-04-01,${i === 2 ? "2094-05-14" : "2094-05-15"}`, "recipient_id,amount,start_at,end_at"),
    );
    const flags = ["--campaign", "dates", "--name", "n", "--group-id", GROUP];
    const refused = await runCli(issueArgs(input, sim, ...flags), { env: MAY_15 });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /row 3, column end_at, value "2094-05-14": is in the past \(today is 2094-05-15 in Asia\/Tokyo\)/);
    assert.equal(sim.stats().createRequests, 0);

    const flag = await runCli(["plan", input, ...flags, "--end-at", "2094-05-14"], { env: MAY_15 });
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /Expected --end-at to be today \(2094-05-15, Asia\/Tokyo\) or later, got "2094-05-14"/);

    const ok = await writeText(
      dir,
      "ok.csv",
      rows(5, (i) => `Q-${i},100`, "recipient_id,amount"),
    );
    const log = join(dir, "run.log");
    const issued = await runCli(issueArgs(ok, sim, ...flags, "--start-at", "2094-04-01", "--end-at", "2094-05-15", "--log-file", log), { env: MAY_15 });
    assert.equal(issued.code, 0, issued.stderr);
    const warnings = (await readFile(log, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((l) => /before today/.test(l.msg));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0].msg, /start_at 2094-04-01 is before today \(2094-05-15, Asia\/Tokyo\)/);
    const plan = await runCli(["plan", ok, "--base-url", sim.baseUrl, ...flags, "--start-at", "2094-04-01", "--end-at", "2094-05-15"], { env: MAY_15 });
    assert.match(plan.stdout, /start_at 2094-04-01 is before today/);
  });
});

describe("network errors name the target", () => {
  test("budget and issue name origin, path and what was being done; budget does not talk about issuing", async () => {
    const port = await closedPort();
    const budget = await runCli(["budget", "--base-url", `http://127.0.0.1:${port}`]);
    assert.equal(budget.code, 4);
    assert.match(
      budget.stderr,
      new RegExp(`reading group budgets from http://127\\.0\\.0\\.1:${port}/v1/points_code/budget: connection refused \\(ECONNREFUSED\\)`),
    );
    assert.doesNotMatch(budget.stderr, /issued|issuing/);

    const dir = await tempDir();
    const input = await writeText(dir, "in.csv", recipientsCsv(2));
    const issue = await runCli(["issue", input, "--base-url", `http://127.0.0.1:${port}/prefix`, ...campaignFlags()], { env: TODAY });
    assert.equal(issue.code, 4);
    assert.match(issue.stderr, new RegExp(`reading group budgets from http://127\\.0\\.0\\.1:${port}/prefix/v1/points_code/budget: connection refused`));
  });
});

describe("smaller points", () => {
  test("a missing --campaign says required", async () => {
    const dir = await tempDir();
    const input = await writeText(dir, "in.csv", recipientsCsv(1));
    const result = await runCli(["plan", input]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--campaign is required: expected 1 to 64 letters/);
    assert.doesNotMatch(result.stderr, /undefined/);
  });

  test("1,000 and ５００ are refused with a hint naming the separator or the full-width digits", async () => {
    const dir = await tempDir();
    const input = await writeText(dir, "in.csv", 'recipient_id,amount\nA,"1,000"\nB,５００\nC,1e3\n');
    const result = await runCli(["plan", input, ...campaignFlags()], { env: TODAY });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /row 2, column amount, value "1,000": .*digits only \(it has a thousands separator ","; write "1000"/);
    assert.match(
      result.stderr,
      /row 3, column amount, value "５００": .*digits only \(it is written with full-width digits; type ASCII digits 0-9, e\.g\. "500"\)/,
    );
    assert.match(result.stderr, /row 4, column amount, value "1e3": must be a whole number of yen from 1 to 999999, digits only$/m);
  });

  test("export writes to the result path the run recorded when --out is not given", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const input = await writeText(dir, "in.csv", recipientsCsv(4));
    const out = join(dir, "kept.csv");
    assert.equal((await runCli(issueArgs(input, sim, ...campaignFlags(), "--out", out), { env: TODAY })).code, 0);
    const original = await readFile(out);
    await writeFile(out, "");
    const exported = await runCli(["export", join(dir, "kept.checkpoint")]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /^wrote .*kept\.csv: 4 row\(s\) — 4 issued, 0 failed, 0 pending$/m);
    assert.deepEqual(await readFile(out), original);
    assert.ok(await exists(out));
  });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as { port: number }).port;
  await new Promise((done) => server.close(done));
  return port;
}
