import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { request, type IncomingHttpHeaders } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LosslessNumber } from "lossless-json";
import { authorizationHeader, freshNonce } from "../src/paypay/auth.js";
import { ERROR_CODES, type PayPayErrorCode } from "../src/paypay/error-codes.js";
import { stringifyJsonExact } from "../src/paypay/int64.js";
import { createSimulator, DEFAULT_GROUP, LOCAL_CREDENTIALS, loadSimulatorConfig, type Simulator, type SimulatorOptions } from "../src/simulator/index.js";
import { runSimulatorCommand } from "../src/cli/commands/simulator.js";
import { captureSimulatorIo, parseSimulatorArgs } from "./support/simulator.js";
import { waitFor } from "./support/job.js";

// ---- a tiny signed-request client ---------------------------------------------------------------

const CREATE_PATH = "/v1/points_code";
const BUDGET_PATH = "/v1/points_code/budget";
const JSON_TYPE = "application/json;charset=UTF-8";
const GROUP = DEFAULT_GROUP.groupId; // 29952775505428481: not representable as a double

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** Set when the exchange failed: reset, truncated body, client timeout. */
  error?: Error;
  complete: boolean;
}

/** Never rejects: fault tests need to see partial answers and socket errors as data. */
function rawRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string | Buffer,
  timeoutMs = 5_000,
  signal?: AbortSignal,
): Promise<Reply> {
  return new Promise((resolve) => {
    let settled = false;
    const chunks: Buffer[] = [];
    let status = 0;
    let replyHeaders: IncomingHttpHeaders = {};
    const finish = (complete: boolean, error?: Error): void => {
      if (settled) return;
      settled = true;
      const bytes = Buffer.concat(chunks);
      resolve({ status, headers: replyHeaders, body: bytes, text: bytes.toString("utf8"), complete, ...(error ? { error } : {}) });
    };
    // agent: false, so a socket a fault destroyed is never reused by the next test.
    const req = request(url, { method, headers, agent: false, ...(signal ? { signal } : {}) }, (res) => {
      status = res.statusCode ?? 0;
      replyHeaders = res.headers;
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => finish(res.complete));
      res.on("error", (error) => finish(false, error));
      res.on("close", () => finish(res.complete, res.complete ? undefined : new Error("response closed early")));
    });
    req.on("error", (error) => finish(false, error));
    req.setTimeout(timeoutMs, () => req.destroy(new Error("client timeout")));
    req.end(body);
  });
}

interface CallOptions {
  method?: "POST" | "GET";
  path?: string;
  /** Appended to the URL; never signed. */
  query?: string;
  /** null: no X-ASSUME-MERCHANT header. */
  merchantHeader?: string | null;
  apiKey?: string;
  apiSecret?: string;
  nonce?: string;
  epoch?: number;
  contentType?: string;
  /** Sign these bytes instead of the ones sent. */
  signedBody?: string;
  /** Replace the Authorization header entirely; null omits it. */
  authorization?: string | null;
  timeoutMs?: number;
  /** Aborts the exchange from the client's side (the server sees the socket close). */
  signal?: AbortSignal;
}

async function call(sim: Simulator, body: string | undefined, o: CallOptions = {}): Promise<Reply> {
  const method = o.method ?? (body === undefined ? "GET" : "POST");
  const path = o.path ?? (method === "GET" ? BUDGET_PATH : CREATE_PATH);
  const contentType = body === undefined ? undefined : (o.contentType ?? JSON_TYPE);
  const headers: Record<string, string> = {};
  if (contentType !== undefined) headers["Content-Type"] = contentType;
  const merchant = o.merchantHeader === undefined ? LOCAL_CREDENTIALS.merchantId : o.merchantHeader;
  if (merchant !== null) headers["X-ASSUME-MERCHANT"] = merchant;
  const authorization =
    o.authorization !== undefined
      ? o.authorization
      : authorizationHeader({
          apiKey: o.apiKey ?? LOCAL_CREDENTIALS.apiKey,
          apiSecret: o.apiSecret ?? LOCAL_CREDENTIALS.apiSecret,
          method,
          path,
          nonce: o.nonce ?? freshNonce(),
          epoch: o.epoch ?? Math.floor(Date.now() / 1000),
          ...(contentType !== undefined ? { contentType } : {}),
          ...(body !== undefined ? { body: o.signedBody ?? body } : {}),
        });
  if (authorization !== null) headers.Authorization = authorization;
  return rawRequest(`${sim.baseUrl}${path}${o.query ?? ""}`, method, headers, body, o.timeoutMs, o.signal);
}

let requestSeq = 0;
/** A valid create body; an override of `undefined` drops the field. */
function createBody(overrides: Record<string, unknown> = {}): string {
  const fields: Record<string, unknown> = {
    requestId: `req-${++requestSeq}`,
    groupId: new LosslessNumber(GROUP),
    giftCardName: "Thank you",
    giftCardValue: 500,
    startAt: "2094-04-01",
    endAt: "2094-06-30",
    ...overrides,
  };
  for (const key of Object.keys(fields)) if (fields[key] === undefined) delete fields[key];
  return stringifyJsonExact(fields);
}

function json(reply: Reply): { resultInfo: { code: string; message: string; codeId: string }; data: Record<string, unknown> | null } {
  return JSON.parse(reply.text);
}

function assertError(reply: Reply, code: PayPayErrorCode, messageIncludes?: string): void {
  const info = ERROR_CODES[code];
  assert.equal(reply.status, info.httpStatus, `status for ${code}: ${reply.text}`);
  const envelope = json(reply);
  assert.equal(envelope.resultInfo.code, code, reply.text);
  assert.equal(envelope.resultInfo.codeId, info.codeId);
  assert.equal(envelope.data, null);
  assert.match(String(reply.headers["x-request-id"]), /^[A-Za-z0-9-]{1,64}$/);
  assert.equal(reply.headers["content-type"], JSON_TYPE);
  if (messageIncludes !== undefined)
    assert.ok(envelope.resultInfo.message.includes(messageIncludes), `message "${envelope.resultInfo.message}" names ${messageIncludes}`);
}

async function withSimulator(options: SimulatorOptions, body: (sim: Simulator) => Promise<void>): Promise<void> {
  const sim = createSimulator(options);
  await sim.start();
  try {
    await body(sim);
  } finally {
    await sim.close();
  }
}

const budgetOf = (sim: Simulator, groupId = GROUP): number | undefined => sim.budgets().find((g) => g.groupId === groupId)?.budget;

// ---- tests --------------------------------------------------------------------------------------

describe("OPA-Auth test vectors (contract)", () => {
  test("vector 1 reproduces via authorizationHeader", () => {
    const header = authorizationHeader({
      apiKey: "APIKeyGenerated",
      apiSecret: "APIKeySecretGenerated",
      method: "POST",
      path: "/v2/codes",
      nonce: "acd028",
      epoch: 1579843452,
      contentType: "application/json;charset=UTF-8;",
      body: '{"sampleRequestBodyKey1":"sampleRequestBodyValue1","sampleRequestBodyKey2":"sampleRequestBodyValue2"}',
    });
    assert.equal(header, "hmac OPA-Auth:APIKeyGenerated:NW1jKIMnzR7tEhMWtcJcaef+nFVBt7jjAGcVuxHhchc=:acd028:1579843452:1j0FnY4flNp5CtIKa7x9MQ==");
  });

  test("vector 2 reproduces via authorizationHeader", () => {
    const header = authorizationHeader({
      apiKey: "key",
      apiSecret: "secret",
      method: "POST",
      path: "/v2/codes",
      nonce: "nonce",
      epoch: 12345,
      contentType: "application/json;charset=UTF-8",
      body: '{"a":1}',
    });
    assert.equal(header, "hmac OPA-Auth:key:Te98rbwV62D+T6MRB4AIc32VPE5a+tUrai/wFCAGgx0=:nonce:12345:20yInMqy99Jxgt2roxoSvw==");
  });
});

describe("create: success", () => {
  test("issues a 16-character code, charges the budget and records the ledger", async () => {
    await withSimulator({}, async (sim) => {
      const body = createBody({ requestId: "ok-1", giftCardValue: 700 });
      const reply = await call(sim, body);
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.headers["content-type"], JSON_TYPE);
      assert.match(String(reply.headers["x-request-id"]), /^[A-Za-z0-9-]{1,64}$/);
      const envelope = json(reply);
      assert.deepEqual(envelope.resultInfo, { code: "SUCCESS", message: "Success", codeId: "08100001" });
      const code = envelope.data?.giftCardCode;
      assert.match(String(code), /^[A-Z0-9]{16}$/);
      assert.equal(envelope.data?.requestId, "ok-1");
      assert.equal(envelope.data?.endAt, "2094-06-30");
      assert.equal(budgetOf(sim), DEFAULT_GROUP.budget - 700);
      const [entry, ...rest] = sim.ledger();
      assert.equal(rest.length, 0);
      assert.equal(entry?.code, code);
      assert.equal(entry?.charges, 1);
      assert.equal(sim.callsByRequestId().get("ok-1"), 1);

      const second = await call(sim, createBody());
      assert.notEqual(second.headers["x-request-id"], reply.headers["x-request-id"], "X-REQUEST-ID is unique per response");
      assert.notEqual(json(second).data?.giftCardCode, code, "codes never repeat");
    });
  });

  test("same-day period is stored ending the next day, across a year boundary too", async () => {
    await withSimulator({}, async (sim) => {
      const a = await call(sim, createBody({ requestId: "same-1", startAt: "2094-05-10", endAt: "2094-05-10" }));
      assert.equal(json(a).data?.endAt, "2094-05-11");
      const b = await call(sim, createBody({ requestId: "same-2", startAt: "2094-12-31", endAt: "2094-12-31" }));
      assert.equal(json(b).data?.endAt, "2095-01-01");
      assert.deepEqual(
        sim.ledger().map((e) => [e.startAt, e.endAt]),
        [
          ["2094-05-10", "2094-05-11"],
          ["2094-12-31", "2095-01-01"],
        ],
      );
    });
  });

  test("codes follow the seed: same seed, same codes; another seed, other codes", async () => {
    const codes = async (seed: number): Promise<string[]> => {
      const out: string[] = [];
      await withSimulator({ seed }, async (sim) => {
        for (let i = 0; i < 5; i++) out.push(String(json(await call(sim, createBody({ requestId: `seed-${i}` }))).data?.giftCardCode));
      });
      return out;
    };
    const [a, b, c] = [await codes(42), await codes(42), await codes(43)];
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.equal(new Set(a).size, 5);
  });
});

describe("create: merchant and authentication", () => {
  const fixedNow = Date.UTC(2026, 3, 1, 12, 0, 0);
  const fixedEpoch = fixedNow / 1000;

  test("missing merchant is 400 MISSING_REQUEST_PARAMS; unknown merchant is 404", async () => {
    await withSimulator({}, async (sim) => {
      assertError(await call(sim, createBody(), { merchantHeader: null }), "MISSING_REQUEST_PARAMS");
      assertError(await call(sim, createBody(), { merchantHeader: "someone-else" }), "OPA_CLIENT_NOT_FOUND");
      assert.equal(sim.ledger().length, 0);
    });
  });

  test("the assumeMerchant query parameter wins over the header and is not signed", async () => {
    await withSimulator({}, async (sim) => {
      const ok = await call(sim, createBody(), { query: `?assumeMerchant=${LOCAL_CREDENTIALS.merchantId}`, merchantHeader: "someone-else" });
      assert.equal(ok.status, 200, ok.text);
      const refused = await call(sim, createBody(), { query: "?assumeMerchant=someone-else", merchantHeader: LOCAL_CREDENTIALS.merchantId });
      assertError(refused, "OPA_CLIENT_NOT_FOUND");
    });
  });

  test("every authentication failure is 401 UNAUTHORIZED and commits nothing", async () => {
    await withSimulator({ now: () => fixedNow }, async (sim) => {
      const cases: Array<[string, CallOptions]> = [
        ["no Authorization header", { authorization: null, epoch: fixedEpoch }],
        ["not OPA-Auth", { authorization: "Bearer abc", epoch: fixedEpoch }],
        ["bad signature (wrong secret)", { apiSecret: "not-the-secret", epoch: fixedEpoch }],
        ["unknown api key", { apiKey: "other-key", epoch: fixedEpoch }],
        ["epoch 121 s behind", { epoch: fixedEpoch - 121 }],
        ["epoch 121 s ahead", { epoch: fixedEpoch + 121 }],
        ["body digest mismatch", { epoch: fixedEpoch, signedBody: createBody({ requestId: "something-else" }) }],
        ["content type signed differs from the one sent", { epoch: fixedEpoch, contentType: "application/json" }],
      ];
      for (const [name, options] of cases) {
        const body = createBody();
        const reply =
          name === "content type signed differs from the one sent"
            ? await call(sim, body, {
                ...options,
                authorization: authorizationHeader({
                  ...LOCAL_CREDENTIALS,
                  method: "POST",
                  path: CREATE_PATH,
                  nonce: freshNonce(),
                  epoch: fixedEpoch,
                  contentType: JSON_TYPE,
                  body,
                }),
              })
            : await call(sim, body, options);
        assert.equal(reply.status, 401, `${name}: ${reply.text}`);
        assertError(reply, "UNAUTHORIZED");
      }
      assert.equal(sim.ledger().length, 0);
      assert.equal(sim.stats().rejectedByCode.UNAUTHORIZED, cases.length);

      // The boundary: exactly clockSkewSeconds off is still accepted.
      assert.equal((await call(sim, createBody(), { epoch: fixedEpoch - 120 })).status, 200);
    });
  });

  test("a nonce is accepted once; its replay is 401", async () => {
    await withSimulator({}, async (sim) => {
      const first = await call(sim, createBody(), { nonce: "nonce-01" });
      assert.equal(first.status, 200, first.text);
      assertError(await call(sim, createBody(), { nonce: "nonce-01" }), "UNAUTHORIZED", "Nonce");
    });
  });

  test("a request with a bad signature does not burn its nonce", async () => {
    await withSimulator({}, async (sim) => {
      assertError(await call(sim, createBody(), { nonce: "nonce-02", apiSecret: "forged" }), "UNAUTHORIZED");
      assert.equal((await call(sim, createBody(), { nonce: "nonce-02" })).status, 200);
    });
  });
});

describe("create: validation", () => {
  const over40 = "a".repeat(41);
  const emoji40 = "😀".repeat(40); // 40 code points, 80 UTF-16 units, 160 bytes
  const cases: Array<[string, string, PayPayErrorCode, string]> = [
    ["missing requestId", createBody({ requestId: undefined }), "MISSING_REQUEST_PARAMS", "requestId"],
    ["missing groupId", createBody({ groupId: undefined }), "MISSING_REQUEST_PARAMS", "groupId"],
    ["missing giftCardName", createBody({ giftCardName: undefined }), "MISSING_REQUEST_PARAMS", "giftCardName"],
    ["missing giftCardValue", createBody({ giftCardValue: undefined }), "MISSING_REQUEST_PARAMS", "giftCardValue"],
    ["missing startAt", createBody({ startAt: undefined }), "MISSING_REQUEST_PARAMS", "startAt"],
    ["missing endAt", createBody({ endAt: undefined }), "MISSING_REQUEST_PARAMS", "endAt"],
    ["quoted groupId", createBody({ groupId: GROUP }), "INVALID_REQUEST_PARAMS", "groupId"],
    ["fractional groupId", createBody({ groupId: new LosslessNumber("1.5") }), "INVALID_REQUEST_PARAMS", "groupId"],
    ["empty requestId", createBody({ requestId: "" }), "INVALID_REQUEST_PARAMS", "requestId"],
    ["requestId of 65 chars", createBody({ requestId: "r".repeat(65) }), "INVALID_REQUEST_PARAMS", "requestId"],
    ["giftCardName of 41 code points", createBody({ giftCardName: over40 }), "INVALID_REQUEST_PARAMS", "giftCardName"],
    ["giftCardName of 41 emoji", createBody({ giftCardName: `${emoji40}😀` }), "INVALID_REQUEST_PARAMS", "giftCardName"],
    ["empty giftCardName", createBody({ giftCardName: "" }), "INVALID_REQUEST_PARAMS", "giftCardName"],
    ["giftCardValue 0", createBody({ giftCardValue: 0 }), "INVALID_REQUEST_PARAMS", "giftCardValue"],
    ["giftCardValue 1000000", createBody({ giftCardValue: 1_000_000 }), "INVALID_REQUEST_PARAMS", "giftCardValue"],
    ["giftCardValue 1.5", createBody({ giftCardValue: 1.5 }), "INVALID_REQUEST_PARAMS", "giftCardValue"],
    ["quoted giftCardValue", createBody({ giftCardValue: "500" }), "INVALID_REQUEST_PARAMS", "giftCardValue"],
    ["startAt 2094-02-30", createBody({ startAt: "2094-02-30" }), "INVALID_REQUEST_PARAMS", "startAt"],
    ["endAt 2026/06/30", createBody({ endAt: "2026/06/30" }), "INVALID_REQUEST_PARAMS", "endAt"],
    ["startAt after endAt", createBody({ startAt: "2094-07-01", endAt: "2094-06-30" }), "INVALID_REQUEST_PARAMS", "startAt"],
    ["not JSON", "{requestId:", "INVALID_REQUEST_PARAMS", "JSON"],
    ["a JSON array", "[]", "INVALID_REQUEST_PARAMS", "JSON object"],
  ];

  test("each rule answers its code and names the field", async () => {
    await withSimulator({}, async (sim) => {
      for (const [name, body, code, field] of cases) {
        const reply = await call(sim, body);
        assert.equal(json(reply).resultInfo.code, code, `${name}: ${reply.text}`);
        assertError(reply, code, field);
      }
      assert.equal(sim.ledger().length, 0);
      assert.equal(budgetOf(sim), DEFAULT_GROUP.budget);
    });
  });

  test("a name of 40 emoji (40 code points, 160 bytes) is accepted and kept intact", async () => {
    await withSimulator({}, async (sim) => {
      const reply = await call(sim, createBody({ requestId: "emoji", giftCardName: emoji40 }));
      assert.equal(reply.status, 200, reply.text);
      assert.equal(sim.ledger()[0]?.giftCardName, emoji40);
      sim.setBudget(GROUP, 999_999);
      assert.equal((await call(sim, createBody({ giftCardValue: 999_999 }))).status, 200, "999999 is the top of the range");
      assert.equal(budgetOf(sim), 0);
    });
  });

  test("a body over 1 MiB is refused with 400", async () => {
    await withSimulator({}, async (sim) => {
      const big = createBody({ padding: "x".repeat(1024 * 1024) });
      const reply = await call(sim, big);
      assertError(reply, "INVALID_REQUEST_PARAMS", "exceeds");
    });
  });
});

describe("create: group rules", () => {
  const small = { groupId: "1001", budget: 1_000, maxPeriodDays: 30, minAmount: 100 };

  test("unknown group, minimum amount, max period and budget each answer their code", async () => {
    await withSimulator({ groups: [small] }, async (sim) => {
      const g = new LosslessNumber("1001");
      // Ten days, within the group's 30, unless a case is about the period.
      const body = (overrides: Record<string, unknown>): string => createBody({ startAt: "2094-04-01", endAt: "2094-04-10", ...overrides });
      assertError(await call(sim, body({ groupId: new LosslessNumber("1002") })), "GIFT_CARD_GROUP_NOT_EXIST");
      assertError(await call(sim, body({ groupId: g, giftCardValue: 99 })), "INVALID_CHARGE_CODE_AMOUNT");
      assertError(await call(sim, body({ groupId: g, startAt: "2094-01-01", endAt: "2094-02-01" })), "EXCEED_CHARGE_CODE_GROUP_MAX_PERIOD");
      assert.equal(
        (await call(sim, body({ groupId: g, giftCardValue: 100, startAt: "2094-01-01", endAt: "2094-01-31" }))).status,
        200,
        "exactly maxPeriodDays is allowed",
      );
      assertError(await call(sim, body({ requestId: "too-much", groupId: g, giftCardValue: 901 })), "BUDGET_NOT_ENOUGH");
      assert.equal(budgetOf(sim, "1001"), 900);
      assert.equal(sim.ledger().length, 1);

      // Refusals are not recorded: after a top-up the same requestId succeeds.
      sim.setBudget("1001", 5_000);
      const retried = await call(sim, body({ requestId: "too-much", groupId: g, giftCardValue: 901 }));
      assert.equal(retried.status, 200, retried.text);
      assert.equal(budgetOf(sim, "1001"), 4_099);
      assert.equal(sim.callsByRequestId().get("too-much"), 2);
    });
  });
});

describe("create: idempotency by requestId", () => {
  test("the same request again returns the same code and is charged once", async () => {
    await withSimulator({}, async (sim) => {
      const body = createBody({ requestId: "idem-1", giftCardValue: 1_000 });
      const first = await call(sim, body);
      // Same fields, other key order and spacing: compared by meaning, not bytes.
      const reordered = `{ "endAt":"2094-06-30", "startAt":"2094-04-01", "giftCardValue":1000, "giftCardName":"Thank you", "groupId":${GROUP}, "requestId":"idem-1" }`;
      const second = await call(sim, reordered);
      assert.equal(second.status, 200, second.text);
      assert.deepEqual(json(second).data, json(first).data);
      assert.equal(sim.ledger().length, 1);
      assert.equal(budgetOf(sim), DEFAULT_GROUP.budget - 1_000);
      assert.equal(sim.callsByRequestId().get("idem-1"), 2);
    });
  });

  test("the same requestId with a different request is 400 INVALID_REQUEST_PARAMS", async () => {
    await withSimulator({}, async (sim) => {
      assert.equal((await call(sim, createBody({ requestId: "idem-2", giftCardValue: 500 }))).status, 200);
      const reply = await call(sim, createBody({ requestId: "idem-2", giftCardValue: 501 }));
      assertError(reply, "INVALID_REQUEST_PARAMS", "requestId already used with a different request");
      assert.equal(sim.ledger().length, 1);
      assert.equal(budgetOf(sim), DEFAULT_GROUP.budget - 500);
    });
  });
});

describe("int64 group ids", () => {
  test("29952775505428481 survives the request, the ledger and the budget answer digit for digit", async () => {
    assert.notEqual(String(Number(GROUP)), GROUP, "precondition: the id is not representable as a double");
    await withSimulator({}, async (sim) => {
      const created = await call(sim, createBody({ requestId: "int64" }));
      assert.ok(created.text.includes(`"groupId":${GROUP}`), created.text);
      assert.equal(sim.ledger()[0]?.groupId, GROUP);

      const budget = await call(sim, undefined);
      assert.equal(budget.status, 200, budget.text);
      assert.ok(budget.text.includes(`{"groupId":${GROUP},"budget":${DEFAULT_GROUP.budget - 500},"maxPeriodDays":365}`), budget.text);
    });
  });

  test("ids that one double would conflate stay distinct", async () => {
    await withSimulator({ groups: [{ ...DEFAULT_GROUP, groupId: "9007199254740993" }] }, async (sim) => {
      assertError(await call(sim, createBody({ groupId: new LosslessNumber("9007199254740992") })), "GIFT_CARD_GROUP_NOT_EXIST");
      assert.equal((await call(sim, createBody({ groupId: new LosslessNumber("9007199254740993") }))).status, 200);
    });
  });

  test("loadSimulatorConfig keeps every digit of a bare JSON number id and names bad settings", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sim-config-"));
    try {
      const good = join(dir, "good.json");
      await writeFile(good, '{"groups":[{"groupId":29952775505428483,"budget":5000,"maxPeriodDays":30,"minAmount":10}],"faults":{"rateLimit":0.25},"seed":9}');
      const options = await loadSimulatorConfig(good);
      assert.deepEqual(options.groups, [{ groupId: "29952775505428483", budget: 5000, maxPeriodDays: 30, minAmount: 10 }]);
      assert.deepEqual(options.faults, { rateLimit: 0.25 });
      assert.equal(options.seed, 9);

      const bad = join(dir, "bad.json");
      await writeFile(bad, '{"latencyMS":5}');
      await assert.rejects(loadSimulatorConfig(bad), (error: Error) => error.message.includes(bad) && error.message.includes("latencyMS"));
      await writeFile(bad, '{"faults":{"rateLimit":2}}');
      await assert.rejects(loadSimulatorConfig(bad), /rateLimit/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("budget endpoint and routing", () => {
  test("GET budget is signed with `empty` and needs merchant and auth", async () => {
    await withSimulator({}, async (sim) => {
      const ok = await call(sim, undefined);
      assert.equal(ok.status, 200, ok.text);
      assert.equal(json(ok).resultInfo.code, "SUCCESS");
      assert.ok(String(ok.headers["x-request-id"]).length > 0);
      assertError(await call(sim, undefined, { merchantHeader: null }), "MISSING_REQUEST_PARAMS");
      assertError(await call(sim, undefined, { apiSecret: "wrong" }), "UNAUTHORIZED");
      // Signing a GET with a content type and body digest instead of `empty` must fail.
      const wrongDigest = authorizationHeader({
        ...LOCAL_CREDENTIALS,
        method: "GET",
        path: BUDGET_PATH,
        nonce: freshNonce(),
        epoch: Math.floor(Date.now() / 1000),
        contentType: JSON_TYPE,
        body: "",
      });
      assertError(await call(sim, undefined, { authorization: wrongDigest }), "UNAUTHORIZED");
    });
  });

  test("unknown path is 404 and wrong method is 405, both with an envelope", async () => {
    await withSimulator({}, async (sim) => {
      const missing = await call(sim, undefined, { path: "/v1/nothing" });
      assert.equal(missing.status, 404);
      assert.equal(json(missing).resultInfo.code, "NOT_FOUND");
      assert.ok(missing.headers["x-request-id"]);
      const wrong = await call(sim, undefined, { path: CREATE_PATH });
      assert.equal(wrong.status, 405);
      assert.equal(wrong.headers.allow, "POST");
      assert.equal(json(wrong).data, null);
    });
  });

  test("latency delays both endpoints", async () => {
    await withSimulator({ latencyMs: 60 }, async (sim) => {
      for (const body of [createBody(), undefined]) {
        const started = performance.now();
        const reply = await call(sim, body);
        assert.equal(reply.status, 200);
        assert.ok(performance.now() - started >= 55, "waited latencyMs");
      }
    });
  });
});

describe("faults at rate 1.0", () => {
  test("rateLimit and maintenance answer with Retry-After and commit nothing", async () => {
    await withSimulator({ faults: { rateLimit: 1 } }, async (sim) => {
      const reply = await call(sim, createBody({ requestId: "f-rl" }));
      assertError(reply, "RATE_LIMIT");
      assert.equal(reply.headers["retry-after"], "1");
      sim.setFaults({ maintenance: 1 });
      const maintenance = await call(sim, createBody({ requestId: "f-rl" }));
      assertError(maintenance, "MAINTENANCE_MODE");
      assert.equal(maintenance.headers["retry-after"], "1");
      assert.equal(sim.ledger().length, 0);
      assert.equal(sim.callsByRequestId().get("f-rl"), 2);
      assert.equal(sim.stats().faultsInjected.rateLimit, 1);
      assert.equal(sim.stats().faultsInjected.maintenance, 1);
    });
  });

  test("error500BeforeCommit is 500 SERVICE_ERROR with nothing committed", async () => {
    await withSimulator({ faults: { error500BeforeCommit: 1 } }, async (sim) => {
      assertError(await call(sim, createBody()), "SERVICE_ERROR");
      assert.equal(sim.ledger().length, 0);
      assert.equal(budgetOf(sim), DEFAULT_GROUP.budget);
    });
  });

  test("resetBeforeCommit resets the socket with nothing committed", async () => {
    await withSimulator({ faults: { resetBeforeCommit: 1 } }, async (sim) => {
      const reply = await call(sim, createBody({ requestId: "f-rb" }));
      assert.ok(reply.error, "client sees a socket error");
      assert.equal(reply.status, 0);
      assert.equal(sim.ledger().length, 0);
      assert.equal(sim.callsByRequestId().get("f-rb"), 1);
      assert.equal(sim.stats().faultsInjected.resetBeforeCommit, 1);
    });
  });

  test("error500AfterCommit is 500 INTERNAL_SERVER_ERROR yet committed; a retry returns the same code", async () => {
    await withSimulator({ faults: { error500AfterCommit: 1 } }, async (sim) => {
      const body = createBody({ requestId: "f-500a" });
      assertError(await call(sim, body), "INTERNAL_SERVER_ERROR");
      assert.equal(sim.ledger().length, 1);
      // A replay never re-draws an after-commit fault: the retry resolves the unknown outcome.
      const retry = await call(sim, body);
      assert.equal(retry.status, 200, retry.text);
      assert.equal(json(retry).data?.giftCardCode, sim.ledger()[0]?.code);
      assert.equal(budgetOf(sim), DEFAULT_GROUP.budget - 500);
    });
  });

  test("resetAfterCommit resets the socket after the commit", async () => {
    await withSimulator({ faults: { resetAfterCommit: 1 } }, async (sim) => {
      const reply = await call(sim, createBody());
      assert.ok(reply.error, "client sees a socket error");
      assert.equal(sim.ledger().length, 1);
    });
  });

  test("hangAfterCommit never answers; the client times out and close() still returns", async () => {
    const sim = createSimulator({ faults: { hangAfterCommit: 1 } });
    await sim.start();
    const started = performance.now();
    const reply = await call(sim, createBody(), { timeoutMs: 1_000 });
    assert.equal(reply.error?.message, "client timeout");
    assert.ok(performance.now() - started >= 990);
    assert.equal(sim.ledger().length, 1);
    // A second hung request stays open on the server; close() must destroy it, not wait for it.
    // Its client would give up only after a minute, so an error before that is the server's doing.
    const pending = call(sim, createBody(), { timeoutMs: 60_000 });
    await waitFor(() => sim.ledger().length === 2, 15_000, "the second request to be committed and hung");
    assert.equal(sim.stats().createRequests, 2);
    assert.equal(sim.stats().faultsInjected.hangAfterCommit, 2);
    await sim.close();
    const second = await pending;
    assert.ok(second.error, "the hung socket was destroyed");
    assert.notEqual(second.error.message, "client timeout", "close() destroyed the hung socket rather than waiting for the client to give up");
    assert.equal(second.status, 0, "no answer was ever sent");
  });

  test("truncateAfterCommit sends half the body under the full Content-Length", async () => {
    await withSimulator({ faults: { truncateAfterCommit: 1 } }, async (sim) => {
      const body = createBody({ requestId: "f-trunc" });
      const reply = await call(sim, body);
      assert.equal(reply.status, 200);
      assert.equal(reply.complete, false);
      assert.ok(reply.error, "the client notices the early close");
      assert.ok(reply.body.length < Number(reply.headers["content-length"]), `${reply.body.length} < ${reply.headers["content-length"]}`);
      assert.equal(sim.ledger().length, 1);
      const retry = await call(sim, body);
      assert.equal(retry.status, 200);
      assert.equal(json(retry).data?.giftCardCode, sim.ledger()[0]?.code);
    });
  });

  test("maxInFlight answers 429 RATE_LIMIT beyond the limit", async () => {
    // The one slot is held by a request that hangs after its commit, for as long as the test wants:
    // the requests after it arrive while it is held whatever the machine's load.
    await withSimulator({ maxInFlight: 1, faults: { hangAfterCommit: 1 } }, async (sim) => {
      const release = new AbortController();
      const holder = call(sim, createBody(), { timeoutMs: 60_000, signal: release.signal });
      await waitFor(() => sim.ledger().length === 1, 15_000, "the first request to take the slot");
      const replies = await Promise.all([1, 2].map(() => call(sim, createBody())));
      for (const reply of replies) assertError(reply, "RATE_LIMIT");
      const stats = sim.stats();
      assert.equal(stats.createRequests, 3);
      assert.equal(stats.rejectedByCode.RATE_LIMIT, 2);
      assert.equal(sim.ledger().length, 1, "a refused request commits nothing");
      // The holder was in flight throughout; the two refused ones may or may not have overlapped.
      assert.ok(stats.maxConcurrentCreates >= 2 && stats.maxConcurrentCreates <= 3, `peak ${stats.maxConcurrentCreates}`);
      // Slots are released: once the holder is gone the next one is admitted.
      release.abort();
      assert.ok((await holder).error, "the holder was aborted");
      await waitFor(() => sim.stats().concurrentCreates === 0, 15_000, "the server to release the slot");
      sim.setFaults({});
      assert.equal((await call(sim, createBody())).status, 200);
      assert.equal(sim.ledger().length, 2);
    });
  });

  test("faults are drawn from the seed: the same seed injects the same sequence", async () => {
    const run = async (): Promise<number[]> => {
      const statuses: number[] = [];
      await withSimulator({ seed: 7, faults: { error500BeforeCommit: 0.5 } }, async (sim) => {
        for (let i = 0; i < 12; i++) statuses.push((await call(sim, createBody())).status);
      });
      return statuses;
    };
    const [a, b] = [await run(), await run()];
    assert.deepEqual(a, b);
    assert.ok(a.includes(200) && a.includes(500), `a mix at rate 0.5: ${a.join(",")}`);
  });
});

describe("test endpoints for a simulator in another process", () => {
  test("GET /__simulator/ledger and POST /__simulator/budget", async () => {
    await withSimulator({}, async (sim) => {
      await call(sim, createBody({ requestId: "admin-1", giftCardValue: 300 }));
      await call(sim, createBody({ requestId: "admin-1", giftCardValue: 300 }));
      const ledger = await rawRequest(`${sim.baseUrl}/__simulator/ledger`, "GET", {});
      assert.equal(ledger.status, 200);
      assert.ok(ledger.text.includes(`"groupId":${GROUP}`), "ids are bare int64 numbers");
      const parsed = JSON.parse(ledger.text);
      assert.equal(parsed.entries.length, 1);
      assert.equal(parsed.entries[0].requestId, "admin-1");
      assert.deepEqual(parsed.calls, { "admin-1": 2 });
      assert.equal(parsed.budgets[0].budget, DEFAULT_GROUP.budget - 300);
      assert.equal(parsed.stats.createRequests, 2);

      const topUp = await rawRequest(`${sim.baseUrl}/__simulator/budget`, "POST", { "Content-Type": "application/json" }, `{"groupId":${GROUP},"budget":42}`);
      assert.equal(topUp.status, 200, topUp.text);
      assert.equal(budgetOf(sim), 42);
      const unknown = await rawRequest(`${sim.baseUrl}/__simulator/budget`, "POST", {}, '{"groupId":1,"budget":42}');
      assert.equal(unknown.status, 400);
      assert.equal(JSON.parse(unknown.text).resultInfo.code, "GIFT_CARD_GROUP_NOT_EXIST");
    });
  });
});

describe("simulator CLI command", () => {
  test("flags define the group and faults; the local secret is printed", async () => {
    const args = await parseSimulatorArgs(["simulator", "--group-id", "29952775505428485", "--budget", "5000", "--fault-500-after", "0.5", "--seed", "3"]);
    const io = captureSimulatorIo();
    const sim = await runSimulatorCommand(args, io);
    try {
      assert.match(io.lines[0] ?? "", /^PayPay simulator listening on http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(io.lines[0], `PayPay simulator listening on ${sim.baseUrl}`);
      assert.ok(io.lines.includes(`merchant id: ${LOCAL_CREDENTIALS.merchantId}`));
      assert.ok(io.lines.includes(`api key: ${LOCAL_CREDENTIALS.apiKey}`));
      assert.ok(io.lines.includes(`secret: ${LOCAL_CREDENTIALS.apiSecret}`));
      assert.deepEqual(sim.budgets(), [{ groupId: "29952775505428485", budget: 5000, maxPeriodDays: 365, minAmount: 1 }]);
    } finally {
      await sim.close();
    }
  });

  test("credentials from the environment are used and their secret is never printed", async () => {
    const env = { PAYPAY_API_KEY: "env-key", PAYPAY_API_SECRET: "env-secret-value", PAYPAY_MERCHANT_ID: "env-merchant" };
    const io = captureSimulatorIo(env);
    const sim = await runSimulatorCommand(await parseSimulatorArgs(["simulator"]), io);
    try {
      assert.ok(io.lines.includes("secret: (from PAYPAY_API_SECRET)"));
      assert.ok(!io.lines.join("\n").includes("env-secret-value"));
      const reply = await call(sim, createBody(), { apiKey: "env-key", apiSecret: "env-secret-value", merchantHeader: "env-merchant" });
      assert.equal(reply.status, 200, reply.text);
    } finally {
      await sim.close();
    }
  });

  test("--config groups are overridden by the group flags of the same id", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sim-cli-"));
    try {
      const file = join(dir, "sim.json");
      await writeFile(file, '{"groups":[{"groupId":29952775505428487,"budget":100},{"groupId":7,"budget":200}],"latencyMs":0}');
      const io = captureSimulatorIo();
      const sim = await runSimulatorCommand(
        await parseSimulatorArgs(["simulator", "--config", file, "--group-id", "29952775505428487", "--budget", "300"]),
        io,
      );
      try {
        assert.deepEqual(
          sim.budgets().map((g) => [g.groupId, g.budget]),
          [
            ["7", 200],
            ["29952775505428487", 300],
          ],
        );
        assert.ok(io.lines.includes("group 29952775505428487: budget 300, maxPeriodDays 365, minAmount 1"));
      } finally {
        await sim.close();
      }
      await assert.rejects(
        runSimulatorCommand(await parseSimulatorArgs(["simulator", "--config", file, "--budget", "5"]), captureSimulatorIo()),
        /need --group-id/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("bad flag values and non-loopback hosts are refused with clear errors", async () => {
    await assert.rejects(runSimulatorCommand(await parseSimulatorArgs(["simulator", "--fault-rate-limit", "2"]), captureSimulatorIo()), {
      message: 'Expected --fault-rate-limit to be a number between 0 and 1, got "2"',
    });
    await assert.rejects(runSimulatorCommand(await parseSimulatorArgs(["simulator", "--group-id", "1.5e3"]), captureSimulatorIo()), /--group-id/);
    await assert.rejects(runSimulatorCommand(await parseSimulatorArgs(["simulator", "--host", "0.0.0.0"]), captureSimulatorIo()), /loopback/);
    await assert.rejects(parseSimulatorArgs(["simulator", "--no-such-flag"]), /Unknown argument/);
  });
});

describe("contract variants (for verify)", () => {
  test("codeField, replay refused and changed body original/reissued answer as configured", async () => {
    await withSimulator({ contract: { codeField: "pointsCode", replay: "refused" } }, async (sim) => {
      const first = await call(sim, createBody({ requestId: "variant-1" }));
      assert.equal(first.status, 200, first.text);
      assert.equal(json(first).data?.pointsCode, sim.ledger()[0]?.code);
      assert.equal(json(first).data?.giftCardCode, undefined);
      assertError(await call(sim, createBody({ requestId: "variant-1" })), "INVALID_REQUEST_PARAMS", "requestId already used");
      assert.equal(sim.ledger().length, 1);
      assert.equal(budgetOf(sim), DEFAULT_GROUP.budget - 500);
    });
    await withSimulator({ contract: { changedBody: "original" } }, async (sim) => {
      const first = json(await call(sim, createBody({ requestId: "variant-1" }))).data?.giftCardCode;
      const changed = await call(sim, createBody({ requestId: "variant-1", giftCardName: "other" }));
      assert.equal(json(changed).data?.giftCardCode, first);
      assert.equal(sim.ledger().length, 1);
    });
    await withSimulator({ contract: { changedBody: "reissued" } }, async (sim) => {
      const first = json(await call(sim, createBody({ requestId: "variant-1" }))).data?.giftCardCode;
      const changed = await call(sim, createBody({ requestId: "variant-1", giftCardName: "other" }));
      assert.notEqual(json(changed).data?.giftCardCode, first);
      assert.equal(sim.ledger().length, 2, "charged twice under one requestId");
      assert.deepEqual(json(await call(sim, createBody({ requestId: "variant-1" }))).data?.giftCardCode, first, "the first body still replays");
    });
  });

  test("clockOffsetSeconds moves the Date header and the signature check together", async () => {
    await withSimulator({ clockOffsetSeconds: -300 }, async (sim) => {
      const reply = await call(sim, undefined);
      assertError(reply, "UNAUTHORIZED", "too far");
      const serverDate = Date.parse(String(reply.headers.date));
      assert.ok(Math.abs(serverDate - (Date.now() - 300_000)) < 5_000, `Date header ${reply.headers.date}`);
    });
  });

  test("the simulator command's flags and config keys set the variants", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sim-cli-"));
    try {
      const file = join(dir, "sim.json");
      await writeFile(file, '{"codeField":"code","replay":"refused","changedBody":"reissued","clockOffsetSeconds":30}');
      const fromFile = await loadSimulatorConfig(file);
      assert.deepEqual(fromFile.contract, { codeField: "code", replay: "refused", changedBody: "reissued" });
      assert.equal(fromFile.clockOffsetSeconds, 30);
      await writeFile(file, '{"replay":"sometimes"}');
      await assert.rejects(loadSimulatorConfig(file), /replay must be one of original, refused/);

      const io = captureSimulatorIo();
      const args = [
        "simulator",
        "--create-path",
        "/v2/codes",
        "--budget-path",
        "/v2/budget",
        "--code-field",
        "code",
        "--replay",
        "refused",
        "--changed-body",
        "original",
        "--clock-offset",
        "-300",
      ];
      const sim = await runSimulatorCommand(await parseSimulatorArgs(args), io);
      try {
        assert.ok(
          io.lines.includes(
            "contract: create path /v2/codes, budget path /v2/budget, code field code, replay refused, changed body original, clock offset -300 s",
          ),
          io.lines.join("\n"),
        );
        assertError(await call(sim, undefined, { path: "/v2/budget" }), "UNAUTHORIZED", "too far");
      } finally {
        await sim.close();
      }
      await assert.rejects(parseSimulatorArgs(["simulator", "--replay", "sometimes"]), /Invalid values/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
