import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PayPayClient } from "../src/paypay/client.js";
import type { CreateOutcome } from "../src/paypay/outcome.js";
import type { CreatePointsCodeRequest } from "../src/paypay/types.js";
import { runSimulatorCommand } from "../src/cli/commands/simulator.js";
import { captureSimulatorIo, parseSimulatorArgs } from "./support/simulator.js";
import { createSimulator, DEFAULT_GROUP, LOCAL_CREDENTIALS, loadSimulatorConfig, type Simulator, type SimulatorOptions } from "../src/simulator/index.js";
import { resolveRateLimit, TokenBucket } from "../src/simulator/token-bucket.js";

/**
 * The simulator's server-side rate limit: the token bucket on its own (fake clock), then the
 * simulator over real HTTP on port 0, its clock injected so that time only moves when a test says.
 */

function fakeClock(start = Date.now()): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe("token bucket", () => {
  test("starts full, admits a burst back to back, then one request per 1/rate", () => {
    const clock = fakeClock(0);
    const bucket = new TokenBucket({ ratePerSecond: 4, burst: 3 }, clock.now);
    assert.deepEqual([bucket.tryTake(), bucket.tryTake(), bucket.tryTake(), bucket.tryTake()], [true, true, true, false]);
    clock.advance(249);
    assert.equal(bucket.tryTake(), false, "a token is earned in 250 ms, not 249");
    clock.advance(1);
    assert.equal(bucket.tryTake(), true);
    assert.equal(bucket.tryTake(), false);
    clock.advance(10_000);
    assert.equal(bucket.available(), 3, "a quiet spell fills the bucket, no further");
  });

  test("a clock that steps back earns nothing", () => {
    const clock = fakeClock(10_000);
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 1 }, clock.now);
    assert.equal(bucket.tryTake(), true);
    clock.advance(-5_000);
    assert.equal(bucket.tryTake(), false);
    clock.advance(5_050);
    assert.equal(bucket.tryTake(), false, "the 5 s step back is not earned back either: only 50 ms have passed since");
    clock.advance(50);
    assert.equal(bucket.tryTake(), true);
  });

  test("set() changes the rate from now on and keeps the tokens already earned, up to the new burst", () => {
    const clock = fakeClock(0);
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 10 }, clock.now);
    for (let i = 0; i < 10; i++) assert.equal(bucket.tryTake(), true);
    clock.advance(500); // 5 tokens earned at 10/s
    bucket.set({ ratePerSecond: 2, burst: 3 });
    assert.equal(bucket.available(), 3, "capped at the new burst");
    for (let i = 0; i < 3; i++) bucket.tryTake();
    clock.advance(500); // 1 token at 2/s
    assert.equal(bucket.available(), 1);
    bucket.set({ ratePerSecond: 100, burst: 100 });
    assert.equal(bucket.available(), 1, "a higher limit hands out no fresh burst");
    assert.deepEqual(bucket.limit, { ratePerSecond: 100, burst: 100 });
  });

  test("limits are validated, and the burst defaults to one second's worth", () => {
    assert.deepEqual(resolveRateLimit({ ratePerSecond: 50 }), { ratePerSecond: 50, burst: 50 });
    assert.deepEqual(resolveRateLimit({ ratePerSecond: 0.5 }), { ratePerSecond: 0.5, burst: 1 });
    assert.deepEqual(resolveRateLimit({ ratePerSecond: 5, burst: 2, retryAfterSeconds: 0 }), { ratePerSecond: 5, burst: 2, retryAfterSeconds: 0 });
    assert.throws(() => resolveRateLimit({ ratePerSecond: 0 }), /rateLimit\.ratePerSecond must be a positive number, got 0/);
    assert.throws(() => resolveRateLimit({ ratePerSecond: Number.POSITIVE_INFINITY }), /ratePerSecond/);
    assert.throws(() => resolveRateLimit({ ratePerSecond: 5, burst: 0.5 }), /rateLimit\.burst must be a number of at least 1, got 0\.5/);
    assert.throws(
      () => resolveRateLimit({ ratePerSecond: 5, retryAfterSeconds: 1.5 }),
      /rateLimit\.retryAfterSeconds must be a non-negative integer, got 1\.5/,
    );
    assert.throws(() => resolveRateLimit({ ratePerSecond: 5, retryAfterSeconds: -1 }), /retryAfterSeconds/);
  });
});

// ---- the simulator over HTTP ----------------------------------------------------------------------

let counter = 0;
function request(overrides: Partial<CreatePointsCodeRequest> = {}): CreatePointsCodeRequest {
  counter++;
  return {
    requestId: `rl-${counter}`,
    groupId: DEFAULT_GROUP.groupId,
    giftCardName: "Thank you",
    giftCardValue: 100,
    startAt: "2094-04-01",
    endAt: "2094-06-30",
    ...overrides,
  };
}

async function withSimulator(options: SimulatorOptions, body: (sim: Simulator, client: PayPayClient) => Promise<void>): Promise<void> {
  const sim = createSimulator(options);
  await sim.start(0, "127.0.0.1");
  const client = new PayPayClient({ baseUrl: new URL(sim.baseUrl), credentials: LOCAL_CREDENTIALS });
  try {
    await body(sim, client);
  } finally {
    client.close();
    await sim.close();
  }
}

function assertThrottled(outcome: CreateOutcome, retryAfterMs: number | undefined): void {
  assert.equal(outcome.kind, "retryable", JSON.stringify(outcome));
  if (outcome.kind !== "retryable") return;
  assert.equal(outcome.httpStatus, 429);
  assert.equal(outcome.errorCode, "RATE_LIMIT");
  assert.equal(outcome.retryAfterMs, retryAfterMs);
}

describe("simulator rate limit", () => {
  test("over-limit creates get 429 RATE_LIMIT with Retry-After, and nothing is committed", async () => {
    const clock = fakeClock();
    await withSimulator({ now: clock.now, rateLimit: { ratePerSecond: 2, burst: 2, retryAfterSeconds: 3 } }, async (sim, client) => {
      const a = request();
      const b = request();
      const c = request();
      // The clock does not move: all three arrive at once.
      const outcomes = await Promise.all([a, b, c].map((r) => client.createPointsCode(r)));
      const issued = outcomes.filter((o) => o.kind === "issued");
      const throttled = outcomes.filter((o) => o.kind === "retryable");
      assert.equal(issued.length, 2);
      assert.equal(throttled.length, 1);
      assertThrottled(throttled[0]!, 3_000);
      assert.equal(sim.ledger().length, 2, "the refused request committed nothing");
      assert.equal(sim.budgets()[0]!.budget, DEFAULT_GROUP.budget - 200);
      const refusedId = [a, b, c][outcomes.indexOf(throttled[0]!)]!.requestId;
      assert.equal(sim.callsByRequestId().get(refusedId), 1, "the refused call is still recorded as received");
      assert.equal(sim.stats().throttledByBucket, 1);
      assert.equal(sim.stats().rejectedByCode.RATE_LIMIT, 1);

      // Still no time: the retry is refused too. 500 ms later a token is back.
      assertThrottled(await client.createPointsCode({ ...[a, b, c].find((r) => r.requestId === refusedId)! }), 3_000);
      clock.advance(500);
      const retried = await client.createPointsCode({ ...[a, b, c].find((r) => r.requestId === refusedId)! });
      assert.equal(retried.kind, "issued");
      assert.equal(sim.ledger().length, 3);
      assert.equal(sim.stats().throttledByBucket, 2);
    });
  });

  test("without retryAfterSeconds the 429 carries no Retry-After", async () => {
    const clock = fakeClock();
    await withSimulator({ now: clock.now, rateLimit: { ratePerSecond: 1, burst: 1 } }, async (_sim, client) => {
      assert.equal((await client.createPointsCode(request())).kind, "issued");
      assertThrottled(await client.createPointsCode(request()), undefined);
    });
  });

  test("only creates are limited: budget reads pass when the bucket is empty", async () => {
    const clock = fakeClock();
    await withSimulator({ now: clock.now, rateLimit: { ratePerSecond: 1, burst: 1 } }, async (sim, client) => {
      assert.equal((await client.createPointsCode(request())).kind, "issued");
      const budgets = await client.getGroupBudgets();
      assert.equal(budgets[0]?.budget, DEFAULT_GROUP.budget - 100);
      assert.equal(sim.stats().throttledByBucket, 0);
    });
  });

  test("setRateLimit changes the limit mid-run, adds one, and removes it", async () => {
    const clock = fakeClock();
    await withSimulator({ now: clock.now }, async (sim, client) => {
      assert.equal(sim.stats().throttledByBucket, 0, "counted even when no limit is set");
      for (let i = 0; i < 5; i++) assert.equal((await client.createPointsCode(request())).kind, "issued", "no limit by default");

      sim.setRateLimit({ ratePerSecond: 10, burst: 2 });
      const first = await Promise.all([1, 2, 3].map(() => client.createPointsCode(request())));
      assert.deepEqual(first.map((o) => o.kind).sort(), ["issued", "issued", "retryable"]);

      // Lowered to 1/s: the 100 ms that pass earn 0.1 token at the new rate, not 1 at the old.
      sim.setRateLimit({ ratePerSecond: 1, burst: 1 });
      clock.advance(100);
      assertThrottled(await client.createPointsCode(request()), undefined);
      clock.advance(900);
      assert.equal((await client.createPointsCode(request())).kind, "issued");

      sim.setRateLimit(undefined);
      const unlimited = await Promise.all([1, 2, 3, 4].map(() => client.createPointsCode(request())));
      assert.ok(unlimited.every((o) => o.kind === "issued"));
      assert.equal(sim.stats().throttledByBucket, 2);
    });
  });

  test("the limit is applied before the in-flight limit and counted apart from fault injection", async () => {
    const clock = fakeClock();
    await withSimulator({ now: clock.now, rateLimit: { ratePerSecond: 1, burst: 1 }, maxInFlight: 5, faults: { rateLimit: 0 } }, async (sim, client) => {
      await Promise.all([1, 2, 3].map(() => client.createPointsCode(request())));
      const stats = sim.stats();
      assert.equal(stats.throttledByBucket, 2);
      assert.equal(stats.faultsInjected.rateLimit, 0);
      assert.equal(stats.rejectedByCode.RATE_LIMIT, 2);
    });
  });

  test("a bad limit is refused when the simulator is created", () => {
    assert.throws(() => createSimulator({ rateLimit: { ratePerSecond: -1 } }), /rateLimit\.ratePerSecond must be a positive number/);
    assert.throws(() => createSimulator({ rateLimit: { ratePerSecond: 5, burst: 0 } }), /rateLimit\.burst/);
    const sim = createSimulator({});
    assert.throws(() => sim.setRateLimit({ ratePerSecond: 0 }), /ratePerSecond/);
  });

  test("the ledger endpoint reports throttledByBucket with the other stats", async () => {
    const clock = fakeClock();
    await withSimulator({ now: clock.now, rateLimit: { ratePerSecond: 1, burst: 1 } }, async (sim, client) => {
      await client.createPointsCode(request());
      await client.createPointsCode(request());
      const reply = await fetch(`${sim.baseUrl}/__simulator/ledger`);
      const parsed = (await reply.json()) as { stats: { throttledByBucket: number } };
      assert.equal(parsed.stats.throttledByBucket, 1);
    });
  });
});

describe("simulator rate limit configuration", () => {
  test("a config file's rateLimit is read and validated by name", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sim-rl-"));
    try {
      const file = join(dir, "sim.json");
      await writeFile(file, '{"rateLimit":{"ratePerSecond":50,"burst":10,"retryAfterSeconds":1}}');
      assert.deepEqual((await loadSimulatorConfig(file)).rateLimit, { ratePerSecond: 50, burst: 10, retryAfterSeconds: 1 });
      await writeFile(file, '{"rateLimit":{"ratePerSecond":5}}');
      assert.deepEqual((await loadSimulatorConfig(file)).rateLimit, { ratePerSecond: 5 });
      await writeFile(file, '{"rateLimit":{"rate":5}}');
      await assert.rejects(loadSimulatorConfig(file), /rateLimit\.rate is not a rate limit setting/);
      await writeFile(file, '{"rateLimit":{"burst":5}}');
      await assert.rejects(loadSimulatorConfig(file), /rateLimit\.ratePerSecond is required/);
      await writeFile(file, '{"rateLimit":{"ratePerSecond":5,"retryAfterSeconds":0.5}}');
      await assert.rejects(loadSimulatorConfig(file), /rateLimit\.retryAfterSeconds must be a non-negative integer/);
      await writeFile(file, '{"rateLimit":5}');
      await assert.rejects(loadSimulatorConfig(file), /rateLimit must be a JSON object/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("--limit-rate, --limit-burst and --limit-retry-after set the limit and are printed", async () => {
    const io = captureSimulatorIo();
    const sim = await runSimulatorCommand(await parseSimulatorArgs(["simulator", "--limit-rate", "2", "--limit-burst", "1", "--limit-retry-after", "4"]), io);
    const client = new PayPayClient({ baseUrl: new URL(sim.baseUrl), credentials: LOCAL_CREDENTIALS });
    try {
      assert.ok(io.lines.includes("rate limit: 2 requests/s, burst 1, Retry-After 4 s"), io.lines.join("\n"));
      const outcomes = await Promise.all([1, 2].map(() => client.createPointsCode(request())));
      const throttled = outcomes.find((o) => o.kind === "retryable");
      assert.ok(throttled, "the second of two simultaneous creates is over a burst of 1");
      assertThrottled(throttled, 4_000);
    } finally {
      client.close();
      await sim.close();
    }

    const defaults = captureSimulatorIo();
    const other = await runSimulatorCommand(await parseSimulatorArgs(["simulator", "--limit-rate", "50"]), defaults);
    await other.close();
    assert.ok(defaults.lines.includes("rate limit: 50 requests/s, burst 50, no Retry-After"), defaults.lines.join("\n"));
  });

  test("the flags override a config file's rateLimit field by field", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sim-rl-cli-"));
    try {
      const file = join(dir, "sim.json");
      await writeFile(file, '{"rateLimit":{"ratePerSecond":50,"burst":10,"retryAfterSeconds":1}}');
      const io = captureSimulatorIo();
      const sim = await runSimulatorCommand(await parseSimulatorArgs(["simulator", "--config", file, "--limit-retry-after", "2"]), io);
      await sim.close();
      assert.ok(io.lines.includes("rate limit: 50 requests/s, burst 10, Retry-After 2 s"), io.lines.join("\n"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("bad limit flags are refused with clear errors", async () => {
    await assert.rejects(runSimulatorCommand(await parseSimulatorArgs(["simulator", "--limit-rate", "0"]), captureSimulatorIo()), {
      message: 'Expected --limit-rate to be a positive number of requests per second, got "0"',
    });
    await assert.rejects(runSimulatorCommand(await parseSimulatorArgs(["simulator", "--limit-rate", "5", "--limit-burst", "0.5"]), captureSimulatorIo()), {
      message: 'Expected --limit-burst to be a number of at least 1, got "0.5"',
    });
    await assert.rejects(
      runSimulatorCommand(await parseSimulatorArgs(["simulator", "--limit-rate", "5", "--limit-retry-after", "1.5"]), captureSimulatorIo()),
      /--limit-retry-after/,
    );
    await assert.rejects(
      runSimulatorCommand(await parseSimulatorArgs(["simulator", "--limit-burst", "5"]), captureSimulatorIo()),
      /--limit-burst and --limit-retry-after need --limit-rate/,
    );
  });
});
