import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { get as httpsGet } from "node:https";
import { join } from "node:path";
import { describe, test } from "node:test";
import iconv from "iconv-lite";
import { ConsoleClient, ALICE, BOB, CAROL, startAccountsConsole, startConsole, TODAY, writeAccounts } from "./support/console.js";
import { spawn } from "node:child_process";
import { verifyPassword } from "../src/console/passwords.js";
import { CLI, collect, runCli, tempDir } from "./support/cli.js";
import { GROUP, readResult, recipientsCsv } from "./support/csv.js";
import { assertLedgerMatchesResult, fileMode, readAllFiles } from "./support/job.js";
import { startSimulator } from "./support/simulator.js";

/**
 * The console over real HTTP: the built CLI's `console` as a child process on port 0, the simulator
 * in this process. Every refusal is checked against the simulator's ledger (nothing sent) and the
 * files (nothing created), and each has a control that goes through, so the refusal is the guard's.
 */

const FIELDS = { groupId: GROUP, name: "Console test", startAt: "2094-04-01", endAt: "2094-06-30" };

async function newCampaign(client: ConsoleClient, id: string, csv: string): Promise<Response> {
  await client.page("/new");
  return client.upload("/campaigns", { id, ...FIELDS }, { name: `${id}.csv`, bytes: csv });
}

/** The plan digest the campaign page shows, as the approver sees it. */
async function digestOf(client: ConsoleClient, id: string): Promise<string> {
  const { html } = await client.page(`/campaigns/${id}`);
  const digest = /data-testid="digest">([0-9a-f]{64})</.exec(html)?.[1];
  assert.ok(digest, `campaign ${id} shows a plan digest:\n${html.slice(0, 3000)}`);
  return digest;
}

async function campaignEnded(client: ConsoleClient, id: string): Promise<string> {
  let html = "";
  const deadline = Date.now() + 60_000;
  while (!/data-testid="run-ended" data-exit="\d+"/.test(html)) {
    assert.ok(Date.now() < deadline, `campaign ${id} did not end:\n${html}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    html = (await client.page(`/campaigns/${id}`)).html;
  }
  return html;
}

describe("console over HTTP", () => {
  test("unauthenticated requests are sent to sign in or refused, and create nothing", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const server = await startAccountsConsole(dir, sim);
    const anonymous = new ConsoleClient(server.url);
    const home = await anonymous.request("/");
    assert.equal(home.status, 303);
    assert.equal(home.headers.get("location"), "/login");
    for (const path of ["/new", "/campaigns/spring", "/campaigns/spring/results.csv", "/campaigns/spring/events"]) {
      const response = await anonymous.request(path, { headers: { Accept: "*/*" } });
      assert.equal(response.status, 401, path);
    }
    await anonymous.page("/login");
    const post = await anonymous.upload("/campaigns", { id: "spring", ...FIELDS }, { name: "a.csv", bytes: recipientsCsv(3) });
    assert.equal(post.status, 401);
    const bad = await anonymous.post("/login", { user: ALICE.name, password: "wrong" });
    assert.equal(bad.status, 401);
    assert.deepEqual(await readdir(join(dir, "console")).then((n) => n.filter((x) => x !== "uploads" && x !== "console.audit.jsonl")), []);
    // The control: the same upload signed in goes through.
    const alice = new ConsoleClient(server.url);
    await alice.signIn(ALICE);
    assert.equal((await newCampaign(alice, "spring", recipientsCsv(3))).status, 303);
    assert.equal(sim.stats().createRequests, 0);
  });

  test("an identity header is believed from a configured proxy address only", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const accounts = await writeAccounts(dir);
    const trusted = await startConsole(join(dir, "a"), sim, ["--auth", "proxy", "--accounts", accounts, "--trusted-proxy", "127.0.0.1"]);
    const elsewhere = await startConsole(join(dir, "b"), sim, ["--auth", "proxy", "--accounts", accounts, "--trusted-proxy", "10.20.30.40"]);
    const asBob = { "X-Forwarded-User": BOB.name };
    const ok = await new ConsoleClient(trusted.url, asBob).page("/");
    assert.equal(ok.status, 200);
    assert.match(ok.html, /data-testid="user">bob</);
    const forged = await new ConsoleClient(elsewhere.url, asBob).request("/");
    assert.equal(forged.status, 403);
    assert.match(await forged.text(), /not one of the configured proxy addresses/);
    // From the proxy, a user the accounts file does not name has no role.
    const stranger = await new ConsoleClient(trusted.url, { "X-Forwarded-User": "mallory" }).request("/");
    assert.equal(stranger.status, 403);
  });

  test("a cross-site POST and a POST without the CSRF token are refused; nothing is approved or sent", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const server = await startAccountsConsole(dir, sim);
    const alice = new ConsoleClient(server.url);
    await alice.signIn(ALICE);
    assert.equal((await newCampaign(alice, "spring", recipientsCsv(4))).status, 303);
    const bob = new ConsoleClient(server.url);
    await bob.signIn(BOB);
    const digest = await digestOf(bob, "spring");
    const form = { digest, confirm: "spring" };
    const crossSite = await bob.post("/campaigns/spring/approve", form, { origin: "https://evil.example" });
    assert.equal(crossSite.status, 403);
    assert.match(await crossSite.text(), /cross-site/);
    const noOrigin = await bob.post("/campaigns/spring/approve", form, { origin: null });
    assert.equal(noOrigin.status, 403);
    const noToken = await bob.post("/campaigns/spring/approve", form, { csrf: null });
    assert.equal(noToken.status, 403);
    const otherToken = await bob.post("/campaigns/spring/approve", form, { csrf: alice.csrf });
    assert.equal(otherToken.status, 403);
    assert.equal(sim.stats().createRequests, 0);
    const cookie = (await new ConsoleClient(server.url).request("/login")).headers.get("set-cookie") ?? "";
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    // The control: the same form from the page's origin with its token approves and issues.
    assert.equal((await bob.post("/campaigns/spring/approve", form)).status, 303);
    await campaignEnded(bob, "spring");
    assert.equal(sim.ledger().length, 4);
  });

  test("an oversize upload is refused and leaves no file behind", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const server = await startAccountsConsole(dir, sim, ["--max-upload-bytes", "4096"]);
    const alice = new ConsoleClient(server.url);
    await alice.signIn(ALICE);
    const big = recipientsCsv(200);
    assert.ok(big.length > 4096);
    const refused = await newCampaign(alice, "big", big);
    assert.equal(refused.status, 413);
    assert.deepEqual(await readdir(join(dir, "console", "uploads")), []);
    assert.equal(await stat(join(dir, "console", "campaigns", "big")).catch(() => "absent"), "absent");
    assert.equal((await newCampaign(alice, "small", recipientsCsv(20))).status, 303);
  });

  test("a path-traversal campaign id reaches no file", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const server = await startAccountsConsole(dir, sim);
    const alice = new ConsoleClient(server.url);
    await alice.signIn(ALICE);
    for (const path of [
      "/campaigns/..%2F..%2Fetc%2Fpasswd",
      "/campaigns/%2e%2e",
      "/campaigns/../../accounts.json",
      "/campaigns/..%2F..%2Faccounts.json/results.csv",
      "/campaigns/.hidden",
    ]) {
      const response = await alice.raw(path);
      assert.equal(response.status, 404, path);
      assert.doesNotMatch(response.body, /root:|scrypt/);
    }
    for (const id of ["../escape", "../../escape"]) {
      const created = await newCampaign(alice, id, recipientsCsv(2));
      assert.equal(created.status, 400, id);
    }
    const everything = await readdir(dir, { recursive: true });
    assert.deepEqual(
      everything.filter((n) => n.includes("escape")),
      [],
    );
    // The control: a plain id makes its folder where campaigns live.
    assert.equal((await newCampaign(alice, "escape", recipientsCsv(2))).status, 303);
    assert.deepEqual(
      (await readdir(dir, { recursive: true })).filter((n) => n.includes("escape") && !n.includes(`${join("campaigns", "escape")}/`)),
      [join("console", "campaigns", "escape")],
    );
  });

  test("four eyes: a preparer cannot approve their own campaign over the limit; another approver can, and status shows the audit", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    // 5 rows of 100..104 yen: ¥510, over a limit of ¥500.
    const server = await startAccountsConsole(dir, sim, ["--approval-limit", "500"]);
    const carol = new ConsoleClient(server.url);
    await carol.signIn(CAROL);
    const csv = recipientsCsv(5, { amount: (i) => 100 + i - 1 });
    assert.equal((await newCampaign(carol, "autumn", csv)).status, 303);
    const digest = await digestOf(carol, "autumn");
    const own = await carol.post("/campaigns/autumn/approve", { digest, confirm: "autumn" });
    assert.equal(own.status, 403);
    assert.match(await own.text(), /someone other than its preparer/);
    assert.equal(sim.stats().createRequests, 0);

    // A stale digest (the plan as it was before a new file) is refused too.
    await carol.page("/campaigns/autumn");
    assert.equal((await carol.upload("/campaigns/autumn/input", {}, { name: "v2.csv", bytes: recipientsCsv(6, { amount: (i) => 100 + i - 1 }) })).status, 303);
    const bob = new ConsoleClient(server.url);
    await bob.signIn(BOB);
    const stale = await bob.post("/campaigns/autumn/approve", { digest, confirm: "autumn" });
    assert.equal(stale.status, 409);
    assert.match(await stale.text(), /plan changed since you saw it/);
    const mistyped = await bob.post("/campaigns/autumn/approve", { digest: await digestOf(bob, "autumn"), confirm: "autum" });
    assert.equal(mistyped.status, 400);
    assert.equal(sim.stats().createRequests, 0);

    const fresh = await digestOf(bob, "autumn");
    assert.notEqual(fresh, digest);
    assert.equal((await bob.post("/campaigns/autumn/approve", { digest: fresh, confirm: "autumn" })).status, 303);
    await campaignEnded(bob, "autumn");
    const folder = join(dir, "console", "campaigns", "autumn");
    const rows = await readResult(join(folder, "results.csv"));
    assertLedgerMatchesResult(sim, rows, 6);
    for (const name of await readdir(folder)) assert.equal(await fileMode(join(folder, name)), 0o600, name);

    const status = await runCli(["status", join(folder, "checkpoint")], { env: TODAY });
    assert.equal(status.code, 0, status.stderr);
    const audit = status.stdout.slice(status.stdout.indexOf("audit ("));
    assert.match(audit, new RegExp(`carol approve-refused plan ${digest.slice(0, 12)}: .*someone other than its preparer`));
    assert.match(audit, new RegExp(`bob approve-refused plan ${digest.slice(0, 12)}: stale plan`));
    assert.match(audit, new RegExp(`bob approved plan ${fresh.slice(0, 12)}: may charge ¥615`));
    assert.match(audit, /console run-ended: exit 0: 6 issued, 0 failed, 0 pending/);
    const json = JSON.parse((await runCli(["status", join(folder, "checkpoint"), "--json"], { env: TODAY })).stdout) as {
      audit: { who: string; action: string }[];
    };
    assert.deepEqual(
      json.audit.map((a) => `${a.who} ${a.action}`),
      [
        "carol created",
        "carol checked",
        "carol approve-refused",
        "carol uploaded",
        "carol checked",
        "bob approve-refused",
        "bob approve-refused",
        "bob approved",
        "console run-ended",
      ],
    );
    for (const row of rows)
      assert.ok(!(await readFile(join(folder, "checkpoint.audit.jsonl"), "utf8")).includes(row.points_code ?? "-"), "no code in the audit log");
  });
});

describe("console: sign-in modes, options, encodings and refusals", () => {
  test("options are checked like the CLI's: Expected X, got Y; exit 2", async () => {
    const dir = await tempDir();
    const cases: [string[], RegExp][] = [
      [["console"], /--dir is required/],
      [["console", "--dir", dir, "--auth", "magic"], /Expected --auth to be one of token, accounts, proxy, got "magic"/],
      [["console", "--dir", dir, "--host", "0.0.0.0"], /Expected --host to be a loopback address with --auth token/],
      [["console", "--dir", dir, "--auth", "proxy", "--accounts", "x.json"], /--auth proxy needs --trusted-proxy/],
      [["console", "--dir", dir, "--approval-limit", "-1"], /Expected --approval-limit to be an integer from 0 to/],
      [["console", "--dir", dir, "--auth", "accounts", "--accounts", join(dir, "none.json")], /cannot read the accounts file/],
      [["console", "--dir", dir, "--bogus"], /Unknown argument: bogus/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args, { env: TODAY });
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, message);
    }
  });

  test("--hash-password prints an scrypt hash of the password on stdin that the accounts file accepts", async () => {
    const child = spawn(process.execPath, [CLI, "console", "--hash-password"], { stdio: ["pipe", "pipe", "pipe"] });
    child.stdin.end("correct horse\n");
    const run = await collect(child);
    assert.equal(run.code, 0, run.stderr);
    const hash = run.stdout.trim();
    assert.match(hash, /^scrypt:16384:8:1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    assert.equal(await verifyPassword("correct horse", hash), true);
    assert.equal(await verifyPassword("correct horse ", hash), false);
  });

  test("token mode: the printed token signs one operator in, once, on a loopback name only", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const server = await startConsole(dir, sim);
    assert.match(server.token ?? "", /^[A-Za-z0-9_-]{43}$/);
    const first = new ConsoleClient(server.url);
    await first.page("/login");
    assert.equal((await first.post("/login", { token: "not-the-token" })).status, 401);
    assert.equal((await first.post("/login", { token: server.token ?? "" })).status, 303);
    assert.match((await first.page("/")).html, /data-testid="user">operator</);
    const second = new ConsoleClient(server.url);
    await second.page("/login");
    assert.equal((await second.post("/login", { token: server.token ?? "" })).status, 401);
    // A page of another site under a name pointed at 127.0.0.1 (DNS rebinding) is not answered.
    const port = new URL(server.url).port;
    assert.equal((await first.raw("/", { Host: `rebind.example:${port}` })).status, 403);
    assert.equal((await first.raw("/", { Host: `localhost:${port}` })).status, 200);
  });

  test("over TLS (--tls-cert/--tls-key) the session cookie is Secure; over plain HTTP it is not", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const key = join(dir, "console.key");
    const cert = join(dir, "console.crt");
    const openssl = await collect(
      spawn("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"], {
        stdio: "pipe",
      }),
    );
    assert.equal(openssl.code, 0, openssl.stderr);
    const tls = await startConsole(join(dir, "tls"), sim, ["--tls-cert", cert, "--tls-key", key]);
    assert.match(tls.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const secureCookie = await new Promise<string>((resolve, reject) => {
      // The certificate is the test's own, self-signed: this client trusts exactly it.
      const req = httpsGet(`${tls.url}/login`, { ca: readFileSync(cert), servername: "localhost", checkServerIdentity: () => undefined }, (res) => {
        res.resume();
        resolve(String(res.headers["set-cookie"] ?? ""));
      });
      req.on("error", reject);
    });
    assert.match(secureCookie, /HttpOnly/);
    assert.match(secureCookie, /SameSite=Strict/);
    assert.match(secureCookie, /; Secure/);
    // The control: the same console over plain HTTP must not mark its cookie Secure (a browser would drop it).
    const plain = await startConsole(join(dir, "plain"), sim);
    const plainCookie = (await new ConsoleClient(plain.url).request("/login")).headers.get("set-cookie") ?? "";
    assert.match(plainCookie, /HttpOnly/);
    assert.doesNotMatch(plainCookie, /Secure/);
  });

  test("a Shift_JIS file is read as the CLI reads it, and its result opens in Excel (BOM)", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const server = await startAccountsConsole(dir, sim, ["--approval-limit", "100000"]);
    const carol = new ConsoleClient(server.url);
    await carol.signIn(CAROL);
    const csv = "recipient_id,amount,gift_card_name\nR-1,300,春のお礼\nR-2,400,夏のお礼\n";
    await carol.page("/new");
    const created = await carol.upload("/campaigns", { id: "sjis", ...FIELDS, name: "" }, { name: "sjis.csv", bytes: iconv.encode(csv, "Shift_JIS") });
    assert.equal(created.status, 303);
    const digest = await digestOf(carol, "sjis");
    assert.equal((await carol.post("/campaigns/sjis/approve", { digest, confirm: "sjis" })).status, 303);
    await campaignEnded(carol, "sjis");
    assert.deepEqual(
      sim
        .ledger()
        .map((e) => e.giftCardName)
        .sort(),
      ["夏のお礼", "春のお礼"],
    );
    const plain = Buffer.from(await (await carol.request("/campaigns/sjis/results.csv")).arrayBuffer());
    assert.equal(plain.subarray(0, 3).toString("hex"), "efbbbf");
    assert.match(plain.toString("utf8"), /R-1,300,春のお礼/);
  });

  test("a plan the budget cannot cover shows why and cannot be approved", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ groups: [{ groupId: GROUP, budget: 250, maxPeriodDays: 365, minAmount: 1 }] });
    const server = await startAccountsConsole(dir, sim);
    const alice = new ConsoleClient(server.url);
    await alice.signIn(ALICE);
    assert.equal((await newCampaign(alice, "short", recipientsCsv(5))).status, 303);
    const bob = new ConsoleClient(server.url);
    await bob.signIn(BOB);
    const { html } = await bob.page("/campaigns/short");
    assert.match(html, /data-testid="refusal"/);
    const refusal = /data-testid="refusal">([\s\S]*?)<\/div>/.exec(html)?.[1] ?? "";
    assert.equal([...refusal.matchAll(/short by ¥265/g)].length, 1, refusal);
    assert.doesNotMatch(html, /data-testid="approve"/);
    const digest = /data-testid="digest">([0-9a-f]{64})</.exec(html)?.[1] ?? "";
    const refused = await bob.post("/campaigns/short/approve", { digest, confirm: "short" });
    assert.equal(refused.status, 409);
    assert.equal(sim.stats().createRequests, 0);
    // The control: once the group is topped up, the same page offers approval.
    sim.setBudget(GROUP, 10_000);
    assert.match((await bob.page("/campaigns/short")).html, /data-testid="approve"/);
  });
});

describe("console: secrets", () => {
  test("the API secret reaches no page, download, asset, log or file; every file is 0600", async () => {
    const dir = await tempDir();
    const secret = `s3cr3t-${randomBytes(12).toString("hex")}`;
    const credentials = { apiKey: "console-key", apiSecret: secret, merchantId: "console-merchant" };
    const sim = await startSimulator({ credentials });
    const env = { PAYPAY_API_KEY: credentials.apiKey, PAYPAY_API_SECRET: secret, PAYPAY_MERCHANT_ID: credentials.merchantId };
    const server = await startAccountsConsole(dir, sim, ["--approval-limit", "100000"], env);
    const carol = new ConsoleClient(server.url);
    await carol.signIn(CAROL);
    assert.equal((await newCampaign(carol, "secret", recipientsCsv(5))).status, 303);
    const seen: string[] = [];
    const digest = await digestOf(carol, "secret");
    assert.equal((await carol.post("/campaigns/secret/approve", { digest, confirm: "secret" })).status, 303);
    seen.push(await campaignEnded(carol, "secret"));
    assert.equal(sim.ledger().length, 5);
    for (const path of [
      "/",
      "/new",
      "/campaigns/secret",
      "/campaigns/secret/results.csv",
      "/campaigns/secret/results.csv?format=excel",
      "/assets/console.js",
      "/assets/console.css",
    ]) {
      const response = await carol.request(path);
      assert.equal(response.status, 200, path);
      seen.push(JSON.stringify([...response.headers]), await response.text());
    }
    seen.push(server.stdout(), server.stderr());
    const files = await readAllFiles(join(dir, "console"));
    assert.ok(files.length >= 8, files.map((f) => f.path).join(", "));
    for (const text of seen) assert.ok(!text.includes(secret), "the secret in a page or header");
    const codes = sim.ledger().map((e) => e.code);
    for (const file of files) {
      assert.ok(!file.text.includes(secret), `the secret in ${file.path}`);
      assert.equal(await fileMode(file.path), 0o600, file.path);
      // Codes live in the result files and the checkpoint only: never in a log, the audit or metadata.
      if (/results(-excel)?\.csv$|checkpoint$/.test(file.path)) continue;
      for (const code of codes) assert.ok(!file.text.includes(code), `a code in ${file.path}`);
    }
    assert.ok(files.some((f) => f.path.endsWith("run.log")) && files.some((f) => f.path.endsWith("checkpoint.audit.jsonl")));
  });
});
