import { readFile } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { join } from "node:path";
import { BatchError } from "../errors.js";
import { CampaignRoutes } from "./campaign-routes.js";
import { CampaignRunner } from "./campaign-runner.js";
import type { ConsoleContext } from "./context.js";
import { checkOrigin, checkCsrf } from "./guard.js";
import { escapeHtml, HttpError, readForm, redirect, secureHeaders, sendHtml, sendText } from "./http-kit.js";
import { languageOf, wordsFor } from "./i18n.js";
import type { Identity } from "./identity.js";
import { layout, type PageContext } from "./pages/layout.js";
import { loginPage } from "./pages/login.js";

/**
 * The console's HTTP service: identity, CSRF and origin checks, then the campaign routes. The
 * pages and assets are served from the package; nothing is loaded from another origin.
 */

export interface ConsoleServerOptions {
  ctx: ConsoleContext;
  identity: Identity;
  /** The origin browsers use (https://console.example.com behind a proxy): forms must come from it. */
  publicOrigin?: string;
  tls?: { cert: Buffer; key: Buffer };
  /** Internal errors are reported here (never with a request body). */
  onError?(error: unknown): void;
}

export interface ConsoleServer {
  server: Server;
  runner: CampaignRunner;
  close(): Promise<void>;
}

const ASSETS_DIR = join(import.meta.dirname, "../../assets/console");
const ASSETS: Record<string, string> = { "/assets/console.js": "text/javascript; charset=utf-8", "/assets/console.css": "text/css; charset=utf-8" };

export function createConsoleServer(options: ConsoleServerOptions): ConsoleServer {
  const { ctx, identity } = options;
  let routes: CampaignRoutes;
  const runner = new CampaignRunner(ctx, (id, action, detail, digest) => routes.runAudit(id, action, detail, digest));
  routes = new CampaignRoutes(ctx, runner);
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    secureHeaders(res);
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : error instanceof BatchError ? 409 : 500;
      if (status === 500) options.onError?.(error);
      const message = status === 500 ? "Internal error: see the console's log" : (error as Error).message;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      req.resume();
      const t = wordsFor(languageOf(req));
      const accept = req.headers.accept ?? "";
      if (accept.includes("text/html")) {
        sendHtml(
          res,
          status,
          layout(
            { t, lang: languageOf(req), csrf: "" },
            `${status}`,
            `<p class="error" role="alert" data-testid="error">${escapeHtml(message)}</p><p><a href="/">${escapeHtml(t.back)}</a></p>`,
          ),
        );
      } else sendText(res, status, `${message}\n`);
    });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://console.invalid");
    // Routes match the path as sent: URL parsing would turn `/campaigns/%2e%2e` into `/`.
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const method = req.method ?? "GET";
    const assetType = ASSETS[path];
    if (assetType && method === "GET") {
      res.writeHead(200, { "Content-Type": assetType });
      res.end(await readFile(join(ASSETS_DIR, path.slice("/assets/".length))));
      return;
    }
    if (path === "/favicon.ico") {
      // Browsers ask for it on every page; there is none, and that is no error worth a log line.
      res.writeHead(204);
      res.end();
      return;
    }
    const caller = identity.identify(req, res);
    const lang = languageOf(req);
    const p: PageContext = { t: wordsFor(lang), lang, user: caller.user, csrf: caller.session.csrf };
    const origin = options.publicOrigin ?? `${options.tls ? "https" : "http"}://${req.headers.host ?? ""}`;
    if (method === "POST") checkOrigin(req, origin);
    else if (method !== "GET" && method !== "HEAD") throw new HttpError(405, `Method ${method} is not allowed`);

    if (path === "/login" && identity.mode.kind !== "proxy") {
      if (method === "GET") return sendHtml(res, 200, loginPage(p, identity.mode.kind, false));
      const form = await readForm(req);
      checkCsrf(caller.session, form.get("csrf"));
      const user = await identity.login(form);
      if (!user) return sendHtml(res, 401, loginPage(p, identity.mode.kind, true));
      await auditConsole(ctx, user.name, "signed-in");
      identity.sessions.end(caller.session, res);
      identity.sessions.start(res, user);
      return redirect(res, "/");
    }
    if (path === "/logout" && method === "POST") {
      const form = await readForm(req);
      checkCsrf(caller.session, form.get("csrf"));
      if (caller.user) await auditConsole(ctx, caller.user.name, "signed-out");
      identity.sessions.end(caller.session, res);
      return redirect(res, identity.needsLogin ? "/login" : "/");
    }
    if (!caller.user) {
      if (method === "GET" && identity.needsLogin && req.headers.accept?.includes("text/html")) return redirect(res, "/login");
      throw new HttpError(401, "Sign in first");
    }
    const session = caller.session;
    if (path === "/" && method === "GET") return routes.list(p, res);
    if (path === "/new" && method === "GET") return routes.newForm(p, res);
    if (path === "/campaigns" && method === "POST") return routes.create(p, session, req, res);
    const match = /^\/campaigns\/([^/]+)(?:\/([a-z.]+))?$/.exec(path);
    if (!match) throw new HttpError(404, "No such page");
    const id = decodedId(match[1] ?? "");
    const action = match[2];
    ctx.store.folder(id); // refuses any id that is not a campaign id (path traversal included)
    if (method === "GET") {
      if (action === undefined) return routes.show(p, id, url, res);
      if (action === "events") return routes.events(id, req, res);
      if (action === "results.csv") return routes.download(p, id, url, res);
    } else {
      if (action === "input") return routes.replaceInput(p, session, id, req, res);
      if (action === "check") return routes.checkAgain(p, session, id, req, res);
      if (action === "approve") return routes.approve(p, session, id, req, res);
      if (action === "stop") return routes.stop(p, session, id, req, res);
      if (action === "resume") return routes.resume(p, session, id, req, res);
    }
    throw new HttpError(404, "No such page");
  }

  const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);
  return {
    server,
    runner,
    async close() {
      await runner.stopAll();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Sign-ins belong to no campaign: they are audited under campaign "" (`<dir>/console.audit.jsonl` with files). */
function auditConsole(ctx: ConsoleContext, who: string, action: string): Promise<unknown> {
  return ctx.audit.append({ who, action, campaign: "" });
}

function decodedId(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(404, "No such campaign");
  }
}
