import { escapeHtml as e } from "../http-kit.js";
import { csrfField, errorBox, layout, type PageContext } from "./layout.js";

export function loginPage(p: PageContext, mode: "accounts" | "token", failed: boolean): string {
  const fields =
    mode === "token"
      ? `<label>${e(p.t.token)} <input name="token" type="password" autocomplete="off" required></label>`
      : `<label>${e(p.t.user)} <input name="user" autocomplete="username" required></label>
         <label>${e(p.t.password)} <input name="password" type="password" autocomplete="current-password" required></label>`;
  return layout(
    p,
    p.t.signIn,
    `${errorBox(failed ? p.t.badLogin : undefined)}
<form method="post" action="/login" class="stack">${csrfField(p)}${fields}<button type="submit">${e(p.t.signIn)}</button></form>`,
  );
}
