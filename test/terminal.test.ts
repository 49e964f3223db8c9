import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import { CLI, childEnv, tempDir, writeText } from "./support/cli.js";
import { campaignFlags, recipientsCsv } from "./support/csv.js";
import { issueArgs, waitFor } from "./support/job.js";
import { startSimulator } from "./support/simulator.js";

/**
 * The progress bar and the logs on a real pseudo-terminal (`script`), against a simulator answering
 * 429 to a fifth of the requests: what a person sees is reconstructed from the bytes written.
 */

const TODAY = { POINTS_CODE_BATCH_TODAY: "2094-03-15" };

function startOnPty(args: string[]) {
  const command = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], { env: childEnv(TODAY), stdio: ["pipe", "pipe", "pipe"] });
  const out = { screen: "" };
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out.screen += c));
  const closed = new Promise<number | null>((done) => child.on("close", done));
  return { child, out, closed };
}

/**
 * The lines a terminal shows once every byte is drawn: carriage returns and "cursor to column"
 * move back, "erase line" sequences erase, colours and cursor visibility are ignored.
 */
export function visibleLines(screen: string): string[] {
  const lines: string[] = [];
  let line: string[] = [];
  let col = 0;
  for (const match of screen.matchAll(/\x1b\[([0-9;?]*)([A-Za-z])|\r|\n|[^\x1b\r\n]/gu)) {
    const [token, arg = "", command] = match;
    if (token === "\n") {
      lines.push(line.join(""));
      line = [];
      col = 0;
    } else if (token === "\r") col = 0;
    else if (command === "G") col = Math.max(0, Number(arg || "1") - 1);
    else if (command === "K") line = arg === "2" ? [] : arg === "1" ? line.map((c, i) => (i <= col ? " " : c)) : line.slice(0, col);
    else if (command === undefined) line[col++] = token;
  }
  lines.push(line.join(""));
  return lines.map((l) =>
    Array.from(l, (c) => c ?? " ")
      .join("")
      .trimEnd(),
  );
}

const BAR = /^issuing \[[^\]]*\] (\d+)\/(\d+) settled \| [\d.]+ req\/s \| ETA \S+ \| issued (\d+), failed (\d+), pending (\d+) \| retries (\d+)$/;
const LOG = /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR)/;

function assertNothingSharesTheBarsLine(lines: readonly string[]): void {
  for (const line of lines) {
    if (line.includes("issuing [")) assert.match(line, BAR, `the bar's line holds only the bar: ${JSON.stringify(line)}`);
    if (LOG.test(line)) assert.doesNotMatch(line, /issuing \[/, `a log line holds no bar: ${JSON.stringify(line)}`);
  }
}

describe("progress bar and logs on a terminal", () => {
  test("log lines go above the bar, never into it; routine 429s are one summary line, not a block each", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ faults: { rateLimit: 0.2 }, seed: 5, latencyMs: 10 });
    const input = await writeText(dir, "in.csv", recipientsCsv(120));
    const run = startOnPty(issueArgs(input, sim, ...campaignFlags(), "--out", join(dir, "o.csv"), "--concurrency", "8"));
    run.child.stdin.end();
    const code = await run.closed;
    const lines = visibleLines(run.out.screen);
    assert.equal(code, 0, lines.join("\n"));
    assert.ok(sim.stats().faultsInjected.rateLimit > 0, "the simulator answered 429");
    assertNothingSharesTheBarsLine(lines);
    const digests = lines.filter((l) => LOG.test(l) && /last \d+ s: \d+ retr(y|ies): 429 ×\d+/.test(l));
    assert.ok(digests.length >= 1, lines.join("\n"));
    const counted = digests.reduce((sum, l) => sum + Number(/: (\d+) retr/.exec(l)![1]), 0);
    assert.equal(counted, sim.stats().faultsInjected.rateLimit, "every 429 is counted once in the digests");
    assert.ok(!lines.some((l) => /attempt failed/.test(l)), "no line per routine retry");
    const summary = lines.findIndex((l) => /^campaign test-campaign: 120 rows — 120 issued, 0 failed, 0 pending$/.test(l));
    assert.ok(summary > 0, lines.join("\n"));
    const finalBar = BAR.exec(lines[summary - 1]!);
    assert.ok(finalBar, `the bar's last state sits right above the summary: ${lines[summary - 1]}`);
    assert.deepEqual(finalBar.slice(1, 6), ["120", "120", "120", "0", "0"]);
  });

  test("after Ctrl-C the summary starts on a clean line and its pending is the bar's pending", async () => {
    const dir = await tempDir();
    const sim = await startSimulator({ faults: { rateLimit: 0.2 }, seed: 9, latencyMs: 40 });
    const input = await writeText(dir, "in.csv", recipientsCsv(400));
    const run = startOnPty(issueArgs(input, sim, ...campaignFlags(), "--out", join(dir, "o.csv"), "--concurrency", "2"));
    await waitFor(() => Number(/(\d+)\/400 settled/.exec(run.out.screen.slice(-400))?.[1] ?? 0) >= 10, 60_000, "ten rows settled on the bar");
    run.child.stdin.write("\x03"); // what Ctrl-C sends; the terminal turns it into SIGINT
    const code = await run.closed;
    const lines = visibleLines(run.out.screen);
    assert.equal(code, 130, lines.join("\n"));
    assertNothingSharesTheBarsLine(lines);
    assert.ok(
      lines.some((l) => LOG.test(l) && /WARN.*stopping: no new rows/.test(l)),
      lines.join("\n"),
    );
    const summary = lines.findIndex((l) => l.startsWith("campaign test-campaign: "));
    assert.ok(summary > 0, lines.join("\n"));
    const counts = /^campaign test-campaign: 400 rows — (\d+) issued, (\d+) failed, (\d+) pending$/.exec(lines[summary]!);
    assert.ok(counts, `intact summary line: ${JSON.stringify(lines[summary])}`);
    assert.ok(lines.slice(summary).some((l) => /^ {2}interrupted: in-flight requests were finished and recorded$/.test(l)));
    const finalBar = BAR.exec(lines[summary - 1]!);
    assert.ok(finalBar, `the bar's last state sits right above the summary: ${lines[summary - 1]}`);
    assert.equal(finalBar[5], counts[3], "the bar's pending is the summary's pending");
    assert.equal(finalBar[3], counts[1]);
    assert.ok(Number(counts[3]) > 0);
  });
});
