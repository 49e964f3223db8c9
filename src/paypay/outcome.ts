import type { IncomingHttpHeaders } from "node:http";
import { clockSkewNote } from "./clock-skew.js";
import { dispositionOf } from "./error-codes.js";
import { parseJsonExact, readScalarText, stringifyJsonExact } from "./int64.js";
import { parseRetryAfter } from "./retry-after.js";
import type { TransportResult } from "./http-transport.js";

/**
 * Every answer to a create call becomes exactly one of four outcomes. This module is pure: it maps a
 * transport result to an outcome, so each fault kind's classification is testable in isolation.
 */

interface OutcomeBase {
  /** PayPay's X-REQUEST-ID of the response, kept for support tickets. */
  paypayRequestId?: string;
  httpStatus?: number;
}

export interface IssuedOutcome extends OutcomeBase {
  kind: "issued";
  code: string;
  /** The whole `data` object as JSON text, every digit as received. */
  data: string;
}

export interface RejectedOutcome extends OutcomeBase {
  kind: "rejected";
  errorCode: string;
  message: string;
  /** BUDGET_NOT_ENOUGH: the row is not at fault, its group is; stop that group, keep the row pending. */
  groupExhausted: boolean;
}

export interface RetryableOutcome extends OutcomeBase {
  kind: "retryable";
  /** PayPay's code when an envelope came back; otherwise TIMEOUT, NETWORK_ERROR or MALFORMED_RESPONSE. */
  errorCode: string;
  message: string;
  retryAfterMs?: number;
}

export interface FatalOutcome extends OutcomeBase {
  kind: "fatal";
  errorCode: string;
  message: string;
}

export type CreateOutcome = IssuedOutcome | RejectedOutcome | RetryableOutcome | FatalOutcome;

interface Envelope {
  code: string;
  message: string;
  data: unknown;
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;

/** X-REQUEST-ID when it has the documented shape; anything else is not worth echoing into files. */
export function paypayRequestIdOf(headers: IncomingHttpHeaders | undefined): string | undefined {
  const value = headers?.["x-request-id"];
  const text = Array.isArray(value) ? value[0] : value;
  return text !== undefined && REQUEST_ID_PATTERN.test(text) ? text : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The envelope, or undefined when the body is not a complete `{resultInfo:{code,…},data}` object. */
export function parseEnvelope(body: string): Envelope | undefined {
  let parsed: unknown;
  try {
    parsed = parseJsonExact(body);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || !isRecord(parsed.resultInfo)) return undefined;
  const code = parsed.resultInfo.code;
  if (typeof code !== "string" || code === "") return undefined;
  const message = readScalarText(parsed.resultInfo.message) ?? "";
  return { code, message, data: parsed.data };
}

export function classifyCreateResult(result: TransportResult, codeField: string, now: number = Date.now()): CreateOutcome {
  const paypayRequestId = paypayRequestIdOf(result.headers);
  const base: OutcomeBase = { paypayRequestId, httpStatus: result.status };
  if (result.kind !== "response") {
    return {
      ...base,
      kind: "retryable",
      errorCode: result.kind === "timeout" ? "TIMEOUT" : "NETWORK_ERROR",
      message: `${result.message}; the outcome is unknown, retry the same requestId`,
    };
  }

  const status = result.status;
  const envelope = parseEnvelope(result.body);
  const retryAfterMs = parseRetryAfter(result.headers["retry-after"], now);

  if (status >= 200 && status < 300) {
    const code = envelope?.code === "SUCCESS" && isRecord(envelope.data) ? readScalarText(envelope.data[codeField]) : undefined;
    if (envelope === undefined || code === undefined || code === "") {
      // A success we cannot read might have issued a code; only the same requestId can tell.
      return {
        ...base,
        kind: "retryable",
        errorCode: "MALFORMED_RESPONSE",
        message: `HTTP ${status} without a complete success envelope carrying data.${codeField}; the outcome is unknown`,
      };
    }
    return { ...base, kind: "issued", code, data: stringifyJsonExact(envelope.data) };
  }

  if (envelope === undefined) {
    if (status === 401 || status === 403 || status === 404) {
      return {
        ...base,
        kind: "fatal",
        errorCode: `HTTP_${status}`,
        message: `HTTP ${status} without a PayPay envelope: check the base URL, paths and credentials`,
      };
    }
    return {
      ...base,
      kind: "retryable",
      errorCode: "MALFORMED_RESPONSE",
      message: `HTTP ${status} without a complete PayPay envelope; the outcome is unknown`,
      retryAfterMs,
    };
  }

  const message = envelope.message || envelope.code;
  switch (dispositionOf(status, envelope.code)) {
    case "retryable":
      return { ...base, kind: "retryable", errorCode: envelope.code, message, retryAfterMs };
    case "fatal":
      return { ...base, kind: "fatal", errorCode: envelope.code, message: withClockNote(message, status, result.headers, now) };
    case "group-exhausted":
      return { ...base, kind: "rejected", errorCode: envelope.code, message, groupExhausted: true };
    case "rejected":
      return { ...base, kind: "rejected", errorCode: envelope.code, message, groupExhausted: false };
  }
}

/** A 401 from a host whose clock is far off PayPay's says so: UNAUTHORIZED alone does not. */
export function withClockNote(message: string, status: number, headers: IncomingHttpHeaders | undefined, now: number): string {
  const note = status === 401 ? clockSkewNote(headers, now) : undefined;
  return note === undefined ? message : `${message}; ${note}`;
}
