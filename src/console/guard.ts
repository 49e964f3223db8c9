import type { IncomingMessage } from "node:http";
import { HttpError } from "./http-kit.js";
import type { Session, User } from "./sessions.js";
import { sameSecret } from "./sessions.js";
import type { Role } from "./accounts.js";

/**
 * Checks before a state-changing request: it comes from a page of this console (Origin, or Referer
 * when a browser sends no Origin) and carries the session's CSRF token.
 */
export function checkOrigin(req: IncomingMessage, origin: string): void {
  const from = req.headers.origin ?? refererOrigin(req.headers.referer);
  if (from !== origin)
    throw new HttpError(403, `Refused a cross-site request: expected it from ${origin}, got ${from === undefined ? "no origin" : JSON.stringify(from)}`);
}

export function checkCsrf(session: Session, given: string | null | undefined): void {
  if (typeof given !== "string" || !sameSecret(given, session.csrf))
    throw new HttpError(403, "Refused: the form's CSRF token is missing or stale; reload the page and try again");
}

export function requireRole(user: User | undefined, role: Role): User {
  if (!user) throw new HttpError(401, "Sign in first");
  if (!user.roles.includes(role)) throw new HttpError(403, `${user.name} is not a ${role}`);
  return user;
}

function refererOrigin(referer: string | undefined): string | undefined {
  if (!referer) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return undefined;
  }
}
