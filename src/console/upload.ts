import { createWriteStream } from "node:fs";
import { mkdir, unlink } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import busboy from "busboy";
import { HttpError } from "./http-kit.js";
import { token } from "./sessions.js";

/**
 * A multipart form with one CSV file (busboy), the file streamed to a 0600 temp file and refused
 * past `maxBytes`: nothing of an oversize upload is kept.
 */

export interface Upload {
  fields: Map<string, string>;
  /** The temp file, undefined when no file was chosen. */
  file?: { path: string; name: string; bytes: number };
}

const MAX_FIELDS = 40;

export async function readUpload(req: IncomingMessage, tempDir: string, maxBytes: number): Promise<Upload> {
  const type = req.headers["content-type"] ?? "";
  if (!type.startsWith("multipart/form-data")) throw new HttpError(415, `Expected multipart/form-data, got ${JSON.stringify(type)}`);
  const declared = Number(req.headers["content-length"] ?? "0");
  // The form's other fields need a few kilobytes more than the file itself.
  if (declared > maxBytes + 64 * 1024) throw new HttpError(413, `The file is larger than the console accepts (${maxBytes} bytes)`);
  await mkdir(tempDir, { recursive: true, mode: 0o700 });
  const upload: Upload = { fields: new Map() };
  const parser = busboy({ headers: req.headers, limits: { fileSize: maxBytes, files: 1, fields: MAX_FIELDS, fieldSize: 16 * 1024 } });
  const writes: Promise<void>[] = [];
  let oversize = false;
  parser.on("field", (name, value) => upload.fields.set(name, value));
  parser.on("file", (_name, stream, info) => {
    if (!info.filename) {
      stream.resume();
      return;
    }
    const path = join(tempDir, `upload-${token()}.tmp`);
    const file = { path, name: info.filename, bytes: 0 };
    upload.file = file;
    stream.on("data", (chunk: Buffer) => (file.bytes += chunk.length));
    stream.on("limit", () => (oversize = true));
    writes.push(pipeline(stream, createWriteStream(path, { mode: 0o600 })));
  });
  try {
    await pipeline(req, parser);
    await Promise.all(writes);
  } catch (error) {
    await discard(upload);
    throw error instanceof HttpError ? error : new HttpError(400, `The upload could not be read: ${(error as Error).message}`);
  }
  if (oversize) {
    await discard(upload);
    throw new HttpError(413, `The file is larger than the console accepts (${maxBytes} bytes)`);
  }
  if (upload.file && upload.file.bytes === 0) {
    await discard(upload);
    upload.file = undefined;
  }
  return upload;
}

export async function discard(upload: Upload): Promise<void> {
  if (upload.file) await unlink(upload.file.path).catch(() => undefined);
}
