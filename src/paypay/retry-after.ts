/**
 * `Retry-After` as milliseconds: either delta-seconds or an HTTP-date. Undefined when absent or
 * unparseable, so the caller falls back to its own backoff.
 */
// IMF-fixdate, e.g. "Fri, 27 Nov 2026 00:00:05 GMT"; Date.parse alone would accept "-1".
const HTTP_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!HTTP_DATE.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
