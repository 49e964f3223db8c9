import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parse } from "csv-parse/sync";
import type { Browser, BrowserContext, Page } from "playwright-core";
import type { Simulator } from "../src/simulator/index.js";
import { browserMissing, launchBrowser } from "./support/browser.js";
import { tempDir } from "./support/cli.js";
import { ALICE, BOB, startAccountsConsole } from "./support/console.js";
import { GROUP, type ResultRow, recipientsCsv } from "./support/csv.js";
import { assertLedgerMatchesResult, waitFor } from "./support/job.js";
import { startSimulator } from "./support/simulator.js";

/**
 * The console in a real browser (Debian's Chromium through playwright-core): two people, the whole
 * path from a bad file to a downloaded result that matches the simulator's ledger; Stop and Resume
 * mid-run; the Japanese UI. Skipped with one line when Chromium is missing, unless CI=true.
 */

const missing = browserMissing();
if (missing) process.stdout.write(`# console-browser: ${missing}\n`);

interface Person {
  context: BrowserContext;
  page: Page;
  /** Every URL the page asked for, and every CSP complaint: codes must never be in a URL. */
  urls: string[];
  cspErrors: string[];
}

async function person(browser: Browser, url: string, user: { name: string; password: string }, locale = "en-US"): Promise<Person> {
  const context = await browser.newContext({ locale, acceptDownloads: true });
  const page = await context.newPage();
  const urls: string[] = [];
  const cspErrors: string[] = [];
  page.on("request", (r) => urls.push(r.url()));
  page.on("console", (m) => {
    if (m.type() === "error") cspErrors.push(m.text());
  });
  await page.goto(`${url}/login`);
  await page.fill("input[name=user]", user.name);
  await page.fill("input[name=password]", user.password);
  await page.click("button[type=submit]");
  await page.waitForSelector('[data-testid="user"]');
  return { context, page, urls, cspErrors };
}

async function createCampaign(p: Page, url: string, id: string, csv: string): Promise<void> {
  await p.goto(`${url}/new`);
  await p.fill("input[name=id]", id);
  await p.selectOption("select[name=groupId]", GROUP);
  await p.fill("input[name=name]", "Browser thanks");
  await p.fill("input[name=startAt]", "2094-04-01");
  await p.fill("input[name=endAt]", "2094-06-30");
  await p.setInputFiles("input[name=file]", { name: `${id}.csv`, mimeType: "text/csv", buffer: Buffer.from(csv) });
  await Promise.all([p.waitForURL(`${url}/campaigns/${id}`), p.click("#new-campaign button[type=submit]")]);
}

async function approve(p: Page, url: string, id: string): Promise<string> {
  await p.goto(`${url}/campaigns/${id}`);
  const digest = (await p.textContent('[data-testid="digest"]')) ?? "";
  assert.match(digest, /^[0-9a-f]{64}$/);
  await p.fill('[data-testid="confirm-id"]', id);
  await Promise.all([p.waitForURL(`${url}/campaigns/${id}`), p.click('[data-testid="approve-button"]')]);
  return digest;
}

/** The run's end as the page shows it once the events stream says so (the page reloads itself). */
async function runEnded(p: Page): Promise<string> {
  const ended = await p.waitForSelector('[data-testid="run-ended"][data-exit]:not([data-exit=""])', { timeout: 60_000 });
  return (await ended.getAttribute("data-exit")) ?? "";
}

async function download(p: Page, testId: string): Promise<Buffer> {
  const [file] = await Promise.all([p.waitForEvent("download"), p.click(`[data-testid="${testId}"]`)]);
  const path = await file.path();
  return readFile(path);
}

function rowsOf(bytes: Buffer): ResultRow[] {
  return parse(bytes.toString("utf8"), { columns: true, bom: true }) as ResultRow[];
}

function assertNoCodeIn(urls: readonly string[], sim: Simulator): void {
  assert.ok(urls.length > 0);
  const codes = sim.ledger().map((e) => e.code);
  assert.ok(codes.length > 0);
  for (const u of urls) for (const code of codes) assert.ok(!u.includes(code), `a code in the URL ${u}`);
}

describe("console in a browser", { skip: missing }, () => {
  test("preparer: bad file → problems → fixed file → plan; approver: approve → 100 % → the downloaded result matches the ledger", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const server = await startAccountsConsole(dir, sim);
    const browser = await launchBrowser();

    const alice = await person(browser, server.url, ALICE);
    const bad = `${recipientsCsv(12)
      .trimEnd()
      .split("\n")
      .map((line, i) => (i === 3 ? line.replace(/,\d+,/, ",12x,") : i === 7 ? line.replace(/,\d+,/, ",-5,") : line))
      .join("\n")}\nR-00001,100,dup@example.com\n`;
    await createCampaign(alice.page, server.url, "summer", bad);
    await alice.page.waitForSelector('[data-testid="problems"]');
    const problemRows = await alice.page.$$eval("#problems tbody tr", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
    assert.equal(problemRows.length, 3, JSON.stringify(problemRows));
    assert.deepEqual(
      problemRows.map((r) => `${r[0]} ${r[1]}`),
      ["4 amount", "8 amount", "14 recipient_id"],
    );
    // Filter by one rule: the page reloads with only its rows.
    const duplicateRule = problemRows[2]?.[3] ?? "";
    assert.match(duplicateRule, /duplicates row 2/);
    await Promise.all([alice.page.waitForURL(/rule=/), alice.page.selectOption("select[name=rule]", duplicateRule)]);
    assert.equal(await alice.page.locator("#problems tbody tr").count(), 1);
    assert.equal(await alice.page.locator('[data-testid="approve"]').count(), 0);

    await alice.page.setInputFiles(".upload input[name=file]", { name: "summer-fixed.csv", mimeType: "text/csv", buffer: Buffer.from(recipientsCsv(12)) });
    await Promise.all([alice.page.waitForURL(`${server.url}/campaigns/summer`), alice.page.click(".upload button[type=submit]")]);
    await alice.page.waitForSelector('[data-testid="plan"]');
    assert.equal(await alice.page.locator(`#plan tr[data-group="${GROUP}"]`).count(), 1);
    // Alice only prepares: no approve form for her.
    assert.match((await alice.page.textContent('[data-testid="approve-blocked"]')) ?? "", /Only an approver/);
    assert.equal(sim.stats().createRequests, 0);

    const bob = await person(browser, server.url, BOB);
    await approve(bob.page, server.url, "summer");
    assert.equal(await runEnded(bob.page), "0");
    assert.equal(await bob.page.textContent('[data-testid="percent"]'), "100 %");
    assert.equal(await bob.page.textContent('[data-testid="issued"]'), "12");
    const plain = await download(bob.page, "download-plain");
    const rows = rowsOf(plain);
    assert.equal(rows.length, 12);
    assertLedgerMatchesResult(sim, rows, 12);
    assert.deepEqual(await bob.page.$$eval("#results tbody tr td:nth-child(3)", (tds) => tds.map((td) => td.textContent)), Array(12).fill("issued"));
    const excel = await download(bob.page, "download-excel");
    assert.equal(excel.subarray(0, 3).toString("hex"), "efbbbf");
    assert.match(excel.toString("utf8"), /\r\n/);
    assertLedgerMatchesResult(sim, rowsOf(excel), 12);

    await bob.page.goto(server.url);
    const listed = await bob.page.textContent('tr[data-campaign="summer"]');
    assert.match(listed ?? "", /alice/);
    assert.match(listed ?? "", /bob/);
    assertNoCodeIn([...alice.urls, ...bob.urls], sim);
    assert.deepEqual([...alice.cspErrors, ...bob.cspErrors], []);
  });

  test("Stop mid-run takes no new rows (exit 130); Resume issues the rest, each row exactly once", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    // Paced at 4 rows a second, 40 rows take 10 s: the Stop below lands well inside the run.
    const server = await startAccountsConsole(dir, sim, ["--rate", "4", "--concurrency", "1"]);
    const browser = await launchBrowser();
    const alice = await person(browser, server.url, ALICE);
    await createCampaign(alice.page, server.url, "paced", recipientsCsv(40));
    const bob = await person(browser, server.url, BOB);
    await approve(bob.page, server.url, "paced");
    await waitFor(() => sim.ledger().length >= 3, 30_000, "three codes issued");
    await bob.page.click('[data-testid="stop"]');
    assert.equal(await runEnded(bob.page), "130");
    const stoppedAt = sim.ledger().length;
    assert.ok(stoppedAt < 40, `stopped after ${stoppedAt} of 40`);
    const partial = rowsOf(await download(bob.page, "download-plain"));
    assert.equal(partial.filter((r) => r.status === "issued").length, stoppedAt);
    assert.equal(partial.filter((r) => r.status === "pending").length, 40 - stoppedAt);
    assertLedgerMatchesResult(sim, partial, stoppedAt);

    await Promise.all([bob.page.waitForURL(`${server.url}/campaigns/paced`), bob.page.click('[data-testid="resume"]')]);
    assert.equal(await runEnded(bob.page), "0");
    const full = rowsOf(await download(bob.page, "download-plain"));
    assertLedgerMatchesResult(sim, full, 40);
    assert.equal(sim.stats().createRequests, 40);
    const audit = await readFile(join(dir, "console", "campaigns", "paced", "checkpoint.audit.jsonl"), "utf8");
    assert.deepEqual(
      audit
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { who: string; action: string }).action),
      ["created", "checked", "approved", "stopped", "run-ended", "downloaded", "resumed", "run-ended", "downloaded"],
    );
  });

  test("the UI follows the browser's language: Japanese", async () => {
    const dir = await tempDir();
    const sim = await startSimulator();
    const server = await startAccountsConsole(dir, sim);
    const browser = await launchBrowser();
    const alice = await person(browser, server.url, ALICE, "ja-JP");
    assert.equal(await alice.page.getAttribute("html", "lang"), "ja");
    assert.equal(await alice.page.textContent("h1"), "キャンペーン一覧");
    await createCampaign(alice.page, server.url, "fuyu", recipientsCsv(3));
    assert.match((await alice.page.textContent("#plan h2")) ?? "", /計画/);
    assert.match((await alice.page.textContent('[data-testid="approve-blocked"]')) ?? "", /承認できるのは承認者だけです/);
    const english = await person(browser, server.url, BOB);
    assert.equal(await english.page.textContent("h1"), "Campaigns");
  });
});
