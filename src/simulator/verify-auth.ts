import { timingSafeEqual } from "node:crypto";
import { macData, nowEpochSeconds, parseAuthorization, payloadDigest, signature } from "../paypay/auth.js";
import { ApiError } from "./responses.js";
import type { SimulatorCredentials } from "./types.js";

export interface SignedRequest {
  authorization: string | undefined;
  method: string;
  /** Without the query string: the query is not signed. */
  path: string;
  /** The Content-Type header exactly as received; undefined for a request without a body. */
  contentType: string | undefined;
  /** The raw bytes received; undefined for a request without a body (GET). */
  body: Buffer | undefined;
}

// Canonical only: the MAC covers the epoch's text, and the shared macData renders a number.
const EPOCH_PATTERN = /^(0|[1-9][0-9]{0,15})$/;

function unauthorized(message: string): ApiError {
  return new ApiError("UNAUTHORIZED", message);
}

function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Verifies OPA-Auth headers the way the contract says PayPay does, replay protection included. */
export class RequestAuthenticator {
  /** nonce -> server epoch seconds when first accepted. */
  private readonly seenNonces = new Map<string, number>();

  constructor(
    private readonly credentials: SimulatorCredentials,
    private readonly clockSkewSeconds: number,
    private readonly now: () => number,
  ) {}

  /** Throws ApiError UNAUTHORIZED on any failure. */
  verify(request: SignedRequest): void {
    const auth = parseAuthorization(request.authorization);
    if (auth === undefined) throw unauthorized("Authorization header missing or not an OPA-Auth header");
    if (!constantTimeEqual(auth.apiKey, this.credentials.apiKey)) throw unauthorized("Unknown API key");

    const nowSeconds = nowEpochSeconds(this.now());
    if (!EPOCH_PATTERN.test(auth.epoch)) throw unauthorized("Epoch is not an integer");
    const epoch = Number(auth.epoch);
    if (Math.abs(epoch - nowSeconds) > this.clockSkewSeconds) throw unauthorized("Epoch is too far from the server clock");

    this.forgetOldNonces(nowSeconds);
    if (this.seenNonces.has(auth.nonce)) throw unauthorized("Nonce already used");

    const hash = payloadDigest(request.contentType, request.body);
    if (auth.hash !== hash) throw unauthorized("Payload hash does not match the body received");

    const expected = signature(
      this.credentials.apiSecret,
      macData({ method: request.method, path: request.path, nonce: auth.nonce, epoch, contentType: request.contentType, body: request.body }, hash),
    );
    if (!constantTimeEqual(auth.signature, expected)) throw unauthorized("Signature does not match");

    // Recorded only once the signature holds, so a forged request cannot burn a client's nonce.
    this.seenNonces.set(auth.nonce, nowSeconds);
  }

  /**
   * A nonce only needs remembering while its epoch could still pass the skew check; after 2×skew
   * a replay is refused by the clock anyway, so memory stays bounded on long runs.
   */
  private forgetOldNonces(nowSeconds: number): void {
    const horizon = nowSeconds - 2 * this.clockSkewSeconds;
    for (const [nonce, seenAt] of this.seenNonces) {
      if (seenAt >= horizon) break;
      this.seenNonces.delete(nonce);
    }
  }
}
