import { authorizationHeader, freshNonce, nowEpochSeconds } from "./auth.js";
import type { Credentials } from "./credentials.js";
import { HttpTransport, type TransportResult } from "./http-transport.js";
import { isInt64String, readInt64, readSafeInteger } from "./int64.js";
import { parseEnvelope } from "./envelope.js";
import { classifyCreateResult, paypayRequestIdOf, withClockNote, type CreateOutcome } from "./outcome.js";
import type { CreatePointsCodeRequest, GroupBudget } from "./types.js";

export interface PayPayClientOptions {
  baseUrl: URL;
  credentials: Credentials;
  createPath?: string;
  budgetPath?: string;
  /** The field of a success's `data` that carries the code. */
  codeField?: string;
  createTimeoutMs?: number;
  budgetTimeoutMs?: number;
  maxSockets?: number;
  /** ms clock, for signing; tests skew it. */
  now?: () => number;
}

export const CLIENT_DEFAULTS = {
  createPath: "/v1/points_code",
  budgetPath: "/v1/points_code/budget",
  codeField: "giftCardCode",
  createTimeoutMs: 30_000,
  budgetTimeoutMs: 15_000,
} as const;

const JSON_CONTENT_TYPE = "application/json;charset=UTF-8";

/** A failed budget read: it reads nothing and is never retried silently by the caller. */
export class BudgetReadError extends Error {
  constructor(
    message: string,
    readonly errorCode: string,
    readonly fatal: boolean,
    readonly paypayRequestId?: string,
  ) {
    super(message);
    this.name = "BudgetReadError";
  }
}

/**
 * Serializes the create body by hand so `groupId` goes out as a bare JSON number with every digit:
 * it is held as a decimal string and never passes through a JS `number`.
 */
export function serializeCreateBody(request: CreatePointsCodeRequest): string {
  if (!isInt64String(request.groupId)) throw new TypeError(`groupId must be an int64 decimal string, got "${request.groupId}"`);
  if (!Number.isSafeInteger(request.giftCardValue)) throw new TypeError(`giftCardValue must be an integer, got ${request.giftCardValue}`);
  return (
    `{"requestId":${JSON.stringify(request.requestId)},"groupId":${request.groupId},` +
    `"giftCardName":${JSON.stringify(request.giftCardName)},"giftCardValue":${request.giftCardValue},` +
    `"startAt":${JSON.stringify(request.startAt)},"endAt":${JSON.stringify(request.endAt)}}`
  );
}

/**
 * PayPay's Points Code API. Every attempt is signed afresh (new nonce and epoch) over the exact bytes
 * it sends; every answer becomes a typed outcome; the secret is used for signing and nothing else.
 */
export class PayPayClient {
  private readonly transport: HttpTransport;
  private readonly options: Required<Omit<PayPayClientOptions, "maxSockets">>;

  constructor(options: PayPayClientOptions) {
    this.options = { ...CLIENT_DEFAULTS, now: Date.now, ...stripUndefined(options) };
    this.transport = new HttpTransport(options.maxSockets);
  }

  async createPointsCode(request: CreatePointsCodeRequest): Promise<CreateOutcome> {
    const body = Buffer.from(serializeCreateBody(request), "utf8");
    const result = await this.send("POST", this.options.createPath, this.options.createTimeoutMs, body);
    return classifyCreateResult(this.naming(result, "creating a Points Code at", this.options.createPath), this.options.codeField, this.options.now());
  }

  async getGroupBudgets(): Promise<GroupBudget[]> {
    const result = this.naming(
      await this.send("GET", this.options.budgetPath, this.options.budgetTimeoutMs),
      "reading group budgets from",
      this.options.budgetPath,
    );
    if (result.kind !== "response") {
      throw new BudgetReadError(result.message, result.kind === "timeout" ? "TIMEOUT" : "NETWORK_ERROR", false);
    }
    const paypayRequestId = paypayRequestIdOf(result.headers);
    const envelope = parseEnvelope(result.body);
    if (envelope === undefined) {
      throw new BudgetReadError(
        `reading group budgets from ${this.target(this.options.budgetPath)}: HTTP ${result.status} without a PayPay envelope`,
        "MALFORMED_RESPONSE",
        false,
        paypayRequestId,
      );
    }
    if (result.status !== 200 || envelope.code !== "SUCCESS") {
      const fatal = result.status === 401 || result.status === 403 || result.status === 404;
      const reference = paypayRequestId ? ` (X-REQUEST-ID ${paypayRequestId})` : "";
      throw new BudgetReadError(
        withClockNote(
          `reading group budgets from ${this.target(this.options.budgetPath)}: HTTP ${result.status} ${envelope.code}: ${envelope.message}${reference}`,
          result.status,
          result.headers,
          this.options.now(),
        ),
        envelope.code,
        fatal,
        paypayRequestId,
      );
    }
    return readGroups(envelope.data, this.target(this.options.budgetPath));
  }

  close(): void {
    this.transport.close();
  }

  /** The full address, without credentials or query: what a person checks first when nothing answers. */
  target(path: string): string {
    return this.options.baseUrl.origin + joinPath(this.options.baseUrl.pathname, path);
  }

  /** A timeout or network failure names what was being done and where: "reading group budgets from https://…: …". */
  private naming(result: TransportResult, doing: string, path: string): TransportResult {
    return result.kind === "response" ? result : { ...result, message: `${doing} ${this.target(path)}: ${result.message}` };
  }

  private readonly endpoints = new Map<string, { fullPath: string; url: URL }>();

  /** A path's full path and URL, built once: every create request goes to the same one. */
  private endpoint(path: string): { fullPath: string; url: URL } {
    let endpoint = this.endpoints.get(path);
    if (endpoint === undefined) {
      const fullPath = joinPath(this.options.baseUrl.pathname, path);
      endpoint = { fullPath, url: new URL(this.options.baseUrl.origin + fullPath) };
      this.endpoints.set(path, endpoint);
    }
    return endpoint;
  }

  /** One signed request, answered raw: `verify` inspects what the typed calls above would hide. */
  send(method: "GET" | "POST", path: string, timeoutMs: number, body?: Buffer): Promise<TransportResult> {
    const { credentials } = this.options;
    const { fullPath, url } = this.endpoint(path);
    const contentType = body ? JSON_CONTENT_TYPE : undefined;
    const authorization = authorizationHeader({
      apiKey: credentials.apiKey,
      apiSecret: credentials.apiSecret,
      method,
      path: fullPath,
      nonce: freshNonce(),
      epoch: nowEpochSeconds(this.options.now()),
      contentType,
      body,
    });
    const headers: Record<string, string> = body
      ? {
          Accept: "application/json",
          "X-ASSUME-MERCHANT": credentials.merchantId,
          Authorization: authorization,
          "Content-Type": JSON_CONTENT_TYPE,
          "Content-Length": String(body.length),
        }
      : { Accept: "application/json", "X-ASSUME-MERCHANT": credentials.merchantId, Authorization: authorization };
    return this.transport.send({ method, url, headers, body, timeoutMs });
  }
}

function joinPath(prefix: string, path: string): string {
  const left = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  return left + (path.startsWith("/") ? path : `/${path}`);
}

function readGroups(data: unknown, target: string): GroupBudget[] {
  const groups = typeof data === "object" && data !== null ? (data as { groups?: unknown }).groups : undefined;
  if (!Array.isArray(groups)) throw new BudgetReadError(`reading group budgets from ${target}: data.groups is not a list`, "MALFORMED_RESPONSE", false);
  return groups.map((group: Record<string, unknown>, index) => {
    const groupId = readInt64(group?.groupId);
    const budget = readSafeInteger(group?.budget);
    if (groupId === undefined || budget === undefined) {
      throw new BudgetReadError(`reading group budgets from ${target}: data.groups[${index}] lacks an integer groupId or budget`, "MALFORMED_RESPONSE", false);
    }
    return { groupId, budget, maxPeriodDays: readSafeInteger(group.maxPeriodDays) };
  });
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
