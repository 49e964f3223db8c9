import type { IncomingHttpHeaders } from "node:http";

/**
 * PayPay refuses a signature whose epoch is more than 120 s from its clock, and says only
 * UNAUTHORIZED. Its `Date` header tells how far this host's clock is off, so the refusal can name
 * the cause. The header has a one-second resolution: a skew below SKEW_WORTH_NAMING_SECONDS is
 * noise, not a cause.
 */
export const PAYPAY_CLOCK_LIMIT_SECONDS = 120;
export const SKEW_WORTH_NAMING_SECONDS = 60;

/** Seconds the server's clock is ahead of this host's (negative: behind), or undefined without a usable Date header. */
export function clockSkewSeconds(headers: IncomingHttpHeaders | undefined, localNowMs: number): number | undefined {
  const value = headers?.date;
  if (typeof value !== "string") return undefined;
  const serverMs = Date.parse(value);
  if (Number.isNaN(serverMs)) return undefined;
  return Math.round((serverMs - localNowMs) / 1000);
}

/** "this host's clock is N s off PayPay's (…)" when the skew is large enough to explain a refusal. */
export function describeClockSkew(skewSeconds: number): string {
  const direction = skewSeconds > 0 ? "behind" : "ahead of";
  return (
    `this host's clock is ${Math.abs(skewSeconds)} s off PayPay's (${direction} it; PayPay refuses signatures more than ` +
    `${PAYPAY_CLOCK_LIMIT_SECONDS} s off): set the clock (NTP) and run again`
  );
}

/** A note to append to an UNAUTHORIZED answer, or undefined when the clock is not the likely cause. */
export function clockSkewNote(headers: IncomingHttpHeaders | undefined, localNowMs: number): string | undefined {
  const skew = clockSkewSeconds(headers, localNowMs);
  return skew !== undefined && Math.abs(skew) > SKEW_WORTH_NAMING_SECONDS ? describeClockSkew(skew) : undefined;
}
