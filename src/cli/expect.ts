import { UsageError } from "../errors.js";

/** Option checks with p-queue style messages: `Expected --concurrency to be …, got "0"`. */

function got(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** A required option that was not given at all: say "required", not "got undefined". */
function requireGiven(name: string, value: unknown, rule: string): void {
  if (value === undefined) throw new UsageError(`${name} is required: expected ${rule}`, "MISSING_OPTION");
}

export function expectInteger(name: string, value: unknown, min: number, max: number): number {
  requireGiven(name, value, `an integer from ${min} to ${max}`);
  const text = typeof value === "number" ? String(value) : value;
  if (typeof text !== "string" || !/^-?\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`Expected ${name} to be an integer from ${min} to ${max}, got ${got(value)}`);
  }
  return Number(text);
}

export function expectPositiveNumber(name: string, value: unknown, max: number): number {
  requireGiven(name, value, `a number greater than 0 and at most ${max}`);
  const number = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
  if (!Number.isFinite(number) || number <= 0 || number > max) {
    throw new UsageError(`Expected ${name} to be a number greater than 0 and at most ${max}, got ${got(value)}`);
  }
  return number;
}

export function expectOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  requireGiven(name, value, `one of ${allowed.join(", ")}`);
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`Expected ${name} to be one of ${allowed.join(", ")}, got ${got(value)}`);
  }
  return value as T;
}

export function expectString(name: string, value: unknown, pattern?: RegExp, rule?: string): string {
  requireGiven(name, value, rule ?? "a non-empty string");
  if (typeof value !== "string" || value === "" || (pattern && !pattern.test(value))) {
    throw new UsageError(`Expected ${name} to be ${rule ?? "a non-empty string"}, got ${got(value)}`);
  }
  return value;
}

export function expectBoolean(name: string, value: unknown): boolean {
  requireGiven(name, value, "true or false");
  if (typeof value !== "boolean") throw new UsageError(`Expected ${name} to be true or false, got ${got(value)}`);
  return value;
}

/** The closest candidate by edit distance, for "did you mean" hints. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
