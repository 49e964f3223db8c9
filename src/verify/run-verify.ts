import { setTimeout as sleep } from "node:timers/promises";
import { formatDayNumber } from "../dates.js";
import { REQUEST_ID_NAMESPACE } from "../job/request-id.js";
import { serializeCreateBody } from "../paypay/client.js";
import { clockSkewSeconds, describeClockSkew, SKEW_WORTH_NAMING_SECONDS } from "../paypay/clock-skew.js";
import { dispositionOf } from "../paypay/error-codes.js";
import type { TransportResult } from "../paypay/http-transport.js";
import type { CreatePointsCodeRequest, GroupBudget } from "../paypay/types.js";
import { v5 as uuidv5 } from "uuid";
import { yen } from "../yen.js";
import { beyondSafeInteger, describeAnswer, isNoRoute, readAnswer, readBudgetShape, requestIdsOf, type Answer } from "./answers.js";
import { changedBodyFinding, createFindings, replayFinding } from "./create-findings.js";
import { finding, notChecked, type Finding, type ObservedSettings, type TestCode, type VerifyReport } from "./report.js";

/**
 * `verify`: checks each assumption of the contract against the PayPay it talks to, in order, each
 * step only once the steps it rests on held. Sends budget reads and, only with issueTestCode, one
 * ¥1 code under a dedicated requestId, that requestId and body again, then another body under it.
 */

export interface VerifyApi {
  send(method: "GET" | "POST", path: string, timeoutMs: number, body?: Buffer): Promise<TransportResult>;
}

export interface VerifyOptions {
  target: string;
  createPath: string;
  budgetPath: string;
  codeField: string;
  timeoutMs: number;
  budgetTimeoutMs: number;
  issueTestCode: boolean;
  /** The group to issue the test code into; the budget read's first group when undefined. */
  groupId?: string;
  /** The test code's requestId; derived from the merchant and the day when undefined. */
  requestId?: string;
  merchantId: string;
  /** This host's clock (ms), the one requests are signed with. */
  now: () => number;
  /** Waits between budget reads refused for load; tests pass one that does not wait. */
  pause?: (ms: number) => Promise<void>;
}

export const TEST_CODE_VALUE = 1;
export const TEST_CODE_NAME = "points-code-batch verify";
const JST_OFFSET_MS = 9 * 3_600_000;
const DAY_MS = 86_400_000;

/** Today in Japan, where PayPay's dates are: the test code starts and ends on it. */
export function jstDay(nowMs: number): string {
  return formatDayNumber(Math.floor((nowMs + JST_OFFSET_MS) / DAY_MS));
}

/**
 * One verification requestId per merchant and JST day: verify run twice on a day repeats the same
 * request (no second ¥1 charge when PayPay answers repeats with the original code). A 3-element
 * name can never equal a campaign row's 2-element [campaign, recipientId].
 */
export function verificationRequestId(merchantId: string, day: string): string {
  return uuidv5(JSON.stringify(["points-code-batch verify", merchantId, day]), REQUEST_ID_NAMESPACE);
}

export async function runVerify(api: VerifyApi, options: VerifyOptions): Promise<VerifyReport> {
  const findings: Finding[] = [];
  const observed: ObservedSettings = {};
  const report = (extra: Partial<VerifyReport> = {}): VerifyReport => ({
    target: options.target,
    checkedAt: new Date(options.now()).toISOString(),
    findings: [...findings, ...pendingChecks(findings, options.issueTestCode, extra.stopped)],
    observed,
    ...extra,
  });

  const budget = await readBudgetAnswer(api, options);
  const clock = clockFinding(budget, options.now());
  findings.push(clock);
  const budgetStep = budgetFindings(budget, options.budgetPath, clock.verdict === "differed");
  findings.push(...budgetStep.findings);
  if (budgetStep.stopped !== undefined || budgetStep.groups === undefined) return report({ stopped: budgetStep.stopped });
  observed.budgetPath = options.budgetPath;
  if (!options.issueTestCode) return report();

  const groupId = options.groupId ?? budgetStep.groups[0]?.groupId;
  if (groupId === undefined) return report({ stopped: "the budget read lists no group to issue the test code into: pass --group-id" });
  const day = jstDay(options.now());
  const testCode: TestCode = {
    requestId: options.requestId ?? verificationRequestId(options.merchantId, day),
    requestIdSource: options.requestId ? "--request-id" : "derived from the merchant and today's JST date",
    groupId,
    groupSource: options.groupId ? "--group-id or groupId in --config" : "the first group of the budget read",
    giftCardValue: TEST_CODE_VALUE,
    giftCardName: TEST_CODE_NAME,
    startAt: day,
    endAt: day,
    budgetBefore: budgetStep.groups.find((group) => group.groupId === groupId)?.budget,
  };
  return report({ testCode, ...(await checkCreate(api, options, testCode, findings, observed)) });
}

/** The create, replay and changed-body checks; findings and observed settings are added in place. */
async function checkCreate(
  api: VerifyApi,
  options: VerifyOptions,
  testCode: TestCode,
  findings: Finding[],
  observed: ObservedSettings,
): Promise<{ stopped?: string }> {
  const request: CreatePointsCodeRequest = {
    requestId: testCode.requestId,
    groupId: testCode.groupId,
    giftCardName: testCode.giftCardName,
    giftCardValue: testCode.giftCardValue,
    startAt: testCode.startAt,
    endAt: testCode.endAt,
  };
  const body = Buffer.from(serializeCreateBody(request), "utf8");
  const create = readAnswer(await api.send("POST", options.createPath, options.timeoutMs, body));
  const created = createFindings(create, options.createPath, options.codeField, testCode);
  findings.push(...created.findings);
  if (created.stopped !== undefined || created.codeField === undefined) return { stopped: created.stopped };
  observed.createPath = options.createPath;
  if (created.codeField !== options.codeField || created.code !== undefined) observed.codeField = created.codeField;
  testCode.code = created.code;
  testCode.budgetAfterCreate = await groupBudget(api, options, testCode.groupId);

  // The very same bytes again: what a retry after a timeout sends.
  const replay = readAnswer(await api.send("POST", options.createPath, options.timeoutMs, body));
  testCode.budgetAfterReplay = await groupBudget(api, options, testCode.groupId);
  const replayed = replayFinding(replay, created, testCode.budgetAfterCreate, testCode.budgetAfterReplay);
  findings.push(replayed.finding);
  if (replayed.replay !== undefined) observed.replay = replayed.replay;

  const changedBody = Buffer.from(serializeCreateBody({ ...request, giftCardName: `${TEST_CODE_NAME} (changed)` }), "utf8");
  const changed = readAnswer(await api.send("POST", options.createPath, options.timeoutMs, changedBody));
  testCode.budgetAfterChangedBody = await groupBudget(api, options, testCode.groupId);
  findings.push(changedBodyFinding(changed, created, testCode.budgetAfterReplay, testCode.budgetAfterChangedBody));
  return {};
}

// ---- budget read ------------------------------------------------------------------------------

const BUDGET_READ_ATTEMPTS = 3;

/** A budget read, repeated a little when refused for load (429, 5XX) or not answered: reads are harmless to repeat. */
async function readBudgetAnswer(api: VerifyApi, options: VerifyOptions): Promise<Answer> {
  const pause = options.pause ?? ((ms: number) => sleep(ms).then(() => undefined));
  for (let attempt = 1; ; attempt++) {
    const answer = readAnswer(await api.send("GET", options.budgetPath, options.budgetTimeoutMs));
    const transient = answer.kind === "unreachable" || (answer.kind !== "success" && (answer.status === 429 || answer.status >= 500));
    if (!transient || attempt >= BUDGET_READ_ATTEMPTS) return answer;
    await pause(1000 * attempt);
  }
}

async function groupBudget(api: VerifyApi, options: VerifyOptions, groupId: string): Promise<number | undefined> {
  const answer = await readBudgetAnswer(api, options);
  return answer.kind === "success" ? readBudgetShape(answer.data).groups.find((group) => group.groupId === groupId)?.budget : undefined;
}

export function clockFinding(answer: Answer, localNowMs: number): Finding {
  if (answer.kind === "unreachable") return notChecked("clock", "no answer to read a Date header from");
  const skew = clockSkewSeconds(answer.headers, localNowMs);
  if (skew === undefined) return notChecked("clock", "PayPay's answer had no Date header");
  const ids = requestIdsOf(answer);
  if (Math.abs(skew) > SKEW_WORTH_NAMING_SECONDS) {
    return finding("clock", "differed", describeClockSkew(skew), { fix: "synchronise this host's clock (NTP); no flag can fix it", paypayRequestIds: ids });
  }
  return finding("clock", "held", `${Math.abs(skew)} s off PayPay's Date header`, { paypayRequestIds: ids });
}

const CLOCK_FIRST = "set the clock first: PayPay answers UNAUTHORIZED to a signature from a clock this far off; then run verify again";
const CREDENTIALS_FIX =
  "check PAYPAY_API_KEY, PAYPAY_API_SECRET and PAYPAY_MERCHANT_ID, and that they belong to this environment (sandbox keys fail in production)";

export function budgetFindings(answer: Answer, budgetPath: string, clockOff = false): { findings: Finding[]; groups?: GroupBudget[]; stopped?: string } {
  const ids = requestIdsOf(answer);
  const seen = `GET ${budgetPath}: ${describeAnswer(answer)}`;
  if (answer.kind === "unreachable") {
    const stopped = `PayPay did not answer the budget read (${answer.message}): check the base URL, the network and the IP allow-list`;
    return { findings: [notChecked("credentials", seen), notChecked("budget-path", seen), notChecked("budget-shape", seen)], stopped };
  }
  if (isNoRoute(answer)) {
    return {
      findings: [
        notChecked("credentials", "needs a budget read that reaches PayPay's API"),
        finding("budget-path", "differed", seen, {
          fix: "--budget-path <path> (budgetPath in --config): ask PayPay for the budget path",
          paypayRequestIds: ids,
        }),
        notChecked("budget-shape", "needs the budget path"),
      ],
    };
  }
  if (answer.kind === "error" && dispositionOf(answer.status, answer.code) === "fatal") {
    return {
      findings: [
        finding("credentials", "differed", seen, { fix: clockOff && answer.status === 401 ? CLOCK_FIRST : CREDENTIALS_FIX, paypayRequestIds: ids }),
        notChecked("budget-path", seen),
        notChecked("budget-shape", seen),
      ],
      stopped: `PayPay refused the credentials (${answer.code})${clockOff && answer.status === 401 ? ", likely for the clock" : ""}: nothing more can be checked`,
    };
  }
  if (answer.kind !== "success") {
    const stopped = `the budget read was answered ${describeAnswer(answer)}: run verify again later, or ask PayPay about the budget path`;
    return { findings: [notChecked("credentials", seen), notChecked("budget-path", seen), notChecked("budget-shape", seen)], stopped };
  }
  const shape = readBudgetShape(answer.data);
  const shapeFinding =
    shape.problems.length > 0
      ? finding("budget-shape", "differed", shape.problems.join("; "), {
          fix: "no setting reads another shape: send this report to the tool's maintainers",
          paypayRequestIds: ids,
        })
      : finding("budget-shape", "held", describeGroups(shape.groups), { paypayRequestIds: ids });
  return {
    findings: [finding("credentials", "held", seen, { paypayRequestIds: ids }), finding("budget-path", "held", seen, { paypayRequestIds: ids }), shapeFinding],
    groups: shape.problems.length > 0 ? undefined : shape.groups,
  };
}

function describeGroups(groups: readonly GroupBudget[]): string {
  if (groups.length === 0) return "data.groups is an empty list (no group to check ids against)";
  const wide = groups.filter((group) => beyondSafeInteger(group.groupId));
  const ids = wide.length > 0 ? `; ${wide.length} groupId(s) beyond 2^53 kept exact, e.g. ${wide[0]!.groupId}` : `; e.g. groupId ${groups[0]!.groupId}`;
  return `${groups.length} group(s)${ids}; first budget ${yen(groups[0]!.budget)}`;
}

/** Every assumption not yet reported, as "not checked" with the reason. */
function pendingChecks(findings: readonly Finding[], issueTestCode: boolean, stopped: string | undefined): Finding[] {
  const reported = new Set(findings.map((f) => f.id));
  const reason =
    stopped !== undefined ? "verification stopped first" : !issueTestCode ? "needs --issue-test-code (issues one ¥1 code)" : "needs the checks above to hold";
  const later = ["create-path", "code-field", "replay", "changed-body"] as const;
  return later.filter((id) => !reported.has(id)).map((id) => notChecked(id, reason));
}
