import type { IncomingHttpHeaders } from "node:http";
import { clockSkewNote } from "./clock-skew.js";
import { dispositionOf } from "./error-codes.js";
import { readCreateEnvelope } from "./envelope.js";
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

const REQUEST_ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;

/** X-REQUEST-ID when it has the documented shape; anything else is not worth echoing into files. */
export function paypayRequestIdOf(headers: IncomingHttpHeaders | undefined): string | undefined {
  const value = headers?.["x-request-id"];
  const text = Array.isArray(value) ? value[0] : value;
  return text !== undefined && REQUEST_ID_PATTERN.test(text) ? text : undefined;
}

export function classifyCreateResult(result: TransportResult, codeField: string, now: number = Date.now()): CreateOutcome {
  // Each outcome is written out whole, not spread from a shared base: on the send path a spread
  // cost as much as reading the answer (issue #15).
  const paypayRequestId = paypayRequestIdOf(result.headers);
  const httpStatus = result.status;
  if (result.kind !== "response") {
    return {
      paypayRequestId,
      httpStatus,
      kind: "retryable",
      errorCode: result.kind === "timeout" ? "TIMEOUT" : "NETWORK_ERROR",
      message: `${result.message}; the outcome is unknown, retry the same requestId`,
    };
  }

  const status = result.status;
  const envelope = readCreateEnvelope(result.body, codeField);
  const retryAfterMs = parseRetryAfter(result.headers["retry-after"], now);

  if (status >= 200 && status < 300) {
    const code = envelope?.code === "SUCCESS" ? envelope.issuedCode : undefined;
    if (envelope === undefined || code === undefined || code === "" || envelope.dataText === undefined) {
      // A success we cannot read might have issued a code; only the same requestId can tell.
      return {
        paypayRequestId,
        httpStatus,
        kind: "retryable",
        errorCode: "MALFORMED_RESPONSE",
        message: `HTTP ${status} without a complete success envelope carrying data.${codeField}; the outcome is unknown`,
      };
    }
    return { paypayRequestId, httpStatus, kind: "issued", code, data: envelope.dataText };
  }

  if (envelope === undefined) {
    if (status === 401 || status === 403 || status === 404) {
      return {
        paypayRequestId,
        httpStatus,
        kind: "fatal",
        errorCode: `HTTP_${status}`,
        message: `HTTP ${status} without a PayPay envelope: check the base URL, paths and credentials`,
      };
    }
    return {
      paypayRequestId,
      httpStatus,
      kind: "retryable",
      errorCode: "MALFORMED_RESPONSE",
      message: `HTTP ${status} without a complete PayPay envelope; the outcome is unknown`,
      retryAfterMs,
    };
  }

  const message = envelope.message || envelope.code;
  switch (dispositionOf(status, envelope.code)) {
    case "retryable":
      return { paypayRequestId, httpStatus, kind: "retryable", errorCode: envelope.code, message, retryAfterMs };
    case "fatal":
      return { paypayRequestId, httpStatus, kind: "fatal", errorCode: envelope.code, message: withClockNote(message, status, result.headers, now) };
    case "group-exhausted":
      return { paypayRequestId, httpStatus, kind: "rejected", errorCode: envelope.code, message, groupExhausted: true };
    case "rejected":
      return { paypayRequestId, httpStatus, kind: "rejected", errorCode: envelope.code, message, groupExhausted: false };
  }
}

/** A 401 from a host whose clock is far off PayPay's says so: UNAUTHORIZED alone does not. */
export function withClockNote(message: string, status: number, headers: IncomingHttpHeaders | undefined, now: number): string {
  const note = status === 401 ? clockSkewNote(headers, now) : undefined;
  return note === undefined ? message : `${message}; ${note}`;
}
