/**
 * Runs a sweep: a pool of `concurrency` workers, retries with exponential backoff and full jitter
 * (honouring Retry-After), a per-request timeout, cancellation, a budget cap, and the journal that
 * makes a crash or cancel resumable without sending a finished request twice.
 */
import { setMaxListeners } from 'node:events';
import { MnemoError } from '../errors';
import { classifyError, RequestFailure, type ChatClient } from './client';
import type { Journal } from './journal';
import { DropTally, type DropGroup } from './drops';
import { parseModelPairs, type ParsedPair } from './parse';
import { AdaptiveLimiter } from './ratelimit';
import { charsOver4, costOf } from './plan';
import type { DroppedFragment, DropReason, JournalEntry, PlannedRequest, Price } from './types';

export interface RetryPolicy {
  /** Attempts per request that fail for a reason other than a 429, the first included. */
  maxAttempts: number;
  /**
   * 429s a request may receive before it is recorded as failed. A 429 is the server pacing the
   * sweep, not the request failing (the limiter already slows down on it), so it has its own,
   * larger allowance: under a tight limit one request can lose the race for the bucket many
   * times in a row while the sweep as a whole keeps going.
   */
  maxRateLimited: number;
  /** Backoff before retry n is uniform in [0, min(capMs, baseMs * 2^(n-1))] ("full jitter"). */
  baseMs: number;
  capMs: number;
  /** A Retry-After longer than this is cut to it (a server asking for an hour should not hang the sweep). */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 6, maxRateLimited: 30, baseMs: 500, capMs: 30_000, maxRetryAfterMs: 120_000 };

export interface RunProgress {
  total: number;
  /** Finished in this run or an earlier one (journal). */
  done: number;
  /** Of `done`, those the journal already held when the run started. */
  resumed: number;
  failed: number;
  inFlight: number;
  /** Requests allowed at once now: the configured concurrency, lowered while the server rate-limits. */
  concurrency: number;
  /** Answers that were 429 (rate limited), retried after the server's wait. */
  rateLimited: number;
  retries: number;
  spentUsd: number;
  inputTokens: number;
  outputTokens: number;
  pairs: number;
  dropped: number;
  elapsedSeconds: number;
  /** undefined until a request of this run has finished. */
  etaSeconds?: number;
}

export type StopReason = 'completed' | 'cancelled' | 'budget' | 'fatal';

export interface RunResult extends RunProgress {
  stopped: StopReason;
  /** Why the sweep stopped early, for the user. */
  message?: string;
  failures: { key: string; error: string }[];
  droppedByReason: Partial<Record<DropReason, number>>;
  /** Pairs kept and dropped per variant x temperature in this run. */
  dropGroups: DropGroup[];
  /** Atomic facts listed by the model ("FACT n:") in this run, and how many got at least one pair. */
  facts: { listed: number; covered: number };
}

export interface RunOptions {
  client: ChatClient;
  journal: Journal;
  concurrency: number;
  timeoutMs: number;
  price?: Price;
  budgetUsd?: number;
  signal?: AbortSignal;
  retry?: Partial<RetryPolicy>;
  onProgress?: (p: RunProgress) => void;
  /** Called after each request is journaled (done or failed). */
  onEntry?: (e: JournalEntry, req: PlannedRequest) => void;
  /** The pair filters (filters.ts) for a request's parsed pairs; what they drop is journaled with its reason. */
  filter?: (req: PlannedRequest, pairs: ParsedPair[]) => { pairs: ParsedPair[]; dropped: DroppedFragment[] };
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  countTokens?: (text: string) => number;
  random?: () => number;
  /** Adapt concurrency to the server's rate limit (default true); false keeps it fixed (for comparison). */
  adaptive?: boolean;
}

export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(policy.capMs, policy.baseMs * 2 ** (attempt - 1)));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export async function runSweep(requests: PlannedRequest[], opts: RunOptions): Promise<RunResult> {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...opts.retry };
  const random = opts.random ?? Math.random;
  const count = opts.countTokens ?? charsOver4;
  const log = opts.log ?? (() => undefined);
  if (opts.budgetUsd !== undefined && !opts.price) {
    throw new MnemoError(`A budget is set (generation.budgetUsd) but the price of "${requests[0]?.model}" is unknown, so spend cannot be counted.`, 'Add the model to generation.prices in mnemo.json, or remove budgetUsd.');
  }
  const started = Date.now();
  const stopper = new AbortController();
  const limiter = new AdaptiveLimiter({ max: opts.concurrency, fixed: opts.adaptive === false });
  // Every request in flight and every backoff listens for cancel.
  setMaxListeners(Math.max(10, opts.concurrency * 4 + 10), stopper.signal);
  const onAbort = () => stopper.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) stopper.abort();

  // A key may appear twice in a plan only by mistake; it is sent once.
  const seen = new Set<string>();
  const unique = requests.filter((r) => (seen.has(r.key) ? false : (seen.add(r.key), true)));
  const queue = unique.filter((r) => !opts.journal.has(r.key));
  const p: RunProgress = {
    total: unique.length,
    done: unique.length - queue.length,
    resumed: unique.length - queue.length,
    failed: 0,
    inFlight: 0,
    concurrency: limiter.concurrency,
    rateLimited: 0,
    retries: 0,
    spentUsd: 0,
    inputTokens: 0,
    outputTokens: 0,
    pairs: 0,
    dropped: 0,
    elapsedSeconds: 0,
  };
  const failures: RunResult['failures'] = [];
  const droppedByReason: RunResult['droppedByReason'] = {};
  const tally = new DropTally();
  let stopped: StopReason = 'completed';
  let message: string | undefined;
  let reserved = 0;
  let finishedThisRun = 0;
  let outputSeen = 0;
  const facts = { listed: 0, covered: 0 };

  const progress = () => {
    p.concurrency = limiter.concurrency;
    p.rateLimited = limiter.rateLimited;
    p.elapsedSeconds = (Date.now() - started) / 1000;
    const finished = finishedThisRun + p.failed;
    const remaining = p.total - p.done - p.failed;
    p.etaSeconds = finished > 0 ? (p.elapsedSeconds / finished) * remaining : undefined;
    opts.onProgress?.({ ...p });
  };

  // What a request may cost before it is sent: its prompt, and the larger of the estimated output and the mean output so far.
  const reservation = (r: PlannedRequest) => {
    const meanOut = finishedThisRun ? outputSeen / finishedThisRun : 0;
    return costOf({ inputTokens: r.estInputTokens, outputTokens: Math.max(r.estOutputTokens, meanOut) }, opts.price);
  };

  const entryBase = (r: PlannedRequest) => ({ key: r.key, source: r.source, chunk: r.chunk, chunkId: r.chunkId, variant: r.variant, temperature: r.temperature, model: r.model });

  const runOne = async (r: PlannedRequest): Promise<void> => {
    // `attempt` counts every try (the journal's attempts); `failuresSeen` (not 429) and `refusals` (429) are held to their own allowances.
    let failuresSeen = 0;
    let refusals = 0;
    for (let attempt = 1; ; attempt++) {
      if (stopper.signal.aborted) return;
      // Waits for a slot under the adapted concurrency and for the budget the server reports.
      let ticket: number;
      try {
        ticket = await limiter.acquire(r.estInputTokens + r.maxTokens, stopper.signal);
      } catch {
        return;
      }
      let released = false;
      const release = (outcome: Parameters<AdaptiveLimiter['release']>[1]) => {
        if (released) return;
        released = true;
        limiter.release(ticket, outcome);
      };
      const t0 = Date.now();
      try {
        const res = await opts.client.complete({ model: r.model, prompt: r.prompt, temperature: r.temperature, maxTokens: r.maxTokens }, { signal: stopper.signal, timeoutMs: opts.timeoutMs });
        release({ kind: 'ok', rate: res.rateLimit });
        const parsed = parseModelPairs(res.text, { truncated: res.finishReason === 'length' });
        if (opts.filter) {
          const filtered = opts.filter(r, parsed.pairs);
          parsed.pairs = filtered.pairs;
          parsed.dropped.push(...filtered.dropped);
        }
        const usage = res.usage ?? { inputTokens: r.estInputTokens, outputTokens: count(res.text) };
        const cost = costOf(usage, opts.price);
        const entry: JournalEntry = {
          ...entryBase(r),
          status: 'done',
          at: new Date().toISOString(),
          attempts: attempt,
          ms: Date.now() - t0,
          usage,
          ...(res.usage ? {} : { usageEstimated: true }),
          costUsd: cost,
          finishReason: res.finishReason,
          raw: res.text,
          pairs: parsed.pairs,
          ...(parsed.facts.length ? { facts: parsed.facts } : {}),
          dropped: parsed.dropped,
        };
        // Once journaled the request is done, even if the sweep is cancelled a moment later.
        await opts.journal.append(entry);
        finishedThisRun++;
        outputSeen += usage.outputTokens;
        p.done++;
        p.spentUsd += cost;
        p.inputTokens += usage.inputTokens;
        p.outputTokens += usage.outputTokens;
        p.pairs += parsed.pairs.length;
        p.dropped += parsed.dropped.length;
        if (parsed.facts.length) {
          const covered = new Set(parsed.pairs.map((x) => x.fact).filter((f) => f !== undefined));
          facts.listed += parsed.facts.length;
          facts.covered += covered.size;
          if (covered.size < parsed.facts.length) log('warn', `${parsed.facts.length - covered.size} of ${parsed.facts.length} facts got no pair in ${r.source} chunk ${r.chunk} ${r.variant} t=${r.temperature}`);
        }
        for (const d of parsed.dropped) {
          droppedByReason[d.reason] = (droppedByReason[d.reason] ?? 0) + 1;
          log('warn', `dropped ${d.detail ? 'a pair' : 'a fragment'} (${d.reason}${d.detail ? `: ${d.detail}` : ''}) from ${r.source} chunk ${r.chunk} ${r.variant} t=${r.temperature}: ${JSON.stringify(d.text.slice(0, 200))}`);
        }
        tally.add(r.variant, r.temperature, parsed.pairs.length, parsed.dropped);
        opts.onEntry?.(entry, r);
        return;
      } catch (err) {
        const f = err instanceof RequestFailure ? err : classifyError(err);
        release(f.kind === 'rate-limit' ? { kind: 'rate-limited', retryAfterMs: f.retryAfterMs, rate: f.rateLimit } : { kind: 'other' });
        if (f.kind === 'cancelled' || stopper.signal.aborted) return;
        const fail = async (why: string) => {
          p.failed++;
          failures.push({ key: r.key, error: why });
          const entry: JournalEntry = { ...entryBase(r), status: 'failed', at: new Date().toISOString(), attempts: attempt, error: why };
          await opts.journal.append(entry);
          log('error', `request failed for ${r.source} chunk ${r.chunk} ${r.variant} t=${r.temperature} after ${attempt} attempt(s): ${why}`);
          opts.onEntry?.(entry, r);
        };
        if (f.fatal) {
          if (stopped === 'completed') {
            stopped = 'fatal';
            message = f.message;
          }
          stopper.abort();
          await fail(f.message);
          return;
        }
        const rateLimited = f.kind === 'rate-limit';
        if (rateLimited) refusals++;
        else failuresSeen++;
        if (!f.retryable || (rateLimited ? refusals >= policy.maxRateLimited : failuresSeen >= policy.maxAttempts)) {
          await fail(rateLimited ? `${f.message} (refused ${refusals} times; lower generation.concurrency or raise the endpoint's rate limit)` : f.message);
          return;
        }
        // Requests refused together are told the same Retry-After; a little jitter keeps them from all coming back at once.
        const wait = f.retryAfterMs !== undefined ? Math.min(f.retryAfterMs, policy.maxRetryAfterMs) + Math.floor(random() * Math.min(250, f.retryAfterMs / 4)) : backoffMs(rateLimited ? refusals : failuresSeen, policy, random);
        p.retries++;
        log('info', `retrying ${r.source} chunk ${r.chunk} ${r.variant} t=${r.temperature} in ${wait} ms (attempt ${attempt} failed: ${f.message})`);
        progress();
        await sleep(wait, stopper.signal);
      }
    }
  };

  let next = 0;
  const worker = async (): Promise<void> => {
    while (!stopper.signal.aborted && next < queue.length) {
      const r = queue[next];
      if (opts.budgetUsd !== undefined) {
        const cost = reservation(r);
        if (p.spentUsd + reserved + cost > opts.budgetUsd) {
          if (stopped === 'completed') {
            stopped = 'budget';
            message = `The budget of $${opts.budgetUsd} would be passed: $${p.spentUsd.toFixed(4)} spent and $${reserved.toFixed(4)} in flight; the next request is estimated at $${cost.toFixed(4)}.`;
          }
          return;
        }
        reserved += cost;
        next++;
        p.inFlight++;
        try {
          await runOne(r);
        } finally {
          reserved -= cost;
          p.inFlight--;
        }
      } else {
        next++;
        p.inFlight++;
        try {
          await runOne(r);
        } finally {
          p.inFlight--;
        }
      }
      progress();
    }
  };

  progress();
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency, queue.length || 1)) }, worker));
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    limiter.dispose();
  }
  if (opts.signal?.aborted && stopped === 'completed') {
    stopped = 'cancelled';
    message = `Cancelled: ${p.done} of ${p.total} requests are done and kept; run the sweep again to resume.`;
  }
  p.elapsedSeconds = (Date.now() - started) / 1000;
  p.etaSeconds = 0;
  p.concurrency = limiter.concurrency;
  p.rateLimited = limiter.rateLimited;
  return { ...p, stopped, message, failures, droppedByReason, dropGroups: tally.groupsSorted(), facts };
}
