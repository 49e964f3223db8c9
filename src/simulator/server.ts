import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { LosslessNumber } from "lossless-json";
import { ADMIN_BUDGET_PATH, ADMIN_LEDGER_PATH, ADMIN_SPEND_PATH, sendLedger, setBudgetFromRequest, spendFromRequest } from "./admin.js";
import { CodeGenerator } from "./codes.js";
import { resolveOptions, type ResolvedOptions } from "./config.js";
import { FaultPlan } from "./faults.js";
import { isLoopbackHost } from "../loopback.js";
import { readBody, singleHeader, splitTarget } from "./http-io.js";
import { Ledger } from "./ledger.js";
import { derivedRandom, type Random } from "./prng.js";
import { ApiError, assignRequestId, sendError, sendJson, successBody, writeJsonHead } from "./responses.js";
import { StatsRecorder } from "./stats.js";
import { TokenBucket } from "./token-bucket.js";
import type { FaultRates, LedgerEntry, Simulator, SimulatorGroup, SimulatorOptions, SimulatorRateLimit, SimulatorStats } from "./types.js";
import { RequestAuthenticator } from "./verify-auth.js";
import { peekRequestId, validateCreateRequest } from "./validate-request.js";

/** Both throttling answers tell the client when to come back, as a real gateway would. */
const RETRY_AFTER = { "Retry-After": "1" };
// The client pools connections; PayPay's gateway keeps them open, so must we.
const KEEP_ALIVE_MS = 60_000;

class PointsCodeSimulator implements Simulator {
  private readonly config: ResolvedOptions;
  private readonly faults: FaultPlan;
  private readonly jitter: Random;
  private readonly store: Ledger;
  private readonly auth: RequestAuthenticator;
  private readonly recorder = new StatsRecorder();
  private readonly timers = new Set<NodeJS.Timeout>();
  private bucket: TokenBucket | undefined;
  private admittedCreates = 0;
  private server: Server | undefined;
  private url = "";

  constructor(options: SimulatorOptions) {
    this.config = resolveOptions(options);
    const { seed } = this.config;
    this.faults = new FaultPlan(derivedRandom(seed, "faults"), this.config.faults);
    this.jitter = derivedRandom(seed, "jitter");
    this.store = new Ledger(this.config.groups, new CodeGenerator(derivedRandom(seed, "codes")), this.config.now, this.config.contract);
    this.auth = new RequestAuthenticator(this.config.credentials, this.config.clockSkewSeconds, this.config.now);
    if (this.config.rateLimit !== undefined) this.bucket = new TokenBucket(this.config.rateLimit, this.config.now);
  }

  get baseUrl(): string {
    return this.url;
  }

  start(port = 0, host = "127.0.0.1"): Promise<string> {
    if (this.server !== undefined) return Promise.reject(new Error("Simulator already started"));
    const server = createServer((req, res) => this.onRequest(req, res));
    server.keepAliveTimeout = KEEP_ALIVE_MS;
    // Must outlast keepAliveTimeout, or Node can cut a reused connection mid-request.
    server.headersTimeout = KEEP_ALIVE_MS + 5_000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", (error) => {
        this.server = undefined;
        reject(error);
      });
      server.listen(port, host, () => {
        const address = server.address() as AddressInfo;
        const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
        this.url = `http://${shownHost}:${address.port}`;
        resolve(this.url);
      });
    });
  }

  close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return Promise.resolve();
    this.server = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    return new Promise((resolve) => {
      server.close(() => resolve());
      // Hung answers and idle keep-alive sockets would otherwise keep close() waiting forever.
      server.closeAllConnections();
    });
  }

  ledger(): LedgerEntry[] {
    return this.store.entries();
  }

  callsByRequestId(): Map<string, number> {
    return this.store.callsByRequestId();
  }

  budgets(): SimulatorGroup[] {
    return this.store.budgets();
  }

  setBudget(groupId: string, budget: number): void {
    this.store.setBudget(groupId, budget);
  }

  spendOnTheSide(groupId: string, amount: number): void {
    this.store.spendOnTheSide(groupId, amount);
  }

  stats(): SimulatorStats {
    return this.recorder.snapshot();
  }

  setFaults(faults: FaultRates): void {
    this.faults.set(faults);
  }

  setRateLimit(limit: SimulatorRateLimit | undefined): void {
    if (limit === undefined) this.bucket = undefined;
    else if (this.bucket === undefined) this.bucket = new TokenBucket(limit, this.config.now);
    else this.bucket.set(limit);
  }

  // ---- request handling -----------------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    assignRequestId(res);
    // From the server's own clock, which clockOffsetSeconds may have moved: clients read skew from it.
    res.setHeader("Date", new Date(this.config.now()).toUTCString());
    this.route(req, res).catch((error: unknown) => {
      const apiError = error instanceof ApiError ? error : new ApiError("SERVICE_ERROR", `Simulator failure: ${(error as Error)?.message ?? String(error)}`);
      this.reject(res, apiError);
    });
  }

  private reject(res: ServerResponse, error: ApiError): void {
    if (res.destroyed || res.headersSent) return;
    this.recorder.rejectedWith(sendError(res, error));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path, query } = splitTarget(req.url);
    const method = req.method ?? "";
    if ((path === ADMIN_LEDGER_PATH || path === ADMIN_BUDGET_PATH || path === ADMIN_SPEND_PATH) && isLoopbackHost(req.socket.remoteAddress ?? "")) {
      if (path === ADMIN_LEDGER_PATH) {
        if (method !== "GET") throw new ApiError("METHOD_NOT_ALLOWED", `${method} is not allowed on ${path}`, { Allow: "GET" });
        sendLedger(res, this.store, this.stats());
      } else {
        if (method !== "POST") throw new ApiError("METHOD_NOT_ALLOWED", `${method} is not allowed on ${path}`, { Allow: "POST" });
        if (path === ADMIN_SPEND_PATH) await spendFromRequest(req, res, this.store);
        else await setBudgetFromRequest(req, res, this.store);
      }
      return;
    }

    this.recorder.request();
    if (path === this.config.createPath) {
      if (method !== "POST") throw new ApiError("METHOD_NOT_ALLOWED", `${method} is not allowed on ${path}`, { Allow: "POST" });
      await this.createPointsCode(req, res, path, query);
    } else if (path === this.config.budgetPath) {
      if (method !== "GET") throw new ApiError("METHOD_NOT_ALLOWED", `${method} is not allowed on ${path}`, { Allow: "GET" });
      await this.getBudget(req, res, path, query);
    } else {
      throw new ApiError("NOT_FOUND", `No API at ${path}`);
    }
  }

  private async createPointsCode(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    this.recorder.enterCreate();
    // Admission is decided on arrival: a refused request must not hold a slot while it waits.
    // The rate limit comes first, as a gateway in front of the service would apply it.
    const bucket = this.bucket;
    const overRate = bucket !== undefined && !bucket.tryTake();
    if (overRate) this.recorder.throttled();
    const rateRefusal = overRate ? rateLimitRefusal(bucket.limit.retryAfterSeconds) : undefined;
    const admitted = !overRate && this.admittedCreates < this.config.maxInFlight;
    if (admitted) this.admittedCreates++;
    res.once("close", () => {
      this.recorder.leaveCreate();
      if (admitted) this.admittedCreates--;
    });

    const body = await readBody(req);
    const requestId = peekRequestId(body);
    if (requestId !== undefined) this.store.recordCall(requestId);

    await this.latency();
    if (rateRefusal !== undefined) throw rateRefusal;
    if (!admitted) throw new ApiError("RATE_LIMIT", "Too many requests in flight", RETRY_AFTER);

    const before = this.faults.drawBeforeCommit();
    if (before !== undefined) {
      this.recorder.fault(before);
      if (before === "resetBeforeCommit") {
        req.socket.resetAndDestroy();
        return;
      }
      if (before === "rateLimit") throw new ApiError("RATE_LIMIT", "Too many requests", RETRY_AFTER);
      if (before === "maintenance") throw new ApiError("MAINTENANCE_MODE", "Scheduled maintenance", RETRY_AFTER);
      throw new ApiError("SERVICE_ERROR", "Service error; nothing was committed");
    }

    this.checkMerchant(req, query);
    this.auth.verify({
      authorization: singleHeader(req.headers.authorization),
      method: "POST",
      path,
      contentType: singleHeader(req.headers["content-type"]),
      body,
    });
    const outcome = this.store.issue(validateCreateRequest(body));
    const answer = successBody(outcome.data);
    // A replay already found its code; losing its answer again would only re-test the first loss.
    const after = outcome.replayed ? undefined : this.faults.drawAfterCommit();
    if (after !== undefined) this.recorder.fault(after);
    switch (after) {
      case "error500AfterCommit":
        throw new ApiError("INTERNAL_SERVER_ERROR", "Outcome unknown; retry with the same requestId");
      case "resetAfterCommit":
        req.socket.resetAndDestroy();
        return;
      case "hangAfterCommit":
        return; // close() destroys the socket
      case "truncateAfterCommit":
        writeJsonHead(res, 200, answer);
        res.write(answer.subarray(0, Math.floor(answer.length / 2)), () => res.destroy());
        return;
      case undefined:
        sendJson(res, 200, answer);
    }
  }

  private async getBudget(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    await this.latency();
    this.checkMerchant(req, query);
    this.auth.verify({ authorization: singleHeader(req.headers.authorization), method: "GET", path, contentType: undefined, body: undefined });
    const groups = this.store.budgets().map(({ groupId, budget, maxPeriodDays }) => ({
      groupId: new LosslessNumber(groupId),
      budget,
      maxPeriodDays,
    }));
    sendJson(res, 200, successBody({ groups }));
  }

  private checkMerchant(req: IncomingMessage, query: URLSearchParams): void {
    const merchant = query.get("assumeMerchant") ?? singleHeader(req.headers["x-assume-merchant"]);
    if (merchant === undefined || merchant === "") {
      throw new ApiError("MISSING_REQUEST_PARAMS", "assumeMerchant query parameter or X-ASSUME-MERCHANT header is required");
    }
    if (merchant !== this.config.credentials.merchantId) throw new ApiError("OPA_CLIENT_NOT_FOUND", "OPA client not found for this merchant");
  }

  private latency(): Promise<void> {
    const { latencyMs, jitterMs } = this.config;
    const wait = latencyMs + (jitterMs > 0 ? this.jitter() * jitterMs : 0);
    if (wait <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, wait);
      this.timers.add(timer);
    });
  }
}

/** The rate limit's refusal, with Retry-After only when the limit is configured to send one. */
function rateLimitRefusal(retryAfterSeconds: number | undefined): ApiError {
  const headers: Record<string, string> = retryAfterSeconds === undefined ? {} : { "Retry-After": String(retryAfterSeconds) };
  return new ApiError("RATE_LIMIT", "Too many requests: over the rate limit", headers);
}

export function createSimulator(options: SimulatorOptions = {}): Simulator {
  return new PointsCodeSimulator(options);
}
