import { createHash, createHmac, randomBytes } from "node:crypto";

/**
 * PayPay "OPA-Auth" HMAC signing, as the contract describes it. Pure: the caller supplies the
 * nonce and epoch, so the public test vectors can be reproduced exactly.
 */

export interface SignInput {
  apiKey: string;
  apiSecret: string;
  method: string;
  /** Request path without the query string. */
  path: string;
  nonce: string;
  /** Unix seconds. */
  epoch: number;
  /** The exact Content-Type header sent, or undefined for a request without a body. */
  contentType?: string;
  /** The exact bytes sent, or undefined for a request without a body. */
  body?: Uint8Array | string;
}

export const EMPTY = "empty";

/** Base64(MD5(contentType bytes + body bytes)), or the literal "empty" without a body. */
export function payloadDigest(contentType: string | undefined, body: Uint8Array | string | undefined): string {
  if (body === undefined || contentType === undefined) return EMPTY;
  return createHash("md5").update(contentType, "utf8").update(body).digest("base64");
}

export function macData(input: Omit<SignInput, "apiKey" | "apiSecret">, hash: string): string {
  const contentType = input.body === undefined || input.contentType === undefined ? EMPTY : input.contentType;
  return `${input.path}\n${input.method.toUpperCase()}\n${input.nonce}\n${input.epoch}\n${contentType}\n${hash}`;
}

export function signature(apiSecret: string, data: string): string {
  return createHmac("sha256", Buffer.from(apiSecret, "utf8")).update(data, "utf8").digest("base64");
}

/** The full `Authorization` header value. */
export function authorizationHeader(input: SignInput): string {
  const hash = payloadDigest(input.contentType, input.body);
  const sig = signature(input.apiSecret, macData(input, hash));
  return `hmac OPA-Auth:${input.apiKey}:${sig}:${input.nonce}:${input.epoch}:${hash}`;
}

export interface ParsedAuthorization {
  apiKey: string;
  signature: string;
  nonce: string;
  epoch: string;
  hash: string;
}

/** Splits an `Authorization` header; undefined when it is not an OPA-Auth header. */
export function parseAuthorization(header: string | undefined): ParsedAuthorization | undefined {
  const prefix = "hmac OPA-Auth:";
  if (!header?.startsWith(prefix)) return undefined;
  const parts = header.slice(prefix.length).split(":");
  if (parts.length !== 5) return undefined;
  const [apiKey, sig, nonce, epoch, hash] = parts as [string, string, string, string, string];
  return { apiKey, signature: sig, nonce, epoch, hash };
}

/**
 * 8 URL-safe random characters: fresh for every attempt, retries included. Taken from a pool of
 * CSPRNG bytes refilled 6 KiB at a time: one randomBytes call per request cost more CPU than the
 * HMAC itself. Every byte is used once.
 */
export function freshNonce(): string {
  if (noncePosition + NONCE_BYTES > noncePool.length) {
    noncePool = randomBytes(NONCE_BYTES * 1024);
    noncePosition = 0;
  }
  const nonce = noncePool.toString("base64url", noncePosition, noncePosition + NONCE_BYTES);
  noncePosition += NONCE_BYTES;
  return nonce;
}

const NONCE_BYTES = 6;
let noncePool = Buffer.alloc(0);
let noncePosition = 0;

export function nowEpochSeconds(now: number = Date.now()): number {
  return Math.floor(now / 1000);
}
