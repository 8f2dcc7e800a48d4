/**
 * Sweep throughput against the local chat-completions server (test/servers/openai-server.ts).
 *   npm run bench:sweep
 *
 * 1. 504 requests (14 chunks x 4 variants x 9 temperatures), fixed latency 200 ms, concurrency 8.
 *    Ideal throughput = concurrency / latency = 40 requests/s; ratio = achieved / ideal.
 * 2. The same with every 5th request that reaches the server (20%) answered 429, Retry-After 0.2 s.
 *    ratio_with_429 counts only successful requests against the same ideal (40/s): the time lost
 *    to 429s (each one holds a slot for the latency and then waits Retry-After) counts against it.
 *    ratio_with_429_vs_fault_ideal compares with the best possible time when those 429s are
 *    unavoidable: (successes x latency + 429s x (latency + Retry-After)) / concurrency.
 * 3. One at a time (the method's original script): measured on 40 requests, extrapolated to 504.
 * Everything goes through the real runner: the openai SDK over HTTP, parsing, the fsync'd journal.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlan, Journal, loadPromptTemplates, OpenAiChatClient, runSweep, type PlannedRequest, type RunResult } from '../src/core/generation';
import type { Chunk } from '../src/core/sources/types';
import { startOpenAiServer, type Fault } from '../test/servers/openai-server';

const LATENCY_MS = 200;
const CONCURRENCY = 8;
const RETRY_AFTER_S = 0.2;

const SENTENCES = [
  'Opponents must retreat nine metres at a Free Cast.',
  'The captain of the defending side places the stone on the mark.',
  'Play restarts when the referee raises the blue flag.',
  'A cairn is built from exactly seven stones.',
  'Each half lasts thirty minutes of running time.',
  'A player who handles the stone inside the ring concedes a Free Cast.',
  'The Chief Arbiter may stop play for injury at any time.',
];

function plan(chunks: number): PlannedRequest[] {
  const cs: Chunk[] = Array.from({ length: chunks }, (_, i) => {
    const text = Array.from({ length: 24 }, (_, k) => SENTENCES[(i + k) % SENTENCES.length]).join(' ') + ` (Section ${i + 1}.)`;
    return { n: i + 1, id: `c${i + 1}`, text, tokenStart: i * 500, tokenEnd: i * 500 + 500, charStart: 0, charEnd: text.length, page: 1 };
  });
  return buildPlan([{ source: 'sources/bench.md', chunks: cs }], {
    context: 'Cairnrun rules',
    model: 'mock-model',
    variants: loadPromptTemplates('/nonexistent', ['nuanced', 'simple', 'reversed', 'atomic']),
    temperatures: [0.01, 0.159, 0.308, 0.456, 0.605, 0.754, 0.903, 1.051, 1.2],
    tokensPerQuestion: 60,
    maxOutputTokens: 2048,
  });
}

async function sweep(requests: PlannedRequest[], concurrency: number, behavior?: (n: number) => Fault): Promise<{ result: RunResult; seconds: number; faults: Record<string, number> }> {
  const server = await startOpenAiServer({ latencyMs: LATENCY_MS, behavior: behavior ? ({ n }) => behavior(n) : undefined });
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-bench-'));
  const journal = Journal.open(join(dir, 'journal.jsonl'));
  try {
    const t0 = performance.now();
    const result = await runSweep(requests, { client: new OpenAiChatClient({ baseUrl: server.url, apiKey: 'bench' }), journal, concurrency, timeoutMs: 30_000 });
    const seconds = (performance.now() - t0) / 1000;
    if (result.stopped !== 'completed' || result.failed) throw new Error(`sweep did not complete: ${result.stopped} ${result.message ?? ''} failed=${result.failed}`);
    return { result, seconds, faults: server.stats.faults };
  } finally {
    await journal.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
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

  const limited = await sweep(requests, CONCURRENCY, (k) => (k % 5 === 0 ? { kind: 'rate-limit', retryAfter: String(RETRY_AFTER_S) } : { kind: 'ok' }));
  const n429 = limited.faults['rate-limit'] ?? 0;
  const ratio429 = n / limited.seconds / ideal;
  const faultIdealSeconds = (n * LATENCY_MS + n429 * (LATENCY_MS + RETRY_AFTER_S * 1000)) / 1000 / CONCURRENCY;
  console.log(
    `20% 429s:    ${limited.seconds.toFixed(2)} s, ${n429} answered 429 (${((100 * n429) / (n + n429)).toFixed(1)}% of ${n + n429} arrivals), ${limited.result.retries} retries; ` +
      `${(n / limited.seconds).toFixed(1)} successful requests/s, ratio vs ${ideal}/s ${ratio429.toFixed(3)}; best possible with these 429s ${faultIdealSeconds.toFixed(2)} s, ratio ${(faultIdealSeconds / limited.seconds).toFixed(3)}`,
  );

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
