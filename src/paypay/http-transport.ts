import http from "node:http";
import https from "node:https";
import { urlToHttpOptions } from "node:url";

/**
 * The one place bytes leave the process. A keep-alive socket pool per client (no per-request TLS or
 * TCP handshakes), a hard deadline per attempt, and every way an exchange can end mapped to a value:
 * a complete response, a timeout, or a network failure (reset, refused, a body cut short).
 */

export interface TransportRequest {
  method: "GET" | "POST";
  url: URL;
  headers: Record<string, string>;
  body?: Buffer;
  timeoutMs: number;
}

export type TransportResult =
  | { kind: "response"; status: number; headers: http.IncomingHttpHeaders; body: string }
  | {
      kind: "timeout" | "network";
      message: string;
      /** Set when headers arrived before the failure (e.g. a truncated body). */
      status?: number;
      headers?: http.IncomingHttpHeaders;
    };

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** What http.request makes of a URL, converted once per URL object (the client keeps one per path). */
const httpOptionsCache = new WeakMap<URL, http.RequestOptions>();
function httpOptionsOf(url: URL): http.RequestOptions {
  let options = httpOptionsCache.get(url);
  if (options === undefined) {
    options = urlToHttpOptions(url);
    httpOptionsCache.set(url, options);
  }
  return options;
}

export class HttpTransport {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(maxSockets = 256) {
    const options = { keepAlive: true, maxSockets, scheduling: "lifo" as const };
    this.httpAgent = new http.Agent(options);
    this.httpsAgent = new https.Agent({ ...options, minVersion: "TLSv1.2" });
  }

  send(request: TransportRequest): Promise<TransportResult> {
    const isHttps = request.url.protocol === "https:";
    const lib = isHttps ? https : http;
    return new Promise<TransportResult>((resolve) => {
      let settled = false;
      let status: number | undefined;
      let responseHeaders: http.IncomingHttpHeaders | undefined;
      const finish = (result: TransportResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const fail = (kind: "timeout" | "network", message: string): void => {
        finish(status === undefined ? { kind, message } : { kind, message, status, headers: responseHeaders });
      };

      const req = lib.request({
        ...httpOptionsOf(request.url),
        method: request.method,
        headers: request.body ? { ...request.headers, "Content-Length": String(request.body.length) } : request.headers,
        agent: isHttps ? this.httpsAgent : this.httpAgent,
      });
      const timer = setTimeout(() => {
        fail("timeout", `no complete response within ${request.timeoutMs} ms`);
        req.destroy();
      }, request.timeoutMs);

      req.on("error", (error: NodeJS.ErrnoException) => fail("network", describeNetworkError(error)));
      req.on("response", (res) => {
        status = res.statusCode ?? 0;
        responseHeaders = res.headers;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            fail("network", `response body larger than ${MAX_RESPONSE_BYTES} bytes`);
            req.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on("aborted", () => fail("network", "connection closed before the response body was complete"));
        res.on("error", (error: NodeJS.ErrnoException) => fail("network", describeNetworkError(error)));
        res.on("end", () => {
          if (!res.complete) {
            fail("network", "connection closed before the response body was complete");
            return;
          }
          finish({ kind: "response", status: status ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") });
        });
      });
      req.end(request.body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** What a person can act on, e.g. "connection refused (ECONNREFUSED)"; the caller names the target. */
const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found (DNS)",
  EAI_AGAIN: "DNS lookup failed for now",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EPIPE: "connection closed while sending",
  CERT_HAS_EXPIRED: "TLS certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "TLS certificate is self-signed",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "TLS certificate cannot be verified",
  ERR_TLS_CERT_ALTNAME_INVALID: "TLS certificate does not match the host",
};

function describeNetworkError(error: NodeJS.ErrnoException): string {
  // error.message can echo the URL with its query; the code (and our words for it) leaks nothing.
  if (!error.code) return `network error: ${error.message}`;
  const words = NETWORK_CODES[error.code];
  return words ? `${words} (${error.code})` : `network error ${error.code}`;
}
