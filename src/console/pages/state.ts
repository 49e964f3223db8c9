import type { Campaign } from "../campaign-store.js";

/** One word for where a campaign stands, from what is recorded about it. */
export function stateOf(c: Campaign, running: boolean): string {
  if (running) return c.run?.state === "stopping" ? "stopping" : "running";
  if (c.run) return "ended";
  if (!c.check) return "draft";
  if (c.check.problems > 0) return "invalid";
  if (c.check.refusal) return "refused";
  return "ready";
}
