/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`): the top functions by self time and by
 * inclusive time, each with its file:line, so a miss can be pinned to a function.
 *
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top 25] [--filter src/]
 */
import { readFileSync } from "node:fs";
import { round } from "./lib/stats.js";

const round1 = (x: number): number => round(x, 1);

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileRow {
  fn: string;
  selfMs: number;
  totalMs: number;
  selfPct: number;
  totalPct: number;
}

function label(frame: CallFrame): string {
  const file = frame.url
    .replace(/^file:\/\//, "")
    .replace(/^.*\/(node_modules\/)/, "$1")
    .replace(/^.*\/(dist|src|bench)\//, "$1/");
  return `${frame.functionName || "(anonymous)"} ${file ? `${file}:${frame.lineNumber + 1}` : ""}`.trim();
}

export function summarizeProfile(path: string, top = 25, filter?: string): { totalMs: number; bySelf: ProfileRow[]; byTotal: ProfileRow[] } {
  const profile = JSON.parse(readFileSync(path, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfById = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfById.set(id, (selfById.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  for (const [id, ms] of selfById) {
    const node = byId.get(id)!;
    const name = label(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + ms);
    // Inclusive: count each distinct label once per stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!.callFrame);
      if (seen.has(l)) continue;
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + ms);
    }
  }
  const rows = (m: Map<string, number>, other: Map<string, number>, selfFirst: boolean): ProfileRow[] =>
    [...m]
      .filter(([fn]) => (filter ? fn.includes(filter) : true))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, ms]) => {
        const s = selfFirst ? ms : (other.get(fn) ?? 0);
        const t = selfFirst ? (other.get(fn) ?? 0) : ms;
        return { fn, selfMs: round1(s), totalMs: round1(t), selfPct: round1((100 * s) / totalMs), totalPct: round1((100 * t) / totalMs) };
      });
  return { totalMs: round1(totalMs), bySelf: rows(self, total, true), byTotal: rows(total, self, false) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const file = args[0];
  if (!file) throw new Error("usage: profile-summary <file.cpuprofile> [--top N] [--filter TEXT]");
  const topIndex = args.indexOf("--top");
  const filterIndex = args.indexOf("--filter");
  const { totalMs, bySelf, byTotal } = summarizeProfile(
    file,
    topIndex >= 0 ? Number(args[topIndex + 1]) : 25,
    filterIndex >= 0 ? args[filterIndex + 1] : undefined,
  );
  console.log(`profile ${file}: ${totalMs} ms`);
  console.log("\n-- by self time --");
  for (const r of bySelf) console.log(`${String(r.selfMs).padStart(9)} ms ${String(r.selfPct).padStart(5)}%  (total ${r.totalPct}%)  ${r.fn}`);
  console.log("\n-- by inclusive time --");
  for (const r of byTotal) console.log(`${String(r.totalMs).padStart(9)} ms ${String(r.totalPct).padStart(5)}%  (self ${r.selfPct}%)  ${r.fn}`);
}
