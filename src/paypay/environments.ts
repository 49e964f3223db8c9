import { isLoopbackHost } from "../loopback.js";
import { UsageError } from "../errors.js";

export const ENVIRONMENTS = {
  production: "https://api.paypay.ne.jp",
  sandbox: "https://stg-api.sandbox.paypay.ne.jp",
  /** The embedded simulator; its URL is known only once it listens. */
  local: undefined,
} as const;

export type EnvironmentName = keyof typeof ENVIRONMENTS;

export const ENVIRONMENT_NAMES = Object.keys(ENVIRONMENTS) as EnvironmentName[];

/**
 * Parses and checks a base URL. Credentials and codes must never cross a network in clear text, so
 * `http:` is accepted only for loopback hosts (the simulator); anything else must be `https:`.
 */
export function checkBaseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`Expected --base-url to be an absolute URL, got "${raw}"`, "BAD_BASE_URL");
  }
  if (url.username || url.password) {
    throw new UsageError("--base-url must not embed credentials; use PAYPAY_API_KEY and PAYPAY_API_SECRET", "BAD_BASE_URL");
  }
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && isLoopbackHost(url.hostname)) return url;
  if (url.protocol === "http:") {
    throw new UsageError(`Refusing plain http:// to non-loopback host "${url.hostname}": PayPay traffic must use https://`, "INSECURE_BASE_URL");
  }
  throw new UsageError(`Expected --base-url to use https://, got "${url.protocol}"`, "BAD_BASE_URL");
}
