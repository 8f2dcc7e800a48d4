/**
 * Adapting a sweep to a server's rate limit.
 *
 * Hosted APIs limit requests and tokens per window and say how much is left in response headers
 * (`x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests`, and the same for tokens).
 * When those headers are present the limiter spends what the server says is left and waits for
 * the reset instead of sending requests that would be refused. When they are absent it learns
 * from 429s alone: concurrency is halved on a 429 (once per round of requests) and grows by one
 * per round of successes (AIMD, as TCP does), and every new start waits out the server's
 * Retry-After. The configured concurrency is the ceiling.
 */

/** What a response's headers say about the server's limits (undefined: not sent). */
export interface RateLimitInfo {
  limitRequests?: number;
  remainingRequests?: number;
  /** Milliseconds until the request budget is replenished. */
  resetRequestsMs?: number;
  limitTokens?: number;
  remainingTokens?: number;
  resetTokensMs?: number;
}

/**
 * A reset duration as servers write it: "1s", "20ms", "6m0s", "1m30.5s", "1h2m", or bare seconds
 * ("0.5"). Undefined for anything else.
 */
export function parseResetDuration(text: string | null | undefined): number | undefined {
  if (text === null || text === undefined) return undefined;
  const t = text.trim();
  if (!t) return undefined;
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    const v = Number(m[1]);
    total += m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : m[2] === 'm' ? v * 60_000 : v * 3_600_000;
    matched = re.lastIndex;
  }
  return matched === t.length ? total : undefined;
}

function num(text: string | null | undefined): number | undefined {
  if (text === null || text === undefined || !text.trim()) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** Reads the x-ratelimit-* headers; undefined when the response has none. */
export function parseRateLimitHeaders(headers: { get(name: string): string | null } | undefined): RateLimitInfo | undefined {
  if (!headers) return undefined;
  const info: RateLimitInfo = {
    limitRequests: num(headers.get('x-ratelimit-limit-requests')),
    remainingRequests: num(headers.get('x-ratelimit-remaining-requests')),
    resetRequestsMs: parseResetDuration(headers.get('x-ratelimit-reset-requests')),
    limitTokens: num(headers.get('x-ratelimit-limit-tokens')),
    remainingTokens: num(headers.get('x-ratelimit-remaining-tokens')),
    resetTokensMs: parseResetDuration(headers.get('x-ratelimit-reset-tokens')),
  };
  return Object.values(info).some((v) => v !== undefined) ? info : undefined;
}

/** How a request ended, as far as the limiter cares. */
export type LimiterOutcome = { kind: 'ok'; rate?: RateLimitInfo } | { kind: 'rate-limited'; retryAfterMs?: number; rate?: RateLimitInfo } | { kind: 'other' };

export interface LimiterOptions {
  /** The configured concurrency: never exceeded. */
  max: number;
  /** Where concurrency starts (default: max). */
  initial?: number;
  /** Keep the concurrency fixed and ignore the headers (each request still waits its own Retry-After). */
  fixed?: boolean;
  now?: () => number;
}

/**
 * One budget the server reports (requests or tokens). Servers refill continuously (a token
 * bucket) and report the time until full; from the limit, what is left and that time the refill
 * rate follows, so the budget is predicted between answers. Without a limit or a rate it is
 * taken to be `level` until the reset, and unknown after it.
 */
interface Budget {
  limit?: number;
  level: number;
  at: number;
  resetAt: number;
  perMs?: number;
}

function levelOf(b: Budget, now: number): number {
  if (b.perMs) return Math.min(b.limit ?? Infinity, b.level + b.perMs * (now - b.at));
  return now >= b.resetAt ? (b.limit ?? Infinity) : b.level;
}

/** Milliseconds until `n` are available. */
function waitFor(b: Budget | undefined, n: number, now: number): number {
  if (!b) return 0;
  const need = Math.min(n, b.limit ?? n);
  const level = levelOf(b, now);
  if (level >= need) return 0;
  if (b.perMs) return Math.ceil((need - level) / b.perMs);
  return Math.max(0, b.resetAt - now);
}

function spend(b: Budget | undefined, n: number, now: number): Budget | undefined {
  if (!b) return undefined;
  const level = levelOf(b, now);
  if (level === Infinity) return undefined;
  return { ...b, level: level - n, at: now };
}

function learnBudget(prev: Budget | undefined, limit: number | undefined, remaining: number | undefined, resetMs: number | undefined, now: number): Budget | undefined {
  if (remaining === undefined) return prev;
  const lim = limit ?? prev?.limit;
  const reset = resetMs ?? 1000;
  const perMs = lim !== undefined && reset > 0 && lim > remaining ? (lim - remaining) / reset : prev?.perMs;
  return { limit: lim, level: remaining, at: now, resetAt: now + reset, perMs };
}

/**
 * Decides when the next request may start. `acquire` resolves when a slot is free under the
 * current concurrency and the server's reported budget allows the request; `release` reports how
 * it ended. Deterministic given `now` and the order of calls (tested without a network).
 */
export class AdaptiveLimiter {
  private limitValue: number;
  private inFlight = 0;
  private pausedUntil = 0;
  private requests: Budget | undefined;
  private tokens: Budget | undefined;
  /** Starts since the last decrease: a 429 from a request started before it does not halve again. */
  private epoch = 0;
  private decreasedAtEpoch = -1;
  private waiters: Array<() => void> = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly now: () => number;
  private readonly fixed: boolean;
  readonly max: number;
  /** 429s seen, and how often the limiter waited for the server's reported budget. */
  rateLimited = 0;
  budgetWaits = 0;
  /** Whether the server sends rate-limit headers (seen on any response). */
  headersSeen = false;

  constructor(opts: LimiterOptions) {
    this.max = Math.max(1, Math.floor(opts.max));
    this.limitValue = Math.min(this.max, Math.max(1, opts.initial ?? this.max));
    this.now = opts.now ?? Date.now;
    this.fixed = !!opts.fixed;
  }

  /** The concurrency in force now (what progress shows). */
  get concurrency(): number {
    return Math.max(1, Math.floor(this.limitValue));
  }

  /** Milliseconds until a request of `estTokens` may start, 0 if now; Infinity while slots are full. */
  waitMs(estTokens = 0): number {
    const now = this.now();
    if (this.inFlight >= this.concurrency) return Infinity;
    // A request larger than the whole token budget could never start; it goes when the budget is full.
    return Math.max(0, this.pausedUntil - now, waitFor(this.requests, 1, now), waitFor(this.tokens, estTokens, now));
  }

  /** Waits for a slot and the server's budget; returns the start's epoch (hand it back to release). */
  async acquire(estTokens: number, signal?: AbortSignal): Promise<number> {
    for (;;) {
      if (signal?.aborted) throw new Error('aborted');
      const wait = this.waitMs(estTokens);
      if (wait === 0) break;
      if (wait !== Infinity) this.budgetWaits++;
      await this.sleep(wait, signal);
    }
    const now = this.now();
    this.inFlight++;
    this.requests = spend(this.requests, 1, now);
    this.tokens = spend(this.tokens, estTokens, now);
    return this.epoch++;
  }

  release(startEpoch: number, outcome: LimiterOutcome): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (outcome.kind === 'rate-limited') this.rateLimited++;
    if (this.fixed) return this.wake();
    const rate = outcome.kind === 'other' ? undefined : outcome.rate;
    if (rate) this.learn(rate);
    if (outcome.kind === 'ok') {
      // Additive increase: about one more slot per round of successful requests.
      this.limitValue = Math.min(this.max, this.limitValue + 1 / this.limitValue);
    } else if (outcome.kind === 'rate-limited') {
      if (startEpoch >= this.decreasedAtEpoch) {
        // Multiplicative decrease, once per round: the 429s of requests already in flight are the same signal.
        this.limitValue = Math.max(1, this.limitValue / 2);
        this.decreasedAtEpoch = this.epoch;
      }
      const wait = outcome.retryAfterMs ?? this.resetHint() ?? 1000;
      this.pausedUntil = Math.max(this.pausedUntil, this.now() + wait);
    }
    this.wake();
  }

  /** After a 429 without Retry-After: the server's own reset time, if it sent one. */
  private resetHint(): number | undefined {
    const now = this.now();
    const r = Math.max(waitFor(this.requests, 1, now), waitFor(this.tokens, 1, now));
    return r > 0 ? r : undefined;
  }

  private learn(rate: RateLimitInfo): void {
    const now = this.now();
    this.headersSeen = true;
    this.requests = learnBudget(this.requests, rate.limitRequests, rate.remainingRequests, rate.resetRequestsMs, now);
    this.tokens = learnBudget(this.tokens, rate.limitTokens, rate.remainingTokens, rate.resetTokensMs, now);
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      this.waiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
      if (ms !== Infinity) {
        // One timer for everyone: the earliest wake-up wins, and each waiter re-checks.
        const at = this.now() + ms;
        if (!this.timer || at < this.timerAt) {
          if (this.timer) clearTimeout(this.timer);
          this.timerAt = at;
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.wake();
          }, ms);
        }
      }
    });
  }

  private timerAt = 0;

  private wake(): void {
    const ws = this.waiters.splice(0);
    for (const w of ws) w();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.wake();
  }
}
