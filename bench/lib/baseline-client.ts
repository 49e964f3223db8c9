/**
 * What the two reference clients (floor-client.ts, naive-baseline.ts) share: their flag reading
 * and the OPA-Auth signing with the simulator's built-in credentials, so both put exactly the
 * tool's per-request signing work on the CPU.
 */
import { randomBytes } from "node:crypto";
import { authorizationHeader } from "../../src/paypay/auth.js";

export const CREATE_PATH = "/v1/points_code";
export const JSON_CONTENT_TYPE = "application/json;charset=UTF-8";

/** The value after `--name`, or `fallback`; throws when neither is there. */
export function flag(args: string[], name: string, fallback?: string): string {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? args[i + 1] : fallback;
  if (value === undefined) throw new Error(`--${name} is required`);
  return value;
}

/** Headers for a Create Points Code POST of `body` to the local simulator, signed afresh (new nonce and epoch). */
export function signedCreateHeaders(body: string | Buffer): Record<string, string> {
  const authorization = authorizationHeader({
    apiKey: "local-api-key",
    apiSecret: "local-api-secret",
    method: "POST",
    path: CREATE_PATH,
    nonce: randomBytes(6).toString("base64url"),
    epoch: Math.floor(Date.now() / 1000),
    contentType: JSON_CONTENT_TYPE,
    body,
  });
  return { "Content-Type": JSON_CONTENT_TYPE, Authorization: authorization, "X-ASSUME-MERCHANT": "local-merchant" };
}
