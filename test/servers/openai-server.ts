/**
 * A local server speaking the OpenAI chat-completions protocol, for tests and benches:
 * `POST /v1/chat/completions` and `GET /v1/models` on 127.0.0.1, port 0. It answers with
 * deterministic Q&A pairs made from the prompt's <chunk>...</chunk>, reports usage, counts
 * requests per key, and can add latency, rate limits (429 + Retry-After), 500s, malformed or
 * truncated text, refusals, hangs, dropped connections; it can be killed mid-sweep and restarted.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type Fault =
  | { kind: 'ok' }
  | { kind: 'rate-limit'; retryAfter?: string; retryAfterMs?: number }
  | { kind: 'server-error'; status?: number }
  | { kind: 'malformed' }
  | { kind: 'truncated' }
  | { kind: 'refusal' }
  | { kind: 'json' }
  | { kind: 'no-usage' }
  | { kind: 'hang' }
  | { kind: 'drop' };

export interface ChatBody {
  model: string;
  temperature?: number;
  max_tokens?: number;
  messages: { role: string; content: string }[];
}

export interface FakeServerOptions {
  /** Milliseconds before each answer (also before errors). */
  latencyMs?: number;
  models?: string[];
  /** When set, requests without "Authorization: Bearer <apiKey>" get 401. */
  apiKey?: string;
  /** Chooses the answer for the n-th request (1-based, across all keys) and its key's attempt number. */
  behavior?: (info: { n: number; key: string; attempt: number; body: ChatBody }) => Fault;
  /** When set, every question and answer is worded differently ("take N"): a regeneration that yields new pairs. */
  take?: number;
  /** When set and it returns a string, that is the answer's text (a model answering questions, a judge). */
  reply?: (info: { n: number; body: ChatBody; prompt: string }) => string | undefined;
  /** A token-bucket rate limit, checked as a request arrives (a refused request is answered 429 at once). */
  rateLimit?: RateLimitOptions;
}

export interface RateLimitOptions {
  /** Requests the bucket refills per second. */
  requestsPerSecond: number;
  /** Bucket size (the burst allowed); default one second's worth. */
  burst?: number;
  /** Token budget per minute, counted as the prompt's tokens plus max_tokens (as hosted APIs reserve). */
  tokensPerMinute?: number;
  /** Send x-ratelimit-* headers on every answer (default true). */
  headers?: boolean;
  /** Send Retry-After (seconds) with each 429 (default true). */
  retryAfter?: boolean;
}

/** A token bucket: `capacity` at most, refilled at `perSecond`. */
class Bucket {
  private level: number;
  private at: number;
  constructor(
    readonly capacity: number,
    readonly perSecond: number,
  ) {
    this.level = capacity;
    this.at = performance.now();
  }
  private refill(): void {
    const now = performance.now();
    this.level = Math.min(this.capacity, this.level + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
  }
  remaining(): number {
    this.refill();
    return this.level;
  }
  take(n: number): void {
    this.refill();
    this.level -= n;
  }
  /** Milliseconds until `n` are available (0 if now). */
  msUntil(n: number): number {
    this.refill();
    return this.level >= n ? 0 : ((n - this.level) / this.perSecond) * 1000;
  }
  /** Milliseconds until the bucket is full again (what x-ratelimit-reset-* reports). */
  msUntilFull(): number {
    return this.msUntil(this.capacity);
  }
}

function duration(ms: number): string {
  return ms < 1000 ? `${Math.ceil(ms)}ms` : `${(ms / 1000).toFixed(3)}s`;
}

export interface ServerStats {
  /** Every chat request received (retries included). */
  requests: number;
  /** Per request key: how many times a 200 answer was sent in full. */
  completed: Map<string, number>;
  /** Per request key: how many requests arrived. */
  attempts: Map<string, number>;
  faults: Record<string, number>;
  /** Sums of the usage the server reported in 200 answers. */
  usage: { promptTokens: number; completionTokens: number };
  /** Most requests in flight at once. */
  maxInFlight: number;
  /** Requests the client gave up on (socket closed before the answer). */
  abandoned: number;
  /** Requests refused by the rate limit (options.rateLimit). */
  rateLimited: number;
}

export interface FakeServer {
  /** Base URL, ending in /v1. */
  url: string;
  port: number;
  stats: ServerStats;
  options: FakeServerOptions;
  /** Stops at once: open connections are destroyed, in-flight requests get no answer. */
  kill(): Promise<void>;
  /** Listens again on the same port after kill(). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** The key the server counts by: the same model, temperature and messages are the same request. */
export function serverKey(body: ChatBody): string {
  return createHash('sha256').update(JSON.stringify([body.model, body.temperature ?? null, body.messages])).digest('hex').slice(0, 24);
}

export function approxTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** The deterministic answer for a prompt: one pair per sentence of the chunk, as many as asked for. */
export function answerFor(prompt: string, take?: number): string {
  // The last <chunk>...</chunk>: instructions may mention the tags before the text itself.
  const chunk = [...prompt.matchAll(/<chunk>\s*([\s\S]*?)\s*<\/chunk>/g)].pop()?.[1] ?? '';
  const context = /document is about ([^.\n]+)\./.exec(prompt)?.[1]?.trim() ?? 'the document';
  const wanted = Number(/write (\d+)/i.exec(prompt)?.[1] ?? /about (\d+) pairs/i.exec(prompt)?.[1] ?? 3);
  const sentences = chunk
    .replace(/\s+/g, ' ')
    .split(/(?<=[.!?])\s+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 3);
  if (!sentences.length) sentences.push(chunk.slice(0, 80) || 'nothing');
  const pairs: string[] = [];
  for (let i = 0; i < Math.max(1, wanted); i++) {
    const s = sentences[i % sentences.length];
    const words = s.split(' ');
    const t = take ? `, take ${take}` : '';
    pairs.push(`Q: In ${context}, what does the text say about "${words.slice(0, 5).join(' ')}" (point ${i + 1}${t})?\nA: It says${t ? ` (take ${take})` : ''} that ${s.charAt(0).toLowerCase()}${s.slice(1)}`);
  }
  // A prompt that asks for atomic facts gets one "FACT n:" line before the pairs of each sentence.
  if (/FACT 1:/.test(prompt)) {
    const facts = Math.min(sentences.length, pairs.length);
    return pairs.map((p, i) => (i < facts ? `FACT ${i + 1}: ${sentences[i]}\n${p}` : p)).join('\n\n');
  }
  return pairs.join('\n\n');
}

function malformed(prompt: string, take?: number): string {
  // What real models do: numbering, bold labels, an intro line, a question without answer, extra blank lines.
  const pairs = answerFor(prompt, take).split('\n\n');
  const out = ['Here are the question-and-answer pairs you asked for:', ''];
  pairs.forEach((p, i) => {
    const [q, a] = p.split('\n');
    if (i === 1) out.push(`${i + 1}. **Question:** ${q.slice(3)}`, '', '');
    else out.push(`${i + 1}. **Q:** ${q.slice(3)}`, '', `**A:** ${a.slice(3)}`, '');
  });
  return out.join('\n');
}

export async function startOpenAiServer(options: FakeServerOptions = {}): Promise<FakeServer> {
  const stats: ServerStats = { requests: 0, completed: new Map(), attempts: new Map(), faults: {}, usage: { promptTokens: 0, completionTokens: 0 }, maxInFlight: 0, abandoned: 0, rateLimited: 0 };
  const rl = options.rateLimit;
  const reqBucket = rl ? new Bucket(rl.burst ?? rl.requestsPerSecond, rl.requestsPerSecond) : undefined;
  const tokBucket = rl?.tokensPerMinute ? new Bucket(rl.tokensPerMinute, rl.tokensPerMinute / 60) : undefined;
  const limitHeaders = (): Record<string, string> => {
    if (!rl || rl.headers === false) return {};
    const h: Record<string, string> = {};
    if (reqBucket) {
      h['x-ratelimit-limit-requests'] = String(reqBucket.capacity);
      h['x-ratelimit-remaining-requests'] = String(Math.max(0, Math.floor(reqBucket.remaining())));
      h['x-ratelimit-reset-requests'] = duration(reqBucket.msUntilFull());
    }
    if (tokBucket) {
      h['x-ratelimit-limit-tokens'] = String(tokBucket.capacity);
      h['x-ratelimit-remaining-tokens'] = String(Math.max(0, Math.floor(tokBucket.remaining())));
      h['x-ratelimit-reset-tokens'] = duration(tokBucket.msUntilFull());
    }
    return h;
  };
  const sockets = new Set<Socket>();
  let inFlight = 0;
  let server: Server;
  let port = 0;

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return json(res, 401, { error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', code: 'invalid_api_key' } });
    }
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      return json(res, 200, { object: 'list', data: (options.models ?? ['mock-model']).map((id) => ({ id, object: 'model', created: 0, owned_by: 'test' })) });
    }
    if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') return json(res, 404, { error: { message: `No route ${req.method} ${url.pathname}` } });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: ChatBody;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatBody;
    } catch {
      return json(res, 400, { error: { message: 'Body is not JSON.' } });
    }
    if (options.models && !options.models.includes(body.model)) {
      return json(res, 404, { error: { message: `The model \`${body.model}\` does not exist.`, type: 'invalid_request_error', code: 'model_not_found' } });
    }
    const key = serverKey(body);
    if (reqBucket) {
      const cost = approxTokens(body.messages.map((m) => m.content).join('\n')) + (body.max_tokens ?? 0);
      const wait = Math.max(reqBucket.msUntil(1), tokBucket?.msUntil(cost) ?? 0);
      if (wait > 0) {
        stats.rateLimited++;
        const headers = limitHeaders();
        if (rl?.retryAfter !== false) headers['retry-after'] = (wait / 1000).toFixed(3);
        return json(res, 429, { error: { message: 'Rate limit reached for requests.', type: 'requests', code: 'rate_limit_exceeded' } }, headers);
      }
      reqBucket.take(1);
      tokBucket?.take(cost);
    }
    stats.requests++;
    const attempt = (stats.attempts.get(key) ?? 0) + 1;
    stats.attempts.set(key, attempt);
    const fault = options.behavior?.({ n: stats.requests, key, attempt, body }) ?? { kind: 'ok' };
    stats.faults[fault.kind] = (stats.faults[fault.kind] ?? 0) + 1;
    inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
    let closed = false;
    res.on('close', () => {
      if (!res.writableFinished) closed = true;
    });
    try {
      if (fault.kind === 'hang') {
        await new Promise<void>((r) => res.on('close', () => r()));
        return;
      }
      if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
      if (closed || res.destroyed) {
        stats.abandoned++;
        return;
      }
      if (fault.kind === 'drop') {
        req.socket.destroy();
        return;
      }
      if (fault.kind === 'rate-limit') {
        const headers: Record<string, string> = {};
        if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
        if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
        return json(res, 429, { error: { message: 'Rate limit reached.', type: 'requests', code: 'rate_limit_exceeded' } }, headers);
      }
      if (fault.kind === 'server-error') return json(res, fault.status ?? 500, { error: { message: 'The server had an error.', type: 'server_error' } });
      const prompt = body.messages.map((m) => m.content).join('\n');
      let text = options.reply?.({ n: stats.requests, body, prompt }) ?? answerFor(prompt, options.take);
      let finish = 'stop';
      if (fault.kind === 'malformed') text = malformed(prompt, options.take);
      if (fault.kind === 'refusal') text = "I'm sorry, but I can't help with that request.";
      if (fault.kind === 'json') {
        text = JSON.stringify(text.split('\n\n').map((p) => ({ question: p.split('\n')[0].slice(3), answer: p.split('\n')[1].slice(3) })));
      }
      if (fault.kind === 'truncated') {
        text = text.slice(0, Math.max(10, Math.floor(text.length * 0.8)));
        finish = 'length';
      }
      const usage = { prompt_tokens: approxTokens(prompt), completion_tokens: approxTokens(text), total_tokens: approxTokens(prompt) + approxTokens(text) };
      const payload: Record<string, unknown> = {
        id: `chatcmpl-${stats.requests}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finish }],
      };
      if (fault.kind !== 'no-usage') payload.usage = usage;
      res.writeHead(200, { 'content-type': 'application/json', ...limitHeaders() });
      res.end(JSON.stringify(payload), () => {
        // Counted once the answer is handed to the socket in full.
        stats.completed.set(key, (stats.completed.get(key) ?? 0) + 1);
        if (fault.kind !== 'no-usage') {
          stats.usage.promptTokens += usage.prompt_tokens;
          stats.usage.completionTokens += usage.completion_tokens;
        }
      });
    } finally {
      inFlight--;
    }
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((req, res) => {
        handle(req, res).catch((err: unknown) => {
          if (!res.headersSent) json(res, 500, { error: { message: String(err) } });
          else res.destroy();
        });
      });
      server.keepAliveTimeout = 60_000;
      server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as { port: number }).port;
        resolve();
      });
    });

  const kill = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      server.close(() => resolve());
    });

  await listen();
  return {
    get url() {
      return `http://127.0.0.1:${port}/v1`;
    },
    get port() {
      return port;
    },
    stats,
    options,
    kill,
    restart: listen,
    close: kill,
  };
}
