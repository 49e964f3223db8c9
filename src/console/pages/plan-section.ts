import type { Check } from "../campaign-check.js";
import { escapeHtml as e } from "../http-kit.js";
import { type PageContext, yenText } from "./layout.js";

/** The problems table, filterable by rule: the CLI's row/column/value/rule, one line each. */
export function problemsSection(p: PageContext, check: Check, rule: string | undefined): string {
  const t = p.t;
  const rules = [...new Set(check.problems.map((x) => x.rule))].sort();
  const shown = rule ? check.problems.filter((x) => x.rule === rule) : check.problems;
  const options = [`<option value="">${e(t.allRules)} (${check.problems.length})</option>`]
    .concat(rules.map((r) => `<option value="${e(r)}"${r === rule ? " selected" : ""}>${e(r)} (${check.problems.filter((x) => x.rule === r).length})</option>`))
    .join("");
  const rows = shown
    .slice(0, 1000)
    .map(
      (x) => `<tr data-rule="${e(x.rule)}"><td class="num">${x.row}</td><td>${e(x.column)}</td><td><code>${e(x.value)}</code></td><td>${e(x.rule)}</td></tr>`,
    )
    .join("");
  return `<section id="problems" data-testid="problems"><h2>${e(t.problems)} (${check.problems.length})</h2>
<p class="error">${e(t.problemsLead)}</p>
<form method="get" class="inline filter"><label>${e(t.filter)} <select name="rule" data-autosubmit>${options}</select></label> <noscript><button>${e(t.filter)}</button></noscript></form>
<table class="grid"><thead><tr><th>${e(t.row)}</th><th>${e(t.column)}</th><th>${e(t.value_)}</th><th>${e(t.rule)}</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

/** Per group: rows and yen, budget before and after, dates; then whatever refuses or halts the run. */
export function planSection(p: PageContext, check: Check): string {
  const t = p.t;
  const prepared = check.prepared;
  if (!prepared) return "";
  const { plan } = prepared;
  const budgets = new Map((prepared.budgets ?? []).map((b) => [b.groupId, b.budget]));
  const dates = plan.firstStartAt && plan.lastEndAt ? `${plan.firstStartAt} .. ${plan.lastEndAt}` : "";
  const groups = [...plan.groups.values()]
    .map((g) => {
      const before = budgets.get(g.groupId);
      return `<tr data-group="${e(g.groupId)}"><td>${e(g.groupId)}</td><td class="num">${g.rows}</td><td class="num">${yenText(g.amount)}</td>
<td class="num">${g.sendRows}${g.inDoubtRows > 0 ? ` (+${g.inDoubtRows})` : ""}</td><td class="num">${yenText(g.sendAmount + g.inDoubtAmount)}</td>
<td class="num">${g.issuedRows}</td>
<td class="num">${before === undefined ? "—" : yenText(before)}</td><td class="num">${before === undefined ? "—" : yenText(before - g.sendAmount)}</td><td>${e(dates)}</td></tr>`;
    })
    .join("");
  const refusal = check.refusal && check.problems.length === 0 ? check.refusal.message : undefined;
  const halts = [
    // A refusal is the CLI's message, which names its budget problems; without one, any budget
    // problem left (a shortfall under --allow-partial) still says which rows wait.
    ...(refusal ? [refusal] : prepared.budgetProblems.map((x) => x.message)),
    ...(check.changedNote ? [check.changedNote] : []),
  ];
  return `<section id="plan" data-testid="plan"><h2>${e(t.plan)}</h2>
<table class="grid"><thead><tr><th>${e(t.group)}</th><th>${e(t.rows)}</th><th>${e(t.yen)}</th><th>${e(t.toSend)}</th><th>${e(t.yen)}</th><th>${e(t.alreadyIssued)}</th><th>${e(t.budgetBefore)}</th><th>${e(t.budgetAfter)}</th><th>${e(t.dates)}</th></tr></thead><tbody>${groups}</tbody></table>
<p>${e(t.mayCharge)}: <b data-testid="may-charge">${yenText(check.worst)}</b> · ${e(t.rows)}: ${plan.rows} · ${e(t.digest)}: <code data-testid="digest">${e(check.digest ?? "")}</code></p>
${halts.length > 0 ? `<div class="error" data-testid="refusal"><b>${e(check.refusal ? t.refused : "")}</b><ul>${halts.map((h) => `<li>${e(h)}</li>`).join("")}</ul></div>` : ""}
</section>`;
}
