import type { GroupBudget } from "../../paypay/types.js";
import { escapeHtml as e } from "../http-kit.js";
import { csrfField, errorBox, layout, type PageContext, yenText } from "./layout.js";

export interface NewCampaignForm {
  id?: string;
  groupId?: string;
  name?: string;
  value?: string;
  startAt?: string;
  endAt?: string;
  columns?: string;
  encoding?: string;
}

/** Upload a CSV, choose the group from live budgets, and fill what the file's columns do not give. */
export function newCampaignPage(
  p: PageContext,
  budgets: readonly GroupBudget[] | string,
  maxBytes: number,
  form: NewCampaignForm = {},
  error?: string,
): string {
  const t = p.t;
  const groups =
    typeof budgets === "string"
      ? `<option value="">${e(t.groupFromColumn)}</option>`
      : [`<option value="">${e(t.groupFromColumn)}</option>`]
          .concat(
            budgets.map(
              (b) =>
                `<option value="${e(b.groupId)}"${form.groupId === b.groupId ? " selected" : ""}>${e(b.groupId)} — ${yenText(b.budget)} ${e(t.left)}</option>`,
            ),
          )
          .join("");
  const budgetNote = typeof budgets === "string" ? `<p class="note">${e(budgets)}</p>` : "";
  const input = (name: keyof NewCampaignForm, label: string, type = "text", extra = "") =>
    `<label>${e(label)} <input name="${name}" type="${type}" value="${e(form[name] ?? "")}" ${extra}></label>`;
  const encoding = form.encoding ?? "auto";
  return layout(
    p,
    t.newCampaign,
    `${errorBox(error)}
<form method="post" action="/campaigns" enctype="multipart/form-data" class="stack" id="new-campaign">${csrfField(p)}
${input("id", t.id, "text", 'required pattern="[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}" autocomplete="off"')}
<label class="drop">${e(t.file)} (${e(t.maxSize)} ${maxBytes.toLocaleString("en-US")} bytes) <input name="file" type="file" accept=".csv,text/csv" required></label>
<label>${e(t.group)} <select name="groupId">${groups}</select></label>${budgetNote}
<p class="note">${e(t.fromColumnsHint)}</p>
${input("name", t.name)}${input("value", t.value, "text", 'inputmode="numeric"')}
${input("startAt", t.startAt, "date")}${input("endAt", t.endAt, "date")}
<label>${e(t.columns)} <textarea name="columns" rows="2">${e(form.columns ?? "")}</textarea></label>
<label>${e(t.encoding)} <select name="encoding">${["auto", "utf-8", "shift_jis"].map((x) => `<option${x === encoding ? " selected" : ""}>${x}</option>`).join("")}</select></label>
<button type="submit">${e(t.upload)}</button>
</form>`,
  );
}
