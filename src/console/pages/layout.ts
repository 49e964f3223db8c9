import { escapeHtml as e } from "../http-kit.js";
import type { Lang, Words_ } from "../i18n.js";
import type { User } from "../sessions.js";

/** The frame of every page: one stylesheet and one script, both served by the console itself. */

export interface PageContext {
  t: Words_;
  lang: Lang;
  user?: User;
  csrf: string;
}

export function layout(p: PageContext, title: string, body: string): string {
  const who = p.user
    ? `<span class="who">${e(p.t.signedInAs)} <b data-testid="user">${e(p.user.name)}</b> (${e(p.user.roles.join(", "))})</span>
       <form method="post" action="/logout" class="inline">${csrfField(p)}<button type="submit">${e(p.t.signOut)}</button></form>`
    : "";
  return `<!doctype html>
<html lang="${p.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)} · ${e(p.t.title)}</title>
<link rel="stylesheet" href="/assets/console.css">
<script src="/assets/console.js" defer></script>
</head>
<body>
<header><a class="brand" href="/">${e(p.t.title)}</a>${p.user ? `<nav><a href="/">${e(p.t.campaigns)}</a> <a href="/new">${e(p.t.newCampaign)}</a></nav>` : ""}<div class="session">${who}</div></header>
<main>
<h1>${e(title)}</h1>
${body}
</main>
</body>
</html>`;
}

export function csrfField(p: PageContext): string {
  return `<input type="hidden" name="csrf" value="${e(p.csrf)}">`;
}

export function yenText(amount: number): string {
  return `¥${amount.toLocaleString("en-US")}`;
}

export function errorBox(message: string | undefined): string {
  return message ? `<p class="error" role="alert" data-testid="error">${e(message)}</p>` : "";
}
