import type { IncomingMessage, ServerResponse } from "node:http";
import { isLoopbackHost } from "../loopback.js";
import type { Account } from "./accounts.js";
import { HttpError, remoteAddress } from "./http-kit.js";
import { verifyPassword } from "./passwords.js";
import { type Session, type Sessions, sameSecret, type User } from "./sessions.js";

/**
 * Who is asking, in one of three modes:
 * - `proxy`: the company's SSO proxy (oauth2-proxy, nginx auth_request) names the user in a header;
 *   the header is believed only on connections from the configured proxy addresses.
 * - `accounts`: built-in accounts with scrypt-hashed passwords.
 * - `token`: one operator on loopback, with a one-time token printed at start.
 */
export type IdentityMode =
  | { kind: "proxy"; header: string; proxies: ReadonlySet<string>; accounts: ReadonlyMap<string, Account> }
  | { kind: "accounts"; accounts: ReadonlyMap<string, Account> }
  | { kind: "token"; token: string };

export interface Caller {
  session: Session;
  user: User | undefined;
}

export class Identity {
  private tokenUsed = false;

  constructor(
    readonly mode: IdentityMode,
    readonly sessions: Sessions,
  ) {}

  get needsLogin(): boolean {
    return this.mode.kind !== "proxy";
  }

  /** The session (made when missing, for its CSRF token) and the user behind the request, if any. */
  identify(req: IncomingMessage, res: ServerResponse): Caller {
    const mode = this.mode;
    const address = remoteAddress(req);
    if (mode.kind === "token" && !isLoopbackHost(address)) throw new HttpError(403, "This console takes requests from this machine only (token mode)");
    // A page of another site whose name was pointed at 127.0.0.1 (DNS rebinding) sends its own name.
    if (mode.kind === "token" && !isLoopbackHost(hostName(req.headers.host ?? ""))) {
      throw new HttpError(403, "This console answers to a loopback name only (token mode): open it as 127.0.0.1 or localhost");
    }
    if (mode.kind !== "proxy") {
      const session = this.sessions.find(req) ?? this.sessions.start(res);
      return { session, user: session.user };
    }
    const name = req.headers[mode.header];
    if (!mode.proxies.has(address)) {
      // A header from anyone else is a forgery, or a proxy left out of the configuration.
      throw new HttpError(403, `Requests must come through the sign-on proxy; ${address} is not one of the configured proxy addresses`);
    }
    if (typeof name !== "string" || name === "") throw new HttpError(401, `The sign-on proxy sent no ${mode.header} header`);
    const account = mode.accounts.get(name);
    if (!account) throw new HttpError(403, `${name} has no role in this console: ask an administrator to add them to the accounts file`);
    const user: User = { name: account.name, roles: account.roles };
    let session = this.sessions.find(req);
    if (!session || session.user?.name !== user.name) session = this.sessions.start(res, user);
    return { session, user };
  }

  /** Checks a login form; on success the caller starts a fresh session for the user. */
  async login(form: URLSearchParams): Promise<User | undefined> {
    const mode = this.mode;
    if (mode.kind === "token") {
      const given = form.get("token") ?? "";
      if (this.tokenUsed || !sameSecret(given, mode.token)) return undefined;
      this.tokenUsed = true;
      return { name: "operator", roles: ["preparer", "approver"] };
    }
    if (mode.kind !== "accounts") return undefined;
    const account = mode.accounts.get(form.get("user") ?? "");
    if (!account?.password || !(await verifyPassword(form.get("password") ?? "", account.password))) return undefined;
    return { name: account.name, roles: account.roles };
  }
}

function hostName(host: string): string {
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return "";
  }
}
