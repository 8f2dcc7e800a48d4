/**
 * Sweep throughput against the local chat-completions server (test/servers/openai-server.ts).
 *   npm run bench:sweep
 *
 * 1. 504 requests (14 chunks x 4 variants x 9 temperatures), fixed latency 200 ms, concurrency 8.
 *    Ideal throughput = concurrency / latency = 40 requests/s; ratio = achieved / ideal.
 * 2. The same with every 5th request that reaches the server (20%) answered 429, Retry-After 0.2 s,
 *    at fixed concurrency (injected faults, not a real limit).
 *    ratio_with_429 counts only successful requests against the same ideal (40/s): the time lost
 *    to 429s (each one holds a slot for the latency and then waits Retry-After) counts against it.
 *    ratio_with_429_vs_fault_ideal compares with the best possible time when those 429s are
 *    unavoidable: (successes x latency + 429s x (latency + Retry-After)) / concurrency.
 * 3. One at a time (the method's original script): measured on 40 requests, extrapolated to 504.
 * 4. Against a server that enforces a rate limit (a token bucket of requests per second, and one of
 *    tokens per minute, with x-ratelimit-* headers and 429 + Retry-After): the adaptive runner
 *    beside the same runner at fixed concurrency. ratio = achieved successful requests/s over the
 *    rate the server allows (target >= 0.9); 429s counted. Also the adaptive runner without the
 *    headers (429s only).
 * Everything goes through the real runner: the openai SDK over HTTP, parsing, the fsync'd journal.
 */
import type { PlannedRequest, RunResult } from '../src/core/generation';
import { approxTokens, startOpenAiServer, type Fault, type RateLimitOptions } from '../test/servers/openai-server';
import { sentenceChunk, sweepPlan, timedSweep } from '../test/servers/sweep';

const LATENCY_MS = 200;
const CONCURRENCY = 8;
const RETRY_AFTER_S = 0.2;

function plan(chunks: number): PlannedRequest[] {
  const cs = Array.from({ length: chunks }, (_, i) => sentenceChunk(i + 1, { start: i, sentences: 24, tokens: 500, label: 'Section' }));
  return sweepPlan(cs, { variants: ['nuanced', 'simple', 'reversed', 'atomic'], temperatures: [0.01, 0.159, 0.308, 0.456, 0.605, 0.754, 0.903, 1.051, 1.2], maxOutputTokens: 2048, source: 'sources/bench.md' });
}

async function sweep(
  requests: PlannedRequest[],
  concurrency: number,
  o: { behavior?: (n: number) => Fault; rateLimit?: RateLimitOptions; adaptive?: boolean; onProgress?: (c: number) => void; allowFailures?: boolean } = {},
): Promise<{ result: RunResult; seconds: number; faults: Record<string, number>; rateLimited: number }> {
  const server = await startOpenAiServer({ latencyMs: LATENCY_MS, behavior: o.behavior ? ({ n }) => o.behavior!(n) : undefined, rateLimit: o.rateLimit });
  try {
    const { result, seconds } = await timedSweep(server, requests, { concurrency, timeoutMs: 30_000, adaptive: o.adaptive, onProgress: (p) => o.onProgress?.(p.concurrency) });
    if (result.stopped !== 'completed' || (result.failed && !o.allowFailures)) throw new Error(`sweep did not complete: ${result.stopped} ${result.message ?? ''} failed=${result.failed}`);
    return { result, seconds, faults: server.stats.faults, rateLimited: server.stats.rateLimited };
  } finally {
    await server.close();
  }
}

/** The least time a server with this limit allows for these requests: after the initial bursts, the slower of its two refills. */
function allowedSeconds(requests: PlannedRequest[], rl: RateLimitOptions): number {
  const bySeconds = (requests.length - (rl.burst ?? rl.requestsPerSecond)) / rl.requestsPerSecond;
  if (!rl.tokensPerMinute) return bySeconds;
  const tokens = requests.reduce((n, r) => n + approxTokens(r.prompt) + r.maxTokens, 0);
  return Math.max(bySeconds, (tokens - rl.tokensPerMinute) / (rl.tokensPerMinute / 60));
}

async function rateLimited(requests: PlannedRequest[], label: string, rl: RateLimitOptions, adaptive: boolean) {
  let lowest = CONCURRENCY;
  const r = await sweep(requests, CONCURRENCY, { rateLimit: rl, adaptive, allowFailures: true, onProgress: (c) => (lowest = Math.min(lowest, c)) });
  // The least time the server allows for the requests that succeeded, over the time they took.
  const ok = r.result.done - r.result.resumed;
  const allowed = allowedSeconds(requests.slice(0, ok), rl);
  const ratio = allowed / r.seconds;
  console.log(
    `${label}: ${r.seconds.toFixed(2)} s, ${ok} done, ${r.result.failed} failed after ${r.result.retries} retries; ${(ok / r.seconds).toFixed(2)} successful requests/s, ` +
      `allowed ${(ok / allowed).toFixed(2)}/s -> ratio ${ratio.toFixed(3)}; ${r.rateLimited} answered 429; concurrency ${adaptive ? `adapted, lowest ${lowest}, last ${r.result.concurrency}` : 'fixed'}`,
  );
  return { ratio: round(ratio), responses_429: r.rateLimited, failed: r.result.failed, seconds: round(r.seconds) };
}

async function main(): Promise<void> {
  const requests = plan(14);
  const n = requests.length;
  const ideal = CONCURRENCY / (LATENCY_MS / 1000);
  console.log(`${n} requests, latency ${LATENCY_MS} ms, concurrency ${CONCURRENCY}: ideal ${ideal} requests/s (${(n / ideal).toFixed(2)} s)`);

  // Warm up (JIT, the SDK, sockets) on other requests, so the figures measure the steady state.
  await sweep(plan(2).map((r) => ({ ...r, key: `warm-${r.key}` })), CONCURRENCY);
  const clean = await sweep(requests, CONCURRENCY);
  const ratio = n / clean.seconds / ideal;
  console.log(`no faults:   ${clean.seconds.toFixed(2)} s, ${(n / clean.seconds).toFixed(1)} requests/s, ratio ${ratio.toFixed(3)}`);

  // Injected 429s that do not come from a real limit: measured at fixed concurrency, as before (the adaptive runner would slow down for them).
  const limited = await sweep(requests, CONCURRENCY, { adaptive: false, behavior: (k) => (k % 5 === 0 ? { kind: 'rate-limit', retryAfter: String(RETRY_AFTER_S) } : { kind: 'ok' }) });
  const n429 = limited.faults['rate-limit'] ?? 0;
  const ratio429 = n / limited.seconds / ideal;
  const faultIdealSeconds = (n * LATENCY_MS + n429 * (LATENCY_MS + RETRY_AFTER_S * 1000)) / 1000 / CONCURRENCY;
  console.log(
    `20% 429s:    ${limited.seconds.toFixed(2)} s, ${n429} answered 429 (${((100 * n429) / (n + n429)).toFixed(1)}% of ${n + n429} arrivals), ${limited.result.retries} retries; ` +
      `${(n / limited.seconds).toFixed(1)} successful requests/s, ratio vs ${ideal}/s ${ratio429.toFixed(3)}; best possible with these 429s ${faultIdealSeconds.toFixed(2)} s, ratio ${(faultIdealSeconds / limited.seconds).toFixed(3)}`,
  );

  // 4. A server that enforces its rate limit: 10 requests/s (burst 10), then also 300k tokens/min.
  const limitedPlan = requests.slice(0, 160);
  const rps: RateLimitOptions = { requestsPerSecond: 10, burst: 10 };
  const tpm: RateLimitOptions = { requestsPerSecond: 20, burst: 20, tokensPerMinute: 300_000 };
  console.log(`rate-limited server, ${limitedPlan.length} requests, latency ${LATENCY_MS} ms, concurrency up to ${CONCURRENCY}:`);
  const rpsFixed = await rateLimited(limitedPlan, '  10 req/s, fixed concurrency      ', rps, false);
  const rpsAdaptive = await rateLimited(limitedPlan, '  10 req/s, adaptive (headers)     ', rps, true);
  const rpsNoHeaders = await rateLimited(limitedPlan, '  10 req/s, adaptive (429s only)   ', { ...rps, headers: false }, true);
  const tpmFixed = await rateLimited(limitedPlan, '  300k tokens/min, fixed           ', tpm, false);
  const tpmAdaptive = await rateLimited(limitedPlan, '  300k tokens/min, adaptive        ', tpm, true);

  const sample = requests.slice(0, 40);
  const seq = await sweep(sample, 1);
  const sequentialSeconds = (seq.seconds / sample.length) * n;
  console.log(`one at a time: ${sample.length} requests in ${seq.seconds.toFixed(2)} s -> ${sequentialSeconds.toFixed(1)} s for ${n} (${(sequentialSeconds / clean.seconds).toFixed(1)}x the concurrent sweep)`);
  // For scale: the example rulebook (13 chunks x 4 variants x 9 temperatures) at ~8 s a request on a hosted model.
  const example = 13 * 4 * 9;
  console.log(`for scale: the example project's ${example} requests at ~8 s each take ~${Math.round((example * 8) / 60)} min one at a time, ~${Math.round((example * 8) / 60 / CONCURRENCY)} min at concurrency ${CONCURRENCY}`);
  console.log(
    JSON.stringify({
      ratio: round(ratio),
      ratio_with_429: round(ratio429),
      seconds: round(clean.seconds),
      sequential_seconds: round(sequentialSeconds),
      requests: n,
      seconds_with_429: round(limited.seconds),
      ratio_with_429_vs_fault_ideal: round(faultIdealSeconds / limited.seconds),
      responses_429: n429,
      rate_limited_ratio: rpsAdaptive.ratio,
      rate_limited_429: rpsAdaptive.responses_429,
      rate_limited_fixed_ratio: rpsFixed.ratio,
      rate_limited_fixed_429: rpsFixed.responses_429,
      rate_limited_fixed_failed: rpsFixed.failed,
      rate_limited_no_headers_ratio: rpsNoHeaders.ratio,
      rate_limited_no_headers_429: rpsNoHeaders.responses_429,
      token_limited_ratio: tpmAdaptive.ratio,
      token_limited_429: tpmAdaptive.responses_429,
      token_limited_fixed_ratio: tpmFixed.ratio,
      token_limited_fixed_429: tpmFixed.responses_429,
    }),
  );
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
