import type { IncomingMessage } from "node:http";
import { ApiError } from "./responses.js";

export const MAX_BODY_BYTES = 1024 * 1024;

/** Path and query exactly as sent: the signature covers the raw path, not a normalized URL. */
export function splitTarget(target: string | undefined): { path: string; query: URLSearchParams } {
  const raw = target ?? "/";
  const mark = raw.indexOf("?");
  return mark < 0 ? { path: raw, query: new URLSearchParams() } : { path: raw.slice(0, mark), query: new URLSearchParams(raw.slice(mark + 1)) };
}

export function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

// Past this, stop draining an oversized upload and drop the connection instead.
const DRAIN_LIMIT_BYTES = 64 * MAX_BODY_BYTES;

function tooLarge(closeConnection: boolean): ApiError {
  return new ApiError("INVALID_REQUEST_PARAMS", `Request body exceeds ${MAX_BODY_BYTES} bytes`, closeConnection ? { Connection: "close" } : {});
}

/**
 * The exact bytes received, which is what the payload hash covers. An oversized body is drained
 * before the 400 goes out: answering mid-upload and closing would make the client's kernel see a
 * reset and lose the answer.
 */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (action: () => void): void => {
      if (settled) return;
      settled = true;
      action();
    };
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > DRAIN_LIMIT_BYTES) settle(() => reject(tooLarge(true)));
      else if (size <= limit) chunks.push(chunk);
    });
    req.on("end", () => settle(() => (size > limit ? reject(tooLarge(false)) : resolve(Buffer.concat(chunks)))));
    req.on("error", (error) => settle(() => reject(error)));
    req.on("close", () => settle(() => reject(new Error("Request closed before its body was complete"))));
  });
}
