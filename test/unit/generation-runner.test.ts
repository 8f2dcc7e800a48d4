/** The sweep runner against a real local HTTP server speaking the chat-completions protocol. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  costOf,
  Journal,
  OpenAiChatClient,
  runSweep,
  testConnection,
  writeSweepOutputs,
  type JournalEntry,
  type PlannedRequest,
  type RunOptions,
} from '../../src/core/generation';
import { activePairs, parseQa } from '../../src/core/qa';
import { serverKey, startOpenAiServer, type ChatBody, type FakeServer, type FakeServerOptions } from '../servers/openai-server';
import { sentenceChunk, sweepOptions, sweepPlan } from '../servers/sweep';

const repo = join(__dirname, '..', '..');
const dirs: string[] = [];
const servers: FakeServer[] = [];
after(async () => {
  for (const s of servers) await s.close().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'mnemo-run-'));
  dirs.push(d);
  return d;
}

async function server(opts: FakeServerOptions = {}): Promise<FakeServer> {
  const s = await startOpenAiServer({ models: ['mock-model'], ...opts });
  servers.push(s);
  return s;
}

function makePlan(chunks: number, variants = ['nuanced', 'simple'], temperatures = [0.01, 0.6, 1.2]): PlannedRequest[] {
  return sweepPlan(Array.from({ length: chunks }, (_, i) => sentenceChunk(i + 1, { start: i + 1, sentences: 3, pool: 5, tokens: 180 })), { variants, temperatures, maxOutputTokens: 1024 });
}

/** The key the server counts by, for a planned request (same body the client sends). */
function keyOf(r: PlannedRequest): string {
  return serverKey({ model: r.model, temperature: r.temperature, messages: [{ role: 'user', content: r.prompt }] } as ChatBody);
}

function options(s: FakeServer, journal: Journal, extra: Partial<RunOptions> = {}): RunOptions {
  return sweepOptions(s, journal, { retry: { baseMs: 10, capMs: 100 }, ...extra });
}

function journalLines(path: string): JournalEntry[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JournalEntry);
}

function doneCounts(path: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of journalLines(path)) if (e.status === 'done') m.set(e.key, (m.get(e.key) ?? 0) + 1);
  return m;
}

void describe('runSweep against a local chat-completions server', () => {
  void test('a sweep completes: each request answered once, spend equals the server usage, files complete', async () => {
    const s = await server({ latencyMs: 5 });
    const dir = tmp();
    const plan = makePlan(3);
    const journal = Journal.open(join(dir, 'journal.jsonl'));
    const price = { input: 1, output: 2 };
    const fresh = new Set<string>();
    const r = await runSweep(plan, options(s, journal, { price, onEntry: (e) => fresh.add(e.key) }));
    assert.equal(r.stopped, 'completed');
    assert.equal(r.done, 18);
    assert.equal(r.failed, 0);
    assert.equal(s.stats.completed.size, 18);
    for (const p of plan) assert.equal(s.stats.completed.get(keyOf(p)), 1);
    assert.equal(r.inputTokens, s.stats.usage.promptTokens);
    assert.equal(r.outputTokens, s.stats.usage.completionTokens);
    assert.ok(Math.abs(r.spentUsd - costOf({ inputTokens: s.stats.usage.promptTokens, outputTokens: s.stats.usage.completionTokens }, price)) < 1e-12);
    assert.ok(s.stats.maxInFlight <= 4);
    const files = writeSweepOutputs({ root: dir, qaDir: join(dir, 'qa'), requests: plan, journal, freshKeys: fresh });
    await journal.close();
    assert.deepEqual(files.map((f) => f.path).sort(), ['nuanced-t0.010', 'nuanced-t0.600', 'nuanced-t1.200', 'simple-t0.010', 'simple-t0.600', 'simple-t1.200'].map((n) => `qa/rulebook/${n}.qa`));
    for (const f of files) {
      const qa = parseQa(readFileSync(join(dir, f.path), 'utf8'));
      assert.deepEqual(qa.problems, []);
      // 3 chunks x round(180 / 60) = 3 questions each.
      assert.deepEqual(activePairs(qa).map((p) => p.chunk), ['1', '1', '1', '2', '2', '2', '3', '3', '3']);
      assert.equal(qa.header.model, 'mock-model');
      assert.ok(qa.header.digest);
    }
    // Running the same plan again sends nothing.
    const before = s.stats.requests;
    const again = await runSweep(plan, options(s, Journal.open(join(dir, 'journal.jsonl'))));
    assert.equal(again.resumed, 18);
    assert.equal(s.stats.requests, before);
  });

  void test('429 with Retry-After and 500s are retried until every request is done exactly once', async () => {
    const s = await server({
      behavior: ({ n, attempt }) => (attempt === 1 && n % 3 === 0 ? { kind: 'rate-limit', retryAfter: '0.05' } : attempt === 1 && n % 5 === 0 ? { kind: 'server-error', status: 503 } : attempt === 2 && n % 7 === 0 ? { kind: 'rate-limit', retryAfterMs: 20 } : { kind: 'ok' }),
    });
    const dir = tmp();
    const plan = makePlan(4);
    const journal = Journal.open(join(dir, 'j.jsonl'));
    const r = await runSweep(plan, options(s, journal));
    await journal.close();
    assert.equal(r.stopped, 'completed');
    assert.equal(r.done, plan.length);
    assert.equal(r.failed, 0);
    assert.equal(r.retries, (s.stats.faults['rate-limit'] ?? 0) + (s.stats.faults['server-error'] ?? 0));
    assert.ok(r.retries > 0);
    for (const p of plan) assert.equal(s.stats.completed.get(keyOf(p)), 1);
    assert.deepEqual([...doneCounts(join(dir, 'j.jsonl')).values()].filter((c) => c !== 1), []);
  });

  void test('a request that keeps failing is recorded as failed after the last attempt, and retried on the next run', async () => {
    let failing = true;
    const s = await server({ behavior: ({ n }) => (failing && n <= 3 ? { kind: 'server-error' } : { kind: 'ok' }) });
    const dir = tmp();
    const plan = makePlan(1, ['simple'], [0.5]);
    const path = join(dir, 'j.jsonl');
    const r = await runSweep(plan, options(s, Journal.open(path), { retry: { maxAttempts: 3, baseMs: 1, capMs: 5 } }));
    assert.equal(r.failed, 1);
    assert.match(r.failures[0].error, /HTTP 500/);
    assert.equal(s.stats.requests, 3);
    failing = false;
    const again = await runSweep(plan, options(s, Journal.open(path)));
    assert.equal(again.done, 1);
    assert.deepEqual(journalLines(path).map((e) => e.status), ['failed', 'done']);
  });

  void test('429s have their own allowance: a request refused more often than maxAttempts still completes; past maxRateLimited it fails', async () => {
    // Every request is refused 8 times before it is answered: more than the 6 attempts other failures get.
    const s = await server({ behavior: ({ attempt }) => (attempt <= 8 ? { kind: 'rate-limit', retryAfterMs: 1 } : { kind: 'ok' }) });
    const plan = makePlan(1, ['simple'], [0.5]);
    const r = await runSweep(plan, options(s, Journal.open(join(tmp(), 'j.jsonl'))));
    assert.equal(r.stopped, 'completed');
    assert.equal(r.done, 1);
    assert.equal(r.rateLimited, 8);
    const path = join(tmp(), 'j.jsonl');
    const limited = await runSweep(makePlan(1, ['nuanced'], [0.5]), options(s, Journal.open(path), { retry: { maxRateLimited: 3 } }));
    assert.equal(limited.failed, 1);
    assert.match(limited.failures[0].error, /HTTP 429.*refused 3 times; lower generation\.concurrency/);
    assert.deepEqual(journalLines(path).map((e) => [e.status, e.attempts]), [['failed', 3]]);
  });

  void test('dropped fragments are counted by reason; missing usage is estimated and marked', async () => {
    const faults = ['malformed', 'truncated', 'refusal', 'json', 'no-usage', 'ok'] as const;
    const s = await server({ behavior: ({ n }) => ({ kind: faults[(n - 1) % faults.length] }) });
    const dir = tmp();
    const plan = makePlan(1, ['nuanced', 'simple'], [0.1, 0.2, 0.3]);
    const r = await runSweep(plan, options(s, Journal.open(join(dir, 'j.jsonl')), { concurrency: 1 }));
    assert.equal(r.done, 6);
    // malformed: an intro line and a question without answer; truncated: the cut last pair; refusal: the whole answer.
    assert.deepEqual(r.droppedByReason, { 'stray-text': 1, 'missing-answer': 1, truncated: 1, refusal: 1 });
    assert.equal(r.dropped, 4);
    // 3 questions a request: malformed 2, truncated 2, refusal 0, json 3, no-usage 3, ok 3.
    assert.equal(r.pairs, 13);
    const entries = journalLines(join(dir, 'j.jsonl'));
    assert.equal(entries.filter((e) => e.usageEstimated).length, 1);
    assert.ok(entries.every((e) => typeof e.raw === 'string'));
  });

  void test('atomic facts are counted: listed, and covered by at least one pair', async () => {
    const s = await server();
    const plan = makePlan(2, ['atomic'], [0.5]);
    const r = await runSweep(plan, options(s, Journal.open(join(tmp(), 'j.jsonl'))));
    // Each chunk has 3 sentences and asks for 3 pairs: 3 facts, each with one pair.
    assert.deepEqual(r.facts, { listed: 6, covered: 6 });
    assert.equal(r.dropped, 0);
  });

  void test('cancel stops within a second and keeps what finished; the next run sends only the rest', async () => {
    const s = await server({ latencyMs: 400 });
    const dir = tmp();
    const path = join(dir, 'j.jsonl');
    const plan = makePlan(4);
    const ac = new AbortController();
    let abortedAt = 0;
    const r = await runSweep(
      plan,
      options(s, Journal.open(path), {
        concurrency: 3,
        signal: ac.signal,
        onProgress: (p) => {
          if (p.done >= 4 && !ac.signal.aborted) {
            // Abort while the next requests are in flight, not between them.
            setTimeout(() => {
              abortedAt = Date.now();
              ac.abort();
            }, 150);
          }
        },
      }),
    );
    const stopMs = Date.now() - abortedAt;
    assert.equal(r.stopped, 'cancelled');
    assert.ok(stopMs < 1000, `stopped ${stopMs} ms after cancel`);
    assert.ok(r.done >= 4 && r.done < plan.length);
    const done1 = new Set(doneCounts(path).keys());
    assert.equal(done1.size, r.done);
    const attemptsBefore = new Map(plan.map((p) => [keyOf(p), s.stats.attempts.get(keyOf(p)) ?? 0]));
    s.options.latencyMs = 1;
    const again = await runSweep(plan, options(s, Journal.open(path)));
    assert.equal(again.stopped, 'completed');
    assert.equal(again.resumed, done1.size);
    // Nothing finished before the cancel was sent again; each key is done exactly once in the journal.
    for (const p of plan) if (done1.has(p.key)) assert.equal(s.stats.attempts.get(keyOf(p)), attemptsBefore.get(keyOf(p)));
    const counts = doneCounts(path);
    assert.equal(counts.size, plan.length);
    assert.deepEqual([...counts.values()].filter((c) => c !== 1), []);
  });

  void test('the budget cap stops the sweep before spend would pass it, counting requests in flight', async () => {
    const s = await server({ latencyMs: 20 });
    const dir = tmp();
    const plan = makePlan(4);
    const price = { input: 10, output: 10 };
    const perRequest = costOf({ inputTokens: plan[0].estInputTokens, outputTokens: plan[0].estOutputTokens }, price);
    const budgetUsd = perRequest * 6.5;
    const r = await runSweep(plan, options(s, Journal.open(join(dir, 'j.jsonl')), { price, budgetUsd, concurrency: 4 }));
    assert.equal(r.stopped, 'budget');
    assert.match(r.message!, /budget/);
    assert.ok(r.spentUsd <= budgetUsd, `spent ${r.spentUsd} > ${budgetUsd}`);
    // It neither stops early (6.5 typical requests fit) nor runs on.
    assert.ok(r.done >= 5 && r.done < plan.length, `done ${r.done}`);
    assert.equal(s.stats.requests, r.done);
    assert.ok(Math.abs(r.spentUsd - costOf({ inputTokens: s.stats.usage.promptTokens, outputTokens: s.stats.usage.completionTokens }, price)) < 1e-12);
  });

  void test('a bad API key stops the sweep at once and the key appears nowhere', async () => {
    const s = await server({ apiKey: 'right-key' });
    const dir = tmp();
    const plan = makePlan(3);
    const r = await runSweep(plan, { ...options(s, Journal.open(join(dir, 'j.jsonl'))), client: new OpenAiChatClient({ baseUrl: s.url, apiKey: 'sk-wrong-secret' }) });
    assert.equal(r.stopped, 'fatal');
    assert.match(r.message!, /HTTP 401/);
    assert.ok(s.stats.requests <= 4, `${s.stats.requests} requests after a 401`);
    assert.doesNotMatch(readFileSync(join(dir, 'j.jsonl'), 'utf8') + JSON.stringify(r), /sk-wrong-secret/);
  });

  void test('the server killed mid-sweep and restarted: connection errors are retried, nothing lost or repeated', async () => {
    const s = await server({ latencyMs: 30 });
    const dir = tmp();
    const plan = makePlan(5);
    let killed = false;
    const r = await runSweep(
      plan,
      options(s, Journal.open(join(dir, 'j.jsonl')), {
        retry: { baseMs: 100, capMs: 400, maxAttempts: 10 },
        onProgress: (p) => {
          if (p.done >= 6 && !killed) {
            killed = true;
            void s.kill().then(() => setTimeout(() => void s.restart(), 300));
          }
        },
      }),
    );
    assert.ok(killed);
    assert.equal(r.stopped, 'completed');
    assert.equal(r.done, plan.length);
    assert.ok(r.retries > 0);
    const counts = doneCounts(join(dir, 'j.jsonl'));
    assert.equal(counts.size, plan.length);
    assert.deepEqual([...counts.values()].filter((c) => c !== 1), []);
  });

  void test('a crash (SIGKILL) mid-sweep resumes from the journal: no finished request is sent again', async () => {
    const s = await server({ latencyMs: 50 });
    const dir = tmp();
    const path = join(dir, 'j.jsonl');
    const plan = makePlan(5);
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan));
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const g = require(${JSON.stringify(join(repo, 'src/core/generation'))});
         const plan = require(${JSON.stringify(join(dir, 'plan.json'))});
         const journal = g.Journal.open(${JSON.stringify(path)});
         g.runSweep(plan, { client: new g.OpenAiChatClient({ baseUrl: ${JSON.stringify(s.url)} }), journal, concurrency: 4, timeoutMs: 10000 });`,
      ],
      { cwd: repo, stdio: 'inherit' },
    );
    // Kill it once a third of the requests are journaled.
    const deadline = Date.now() + 30_000;
    while ((existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).length : 0) < 10) {
      assert.ok(Date.now() < deadline, 'the child never got going');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const done1 = new Set(Journal.open(path).done.keys());
    assert.ok(done1.size >= 10 && done1.size < plan.length, `${done1.size} done before the crash`);
    const attempts = new Map(plan.map((p) => [p.key, s.stats.attempts.get(keyOf(p)) ?? 0]));
    const fresh = new Set<string>();
    const journal = Journal.open(path);
    const r = await runSweep(plan, options(s, journal, { onEntry: (e) => fresh.add(e.key) }));
    assert.equal(r.stopped, 'completed');
    assert.equal(r.resumed, done1.size);
    for (const p of plan) if (done1.has(p.key)) assert.equal(s.stats.attempts.get(keyOf(p)), attempts.get(p.key), 'a journaled request was sent again');
    const counts = doneCounts(path);
    assert.equal(counts.size, plan.length);
    assert.deepEqual([...counts.values()].filter((c) => c !== 1), []);
    const files = writeSweepOutputs({ root: dir, qaDir: join(dir, 'qa'), requests: plan, journal, freshKeys: fresh });
    await journal.close();
    for (const f of files) assert.equal(activePairs(parseQa(readFileSync(join(dir, f.path), 'utf8'))).length, 5 * 3);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

void describe('testConnection says exactly what failed', () => {
  void test('ok: lists models', async () => {
    const s = await server({ models: ['mock-model', 'other'] });
    const r = await testConnection({ baseUrl: s.url, model: 'mock-model', apiKey: 'k' });
    assert.equal(r.ok, true);
    assert.deepEqual(r.models, ['mock-model', 'other']);
  });
  void test('connection refused', async () => {
    const r = await testConnection({ baseUrl: `http://127.0.0.1:${await freePort()}/v1`, model: 'm' });
    assert.match(r.message, /connection refused/);
  });
  void test('DNS', async () => {
    const r = await testConnection({ baseUrl: 'http://mnemo-no-such-host.invalid/v1', model: 'm' });
    assert.match(r.message, /could not be resolved \(DNS: (ENOTFOUND|EAI_AGAIN)\)/);
  });
  void test('401 bad key, without the key in the message', async () => {
    const s = await server({ apiKey: 'right' });
    const r = await testConnection({ baseUrl: s.url, model: 'mock-model', apiKey: 'sk-very-secret' });
    assert.match(r.message, /refused the API key \(401\)/);
    assert.doesNotMatch(r.message, /sk-very-secret/);
  });
  void test('404 model: not in /models, or 404 from the endpoint', async () => {
    const s = await server({ models: ['a', 'b'] });
    const r = await testConnection({ baseUrl: s.url, model: 'gpt-nope', apiKey: 'k' });
    assert.match(r.message, /has no model "gpt-nope". It lists: a, b/);
    const wrongPath = await testConnection({ baseUrl: s.url.replace(/\/v1$/, '/api'), model: 'a', apiKey: 'k' });
    assert.match(wrongPath.message, /404/);
  });
  void test('timeout', async () => {
    const s = await server({ behavior: () => ({ kind: 'hang' }) });
    const r = await testConnection({ baseUrl: s.url, model: 'mock-model', apiKey: 'k', timeoutMs: 300 });
    assert.match(r.message, /did not answer in time/);
  });
});
