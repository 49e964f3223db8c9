import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Role } from "./accounts.js";
import { parseCookies } from "./http-kit.js";

/**
 * Sessions in memory (a restart logs everyone out, which is the safe way round). The cookie holds
 * only a random id: HttpOnly, SameSite=Strict, Secure when served over TLS. Each session has its
 * own CSRF token, sent back with every state-changing request.
 */

export interface User {
  name: string;
  roles: Role[];
}

export interface Session {
  id: string;
  csrf: string;
  user?: User;
  expiresAt: number;
}

const COOKIE = "pcb_session";
const LIFETIME_MS = 8 * 60 * 60 * 1000;

export class Sessions {
  private readonly byId = new Map<string, Session>();

  constructor(
    private readonly secure: boolean,
    private readonly now: () => number = Date.now,
  ) {}

  find(req: IncomingMessage): Session | undefined {
    const id = parseCookies(req).get(COOKIE);
    const session = id === undefined ? undefined : this.byId.get(id);
    if (session && session.expiresAt < this.now()) {
      this.byId.delete(session.id);
      return undefined;
    }
    return session;
  }

  /** A fresh session (a new id on every login, so an id seen before login is worth nothing after). */
  start(res: ServerResponse, user?: User): Session {
    const session: Session = { id: token(), csrf: token(), user, expiresAt: this.now() + LIFETIME_MS };
    this.byId.set(session.id, session);
    res.appendHeader("Set-Cookie", `${COOKIE}=${session.id}; Path=/; HttpOnly; SameSite=Strict${this.secure ? "; Secure" : ""}`);
    return session;
  }

  end(session: Session, res: ServerResponse): void {
    this.byId.delete(session.id);
    res.appendHeader("Set-Cookie", `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${this.secure ? "; Secure" : ""}`);
  }
}

export function token(): string {
  return randomBytes(32).toString("base64url");
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
