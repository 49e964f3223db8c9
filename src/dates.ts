/**
 * Calendar dates as `yyyy-MM-dd`, the only format PayPay accepts. Pure and in UTC, so the host's
 * time zone and DST can never shift a day. Shared by the row validator and the simulator.
 */

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const MS_PER_DAY = 86_400_000;

// Every row is checked on every pass, and campaign dates repeat: remember the few distinct ones.
const known = new Map<string, number | undefined>();

/** Days since 1970-01-01 for a real calendar date, or undefined (`2026-02-30`, `2026-2-3`). */
export function dayNumber(text: string): number | undefined {
  if (known.has(text)) return known.get(text);
  const day = parseDayNumber(text);
  if (known.size >= 4096) known.clear();
  known.set(text, day);
  return day;
}

function parseDayNumber(text: string): number | undefined {
  const match = DATE_PATTERN.exec(text);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0..99 onto 1900..1999.
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return Math.round(date.getTime() / MS_PER_DAY);
}

export function isIsoDate(text: string): boolean {
  return dayNumber(text) !== undefined;
}

/** Whole days from `start` to `end`; NaN unless both are real dates. */
export function daysBetween(start: string, end: string): number {
  return (dayNumber(end) ?? NaN) - (dayNumber(start) ?? NaN);
}

export function formatDayNumber(days: number): string {
  const date = new Date(days * MS_PER_DAY);
  const year = String(date.getUTCFullYear()).padStart(4, "0");
  const month = String(date.getUTCMonth() + 1).padStart(2, "0");
  const day = String(date.getUTCDate()).padStart(2, "0");
  return `${year}-${month}-${day}`;
}

/** Japan has no DST: Asia/Tokyo is UTC+9 all year. */
const TOKYO_OFFSET_MS = 9 * 3_600_000;

/** Today's date in Asia/Tokyo, where PayPay's campaign dates live, at `nowMs`. */
export function tokyoDate(nowMs: number): string {
  return formatDayNumber(Math.floor((nowMs + TOKYO_OFFSET_MS) / MS_PER_DAY));
}
