import type { IncomingHttpHeaders } from "node:http";
import { Agent, type Dispatcher } from "undici";

/**
 * The one place bytes leave the process. A keep-alive socket pool per client (no per-request TLS or
 * TCP handshakes), a hard deadline per attempt, and every way an exchange can end mapped to a value:
 * a complete response, a timeout, or a network failure (reset, refused, a body cut short).
 *
 * undici's dispatcher, driven through its handler callbacks (no response stream to read). Against
 * node:http's client it cost about a fifth less CPU per request while sending at c = 256
 * (bench/README.md, issue #15): the HTTP exchange is the largest share of the tool's work there.
 */

export interface TransportRequest {
  method: "GET" | "POST";
  url: URL;
  /** Sent as given: a request with a body carries its Content-Length here. */
  headers: Record<string, string>;
  body?: Buffer;
  timeoutMs: number;
}

export type TransportResult =
  | { kind: "response"; status: number; headers: IncomingHttpHeaders; body: string }
  | {
      kind: "timeout" | "network";
      message: string;
      /** Set when headers arrived before the failure (e.g. a truncated body). */
      status?: number;
      headers?: IncomingHttpHeaders;
    };

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export class HttpTransport {
  private readonly agent: Agent;

  constructor(maxSockets = 256) {
    // One request at a time per socket, as with node:http. When a socket closes, undici fails the
    // request it was running and never writes it again: every retry is the applier's, with the same
    // requestId, and counted. Each exchange's own deadline (below) bounds the whole of it, so
    // undici's timers for the headers and for the body are off: they cost a timer each per request.
    this.agent = new Agent({ connections: maxSockets, pipelining: 1, headersTimeout: 0, bodyTimeout: 0, connect: { minVersion: "TLSv1.2" } });
  }

  send(request: TransportRequest): Promise<TransportResult> {
    return new Promise<TransportResult>((resolve) => {
      const exchange = new Exchange(resolve, request.timeoutMs);
      try {
        this.agent.dispatch(
          {
            origin: request.url.origin,
            path: request.url.pathname + request.url.search,
            method: request.method,
            headers: request.headers,
            body: request.body,
          },
          exchange,
        );
      } catch (error) {
        // Refused before anything was sent (a closed client, say): an answer like any other failure,
        // and the deadline's timer does not outlive it.
        exchange.onResponseError(undefined, error as Error);
      }
    });
  }

  close(): void {
    void this.agent.destroy().catch(() => undefined);
  }
}

/** One attempt's handler: gathers the answer, or says how it failed; settles once. */
class Exchange implements Dispatcher.DispatchHandler {
  private settled = false;
  private status: number | undefined;
  private headers: IncomingHttpHeaders | undefined;
  private chunks: Buffer[] = [];
  private size = 0;
  private controller: Dispatcher.DispatchController | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly resolve: (result: TransportResult) => void,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => {
      this.fail("timeout", `no complete response within ${timeoutMs} ms`);
      this.controller?.abort(new Error("deadline passed"));
    }, timeoutMs);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.settled) controller.abort(new Error("deadline passed"));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // an informational answer: the real one follows
    this.status = statusCode;
    this.headers = headers;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > MAX_RESPONSE_BYTES) {
      this.fail("network", `response body larger than ${MAX_RESPONSE_BYTES} bytes`);
      controller.abort(new Error("response too large"));
      return;
    }
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.finish({ kind: "response", status: this.status ?? 0, headers: this.headers ?? {}, body: Buffer.concat(this.chunks).toString("utf8") });
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    this.fail("network", this.status === undefined ? describeNetworkError(error) : "connection closed before the response body was complete");
  }

  private fail(kind: "timeout" | "network", message: string): void {
    this.finish(this.status === undefined ? { kind, message } : { kind, message, status: this.status, headers: this.headers });
  }

  private finish(result: TransportResult): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.resolve(result);
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
  UND_ERR_SOCKET: "connection closed by the server",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_HEADERS_TIMEOUT: "no response headers in time",
  UND_ERR_BODY_TIMEOUT: "the response body stalled",
  UND_ERR_HEADERS_OVERFLOW: "response headers too large",
  UND_ERR_CLOSED: "the client was closed",
  UND_ERR_DESTROYED: "the client was closed",
};

function describeNetworkError(error: Error & { code?: string; cause?: unknown }): string {
  // error.message can echo the URL with its query; the code (and our words for it) leaks nothing.
  // undici wraps a socket's own failure (a reset, say): its code is the one a person can act on.
  const cause = error.cause as { code?: unknown } | undefined;
  const code = typeof cause?.code === "string" && cause.code in NETWORK_CODES ? cause.code : error.code;
  if (!code) return `network error: ${error.message}`;
  const words = NETWORK_CODES[code];
  return words ? `${words} (${code})` : `network error ${code}`;
}
