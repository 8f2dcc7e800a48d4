/** The sweep's rate-limit adaptation: header parsing, the limiter's decisions, and a real sweep against a rate-limited server. */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { AdaptiveLimiter, parseRateLimitHeaders, parseResetDuration } from '../../src/core/generation';
import { startOpenAiServer, type FakeServer } from '../servers/openai-server';
import { sentenceChunk, sweepPlan, timedSweep } from '../servers/sweep';

const servers: FakeServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

void describe('rate-limit headers', () => {
  void test('reset durations in the forms servers send', () => {
    assert.equal(parseResetDuration('1s'), 1000);
    assert.equal(parseResetDuration('20ms'), 20);
    assert.equal(parseResetDuration('6m0s'), 360_000);
    assert.equal(parseResetDuration('1m30.5s'), 90_500);
    assert.equal(parseResetDuration('1h2m'), 3_720_000);
    assert.equal(parseResetDuration('0.25'), 250);
    assert.equal(parseResetDuration(''), undefined);
    assert.equal(parseResetDuration('soon'), undefined);
    assert.equal(parseResetDuration('5s later'), undefined);
    assert.equal(parseResetDuration(null), undefined);
  });

  void test('x-ratelimit-* headers, or nothing when absent', () => {
    const h = new Headers({ 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '499', 'x-ratelimit-reset-requests': '120ms', 'x-ratelimit-remaining-tokens': '9000', 'x-ratelimit-reset-tokens': '6m0s' });
    assert.deepEqual(parseRateLimitHeaders(h), { limitRequests: 500, remainingRequests: 499, resetRequestsMs: 120, limitTokens: undefined, remainingTokens: 9000, resetTokensMs: 360_000 });
    assert.equal(parseRateLimitHeaders(new Headers({ 'content-type': 'application/json' })), undefined);
    assert.equal(parseRateLimitHeaders(undefined), undefined);
  });
});

void describe('AdaptiveLimiter', () => {
  void test('halves concurrency once per round of 429s and grows back while requests succeed', async () => {
    let now = 0;
    const l = new AdaptiveLimiter({ max: 8, now: () => now });
    const tickets = await Promise.all(Array.from({ length: 8 }, () => l.acquire(0)));
    assert.equal(l.concurrency, 8);
    // Four requests of the same round are refused: one decrease, not four.
    for (const t of tickets.slice(0, 4)) l.release(t, { kind: 'rate-limited', retryAfterMs: 100 });
    assert.equal(l.concurrency, 4);
    assert.equal(l.waitMs(), Infinity, 'four still in flight fill the four slots');
    for (const t of tickets.slice(4)) l.release(t, { kind: 'ok' });
    assert.equal(l.waitMs(), 100, 'Retry-After holds every new start');
    now = 100;
    assert.equal(l.waitMs(), 0);
    // A 429 from a request started after the decrease halves again.
    const t = await l.acquire(0);
    l.release(t, { kind: 'rate-limited', retryAfterMs: 10 });
    assert.ok(l.concurrency <= 3, `after a second round: ${l.concurrency}`);
    now = 200;
    const before = l.concurrency;
    for (let i = 0; i < 40; i++) l.release(await l.acquire(0), { kind: 'ok' });
    assert.ok(l.concurrency > before && l.concurrency <= 8, `grew back from ${before} to ${l.concurrency}`);
    assert.equal(l.rateLimited, 5);
  });

  void test('spends the budget the headers report, then waits for the reset', async () => {
    let now = 1000;
    const l = new AdaptiveLimiter({ max: 8, now: () => now });
    const t = await l.acquire(0);
    l.release(t, { kind: 'ok', rate: { remainingRequests: 2, resetRequestsMs: 500 } });
    l.release(await l.acquire(0), { kind: 'ok' });
    await l.acquire(0);
    assert.equal(l.waitMs(), 500, 'the two requests left are spent: wait for the reset');
    now = 1500;
    assert.equal(l.waitMs(), 0);
  });

  void test('a request larger than the tokens left waits for the token reset', async () => {
    const now = 0;
    const l = new AdaptiveLimiter({ max: 4, now: () => now });
    l.release(await l.acquire(100), { kind: 'ok', rate: { remainingTokens: 1000, resetTokensMs: 2000 } });
    assert.equal(l.waitMs(900), 0);
    assert.equal(l.waitMs(1200), 2000);
  });

  void test('a waiting acquire is released by cancel', async () => {
    const l = new AdaptiveLimiter({ max: 1 });
    await l.acquire(0);
    const ac = new AbortController();
    const waiting = l.acquire(0, ac.signal);
    ac.abort();
    await assert.rejects(waiting);
    l.dispose();
  });
});

void describe('a sweep against a rate-limited server', () => {
  const plan = sweepPlan(
    Array.from({ length: 6 }, (_, i) => sentenceChunk(i + 1, { start: i, sentences: 3, tokens: 180 })),
    { variants: ['nuanced', 'simple'], temperatures: [0.1, 0.5, 0.9], maxOutputTokens: 256 },
  );

  void test('with x-ratelimit headers: every request done, far fewer 429s than requests', async () => {
    const s = await startOpenAiServer({ latencyMs: 20, rateLimit: { requestsPerSecond: 40, burst: 4 } });
    servers.push(s);
    const { result } = await timedSweep(s, plan, { concurrency: 8 });
    assert.equal(result.stopped, 'completed');
    assert.equal(result.done, plan.length);
    assert.equal(result.failed, 0);
    assert.equal(s.stats.completed.size, plan.length);
    // Ignoring the headers, 8 at once against 4 a burst and 40/s would see most arrivals refused.
    assert.ok(s.stats.rateLimited < plan.length / 2, `${s.stats.rateLimited} 429s for ${plan.length} requests`);
    assert.equal(result.rateLimited, s.stats.rateLimited);
  });

  void test('without headers: concurrency comes down on 429s and the sweep completes', async () => {
    const s = await startOpenAiServer({ latencyMs: 20, rateLimit: { requestsPerSecond: 40, burst: 2, headers: false } });
    servers.push(s);
    const lowest: number[] = [];
    const { result } = await timedSweep(s, plan, { concurrency: 8, onProgress: (p) => lowest.push(p.concurrency) });
    assert.equal(result.stopped, 'completed');
    assert.equal(result.done, plan.length);
    assert.ok(s.stats.rateLimited > 0, 'the server did rate-limit');
    assert.equal(result.rateLimited, s.stats.rateLimited);
    assert.ok(Math.min(...lowest) < 8, `concurrency was lowered (lowest ${Math.min(...lowest)})`);
  });
});
