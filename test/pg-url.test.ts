import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { displayState, isPostgresState, parsePgState, redactSecrets, redactUrl } from "../src/checkpoint/pg/pg-url.js";
import { CommitQueue } from "../src/checkpoint/pg/commit-queue.js";

describe("--state postgresql://: parsing and redaction (no database needed)", () => {
  test("postgresql:// and postgres:// select PostgreSQL; files do not", () => {
    assert.equal(isPostgresState("postgresql://db/points"), true);
    assert.equal(isPostgresState("POSTGRES://db/points"), true);
    assert.equal(isPostgresState("out.checkpoint"), false);
    assert.equal(isPostgresState("./postgresql:/x"), false);
  });

  test("the schema parameter is ours: taken out of the URL pg sees, default points_code_batch, checked", () => {
    const state = parsePgState("postgresql://batch:p%40ss@db.internal:6432/points?schema=finance_2099&sslmode=require", {});
    assert.equal(state.schema, "finance_2099");
    assert.equal(state.connectionString, "postgresql://batch:p%40ss@db.internal:6432/points?sslmode=require");
    assert.equal(state.display, "postgresql://batch@db.internal:6432/points?sslmode=require&schema=finance_2099");
    assert.deepEqual(new Set(state.secrets), new Set(["p@ss", "p%40ss"]));
    assert.equal(parsePgState("postgres://db/points", {}).schema, "points_code_batch");
    assert.throws(() => parsePgState('postgresql://db/points?schema=x";drop', {}), /schema parameter to be a lower-case SQL identifier/);
  });

  test("PGPASSWORD counts as a secret; no password anywhere in what may be shown", () => {
    const state = parsePgState("postgresql://batch@db/points", { PGPASSWORD: "env-secret-123" });
    assert.deepEqual(state.secrets, ["env-secret-123"]);
    assert.equal(redactSecrets("auth failed for env-secret-123 at postgresql://u:other@h/d", state.secrets), "auth failed for *** at postgresql://u:***@h/d");
  });

  test("a password given as a query parameter (pg reads ?password= and ?sslpassword=) is a secret and never shown", () => {
    const state = parsePgState("postgresql://batch@db/points?password=q-secret-1&sslpassword=k-secret-2&sslmode=require", {});
    assert.deepEqual(new Set(state.secrets), new Set(["q-secret-1", "k-secret-2"]));
    assert.equal(state.display, "postgresql://batch@db/points?sslmode=require&schema=points_code_batch");
    assert.ok(state.connectionString.includes("password=q-secret-1"), "pg still gets it");
    assert.equal(displayState("postgresql://batch@db/points?password=q-secret-1", "c"), "postgresql://batch@db/points?schema=points_code_batch#c");
  });

  test("a URL that does not even parse is still shown without its password", () => {
    assert.equal(redactUrl("postgresql://u:hunter2@[bad/x"), "postgresql://u:***@[bad/x");
    assert.equal(displayState("postgresql://u:hunter2@[bad/x"), "postgresql://u:***@[bad/x");
    assert.equal(displayState("postgresql://u:hunter2@h:5432/d", "c1"), "postgresql://u@h:5432/d?schema=points_code_batch#c1");
    assert.equal(displayState("runs/out.checkpoint", "c1"), "runs/out.checkpoint");
    assert.throws(
      () => parsePgState("postgresql://u:hunter2@[bad/x", {}),
      (error: Error) => !error.message.includes("hunter2"),
    );
  });
});

describe("CommitQueue: group commit", () => {
  test("operations submitted together commit in one transaction; a failed commit fails everything after it", async () => {
    const commits: number[][] = [];
    let fail = false;
    const queue = new CommitQueue<number>(async (ops) => {
      if (fail) throw new Error("connection terminated");
      commits.push(ops);
    });
    await Promise.all([1, 2, 3, 4, 5].map((n) => queue.submit(n)));
    assert.deepEqual(commits, [[1, 2, 3, 4, 5]]);
    fail = true;
    await assert.rejects(queue.submit(6), /connection terminated/);
    fail = false;
    await assert.rejects(queue.submit(7), /connection terminated/, "nothing is attempted after a failed commit");
    assert.deepEqual(commits, [[1, 2, 3, 4, 5]]);
  });

  test("two in flight: the next batch starts while one commits, unless it shares a key with it or holds a keyless op", async () => {
    const started: string[][] = [];
    const gates: Array<() => void> = [];
    const queue = new CommitQueue<string>(
      async (ops) => {
        started.push(ops);
        await new Promise<void>((resolve) => gates.push(resolve));
      },
      { inFlight: 2, key: (op) => (op.startsWith("campaign") ? undefined : op.split(":")[0]) },
    );
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const a = queue.submit("a:sent");
    await turn();
    const b = queue.submit("b:sent");
    await turn();
    assert.deepEqual(started, [["a:sent"], ["b:sent"]], "a second transaction while the first commits");
    const c = queue.submit("c:sent");
    await turn();
    assert.equal(started.length, 2, "no third: two slots");
    gates.shift()?.();
    await a;
    await turn();
    assert.deepEqual(started[2], ["c:sent"]);
    // b and c in flight; "b:outcome" shares b's key, so it waits for b even when a slot frees.
    const bOutcome = queue.submit("b:outcome");
    gates.pop()?.(); // c's
    await c;
    await turn();
    assert.equal(started.length, 3, "b:outcome waits for b's transaction");
    gates.shift()?.(); // b's
    await b;
    await turn();
    assert.deepEqual(started[3], ["b:outcome"]);
    const campaign = queue.submit("campaign:plan");
    await turn();
    assert.equal(started.length, 4, "a keyless op waits for every transaction in flight");
    gates.shift()?.();
    await bOutcome;
    await turn();
    assert.deepEqual(started[4], ["campaign:plan"]);
    const d = queue.submit("d:sent");
    await turn();
    assert.equal(started.length, 5, "and nothing joins it in flight");
    gates.shift()?.();
    await campaign;
    await turn();
    gates.shift()?.();
    await d;
    await queue.drain();
    assert.deepEqual(started[5], ["d:sent"]);
  });

  test("two in flight: a failed commit fails what is queued and everything after; the other one's ops resolve only if it committed", async () => {
    const gates: Array<(error?: Error) => void> = [];
    const queue = new CommitQueue<string>(() => new Promise<void>((resolve, reject) => gates.push((error) => (error ? reject(error) : resolve()))), {
      inFlight: 2,
      key: (op) => op,
    });
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const a = queue.submit("a");
    await turn();
    const b = queue.submit("b");
    await turn();
    const c = queue.submit("c");
    gates[0]?.(new Error("connection terminated"));
    await assert.rejects(a, /connection terminated/);
    await assert.rejects(c, /connection terminated/, "queued behind the failure");
    gates[1]?.();
    await b;
    await assert.rejects(queue.submit("d"), /connection terminated/);
    await queue.drain();
  });
});
