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

/**
 * Whether a run must pass the spend guard: `--env production` (even pointed at a rehearsal on this
 * machine), or a --base-url that is neither the sandbox nor this machine. A base URL pointing at
 * production is production whatever --env says, so the guard cannot be stepped around by naming
 * the URL instead.
 */
export function spendsRealMoney(env: EnvironmentName, baseUrl: string | undefined): boolean {
  if (env === "production" || baseUrl === undefined) return env === "production";
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return false; // refused by checkBaseUrl before anything is sent
  }
  return !isLoopbackHost(url.hostname) && url.origin !== new URL(ENVIRONMENTS.sandbox).origin;
}

/** The environment a base URL's origin is, when it is one of PayPay's; otherwise `fallback`. */
export function environmentOfOrigin(origin: string, fallback: EnvironmentName): EnvironmentName {
  if (origin === new URL(ENVIRONMENTS.production).origin) return "production";
  if (origin === new URL(ENVIRONMENTS.sandbox).origin) return "sandbox";
  return fallback;
}
