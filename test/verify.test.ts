import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { loadConfigFile } from "../src/cli/config-file.js";
import type { SimulatorOptions } from "../src/simulator/index.js";
import type { FindingId, VerifyReport } from "../src/verify/report.js";
import { jstDay, verificationRequestId } from "../src/verify/run-verify.js";
import { runCli, tempDir } from "./support/cli.js";
import { GROUP } from "./support/csv.js";
import { fileMode } from "./support/job.js";
import { startSimulator } from "./support/simulator.js";

const ALL: FindingId[] = ["clock", "credentials", "budget-path", "budget-shape", "create-path", "code-field", "replay", "changed-body"];

async function verify(options: SimulatorOptions, ...flags: string[]) {
  const dir = await tempDir("pcb-verify-");
  const sim = await startSimulator(options);
  const json = join(dir, "report.json");
  const config = join(dir, "verified.json");
  const run = await runCli(["verify", "--base-url", sim.baseUrl, "--json", json, "--write-config", config, ...flags]);
  const report = JSON.parse(await readFile(json, "utf8")) as VerifyReport;
  const verdicts = Object.fromEntries(report.findings.map((f) => [f.id, f.verdict])) as Record<FindingId, string>;
  return { sim, run, report, verdicts, config, json };
}

function differed(verdicts: Record<FindingId, string>): FindingId[] {
  return ALL.filter((id) => verdicts[id] === "differed");
}

describe("verify against the simulator", () => {
  test("the contract as assumed: every assumption held, exit 0, one ¥1 code issued and charged once", async () => {
    const { sim, run, report, verdicts, config, json } = await verify({}, "--issue-test-code");
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(
      ALL.map((id) => verdicts[id]),
      ALL.map(() => "held"),
    );
    assert.match(run.stdout, /8 held, 0 differed, 0 not checked/);
    // One test code in the ledger, charged once; the replay and the changed body cost nothing.
    const ledger = sim.ledger();
    assert.equal(ledger.length, 1);
    assert.equal(ledger[0]!.giftCardValue, 1);
    assert.equal(ledger[0]!.requestId, report.testCode?.requestId);
    assert.equal(report.testCode?.code, ledger[0]!.code);
    assert.equal(report.testCode?.groupSource, "the first group of the budget read");
    assert.equal(sim.budgets()[0]!.budget, 1_000_000 - 1);
    assert.equal(sim.callsByRequestId().get(ledger[0]!.requestId), 3, "create, replay, changed body");
    // The table masks the code; the report (mode 0600) keeps it whole.
    assert.equal(run.stdout.includes(ledger[0]!.code), false);
    assert.equal(await fileMode(json), 0o600);
    assert.deepEqual(await loadConfigFile(config), {
      budgetPath: "/v1/points_code/budget",
      createPath: "/v1/points_code",
      codeField: "giftCardCode",
      replay: "original",
    });
  });

  test("without --issue-test-code nothing is created: clock, credentials and budget only", async () => {
    const { sim, run, verdicts } = await verify({});
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      ALL.filter((id) => verdicts[id] === "held"),
      ["clock", "credentials", "budget-path", "budget-shape"],
    );
    assert.match(run.stdout, /needs --issue-test-code/);
    assert.equal(sim.stats().createRequests, 0);
  });

  test("the verification requestId is one per merchant and JST day", () => {
    const day = jstDay(Date.UTC(2026, 3, 1, 15, 0, 0)); // 00:00 on 2 April in Japan
    assert.equal(day, "2026-04-02");
    assert.equal(jstDay(Date.UTC(2026, 3, 1, 14, 59, 59)), "2026-04-01");
    assert.equal(verificationRequestId("m1", day), verificationRequestId("m1", "2026-04-02"));
    assert.notEqual(verificationRequestId("m1", day), verificationRequestId("m2", day));
    assert.notEqual(verificationRequestId("m1", day), verificationRequestId("m1", "2026-04-03"));
    assert.match(verificationRequestId("m1", day), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test("verify run again with the same requestId repeats the request: no second charge", async () => {
    const dir = await tempDir("pcb-verify-");
    const sim = await startSimulator({});
    // Explicit, so the test cannot straddle midnight in Japan; the derived id is pinned above.
    const id = ["--request-id", "4d7f4c2e-5b0a-4c11-9d2e-8a1b2c3d4e5f"];
    const first = await runCli(["verify", "--base-url", sim.baseUrl, "--issue-test-code", ...id, "--json", join(dir, "a.json")]);
    const second = await runCli(["verify", "--base-url", sim.baseUrl, "--issue-test-code", ...id, "--json", join(dir, "b.json")]);
    assert.equal(first.code, 0);
    assert.equal(second.code, 0, second.stdout);
    assert.equal(sim.ledger().length, 1);
    assert.equal(sim.budgets()[0]!.budget, 1_000_000 - 1);
  });

  test("another code field is found and named, with the flag to set", async () => {
    const { run, verdicts, config } = await verify({ contract: { codeField: "pointsCode" } }, "--issue-test-code");
    assert.equal(run.code, 3, run.stdout);
    assert.deepEqual(differed(verdicts), ["code-field"]);
    assert.match(run.stdout, /--code-field pointsCode/);
    assert.equal((await loadConfigFile(config)).codeField, "pointsCode");
  });

  test("other paths: each is reported as differed, and held once given", async () => {
    const paths = { createPath: "/v2/codes", budgetPath: "/v2/codes/budget" };
    const wrongBudget = await verify(paths, "--issue-test-code");
    assert.equal(wrongBudget.run.code, 3);
    assert.deepEqual(differed(wrongBudget.verdicts), ["budget-path"]);
    assert.equal(wrongBudget.sim.stats().createRequests, 0, "nothing issued before the budget read works");

    const wrongCreate = await verify(paths, "--issue-test-code", "--budget-path", "/v2/codes/budget");
    assert.equal(wrongCreate.run.code, 3);
    assert.deepEqual(differed(wrongCreate.verdicts), ["create-path"]);
    assert.equal(wrongCreate.sim.ledger().length, 0);

    const right = await verify(paths, "--issue-test-code", "--budget-path", "/v2/codes/budget", "--create-path", "/v2/codes");
    assert.equal(right.run.code, 0, right.run.stdout);
    const written = await loadConfigFile(right.config);
    assert.equal(written.createPath, "/v2/codes");
    assert.equal(written.budgetPath, "/v2/codes/budget");
  });

  test("replay refused: differed, the budget unchanged, and --replay refused written", async () => {
    const { sim, run, verdicts, report, config } = await verify({ contract: { replay: "refused" } }, "--issue-test-code");
    assert.equal(run.code, 3, run.stdout);
    assert.deepEqual(differed(verdicts), ["replay"]);
    assert.match(report.findings.find((f) => f.id === "replay")!.seen, /refused: HTTP 400 INVALID_REQUEST_PARAMS/);
    assert.match(run.stdout, /--replay refused/);
    assert.equal(report.testCode?.budgetAfterCreate, report.testCode?.budgetAfterReplay);
    assert.equal(sim.ledger().length, 1);
    assert.equal((await loadConfigFile(config)).replay, "refused");
  });

  test("a changed body answered with the first code, or with a second code, is recorded as seen", async () => {
    const original = await verify({ contract: { changedBody: "original" } }, "--issue-test-code");
    assert.equal(original.run.code, 3);
    assert.deepEqual(differed(original.verdicts), ["changed-body"]);
    assert.match(original.report.findings.find((f) => f.id === "changed-body")!.seen, /answered with the first code/);
    assert.equal(original.sim.ledger().length, 1);

    const reissued = await verify({ contract: { changedBody: "reissued" } }, "--issue-test-code");
    assert.equal(reissued.run.code, 3);
    assert.deepEqual(differed(reissued.verdicts), ["changed-body"]);
    assert.match(reissued.report.findings.find((f) => f.id === "changed-body")!.seen, /issued another code: .*budget ¥999,999 → ¥999,998/);
    assert.equal(reissued.sim.ledger().length, 2, "the simulator charged the changed body");
  });

  test("a clock 300 s off: the clock differed and verify stops at the UNAUTHORIZED, exit 4", async () => {
    const { run, verdicts, report } = await verify({ clockOffsetSeconds: 300 }, "--issue-test-code");
    assert.equal(run.code, 4, run.stdout);
    assert.equal(verdicts.clock, "differed");
    assert.equal(verdicts.credentials, "differed");
    assert.match(report.findings[0]!.seen, /this host's clock is (299|300|301) s off PayPay's/, "the Date header has a one-second resolution");
    assert.match(run.stdout, /set the clock first/);
    assert.match(report.stopped ?? "", /likely for the clock/);
  });

  test("--group-id picks the group and the report says so", async () => {
    const other = "29952775505428999";
    const { sim, run, report } = await verify(
      {
        groups: [
          { groupId: GROUP, budget: 1000, maxPeriodDays: 365, minAmount: 1 },
          { groupId: other, budget: 50, maxPeriodDays: 30, minAmount: 1 },
        ],
      },
      "--issue-test-code",
      "--group-id",
      other,
      "--request-id",
      "0e6c1f0a-7a53-4a5e-8f0e-2b7c8f7e0a11",
    );
    assert.equal(run.code, 0, run.stdout);
    assert.equal(report.testCode?.groupSource, "--group-id or groupId in --config");
    assert.equal(report.testCode?.requestId, "0e6c1f0a-7a53-4a5e-8f0e-2b7c8f7e0a11");
    assert.equal(sim.ledger()[0]!.groupId, other);
    assert.match(run.stdout, /into group 29952775505428999 \(--group-id/);
  });
});

describe("verify refusals", () => {
  test("--issue-test-code against production without --confirm-production: exit 2, nothing sent", async () => {
    const run = await runCli(["verify", "--env", "production", "--issue-test-code"], {
      env: { PAYPAY_API_KEY: "k", PAYPAY_API_SECRET: "s", PAYPAY_MERCHANT_ID: "m" },
    });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--confirm-production/);
  });

  test("an unreachable PayPay: exit 4, nothing checked", async () => {
    const sim = await startSimulator({});
    const url = sim.baseUrl;
    await sim.close();
    const run = await runCli(["verify", "--base-url", url]);
    assert.equal(run.code, 4, run.stdout);
    assert.match(run.stdout, /stopped: PayPay did not answer the budget read/);
  });
});
