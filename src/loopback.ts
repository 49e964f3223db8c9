import { isIP } from "node:net";

/**
 * True for names and addresses that stay on this machine. Plain http:// is allowed only to these,
 * and the simulator's unauthenticated admin endpoints answer only callers from these.
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  const v4 = name.startsWith("::ffff:") ? name.slice("::ffff:".length) : name;
  if (isIP(v4) === 4) return v4.startsWith("127.");
  return name === "::1";
}
