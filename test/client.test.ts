import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import { BatchError } from "../src/errors.js";
import { credentialsFromEnv } from "../src/paypay/credentials.js";
import { checkBaseUrl } from "../src/paypay/environments.js";
import { BudgetReadError, PayPayClient, serializeCreateBody, type PayPayClientOptions } from "../src/paypay/client.js";
import type { CreateOutcome } from "../src/paypay/outcome.js";
import type { CreatePointsCodeRequest } from "../src/paypay/types.js";
import { FAULT_KINDS, LOCAL_CREDENTIALS, type FaultKind, type Simulator } from "../src/simulator/index.js";
import { startSimulator } from "./support/simulator.js";
import { waitFor } from "./support/job.js";

const GROUP = "29952775505428481"; // above 2^53 and not representable as a double

let counter = 0;
function request(overrides: Partial<CreatePointsCodeRequest> = {}): CreatePointsCodeRequest {
  counter++;
  return {
    requestId: `req-${counter}`,
    groupId: GROUP,
    giftCardName: "春のお礼",
    giftCardValue: 500,
    startAt: "2094-04-01",
    endAt: "2094-06-30",
    ...overrides,
  };
}

function clientFor(sim: Simulator | string, options: Partial<PayPayClientOptions> = {}): PayPayClient {
  const base = typeof sim === "string" ? sim : sim.baseUrl;
  const client = new PayPayClient({ baseUrl: new URL(base), credentials: LOCAL_CREDENTIALS, ...options });
  after(() => client.close());
  return client;
}

/** A plain local HTTP server answering whatever a test wants, recording what it received. */
async function fakeServer(
  answer: (req: IncomingMessage, body: string, res: ServerResponse) => void,
): Promise<{ url: string; received: Array<{ headers: IncomingMessage["headers"]; body: string; url: string }> }> {
  const received: Array<{ headers: IncomingMessage["headers"]; body: string; url: string }> = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (c: string) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body, url: req.url ?? "" });
      answer(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.keepAliveTimeout = 1;
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

describe("create body", () => {
  test("groupId goes out as a bare JSON number with every digit", () => {
    const body = serializeCreateBody({ requestId: "r1", groupId: GROUP, giftCardName: 'a"b', giftCardValue: 12, startAt: "2094-01-01", endAt: "2094-01-02" });
    assert.equal(body, `{"requestId":"r1","groupId":29952775505428481,"giftCardName":"a\\"b","giftCardValue":12,"startAt":"2094-01-01","endAt":"2094-01-02"}`);
    assert.notEqual(String(Number(GROUP)), GROUP, "the fixture id must not survive a JS number");
  });

  test("a groupId that is not an int64 string is refused before anything is sent", () => {
    assert.throws(() => serializeCreateBody({ ...request(), groupId: "12a" }), TypeError);
    assert.throws(() => serializeCreateBody({ ...request(), groupId: "99999999999999999999" }), TypeError);
  });
});

describe("client against the simulator", () => {
  test("issued: code from data.giftCardCode, whole data kept with int64 digits, X-REQUEST-ID captured", async () => {
    const sim = await startSimulator();
    const client = clientFor(sim);
    const req = request();
    const outcome = await client.createPointsCode(req);
    assert.equal(outcome.kind, "issued");
    assert.ok(outcome.kind === "issued");
    const entry = sim.ledger().find((e) => e.requestId === req.requestId);
    assert.equal(outcome.code, entry?.code);
    assert.match(outcome.code, /^[A-Z0-9]{16}$/);
    assert.equal(entry?.groupId, GROUP);
    assert.match(outcome.data, /"groupId":29952775505428481[,}]/);
    assert.match(outcome.paypayRequestId ?? "", /^[A-Za-z0-9-]{1,64}$/);
  });

  test("the code field is configurable", async () => {
    const sim = await startSimulator();
    const outcome = await clientFor(sim, { codeField: "requestId" }).createPointsCode(request({ requestId: "field-test" }));
    assert.ok(outcome.kind === "issued");
    assert.equal(outcome.code, "field-test");
  });

  test("every attempt is signed afresh: the same request twice is accepted (no nonce reuse) and returns the same code", async () => {
    const sim = await startSimulator();
    const client = clientFor(sim);
    const req = request();
    const first = await client.createPointsCode(req);
    const second = await client.createPointsCode(req);
    assert.ok(first.kind === "issued" && second.kind === "issued");
    assert.equal(second.code, first.code);
    assert.equal(sim.ledger().length, 1);
    assert.equal(sim.callsByRequestId().get(req.requestId), 2);
  });

  test("group budgets keep an int64 groupId above 2^53 exactly", async () => {
    const sim = await startSimulator({
      groups: [
        { groupId: GROUP, budget: 12345, maxPeriodDays: 90, minAmount: 1 },
        { groupId: "9007199254740993", budget: 1, maxPeriodDays: 1, minAmount: 1 },
      ],
    });
    const groups = await clientFor(sim).getGroupBudgets();
    assert.deepEqual(groups, [
      { groupId: GROUP, budget: 12345, maxPeriodDays: 90 },
      { groupId: "9007199254740993", budget: 1, maxPeriodDays: 1 },
    ]);
  });

  test("permanent rejections are `rejected`; BUDGET_NOT_ENOUGH marks the group exhausted", async () => {
    const sim = await startSimulator({ groups: [{ groupId: GROUP, budget: 600, maxPeriodDays: 365, minAmount: 100 }] });
    const client = clientFor(sim);
    const belowMin = await client.createPointsCode(request({ giftCardValue: 50 }));
    assert.deepEqual([belowMin.kind, "errorCode" in belowMin && belowMin.errorCode], ["rejected", "INVALID_CHARGE_CODE_AMOUNT"]);
    assert.ok(belowMin.kind === "rejected" && !belowMin.groupExhausted);
    const noGroup = await client.createPointsCode(request({ groupId: "123" }));
    assert.deepEqual([noGroup.kind, "errorCode" in noGroup && noGroup.errorCode], ["rejected", "GIFT_CARD_GROUP_NOT_EXIST"]);
    const tooLong = await client.createPointsCode(request({ startAt: "2094-01-01", endAt: "2095-06-01" }));
    assert.deepEqual([tooLong.kind, "errorCode" in tooLong && tooLong.errorCode], ["rejected", "EXCEED_CHARGE_CODE_GROUP_MAX_PERIOD"]);
    const broke = await client.createPointsCode(request({ giftCardValue: 700 }));
    assert.ok(broke.kind === "rejected" && broke.errorCode === "BUDGET_NOT_ENOUGH" && broke.groupExhausted);
    const reused = request();
    assert.equal((await client.createPointsCode(reused)).kind, "issued");
    const different = await client.createPointsCode({ ...reused, giftCardValue: 101 });
    assert.ok(different.kind === "rejected" && different.errorCode === "INVALID_REQUEST_PARAMS");
    assert.match(different.paypayRequestId ?? "", /^[A-Za-z0-9-]+$/, "X-REQUEST-ID is kept on failures too");
  });

  test("wrong secret, unknown merchant and a skewed clock stop the run (fatal)", async () => {
    const sim = await startSimulator();
    const wrongSecret = await clientFor(sim, { credentials: { ...LOCAL_CREDENTIALS, apiSecret: "not-the-secret-9f8e7d" } }).createPointsCode(request());
    assert.ok(wrongSecret.kind === "fatal" && wrongSecret.errorCode === "UNAUTHORIZED");
    assert.doesNotMatch(JSON.stringify(wrongSecret), /not-the-secret-9f8e7d/);
    const wrongMerchant = await clientFor(sim, { credentials: { ...LOCAL_CREDENTIALS, merchantId: "someone-else" } }).createPointsCode(request());
    assert.ok(wrongMerchant.kind === "fatal" && wrongMerchant.errorCode === "OPA_CLIENT_NOT_FOUND");
    const skewed = await clientFor(sim, { now: () => Date.now() - 180_000 }).createPointsCode(request());
    assert.ok(skewed.kind === "fatal" && skewed.errorCode === "UNAUTHORIZED");
    await assert.rejects(clientFor(sim, { credentials: { ...LOCAL_CREDENTIALS, apiSecret: "nope-1234" } }).getGroupBudgets(), (error: unknown) => {
      assert.ok(error instanceof BudgetReadError && error.fatal && error.errorCode === "UNAUTHORIZED");
      assert.doesNotMatch(error.message, /nope-1234/);
      return true;
    });
    assert.equal(sim.ledger().length, 0);
  });
});

describe("every simulator fault is `retryable` (outcome unknown, same requestId)", () => {
  const expected: Record<FaultKind, { code: string; committed: boolean }> = {
    rateLimit: { code: "RATE_LIMIT", committed: false },
    maintenance: { code: "MAINTENANCE_MODE", committed: false },
    error500BeforeCommit: { code: "SERVICE_ERROR", committed: false },
    error500AfterCommit: { code: "INTERNAL_SERVER_ERROR", committed: true },
    resetBeforeCommit: { code: "NETWORK_ERROR", committed: false },
    resetAfterCommit: { code: "NETWORK_ERROR", committed: true },
    hangAfterCommit: { code: "TIMEOUT", committed: true },
    truncateAfterCommit: { code: "NETWORK_ERROR", committed: true },
  };
  for (const kind of FAULT_KINDS) {
    test(`${kind} → retryable ${expected[kind].code}; a retry with the same requestId settles it`, async () => {
      const sim = await startSimulator({ faults: { [kind]: 1 } });
      // Only hangAfterCommit waits this out; long enough that the server has committed before the
      // client gives up, even on a loaded machine.
      const client = clientFor(sim, { createTimeoutMs: 2_000 });
      const req = request();
      const outcome = await client.createPointsCode(req);
      assert.equal(outcome.kind, "retryable", JSON.stringify(outcome));
      assert.ok(outcome.kind === "retryable");
      assert.equal(outcome.errorCode, expected[kind].code);
      if (kind === "rateLimit" || kind === "maintenance") assert.equal(outcome.retryAfterMs, 1000);
      assert.equal(sim.ledger().length, expected[kind].committed ? 1 : 0);
      assert.equal(sim.stats().faultsInjected[kind], 1);
      sim.setFaults({});
      const retry = await client.createPointsCode(req);
      assert.ok(retry.kind === "issued");
      assert.equal(sim.ledger().length, 1, "the retry never charges twice");
      assert.equal(retry.code, sim.ledger()[0]?.code);
    });
  }

  test("more requests than max-in-flight are answered 429 and classified retryable", async () => {
    // The one slot is held by a request that hangs after its commit until the simulator closes, so
    // the second arrives while it is held however slow the machine is.
    const sim = await startSimulator({ maxInFlight: 1, faults: { hangAfterCommit: 1 } });
    const client = clientFor(sim, { createTimeoutMs: 60_000 });
    const holder = client.createPointsCode(request());
    await waitFor(() => sim.ledger().length === 1, 15_000, "the first request to take the slot");
    const refused = await client.createPointsCode(request());
    assert.ok(refused.kind === "retryable" && refused.errorCode === "RATE_LIMIT", JSON.stringify(refused));
    assert.equal(refused.retryAfterMs, 1000);
    const stats = sim.stats();
    assert.equal(stats.rejectedByCode.RATE_LIMIT, 1);
    assert.equal(stats.maxConcurrentCreates, 2, "the server held both at once");
    assert.equal(sim.ledger().length, 1, "the refused request committed nothing");
    await sim.close();
    assert.equal((await holder).kind, "retryable", "the hung request, cut by the close, is retryable");
  });
});

describe("responses the simulator never sends", () => {
  const cases: Array<{ name: string; status: number; body: string; kind: CreateOutcome["kind"]; code?: string }> = [
    { name: "200 with a body that is not JSON", status: 200, body: "<html>ok</html>", kind: "retryable", code: "MALFORMED_RESPONSE" },
    {
      name: "200 SUCCESS without the code field",
      status: 200,
      body: `{"resultInfo":{"code":"SUCCESS","message":"","codeId":"08100001"},"data":{}}`,
      kind: "retryable",
      code: "MALFORMED_RESPONSE",
    },
    { name: "200 without resultInfo", status: 200, body: `{"data":{"giftCardCode":"ABCD"}}`, kind: "retryable", code: "MALFORMED_RESPONSE" },
    { name: "502 from a proxy, no envelope", status: 502, body: "Bad Gateway", kind: "retryable", code: "MALFORMED_RESPONSE" },
    { name: "404 from a wrong path, no envelope", status: 404, body: "Not Found", kind: "fatal", code: "HTTP_404" },
    {
      name: "401 OP_OUT_OF_SCOPE",
      status: 401,
      body: `{"resultInfo":{"code":"OP_OUT_OF_SCOPE","message":"no","codeId":"08100023"},"data":null}`,
      kind: "fatal",
      code: "OP_OUT_OF_SCOPE",
    },
    {
      name: "400 with an unknown code",
      status: 400,
      body: `{"resultInfo":{"code":"SOMETHING_NEW","message":"?","codeId":"1"},"data":null}`,
      kind: "rejected",
      code: "SOMETHING_NEW",
    },
    {
      name: "503 with an unknown code",
      status: 503,
      body: `{"resultInfo":{"code":"SOMETHING_NEW","message":"?","codeId":"1"},"data":null}`,
      kind: "retryable",
      code: "SOMETHING_NEW",
    },
  ];
  for (const c of cases) {
    test(`${c.name} → ${c.kind}`, async () => {
      const server = await fakeServer((_req, _body, res) => {
        res.writeHead(c.status, { "Content-Type": "application/json", "X-REQUEST-ID": "abc-123" });
        res.end(c.body);
      });
      const outcome = await clientFor(server.url).createPointsCode(request());
      assert.equal(outcome.kind, c.kind);
      assert.equal("errorCode" in outcome ? outcome.errorCode : undefined, c.code);
      assert.equal(outcome.paypayRequestId, "abc-123");
    });
  }

  test("the merchant travels as X-ASSUME-MERCHANT and the signature covers the exact bytes sent", async () => {
    const server = await fakeServer((_req, _body, res) => res.writeHead(500).end());
    await clientFor(`${server.url}/prefix`).createPointsCode(request({ giftCardName: "🌸 spring" }));
    const [seen] = server.received;
    assert.ok(seen);
    assert.equal(seen.headers["x-assume-merchant"], LOCAL_CREDENTIALS.merchantId);
    assert.equal(seen.url, "/prefix/v1/points_code");
    assert.equal(seen.headers["content-type"], "application/json;charset=UTF-8");
    const auth = String(seen.headers.authorization);
    assert.match(auth, /^hmac OPA-Auth:local-api-key:[A-Za-z0-9+/=]+:[^:]+:\d+:[A-Za-z0-9+/=]+$/);
    assert.doesNotMatch(auth, new RegExp(LOCAL_CREDENTIALS.apiSecret));
  });

  test("an X-REQUEST-ID that is not alphanumerics and hyphens is not kept", async () => {
    const server = await fakeServer((_req, _body, res) => res.writeHead(500, { "X-REQUEST-ID": "a,b;<script>" }).end());
    const outcome = await clientFor(server.url).createPointsCode(request());
    assert.equal(outcome.paypayRequestId, undefined);
  });
});

describe("configuration guards", () => {
  test("plain http:// is refused except to loopback", () => {
    for (const ok of ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "https://api.paypay.ne.jp", "https://example.com"]) {
      assert.doesNotThrow(() => checkBaseUrl(ok), ok);
    }
    for (const bad of ["http://example.com", "http://10.0.0.1", "http://127.0.0.1.example.com", "ftp://127.0.0.1", "not a url", "https://user:pw@host"]) {
      assert.throws(
        () => checkBaseUrl(bad),
        (e: unknown) => e instanceof BatchError && e.kind === "usage",
        bad,
      );
    }
  });

  test("credentials: all three or none; a partial set names what is missing, never a value", () => {
    assert.equal(credentialsFromEnv({}), undefined);
    assert.deepEqual(credentialsFromEnv({ PAYPAY_API_KEY: "k", PAYPAY_API_SECRET: "s", PAYPAY_MERCHANT_ID: "m" }), {
      apiKey: "k",
      apiSecret: "s",
      merchantId: "m",
    });
    assert.throws(
      () => credentialsFromEnv({ PAYPAY_API_KEY: "k", PAYPAY_API_SECRET: "hush-hush-77" }),
      (e: unknown) => e instanceof Error && /PAYPAY_MERCHANT_ID/.test(e.message) && !/hush-hush-77/.test(e.message),
    );
  });
});

describe("the exchange with the server", () => {
  const okBody = (code: string): string => `{"resultInfo":{"code":"SUCCESS","message":"Success","codeId":"08100001"},"data":{"giftCardCode":"${code}"}}`;

  test("a body over 4 MiB is refused as a network failure, and the next request is answered", async () => {
    let answers = 0;
    const server = await fakeServer((_req, _body, res) => {
      answers++;
      const body = answers === 1 ? `{"pad":"${"x".repeat(5 * 1024 * 1024)}"}` : okBody("AFTER-BIG");
      res.writeHead(200, { "Content-Type": "application/json" }).end(body);
    });
    const client = clientFor(server.url);
    const big = await client.createPointsCode(request());
    assert.equal(big.kind, "retryable");
    assert.equal(big.kind === "retryable" ? big.errorCode : "", "NETWORK_ERROR");
    assert.match(big.kind === "retryable" ? big.message : "", /response body larger than 4194304 bytes/);
    assert.equal(big.httpStatus, 200);
    const next = await client.createPointsCode(request());
    assert.equal(next.kind === "issued" ? next.code : next.kind, "AFTER-BIG");
  });

  test("a body cut short after the headers is a network failure that keeps the status", async () => {
    const server = await fakeServer((_req, _body, res) => {
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "500", "X-REQUEST-ID": "cut-1" });
      res.write('{"resultInfo":{"code":"SUCC');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const outcome = await clientFor(server.url).createPointsCode(request());
    assert.equal(outcome.kind, "retryable");
    assert.equal(outcome.kind === "retryable" ? outcome.errorCode : "", "NETWORK_ERROR");
    assert.match(outcome.kind === "retryable" ? outcome.message : "", /connection closed before the response body was complete/);
    assert.equal(outcome.httpStatus, 200);
    assert.equal(outcome.paypayRequestId, "cut-1");
  });

  test("a connection closed before any answer names what happened, and the deadline holds when nothing answers", async () => {
    const closing = await fakeServer((req) => req.socket.destroy());
    const reset = await clientFor(closing.url).createPointsCode(request());
    assert.equal(reset.kind === "retryable" ? reset.errorCode : reset.kind, "NETWORK_ERROR");
    assert.match(
      reset.kind === "retryable" ? reset.message : "",
      /^creating a Points Code at http:\/\/127\.0\.0\.1:\d+\/v1\/points_code: connection (closed by the server|reset)/,
    );

    const silent = await fakeServer(() => undefined);
    const started = performance.now();
    const timedOut = await clientFor(silent.url, { createTimeoutMs: 300 }).createPointsCode(request());
    assert.equal(timedOut.kind === "retryable" ? timedOut.errorCode : timedOut.kind, "TIMEOUT");
    assert.match(timedOut.kind === "retryable" ? timedOut.message : "", /no complete response within 300 ms/);
    assert.ok(performance.now() - started >= 290, "not before the deadline");
  });

  test("a body that stalls after the headers times out at the deadline, keeping the status, and the next request is answered", async () => {
    let answers = 0;
    const server = await fakeServer((_req, _body, res) => {
      answers++;
      if (answers > 1) return void res.writeHead(200, { "Content-Type": "application/json" }).end(okBody("AFTER-STALL"));
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "500", "X-REQUEST-ID": "stall-1" });
      res.write('{"resultInfo":{"code":"SUCC'); // and nothing more, the socket left open
    });
    const client = clientFor(server.url, { createTimeoutMs: 300 });
    const started = performance.now();
    const stalled = await client.createPointsCode(request());
    assert.equal(stalled.kind === "retryable" ? stalled.errorCode : stalled.kind, "TIMEOUT");
    assert.match(stalled.kind === "retryable" ? stalled.message : "", /no complete response within 300 ms/);
    assert.ok(performance.now() - started >= 290, "not before the deadline");
    assert.equal(stalled.httpStatus, 200);
    assert.equal(stalled.paypayRequestId, "stall-1");
    const next = await client.createPointsCode(request());
    assert.equal(next.kind === "issued" ? next.code : next.kind, "AFTER-STALL");
  });

  test("a request after the client is closed fails at once, as a network failure naming the closed client", async () => {
    const server = await fakeServer((_req, _body, res) => res.writeHead(200, { "Content-Type": "application/json" }).end(okBody("BEFORE-CLOSE")));
    const client = clientFor(server.url);
    const before = await client.createPointsCode(request());
    assert.equal(before.kind === "issued" ? before.code : before.kind, "BEFORE-CLOSE");
    client.close();
    const after = await client.createPointsCode(request());
    assert.equal(after.kind === "retryable" ? after.errorCode : after.kind, "NETWORK_ERROR");
    assert.match(after.kind === "retryable" ? after.message : "", /the client was closed/);
    assert.equal(server.received.length, 1, "nothing was sent after close");
  });

  test("more requests than sockets wait for one, and each gets its own answer", async () => {
    const server = await fakeServer((_req, body, res) => {
      const id = (JSON.parse(body) as { requestId: string }).requestId;
      setTimeout(() => res.writeHead(200, { "Content-Type": "application/json" }).end(okBody(`C-${id}`)), 10);
    });
    const client = clientFor(server.url, { maxSockets: 2 });
    const requests = Array.from({ length: 12 }, () => request());
    const outcomes = await Promise.all(requests.map((r) => client.createPointsCode(r)));
    assert.deepEqual(
      outcomes.map((o) => (o.kind === "issued" ? o.code : o.kind)),
      requests.map((r) => `C-${r.requestId}`),
    );
  });
});
