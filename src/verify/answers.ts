import type { IncomingHttpHeaders } from "node:http";
import type { TransportResult } from "../paypay/http-transport.js";
import { isInt64String, readInt64, readSafeInteger, readScalarText } from "../paypay/int64.js";
import { isRecord, parseEnvelope } from "../paypay/envelope.js";
import { paypayRequestIdOf } from "../paypay/outcome.js";
import type { GroupBudget } from "../paypay/types.js";

/**
 * One exchange with PayPay as `verify` reads it: pure, so every way an answer can disagree with the
 * contract is testable without a server.
 */
export type Answer =
  | { kind: "unreachable"; message: string }
  | { kind: "no-envelope"; status: number; headers: IncomingHttpHeaders; paypayRequestId?: string }
  | { kind: "error"; status: number; headers: IncomingHttpHeaders; code: string; message: string; paypayRequestId?: string }
  | { kind: "success"; status: number; headers: IncomingHttpHeaders; data: unknown; paypayRequestId?: string };

export function readAnswer(result: TransportResult): Answer {
  if (result.kind !== "response") return { kind: "unreachable", message: result.message };
  const paypayRequestId = paypayRequestIdOf(result.headers);
  const envelope = parseEnvelope(result.body);
  const base = { status: result.status, headers: result.headers, paypayRequestId };
  if (envelope === undefined) return { kind: "no-envelope", ...base };
  if (result.status >= 200 && result.status < 300 && envelope.code === "SUCCESS") return { kind: "success", ...base, data: envelope.data };
  return { kind: "error", ...base, code: envelope.code, message: envelope.message };
}

/** "HTTP 400 INVALID_REQUEST_PARAMS: …" for the seen column. */
export function describeAnswer(answer: Answer): string {
  switch (answer.kind) {
    case "unreachable":
      return answer.message;
    case "no-envelope":
      return `HTTP ${answer.status} without a PayPay envelope`;
    case "error":
      return `HTTP ${answer.status} ${answer.code}${answer.message ? `: ${answer.message}` : ""}`;
    case "success":
      return `HTTP ${answer.status} SUCCESS`;
  }
}

export function requestIdsOf(...answers: Array<Answer | undefined>): string[] {
  return answers.flatMap((answer) => (answer && answer.kind !== "unreachable" && answer.paypayRequestId ? [answer.paypayRequestId] : []));
}

/** True when the path itself is unknown to the server (no route), not a refusal by PayPay's API. */
export function isNoRoute(answer: Answer): boolean {
  if (answer.kind === "no-envelope") return answer.status === 404 || answer.status === 405;
  return answer.kind === "error" && (answer.status === 405 || (answer.status === 404 && answer.code !== "OPA_CLIENT_NOT_FOUND"));
}

export interface ShapeReading {
  groups: GroupBudget[];
  /** Every way data differs from data.groups[] of {groupId: int64 number, budget: integer, maxPeriodDays?: integer}. */
  problems: string[];
}

/** Reads the budget answer's data the strict way the contract says, naming each departure. */
export function readBudgetShape(data: unknown): ShapeReading {
  const list = typeof data === "object" && data !== null ? (data as { groups?: unknown }).groups : undefined;
  if (!Array.isArray(list)) return { groups: [], problems: ["data.groups is not a list"] };
  const groups: GroupBudget[] = [];
  const problems: string[] = [];
  list.forEach((raw: unknown, index) => {
    const group = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
    const where = `data.groups[${index}]`;
    const groupId = readInt64(group.groupId);
    if (groupId === undefined) {
      const text = readScalarText(group.groupId);
      problems.push(
        typeof group.groupId === "string" && isInt64String(group.groupId)
          ? `${where}.groupId is a quoted string ("${group.groupId}"), not a JSON number`
          : `${where}.groupId is not an int64 number (${text ?? typeof group.groupId})`,
      );
    }
    const budget = readSafeInteger(group.budget);
    if (budget === undefined) problems.push(`${where}.budget is not an integer`);
    if (group.maxPeriodDays !== undefined && readSafeInteger(group.maxPeriodDays) === undefined) problems.push(`${where}.maxPeriodDays is not an integer`);
    if (groupId !== undefined && budget !== undefined) groups.push({ groupId, budget, maxPeriodDays: readSafeInteger(group.maxPeriodDays) });
  });
  return { groups, problems };
}

/** True when an int64 id was received as a number beyond 2^53, i.e. one JSON.parse would have rounded. */
export function beyondSafeInteger(groupId: string): boolean {
  return !Number.isSafeInteger(Number(groupId));
}

/** The code in `data[field]`, when it is a non-empty string. */
export function codeIn(data: unknown, field: string): string | undefined {
  if (!isRecord(data)) return undefined;
  const value = data[field];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Fields the contract's create body echoes back: none of them is the code. */
const ECHOED_FIELDS = new Set(["requestId", "groupId", "giftCardName", "giftCardValue", "startAt", "endAt"]);

/**
 * Where the code probably is when the configured field is missing: string fields that are not an
 * echo of the request, those named like a code first.
 */
export function codeFieldCandidates(data: unknown): string[] {
  if (!isRecord(data)) return [];
  const names = Object.entries(data)
    .filter(([name, value]) => !ECHOED_FIELDS.has(name) && typeof value === "string" && value !== "")
    .map(([name]) => name);
  return [...names.filter((name) => /code/i.test(name)), ...names.filter((name) => !/code/i.test(name))];
}

/** A code shown in the table: enough to recognise it, not enough to redeem it (the --json report has it whole). */
export function maskCode(code: string): string {
  return code.length <= 4 ? "…" : `${code.slice(0, 4)}… (${code.length} characters)`;
}
