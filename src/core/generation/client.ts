/**
 * The chat-completions endpoint as the runner sees it. The OpenAI SDK does the HTTP; retries are
 * the runner's (the SDK's own are off), so every failure comes back here classified once.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { MnemoError } from '../errors';
import { clearTextOrigin, originAllowed, registerSecret, scrub, scrubDeep } from '../secrets';
import { parseRateLimitHeaders, type RateLimitInfo } from './ratelimit';
import type { Usage } from './types';

export interface ChatRequest {
  model: string;
  prompt: string;
  temperature: number;
  maxTokens: number;
}

export interface ChatResponse {
  text: string;
  usage?: Usage;
  finishReason?: string;
  /** What the response's x-ratelimit-* headers said, when it had any. */
  rateLimit?: RateLimitInfo;
}

export interface ChatClient {
  complete(req: ChatRequest, opts: { signal: AbortSignal; timeoutMs: number }): Promise<ChatResponse>;
}

export type FailureKind = 'rate-limit' | 'server' | 'timeout' | 'connection' | 'auth' | 'not-found' | 'bad-request' | 'cancelled' | 'other';

/** A failed request, classified: whether to retry, how long the server asked us to wait. */
export class RequestFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
    readonly rateLimit?: RateLimitInfo,
  ) {
    // Servers echo the key in error bodies ("Incorrect API key provided: sk-abc***wxyz"): scrubbed here, once for every path.
    super(scrub(message));
    this.name = 'RequestFailure';
  }
  get retryable(): boolean {
    return this.kind === 'rate-limit' || this.kind === 'server' || this.kind === 'timeout' || this.kind === 'connection';
  }
  /** Failures that every other request would hit too: the sweep stops instead of retrying them all. */
  get fatal(): boolean {
    return this.kind === 'auth' || this.kind === 'not-found';
  }
}

/** Retry-After in milliseconds from response headers: retry-after-ms, or Retry-After in seconds or as an HTTP date. */
export function retryAfterMs(headers: { get(name: string): string | null } | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers.get('retry-after');
  if (!ra) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(ra)) return Math.max(0, Number(ra) * 1000);
  const date = Date.parse(ra);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function classifyError(err: unknown): RequestFailure {
  if (err instanceof RequestFailure) return err;
  if (err instanceof APIUserAbortError) return new RequestFailure('cancelled', 'cancelled');
  if (err instanceof APIConnectionTimeoutError) return new RequestFailure('timeout', 'the request timed out');
  if (err instanceof APIConnectionError) return new RequestFailure('connection', `connection failed: ${causeText(err)}`);
  if (err instanceof APIError) {
    const status = err.status ?? 0;
    const wait = retryAfterMs(err.headers as Headers | undefined);
    const detail = `HTTP ${status}${err.message ? `: ${err.message.replace(/^\d{3}\s*/, '')}` : ''}`;
    if (status === 429) return new RequestFailure('rate-limit', detail, status, wait, parseRateLimitHeaders(err.headers as Headers | undefined));
    if (status === 408) return new RequestFailure('timeout', detail, status, wait);
    if (status >= 500) return new RequestFailure('server', detail, status, wait);
    if (status === 401 || status === 403) return new RequestFailure('auth', detail, status);
    if (status === 404) return new RequestFailure('not-found', detail, status);
    return new RequestFailure('bad-request', detail, status);
  }
  if (err instanceof Error && err.name === 'AbortError') return new RequestFailure('cancelled', 'cancelled');
  return new RequestFailure('other', err instanceof Error ? err.message : String(err));
}

/** The low-level reason of a connection error (ENOTFOUND, ECONNREFUSED, ...), without the key or URL secrets. */
export function causeText(err: unknown): string {
  const codes: string[] = [];
  let e: unknown = err;
  for (let i = 0; e && i < 5; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  if (codes.length) return codes[codes.length - 1];
  return err instanceof Error ? err.message : String(err);
}

export interface EndpointConfig {
  baseUrl: string;
  /** Any string for a keyless local server; never logged. */
  apiKey?: string;
  /** Origins (or URLs) the user allowed to receive the key over plain http:// (mnemo.endpoint.allowInsecureKey, --allow-insecure-key). */
  allowInsecureKey?: readonly string[];
}

/** Refusal to send a key over plain http:// to a host that is not this machine. */
export class ClearTextKeyError extends MnemoError {
  constructor(readonly origin: string) {
    super(
      `The API key was not sent to ${origin}: that is plain http:// to a host other than this machine, so the key would cross the network in clear text.`,
      `Use an https:// URL or a server on localhost. To send the key anyway, allow this endpoint: add "${origin}" to the setting mnemo.endpoint.allowInsecureKey (VS Code asks once and remembers), or on the command line pass --allow-insecure-key or set MNEMO_ALLOW_INSECURE_KEY=${origin}.`,
    );
    this.name = 'ClearTextKeyError';
  }
}

/** Throws ClearTextKeyError when a key would go over plain http:// to a non-loopback host the user did not allow. Keyless requests always pass. */
export function checkKeyTransport(cfg: EndpointConfig): void {
  if (!cfg.apiKey) return;
  const origin = clearTextOrigin(cfg.baseUrl);
  if (origin && !originAllowed(origin, cfg.allowInsecureKey)) throw new ClearTextKeyError(origin);
}

export function openAiClient(cfg: EndpointConfig): OpenAI {
  // Every string this client hands back is scrubbed of the key, in full and in the partial forms servers echo.
  registerSecret(cfg.apiKey, 'API key');
  checkKeyTransport(cfg);
  // The SDK refuses an empty key; local servers accept anything.
  return new OpenAI({ baseURL: cfg.baseUrl, apiKey: cfg.apiKey || 'no-key', maxRetries: 0, timeout: 600_000 });
}

/** The runner's client over the openai SDK. */
export class OpenAiChatClient implements ChatClient {
  private readonly client: OpenAI;
  constructor(cfg: EndpointConfig) {
    this.client = openAiClient(cfg);
  }
  async complete(req: ChatRequest, opts: { signal: AbortSignal; timeoutMs: number }): Promise<ChatResponse> {
    // The SDK never removes the listener it adds to the signal it is given: give it one per request.
    const own = new AbortController();
    const onAbort = () => own.abort();
    if (opts.signal.aborted) own.abort();
    else opts.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const { data: res, response } = await this.client.chat.completions
        .create({ model: req.model, messages: [{ role: 'user', content: req.prompt }], temperature: req.temperature, max_tokens: req.maxTokens }, { signal: own.signal, timeout: opts.timeoutMs, maxRetries: 0 })
        .withResponse();
      const choice = res.choices?.[0];
      const text = scrub(choice?.message?.content ?? '');
      const usage = res.usage ? { inputTokens: res.usage.prompt_tokens ?? 0, outputTokens: res.usage.completion_tokens ?? 0 } : undefined;
      return { text, usage, finishReason: choice?.finish_reason ?? undefined, rateLimit: parseRateLimitHeaders(response.headers) };
    } catch (err) {
      if (opts.signal.aborted) throw new RequestFailure('cancelled', 'cancelled');
      throw classifyError(err);
    } finally {
      opts.signal.removeEventListener('abort', onAbort);
    }
  }
}

export interface ConnectionReport {
  ok: boolean;
  models: string[];
  /** Whether the configured model is among the listed ones (undefined when the server lists none). */
  modelListed?: boolean;
  message: string;
}

/**
 * Checks an endpoint: lists its models and sends the model a one-token request, and says exactly
 * what failed (DNS, refused, bad key, unknown model, timeout, a key that would go in clear text).
 * The key never appears in the report, even when the server echoes it.
 */
export async function testConnection(cfg: EndpointConfig & { model: string; timeoutMs?: number }): Promise<ConnectionReport> {
  registerSecret(cfg.apiKey, 'API key');
  try {
    checkKeyTransport(cfg);
  } catch (err) {
    if (err instanceof ClearTextKeyError) return { ok: false, models: [], message: err.describe() };
    throw err;
  }
  return scrubDeep(await probeConnection(cfg));
}

async function probeConnection(cfg: EndpointConfig & { model: string; timeoutMs?: number }): Promise<ConnectionReport> {
  const client = openAiClient(cfg);
  const timeout = cfg.timeoutMs ?? 15_000;
  let models: string[] = [];
  try {
    const page = await client.models.list({ timeout, maxRetries: 0 });
    models = page.data.map((m) => m.id);
  } catch (err) {
    const f = classifyError(err);
    // Some servers do not implement /models; only a failure to reach the server at all ends the test here.
    if (f.kind !== 'not-found' && f.kind !== 'bad-request') return { ok: false, models: [], message: explainFailure(f, cfg, 'listing models') };
  }
  const modelListed = models.length ? models.includes(cfg.model) : undefined;
  if (modelListed === false) {
    return { ok: false, models, modelListed, message: `The endpoint ${cfg.baseUrl} has no model "${cfg.model}". It lists: ${models.slice(0, 20).join(', ')}${models.length > 20 ? ', …' : ''}.` };
  }
  try {
    await client.chat.completions.create({ model: cfg.model, messages: [{ role: 'user', content: 'Say OK.' }], max_tokens: 1, temperature: 0 }, { timeout, maxRetries: 0 });
  } catch (err) {
    return { ok: false, models, modelListed, message: explainFailure(classifyError(err), cfg, `asking "${cfg.model}"`) };
  }
  return { ok: true, models, modelListed, message: `Connected to ${cfg.baseUrl}: "${cfg.model}" answered.${models.length ? ` ${models.length} model${models.length === 1 ? '' : 's'} available.` : ''}` };
}

/** What a failure means for the user, and what to do. */
export function explainFailure(f: RequestFailure, cfg: EndpointConfig & { model: string }, doing: string): string {
  const host = safeHost(cfg.baseUrl);
  switch (f.kind) {
    case 'auth':
      return `${host} refused the API key (${f.status}) while ${doing}. Run "Mnemo: Set API Key" with a valid key${cfg.apiKey ? '' : ' (none is set)'}.`;
    case 'not-found':
      return `${host} answered 404 while ${doing}: the model "${cfg.model}" does not exist there, or the base URL ${cfg.baseUrl} is wrong (it usually ends in /v1).`;
    case 'timeout':
      return `${host} did not answer in time while ${doing}. Check that the server is up and not overloaded.`;
    case 'rate-limit':
      return `${host} is rate limiting (429) while ${doing}. Wait a moment, or lower the concurrency.`;
    case 'connection': {
      const m = f.message;
      if (/ENOTFOUND|EAI_AGAIN/.test(m)) return `The host name of ${cfg.baseUrl} could not be resolved (DNS: ${/EAI_AGAIN/.test(m) ? 'EAI_AGAIN' : 'ENOTFOUND'}). Check the URL, or your network.`;
      if (/ECONNREFUSED/.test(m)) return `Nothing is listening at ${cfg.baseUrl} (connection refused). Start the server (e.g. "ollama serve"), or check the port.`;
      return `Could not reach ${cfg.baseUrl} while ${doing}: ${m}.`;
    }
    case 'server':
      return `${host} failed with ${f.message} while ${doing}. Try again later.`;
    default:
      return `${host} failed while ${doing}: ${f.message}.`;
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** The endpoint presets offered by "Mnemo: Choose Endpoint". */
export const ENDPOINT_PRESETS: { label: string; baseUrl: string; model?: string; needsKey: boolean }[] = [
  { label: 'OpenAI', baseUrl: 'https://api.openai.com/v1', model: 'gpt-4o-mini', needsKey: true },
  { label: 'Ollama', baseUrl: 'http://localhost:11434/v1', needsKey: false },
  { label: 'vLLM', baseUrl: 'http://localhost:8000/v1', needsKey: false },
  { label: 'LM Studio', baseUrl: 'http://localhost:1234/v1', needsKey: false },
];

export function checkBaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new MnemoError(`"${url}" is not a URL.`, 'Write the endpoint base URL, e.g. http://localhost:11434/v1.');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new MnemoError(`"${url}" is not an http(s) URL.`, 'Write the endpoint base URL, e.g. http://localhost:11434/v1.');
  return url.replace(/\/+$/, '');
}
