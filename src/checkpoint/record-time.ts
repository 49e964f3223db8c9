/**
 * The time a journal record is written, as ISO 8601 text. Every request writes two records, and
 * thousands of requests a second share a millisecond: its text is made once (issue #15).
 */
export function recordTime(now: number = Date.now()): string {
  if (now !== lastMs) {
    lastMs = now;
    lastText = new Date(now).toISOString();
  }
  return lastText;
}

let lastMs = Number.NaN;
let lastText = "";
