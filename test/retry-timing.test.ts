import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay } from "../src/job/backoff.js";
import { Pacer } from "../src/job/pacer.js";
import { parseRetryAfter } from "../src/paypay/retry-after.js";

const policy = { baseMs: 100, capMs: 1000 };

test("full jitter: the delay is a uniform draw under an exponentially growing, capped ceiling", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 10].map((retry) => backoffDelay(retry, 0.999999, policy)),
    [99, 199, 399, 799, 999, 999],
  );
  assert.deepEqual(
    [1, 5].map((retry) => backoffDelay(retry, 0, policy)),
    [0, 0],
  );
  assert.equal(backoffDelay(3, 0.5, policy), 200);
});

test("Retry-After is honoured as a floor, and bounded so a broken header cannot park the run", () => {
  assert.equal(backoffDelay(1, 0, policy, 1500), 1500);
  assert.equal(backoffDelay(4, 0.9, policy, 10), 720);
  assert.equal(backoffDelay(1, 0, policy, 3_600_000), 4000);
});

test("Retry-After parses delta-seconds and HTTP-dates, and ignores anything else", () => {
  const now = Date.parse("2026-11-27T00:00:00Z");
  assert.equal(parseRetryAfter("2", now), 2000);
  assert.equal(parseRetryAfter(["3", "9"], now), 3000);
  assert.equal(parseRetryAfter("Fri, 27 Nov 2026 00:00:05 GMT", now), 5000);
  assert.equal(parseRetryAfter("Thu, 26 Nov 2026 00:00:05 GMT", now), 0);
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter("-1", now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test("the pacer admits one start per 1/rate and tells the others how long to wait, on a fake clock", () => {
  let now = 1000;
  const pacer = new Pacer(4, () => now);
  assert.equal(pacer.acquire(), 0);
  assert.equal(pacer.acquire(), 250, "a second caller at the same instant waits one interval");
  assert.equal(pacer.acquire(), 250, "asking again books nothing");
  now = 1250;
  assert.deepEqual([pacer.acquire(), pacer.acquire()], [0, 250]);
  now = 5000; // idle for a while: no burst is saved up
  assert.deepEqual([pacer.acquire(), pacer.acquire()], [0, 250]);
});
