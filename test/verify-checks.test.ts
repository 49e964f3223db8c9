import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LosslessNumber } from "lossless-json";
import { codeFieldCandidates, maskCode, readAnswer, readBudgetShape, type Answer } from "../src/verify/answers.js";
import { changedBodyFinding, createFindings, replayFinding, type Created } from "../src/verify/create-findings.js";
import { budgetFindings, clockFinding } from "../src/verify/run-verify.js";

/** The pure readings behind `verify`, for answers the simulator never gives. */

const TEST_CODE = { requestId: "r-1", requestIdSource: "--request-id" as const };
const ok = (data: unknown, status = 200): Answer => ({ kind: "success", status, headers: {}, data });
const error = (status: number, code: string, message = ""): Answer => ({ kind: "error", status, headers: {}, code, message });
const created: Created = { findings: [], codeField: "giftCardCode", code: "CODE-1", data: { giftCardCode: "CODE-1" } };

describe("verify's readings", () => {
  test("readAnswer: envelope, error envelope, no envelope, no answer", () => {
    assert.equal(readAnswer({ kind: "response", status: 200, headers: {}, body: '{"resultInfo":{"code":"SUCCESS"},"data":{}}' }).kind, "success");
    assert.equal(readAnswer({ kind: "response", status: 400, headers: {}, body: '{"resultInfo":{"code":"X"},"data":null}' }).kind, "error");
    assert.equal(readAnswer({ kind: "response", status: 404, headers: {}, body: "<html>" }).kind, "no-envelope");
    assert.equal(readAnswer({ kind: "timeout", message: "no answer" }).kind, "unreachable");
  });

  test("budget shape: a quoted groupId, a missing list and a fractional budget are named", () => {
    assert.deepEqual(readBudgetShape({ groups: [{ groupId: "29952775505428481", budget: new LosslessNumber("5") }] }).problems, [
      'data.groups[0].groupId is a quoted string ("29952775505428481"), not a JSON number',
    ]);
    assert.deepEqual(readBudgetShape({ budgets: [] }).problems, ["data.groups is not a list"]);
    assert.deepEqual(readBudgetShape({ groups: [{ groupId: new LosslessNumber("7"), budget: new LosslessNumber("1.5") }] }).problems, [
      "data.groups[0].budget is not an integer",
    ]);
    const exact = readBudgetShape({
      groups: [{ groupId: new LosslessNumber("29952775505428481"), budget: new LosslessNumber("10"), maxPeriodDays: new LosslessNumber("30") }],
    });
    assert.deepEqual(exact, { groups: [{ groupId: "29952775505428481", budget: 10, maxPeriodDays: 30 }], problems: [] });
    const differed = budgetFindings(ok({ groups: [{ groupId: "1", budget: 1 }] }), "/b");
    assert.equal(differed.findings.find((f) => f.id === "budget-shape")?.verdict, "differed");
    assert.equal(differed.groups, undefined, "no test code into a group read the wrong way");
  });

  test("budget read: 404 OPA_CLIENT_NOT_FOUND is the credentials, a bare 404 the path", () => {
    const client = budgetFindings(error(404, "OPA_CLIENT_NOT_FOUND"), "/b");
    assert.equal(client.findings.find((f) => f.id === "credentials")?.verdict, "differed");
    assert.ok(client.stopped);
    const path = budgetFindings({ kind: "no-envelope", status: 404, headers: {} }, "/b");
    assert.equal(path.findings.find((f) => f.id === "budget-path")?.verdict, "differed");
    assert.equal(path.stopped, undefined);
  });

  test("clock: no Date header is not checked; 61 s differs", () => {
    assert.equal(clockFinding(ok({}), 0).verdict, "not checked");
    const now = Date.parse("2026-04-01T00:00:00Z");
    assert.equal(clockFinding({ kind: "success", status: 200, headers: { date: "Wed, 01 Apr 2026 00:01:01 GMT" }, data: {} }, now).verdict, "differed");
    assert.equal(clockFinding({ kind: "success", status: 200, headers: { date: "Wed, 01 Apr 2026 00:01:00 GMT" }, data: {} }, now).verdict, "held");
  });

  test("code field: candidates skip the echoed request, code-like names first", () => {
    assert.deepEqual(codeFieldCandidates({ requestId: "r", giftCardName: "n", status: "ACTIVE", pointsCode: "ABCD" }), ["pointsCode", "status"]);
    const found = createFindings(ok({ requestId: "r", code: "WXYZ1234" }), "/c", "giftCardCode", TEST_CODE);
    assert.equal(found.codeField, "code");
    assert.equal(found.findings.find((f) => f.id === "code-field")?.fix, "--code-field code (codeField in --config)");
    assert.equal(maskCode("WXYZ1234"), "WXYZ… (8 characters)");
  });

  test("create: an unknown outcome stops verify with the requestId to repeat", () => {
    const unknown = createFindings(error(500, "INTERNAL_SERVER_ERROR"), "/c", "giftCardCode", TEST_CODE);
    assert.match(unknown.stopped ?? "", /outcome is unknown .*same requestId r-1/);
  });

  test("replay: a different code, or the same code with the budget dropped, differs with no setting to fix it", () => {
    const second = replayFinding(ok({ giftCardCode: "CODE-2" }), created, 100, 99);
    assert.equal(second.finding.verdict, "differed");
    assert.equal(second.replay, undefined);
    assert.match(second.finding.fix ?? "", /do not run issue/);
    const charged = replayFinding(ok({ giftCardCode: "CODE-1" }), created, 100, 99);
    assert.equal(charged.finding.verdict, "differed");
    assert.equal(replayFinding(ok({ giftCardCode: "CODE-1" }), created, 99, 99).replay, "original");
    assert.equal(replayFinding(error(409, "DUPLICATED_REQUEST"), created, 99, 99).replay, "refused");
    assert.equal(replayFinding(error(503, "MAINTENANCE_MODE"), created, 99, 99).finding.verdict, "not checked");
  });

  test("changed body: another refusal code is recorded as seen", () => {
    const other = changedBodyFinding(error(409, "DUPLICATED_REQUEST", "dup"), created, 99, 99);
    assert.equal(other.verdict, "differed");
    assert.match(other.seen, /HTTP 409 DUPLICATED_REQUEST: dup/);
    assert.equal(changedBodyFinding(error(400, "INVALID_REQUEST_PARAMS"), created, 99, 99).verdict, "held");
  });
});
