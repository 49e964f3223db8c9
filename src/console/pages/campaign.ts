import type { AuditEntry } from "../../audit/audit-log.js";
import type { Check } from "../campaign-check.js";
import type { Campaign } from "../campaign-store.js";
import { escapeHtml as e } from "../http-kit.js";
import type { ProgressSnapshot } from "../run-progress.js";
import { csrfField, errorBox, layout, type PageContext } from "./layout.js";
import { planSection, problemsSection } from "./plan-section.js";
import { runSection } from "./run-section.js";
import { stateOf } from "./state.js";

export interface CampaignView {
  campaign: Campaign;
  check?: Check;
  rule?: string;
  running: boolean;
  progress?: ProgressSnapshot;
  /** Rows of the result file: spreadsheet row, recipient, status, error code. Never a code. */
  results?: { row: number; recipient: string; status: string; error: string }[];
  audit: readonly AuditEntry[];
  /** Why this user may not approve, or undefined when they may. */
  approveBlock?: string;
  error?: string;
}

export function campaignPage(p: PageContext, v: CampaignView): string {
  const t = p.t;
  const c = v.campaign;
  const state = stateOf(c, v.running);
  const check = v.check;
  const head = `<p class="meta"><span class="state state-${state}" data-testid="state">${e(t.states[state] ?? state)}</span> · ${e(t.preparedBy)} ${e(c.preparedBy)}${c.approval ? ` · ${e(t.approvedBy)} ${e(c.approval.by)}` : ""}${c.fileName ? ` · <code>${e(c.fileName)}</code>` : ""}</p>`;
  const sections: string[] = [head, errorBox(v.error), errorBox(c.refusedRun)];
  if (check?.formError) sections.push(errorBox(check.formError));
  if (check && check.problems.length > 0) sections.push(problemsSection(p, check, v.rule));
  else if (check) sections.push(planSection(p, check));
  if (!c.approval && !c.run) sections.push(p.user?.roles.includes("preparer") ? uploadForm(p, c) : "", checkAgain(p, c));
  if (check?.digest && check.problems.length === 0 && !check.refusal && !c.approval && !c.run) sections.push(approveSection(p, c, check, v.approveBlock));
  if (c.run || v.running) sections.push(runSection(p, c, v.progress, v.running, v.approveBlock === undefined));
  if (v.results) sections.push(resultsSection(p, c, v.results));
  sections.push(auditSection(p, v.audit));
  return layout(p, `${t.id}: ${c.id}`, sections.join("\n"));
}

function uploadForm(p: PageContext, c: Campaign): string {
  return `<form method="post" action="/campaigns/${e(c.id)}/input" enctype="multipart/form-data" class="inline upload">${csrfField(p)}
<label class="drop">${e(p.t.file)} <input name="file" type="file" accept=".csv,text/csv" required></label> <button type="submit">${e(p.t.uploadFixed)}</button></form>`;
}

function checkAgain(p: PageContext, c: Campaign): string {
  return `<form method="post" action="/campaigns/${e(c.id)}/check" class="inline">${csrfField(p)}<button type="submit">${e(p.t.checkAgain)}</button></form>`;
}

function approveSection(p: PageContext, c: Campaign, check: Check, block: string | undefined): string {
  const t = p.t;
  if (block) return `<section id="approve"><h2>${e(t.approve)}</h2><p class="note" data-testid="approve-blocked">${e(block)}</p></section>`;
  return `<section id="approve" data-testid="approve"><h2>${e(t.approve)}</h2><p>${e(t.approveLead)}</p>
<form method="post" action="/campaigns/${e(c.id)}/approve" class="stack">${csrfField(p)}<input type="hidden" name="digest" value="${e(check.digest ?? "")}">
<label>${e(t.typeId)} <input name="confirm" autocomplete="off" required data-testid="confirm-id"></label>
<button type="submit" class="danger" data-testid="approve-button">${e(t.approve)}</button></form></section>`;
}

function resultsSection(p: PageContext, c: Campaign, rows: NonNullable<CampaignView["results"]>): string {
  const t = p.t;
  const body = rows
    .slice(0, 1000)
    .map((r) => `<tr class="status-${e(r.status)}"><td class="num">${r.row}</td><td>${e(r.recipient)}</td><td>${e(r.status)}</td><td>${e(r.error)}</td></tr>`)
    .join("");
  return `<section id="results" data-testid="results"><h2>${e(t.results)}</h2>
<p><a class="button" href="/campaigns/${e(c.id)}/results.csv" download data-testid="download-plain">${e(t.downloadPlain)}</a>
<a class="button" href="/campaigns/${e(c.id)}/results.csv?format=excel" download data-testid="download-excel">${e(t.downloadExcel)}</a></p>
<table class="grid"><thead><tr><th>${e(t.row)}</th><th>recipient_id</th><th>${e(t.status)}</th><th>${e(t.error)}</th></tr></thead><tbody>${body}</tbody></table></section>`;
}

function auditSection(p: PageContext, audit: readonly AuditEntry[]): string {
  const t = p.t;
  const rows = [...audit]
    .reverse()
    .map(
      (a) =>
        `<tr><td><time>${e(a.at)}</time></td><td>${e(a.who)}</td><td>${e(a.action)}${a.detail ? `: ${e(a.detail)}` : ""}</td><td><code>${e(a.planDigest?.slice(0, 12) ?? "")}</code></td></tr>`,
    )
    .join("");
  return `<section id="audit" data-testid="audit"><h2>${e(t.audit)}</h2><table class="grid"><thead><tr><th>${e(t.when)}</th><th>${e(t.who)}</th><th>${e(t.what)}</th><th>${e(t.digest)}</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}
