import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { ERROR_CODES, type PayPayErrorCode } from "../paypay/error-codes.js";
import { stringifyJsonExact } from "../paypay/int64.js";

export const CONTENT_TYPE = "application/json;charset=UTF-8";
export const SUCCESS_RESULT = { code: "SUCCESS", message: "Success", codeId: "08100001" } as const;

/**
 * Routing answers that PayPay's table has no code for. A client classifies them by HTTP status
 * alone (see dispositionOf), which is what it would have to do against the real gateway too.
 */
const ROUTING_ERRORS = {
  NOT_FOUND: { httpStatus: 404, codeId: "" },
  METHOD_NOT_ALLOWED: { httpStatus: 405, codeId: "" },
} as const;

export type SimulatorErrorCode = PayPayErrorCode | keyof typeof ROUTING_ERRORS;

/** A refusal the handler answers with PayPay's error envelope. */
export class ApiError extends Error {
  constructor(
    readonly code: SimulatorErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function errorInfo(code: SimulatorErrorCode): { httpStatus: number; codeId: string } {
  return code in ROUTING_ERRORS ? ROUTING_ERRORS[code as keyof typeof ROUTING_ERRORS] : ERROR_CODES[code as PayPayErrorCode];
}

/** Set on arrival so that every answer, even a truncated one, carries an id to quote to support. */
export function assignRequestId(res: ServerResponse): void {
  res.setHeader("X-REQUEST-ID", randomUUID());
}

export function jsonBody(value: unknown): Buffer {
  return Buffer.from(stringifyJsonExact(value), "utf8");
}

export function successBody(data: unknown): Buffer {
  return jsonBody({ resultInfo: SUCCESS_RESULT, data });
}

/** Headers and status for a JSON answer, without sending the body (truncation needs them apart). */
export function writeJsonHead(res: ServerResponse, status: number, body: Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, "Content-Type": CONTENT_TYPE, "Content-Length": String(body.length) });
}

export function sendJson(res: ServerResponse, status: number, body: Buffer, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.headersSent) return;
  writeJsonHead(res, status, body, headers);
  res.end(body);
}

/** Sends the envelope and returns the code, so the caller can count it. */
export function sendError(res: ServerResponse, error: ApiError): SimulatorErrorCode {
  const { httpStatus, codeId } = errorInfo(error.code);
  const body = jsonBody({ resultInfo: { code: error.code, message: error.message, codeId }, data: null });
  sendJson(res, httpStatus, body, error.headers);
  return error.code;
}
