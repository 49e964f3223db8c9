/** Calendar dates as `yyyy-MM-dd`, the only format PayPay accepts. Pure, UTC, no time zones. */

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;

/** Days since 1970-01-01 for a real calendar date, or undefined (`2026-02-30`, `2026-2-3`). */
export function parseIsoDate(text: string): number | undefined {
  const match = DATE_PATTERN.exec(text);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const ms = Date.UTC(year, month - 1, day);
  const date = new Date(ms);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return ms / DAY_MS;
}

export function isIsoDate(text: string): boolean {
  return parseIsoDate(text) !== undefined;
}

/** Whole days from `start` to `end` (both valid dates). */
export function daysBetween(start: string, end: string): number {
  return (parseIsoDate(end) ?? NaN) - (parseIsoDate(start) ?? NaN);
}

export function addDays(date: string, days: number): string {
  const base = parseIsoDate(date);
  if (base === undefined) throw new RangeError(`not a date: ${date}`);
  return new Date((base + days) * DAY_MS).toISOString().slice(0, 10);
}
