// Preloaded into a CLI child (node --import) by the secrets proof: records every outgoing TCP
// connection attempt and every DNS lookup to the file named by PROOF_NET_LOG, before it happens.
// A refused --base-url must leave that file empty; a control run against the local simulator must not.
import { appendFileSync } from "node:fs";
import dns from "node:dns";
import net from "node:net";

const logFile = process.env.PROOF_NET_LOG;
const record = (what) => {
  if (logFile) appendFileSync(logFile, `${what}\n`);
};

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  // net.createConnection passes its normalized arguments as one array: [options, callback].
  const target = Array.isArray(args[0]) ? args[0][0] : args[0];
  const where = typeof target === "object" && target !== null ? `${target.host ?? target.path ?? "?"}:${target.port ?? ""}` : String(target);
  record(`connect ${where}`);
  return connect.apply(this, args);
};

const lookup = dns.lookup;
dns.lookup = function (hostname, ...rest) {
  record(`lookup ${hostname}`);
  return lookup.call(this, hostname, ...rest);
};
const promisesLookup = dns.promises.lookup;
dns.promises.lookup = function (hostname, ...rest) {
  record(`lookup ${hostname}`);
  return promisesLookup.call(this, hostname, ...rest);
};
