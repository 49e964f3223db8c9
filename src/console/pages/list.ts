import type { Campaign } from "../campaign-store.js";
import { escapeHtml as e } from "../http-kit.js";
import { layout, type PageContext, yenText } from "./layout.js";
import { stateOf } from "./state.js";

/** Every campaign: rows, issued / failed / pending, yen against budget, state, people, last activity. */
export function listPage(p: PageContext, campaigns: readonly Campaign[], running: (id: string) => boolean): string {
  const t = p.t;
  const rows = campaigns.map((c) => {
    const state = stateOf(c, running(c.id));
    return `<tr data-campaign="${e(c.id)}">
<td><a href="/campaigns/${e(c.id)}">${e(c.id)}</a></td>
<td class="num">${c.check?.rows ?? ""}</td>
<td class="num">${c.run?.issued ?? ""}</td><td class="num">${c.run?.failed ?? ""}</td><td class="num">${c.run?.pending ?? ""}</td>
<td class="num">${c.run?.issuedYen === undefined ? "" : yenText(c.run.issuedYen)}${c.check ? ` / ${yenText(c.approval?.worst ?? c.check.worst)}` : ""}</td>
<td><span class="state state-${state}">${e(t.states[state] ?? state)}</span></td>
<td>${e(c.preparedBy)}</td><td>${e(c.approval?.by ?? "")}</td>
<td><time>${e(c.updatedAt.replace("T", " ").slice(0, 19))}</time></td></tr>`;
  });
  const table =
    campaigns.length === 0
      ? `<p>${e(t.noCampaigns)}</p>`
      : `<table class="grid"><thead><tr><th>${e(t.id)}</th><th>${e(t.rows)}</th><th>${e(t.issued)}</th><th>${e(t.failed)}</th><th>${e(t.pending)}</th><th>${e(t.issuedOfPlanned)}</th><th>${e(t.state)}</th><th>${e(t.preparedBy)}</th><th>${e(t.approvedBy)}</th><th>${e(t.lastActivity)} (UTC)</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
  return layout(p, t.campaigns, `<p><a class="button" href="/new">${e(t.newCampaign)}</a></p>${table}`);
}
