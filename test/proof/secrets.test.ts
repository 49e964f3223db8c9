import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, mkdir, readFile, readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { childEnv, CLI, collect, runCli, tempDir, writeText, type CliResult } from "../support/cli.js";
import { startSimulator } from "../support/simulator.js";
import { exists, fileMode, issueArgs, readAllFiles } from "../support/job.js";
import { writeFigures } from "./support/figures.js";
import { checkExactlyOnce, formatViolations } from "./support/invariants.js";
import { campaignArgs, recipientsTable } from "./support/recipients.js";
import { replay, rngFor, subSeed } from "./support/seed.js";
import { DEFAULT_GROUP } from "../../src/simulator/index.js";

/**
 * Secrets and files. A random API secret, given to the simulator and to the CLI's environment, must
 * appear in zero bytes of stdout, stderr, the trace-level logs (file and stderr), the checkpoint and
 * the result (nor base64-, hex- or URL-encoded, nor any 12-character piece of it), across a run with
 * faults and retries and a run refused for a wrong secret. Result and checkpoint are mode 0600 even
 * under umask 000 and after someone loosened them. Plain http:// to a non-loopback host is refused
 * with exit 2 before any connection or DNS lookup is even attempted.
 */

const FILE = "test/proof/secrets.test.ts";
const NET_GUARD = resolve(import.meta.dirname, "support/net-guard.mjs");

function randomToken(random: () => number, length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  return Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
}

/** Every form in which a leaked secret could show up. */
function needlesOf(secret: string): string[] {
  const pieces: string[] = [];
  for (let i = 0; i + 12 <= secret.length; i++) pieces.push(secret.slice(i, i + 12));
  const bytes = Buffer.from(secret, "utf8");
  return [secret, bytes.toString("base64"), bytes.toString("base64url"), bytes.toString("hex"), encodeURIComponent(secret), JSON.stringify(secret), ...pieces];
}

function findLeaks(where: string, text: string, secret: string): string[] {
  return needlesOf(secret)
    .filter((needle) => text.includes(needle))
    .slice(0, 1)
    .map((needle) => `${where} contains ${needle === secret ? "the secret" : `a form of the secret (${JSON.stringify(needle)})`}`);
}

/** The CLI under `umask 000`, so only the tool's own modes stand between the files and the world. */
function runUnderUmask000(args: string[], env: Record<string, string>): Promise<CliResult> {
  const child = spawn("/bin/sh", ["-c", 'umask 000 && exec "$@"', "sh", process.execPath, CLI, ...args], {
    env: childEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  return collect(child, 120_000);
}

function runGuarded(args: string[], netLog: string): Promise<CliResult> {
  const child = spawn(process.execPath, ["--import", NET_GUARD, CLI, ...args], { env: childEnv({ PROOF_NET_LOG: netLog }), stdio: ["ignore", "pipe", "pipe"] });
  return collect(child, 60_000);
}

describe("secrets and files", () => {
  test("a random secret appears in zero bytes of output, logs, checkpoint and result, through faults and a refusal; files are 0600", {
    timeout: 240_000,
  }, async () => {
    const random = rngFor("secrets");
    const secret = `sk-${randomToken(random, 40)}`;
    const wrongSecret = `sk-${randomToken(random, 40)}`;
    const credentials = { apiKey: `proof-key-${randomToken(random, 8)}`, apiSecret: secret, merchantId: `proof-merchant-${randomToken(random, 6)}` };
    const env = { PAYPAY_API_KEY: credentials.apiKey, PAYPAY_API_SECRET: secret, PAYPAY_MERCHANT_ID: credentials.merchantId };
    const faults = { error500AfterCommit: 0.15, truncateAfterCommit: 0.1, resetAfterCommit: 0.1, rateLimit: 0.1, hangAfterCommit: 0.05 };
    const sim = await startSimulator({ credentials, faults, seed: subSeed("secrets-sim"), latencyMs: 1, jitterMs: 3 });
    const dir = await tempDir("pcb-proof-secrets-");
    const input = recipientsTable(60, rngFor("secrets-input"));
    const inputFile = await writeText(dir, "in.csv", input.text);
    const out = join(dir, "out", "in.results.csv");
    const state = join(dir, "state", "in.checkpoint");
    const logFile = join(dir, "logs", "run.log");
    const summary = join(dir, "out", "summary.json");
    const campaign = "secrets-proof";
    const base = issueArgs(
      inputFile,
      sim,
      ...campaignArgs(campaign),
      "--out",
      out,
      "--state",
      state,
      "--max-attempts",
      "60",
      "--timeout",
      "300",
      "--concurrency",
      "8",
    );
    const violations: string[] = [];
    const outputs: Array<[string, string]> = [];

    // 1. The full run under umask 000, trace logs to a file.
    const first = await runUnderUmask000([...base, "--log-level", "trace", "--log-file", logFile, "--summary-json", summary], env);
    outputs.push(["run 1 stdout", first.stdout], ["run 1 stderr", first.stderr]);
    if (first.code !== 0) violations.push(`run 1 exit ${first.code}: ${first.stderr.trim()}`);
    const modesAfterFirst = {
      result: await fileMode(out).catch(() => -1),
      checkpoint: await fileMode(state).catch(() => -1),
      log: await fileMode(logFile).catch(() => -1),
    };
    if (modesAfterFirst.result !== 0o600) violations.push(`result mode ${modesAfterFirst.result.toString(8)} under umask 000, expected 600`);
    if (modesAfterFirst.checkpoint !== 0o600) violations.push(`checkpoint mode ${modesAfterFirst.checkpoint.toString(8)} under umask 000, expected 600`);
    const logBytes = (await readFile(logFile).catch(() => Buffer.alloc(0))).length;
    if (logBytes === 0) violations.push("the trace log is empty: nothing was checked");

    // 2. Someone loosens the files; a rerun (trace logs on stderr) tightens them again.
    await chmod(out, 0o644).catch(() => undefined);
    await chmod(state, 0o644).catch(() => undefined);
    const second = await runCli([...base, "--log-level", "trace"], { env });
    outputs.push(["run 2 stdout", second.stdout], ["run 2 stderr", second.stderr]);
    if (second.code !== 0) violations.push(`run 2 exit ${second.code}: ${second.stderr.trim()}`);
    for (const [name, file] of [
      ["result", out],
      ["checkpoint", state],
    ] as const) {
      const mode = await fileMode(file);
      if (mode !== 0o600) violations.push(`${name} mode ${mode.toString(8)} after a rerun on a loosened file, expected 600`);
    }

    // 3. A wrong secret: refused by PayPay; the wrong secret leaks nowhere either.
    const refusedDir = join(dir, "refused");
    await mkdir(refusedDir);
    const refused = await runCli(
      issueArgs(
        inputFile,
        sim,
        ...campaignArgs("secrets-refused"),
        "--out",
        join(refusedDir, "r.csv"),
        "--log-level",
        "trace",
        "--log-file",
        join(refusedDir, "r.log"),
      ),
      { env: { ...env, PAYPAY_API_SECRET: wrongSecret } },
    );
    outputs.push(["refused run stdout", refused.stdout], ["refused run stderr", refused.stderr]);
    if (refused.code !== 4) violations.push(`wrong secret: exit ${refused.code}, expected 4 (credentials refused)`);

    for (const r of [first, second, refused]) if (/^\s+at /m.test(r.stderr)) violations.push("stack trace in stderr");
    if (second.code === 0) {
      const checked = await checkExactlyOnce({
        sim,
        campaign,
        input,
        resultFile: out,
        state: state,
        initialBudget: DEFAULT_GROUP.budget,
        attempts: "timeouts",
      });
      violations.push(...checked.violations);
    }

    const files = await readAllFiles(dir);
    let scannedBytes = 0;
    for (const [where, text] of outputs) {
      scannedBytes += Buffer.byteLength(text);
      violations.push(...findLeaks(where, text, secret), ...findLeaks(where, text, wrongSecret));
    }
    for (const f of files) {
      scannedBytes += f.text.length;
      violations.push(...findLeaks(f.path, f.text, secret), ...findLeaks(f.path, f.text, wrongSecret));
    }
    const kinds = files.map((f) => f.path).filter((p) => /\.(checkpoint|log|csv|json)$/.test(p));
    for (const needed of [out, state, logFile, summary]) if (!kinds.includes(needed)) violations.push(`${needed} was not there to be scanned`);

    const stats = sim.stats();
    await writeFigures({
      part: "secrets",
      name: "no-leak-and-modes",
      violations: violations.length,
      violationSamples: violations.slice(0, 10),
      runs: 3,
      filesScanned: files.length,
      bytesScanned: scannedBytes,
      traceLogBytes: logBytes,
      faultsInjected: Object.fromEntries(Object.entries(stats.faultsInjected).filter(([, n]) => n > 0)),
      unauthorized: stats.rejectedByCode.UNAUTHORIZED ?? 0,
      modes: Object.fromEntries(Object.entries(modesAfterFirst).map(([k, m]) => [k, m.toString(8)])),
    });
    assert.deepEqual(violations, [], formatViolations("secrets", violations, replay(FILE)));
  });

  test("plain http:// to a non-loopback host is refused (exit 2) before any connection or DNS lookup", { timeout: 120_000 }, async () => {
    const dir = await tempDir("pcb-proof-insecure-");
    const inputFile = await writeText(dir, "in.csv", recipientsTable(3, rngFor("insecure-input")).text);
    const violations: string[] = [];
    const urls = [
      "http://example.com",
      "http://example.com:8080/v1",
      "HTTP://EXAMPLE.COM",
      "http://10.0.0.1",
      "http://0.0.0.0:8080",
      "http://127.0.0.1.example.com",
      "http://localhost.example.com",
      "http://[::ffff:8.8.8.8]",
      "http://[2001:db8::1]",
    ];
    for (const [i, url] of urls.entries()) {
      const netLog = join(dir, `net-${i}.log`);
      const caseDir = join(dir, `case-${i}`);
      const result = await runGuarded(["issue", inputFile, ...campaignArgs("insecure"), "--base-url", url, "--out", join(caseDir, "r.csv")], netLog);
      if (result.code !== 2) violations.push(`${url}: exit ${result.code}, expected 2`);
      if (!/http:\/\/|https:\/\//.test(result.stderr) || !/refus/i.test(result.stderr))
        violations.push(`${url}: the refusal does not say why: ${result.stderr.trim()}`);
      if (/^\s+at /m.test(result.stderr)) violations.push(`${url}: stack trace in stderr`);
      if (await exists(netLog)) violations.push(`${url}: network attempted before refusing: ${(await readFile(netLog, "utf8")).trim().replace(/\n/g, "; ")}`);
      if (await exists(caseDir)) violations.push(`${url}: files were created (${(await readdir(caseDir)).join(", ")})`);
    }
    // Control: the guard does see connections (to the local simulator), so its silence above means something.
    const sim = await startSimulator({ seed: subSeed("insecure-control") });
    const controlLog = join(dir, "net-control.log");
    const control = await runGuarded(
      ["issue", inputFile, ...campaignArgs("insecure"), "--base-url", sim.baseUrl, "--out", join(dir, "control", "r.csv")],
      controlLog,
    );
    if (control.code !== 0) violations.push(`control run against loopback: exit ${control.code}: ${control.stderr.trim()}`);
    if (!(await exists(controlLog)) || !(await readFile(controlLog, "utf8")).includes("127.0.0.1"))
      violations.push("control: the network guard saw no connection to the simulator, so it proves nothing");
    await writeFigures({
      part: "secrets",
      name: "insecure-base-url",
      violations: violations.length,
      violationSamples: violations.slice(0, 10),
      urlsRefused: urls.length - violations.filter((v) => v.includes("exit")).length,
      urlsTried: urls.length,
    });
    assert.deepEqual(violations, [], formatViolations("insecure base URL", violations, replay(FILE)));
  });
});
