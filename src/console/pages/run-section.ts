import type { Campaign } from "../campaign-store.js";
import { escapeHtml as e } from "../http-kit.js";
import type { ProgressSnapshot } from "../run-progress.js";
import { csrfField, type PageContext } from "./layout.js";

/** Live progress (the script follows /campaigns/<id>/events), with Stop and Resume. */
export function runSection(p: PageContext, c: Campaign, snapshot: ProgressSnapshot | undefined, running: boolean, mayResume: boolean): string {
  const t = p.t;
  const s = snapshot;
  const exitCode = s?.exitCode ?? c.run?.exitCode;
  const reason = s?.reason ?? c.run?.reason ?? "";
  const percent = s && s.total > 0 ? Math.floor((s.settled / s.total) * 100) : exitCode === 0 ? 100 : 0;
  const stop = running
    ? `<form method="post" action="/campaigns/${e(c.id)}/stop" class="inline">${csrfField(p)}<button type="submit" data-testid="stop">${e(t.stop)}</button></form>`
    : "";
  const resume =
    // Also when the console stopped mid-run (no exit recorded): the checkpoint knows what is done.
    !running && mayResume && c.approval !== undefined && exitCode !== 0
      ? `<form method="post" action="/campaigns/${e(c.id)}/resume" class="inline">${csrfField(p)}<button type="submit" data-testid="resume">${e(t.resume)}</button></form>`
      : "";
  const ended = exitCode === undefined ? "" : `${t.exits[exitCode] ?? ""} (exit ${exitCode})${reason ? `: ${reason}` : ""}`;
  return `<section id="progress" data-testid="progress" data-events="/campaigns/${e(c.id)}/events" data-running="${running}">
<h2>${e(t.progress)}</h2>
<progress max="100" value="${percent}" data-field="bar"></progress> <b data-field="percent" data-testid="percent">${percent} %</b>
<dl class="figures">
<dt>${e(t.issued)}</dt><dd data-field="issued" data-testid="issued">${s?.issued ?? c.run?.issued ?? 0}</dd>
<dt>${e(t.failed)}</dt><dd data-field="failed">${s?.failed ?? c.run?.failed ?? 0}</dd>
<dt>${e(t.pending)}</dt><dd data-field="pending">${s?.pending ?? c.run?.pending ?? 0}</dd>
<dt>${e(t.rate)}</dt><dd data-field="rate">${s?.rate ?? 0}</dd>
<dt>${e(t.eta)}</dt><dd data-field="eta">${s?.etaSeconds === undefined ? "—" : `${s.etaSeconds} s`}</dd>
<dt>${e(t.retries)}</dt><dd data-field="retries">${s?.retries ?? 0}</dd>
</dl>
<svg class="chart" viewBox="0 0 240 60" width="240" height="60" role="img" aria-label="${e(t.rate)}"><polyline data-field="chart" fill="none" stroke="currentColor" stroke-width="1.5" points="${chartPoints(s?.history ?? [])}"/></svg>
<p data-field="ended" data-testid="run-ended" data-exit="${exitCode ?? ""}">${e(ended)}</p>
${stop}${resume}
</section>`;
}

/** The same drawing the script makes on each update: newest point at the right. */
export function chartPoints(history: readonly number[]): string {
  const max = Math.max(1, ...history);
  // Up to 120 points across the width; a short run's few points spread over it too.
  const step = 240 / Math.max(1, history.length - 1);
  return history.map((v, i) => `${(i * step).toFixed(1)},${(58 - (v / max) * 56).toFixed(1)}`).join(" ");
}
