/**
 * A rude local server for the secrets tests: an OpenAI-compatible endpoint and a Hugging Face Hub
 * `whoami-v2` that repeat the caller's key or token back, whole and in the masked forms hosted
 * APIs and proxies use ("Incorrect API key provided: sk-abc*****wxyz", "sk-proj-abcdefgh…",
 * "****wxyz"), in 401/403/429/500 bodies, in response headers, and inside a 200 answer's text.
 *
 *  - mode "echo": each sweep request is answered 429 (Retry-After 5 ms), then 500, then 200 with
 *    Q&A pairs whose answers quote the key (other requests get the 200 at once); /v1/models lists a
 *    model named after the key.
 *  - mode "401" / "403": every request is refused with the key in the message and headers.
 *  - GET /api/whoami-v2 always refuses the token (401) and echoes it.
 *
 * It records the Authorization header of every request, to tell whether a key was sent at all.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type EchoMode = 'echo' | '401' | '403';

/** The partial forms of a secret that servers echo. */
export function maskedForms(secret: string): string[] {
  return [
    `${secret.slice(0, 6)}${'*'.repeat(20)}${secret.slice(-4)}`, // OpenAI: "sk-abc********************wxyz"
    `${secret.slice(0, 10)}…`,
    `${secret.slice(0, 12)}...`,
    `${secret.slice(0, 9)}***`,
    `****${secret.slice(-4)}`,
    `${secret.slice(0, 3)}...${secret.slice(-4)}`,
  ];
}

export interface EchoServer {
  url: string;
  /** `http://host:port` */
  origin: string;
  mode: EchoMode;
  /** Authorization headers seen, one per request. */
  auth: string[];
  /** Requests per path. */
  requests: { method: string; path: string; status: number }[];
  close(): Promise<void>;
}

function bearer(req: IncomingMessage): string {
  return String(req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return body;
}

/** Starts the server on `host` (default 127.0.0.1), port 0. */
export async function startEchoServer(opts: { mode?: EchoMode; host?: string; model?: string } = {}): Promise<EchoServer> {
  const model = opts.model ?? 'echo-model';
  const attempts = new Map<string, number>();
  const state: EchoServer = { url: '', origin: '', mode: opts.mode ?? 'echo', auth: [], requests: [], close: async () => undefined };

  const send = (req: IncomingMessage, res: ServerResponse, status: number, body: unknown, secret: string, extra: Record<string, string> = {}) => {
    state.requests.push({ method: req.method ?? '', path: req.url ?? '', status });
    const forms = maskedForms(secret || 'no-secret-given');
    res.writeHead(status, {
      'content-type': 'application/json',
      // Headers a diagnosis might keep: the key whole and masked.
      'x-echo-key': secret,
      'x-echo-masked': forms[0],
      'www-authenticate': `Bearer realm="echo", error="invalid_token", error_description="${forms[2]} is not valid"`,
      ...extra,
    });
    res.end(JSON.stringify(body));
  };

  const server = createServer((req, res) => {
    void (async () => {
      const key = bearer(req);
      state.auth.push(String(req.headers.authorization ?? ''));
      const body = await readBody(req);
      const path = new URL(req.url ?? '/', 'http://echo').pathname;
      const forms = maskedForms(key || 'no-secret-given');

      if (path === '/api/whoami-v2') {
        return send(req, res, 401, { error: `Invalid credentials in Authorization header: ${key} (shown as ${forms[0]}, ${forms[2]}, ${forms[4]})` }, key);
      }
      if (state.mode === '401' || state.mode === '403') {
        const status = Number(state.mode);
        const message =
          status === 401
            ? `Incorrect API key provided: ${forms[0]}. You can find your API key at https://platform.example/account/api-keys. (proxy saw ${key}; ${forms[3]})`
            : `Project key ${forms[1]} (${key}) does not have access to model ${model}; ${forms[5]}`;
        return send(req, res, status, { error: { message, type: 'invalid_request_error', code: 'invalid_api_key', param: key } }, key);
      }
      if (path === '/v1/models') {
        return send(req, res, 200, { object: 'list', data: [{ id: model, object: 'model' }, { id: forms[2], object: 'model', owned_by: key }] }, key);
      }
      if (path === '/v1/chat/completions') {
        const hash = createHash('sha256').update(body).digest('hex');
        // Sweep requests (they carry a <chunk>) get 429, then 500, then the answer; a probe like Test Connection's gets the answer at once.
        const n = body.includes('<chunk>') ? (attempts.get(hash) ?? 0) + 1 : 3;
        attempts.set(hash, n);
        if (n === 1) return send(req, res, 429, { error: { message: `Rate limit reached for key ${key} (${forms[0]}). Try again in 5ms.`, type: 'requests', code: 'rate_limit_exceeded' } }, key, { 'retry-after-ms': '5' });
        if (n === 2) return send(req, res, 500, { error: { message: `Internal error while serving ${forms[1]}; upstream said: Bearer ${key}`, type: 'server_error' } }, key, { 'retry-after-ms': '5' });
        const text = [
          `Q: In Cairnrun rules, which key did the caller send?`,
          `A: The caller sent ${key}, which the logs show as ${forms[0]} and ${forms[4]}.`,
          '',
          `Q: In Cairnrun rules, how is the key written in short?`,
          `A: It is written ${forms[1]} or ${forms[5]}, and in full ${key}.`,
          '',
          `Q: In Cairnrun rules, what does a cairn mark?`,
          `A: A cairn marks the course that each team must follow.`,
        ].join('\n');
        return send(req, res, 200, {
          id: `chatcmpl-${hash.slice(0, 8)}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model,
          choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 100, completion_tokens: 60, total_tokens: 160 },
          system_fingerprint: key,
        }, key);
      }
      return send(req, res, 404, { error: { message: `No route ${path} for ${key}` } }, key);
    })();
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  state.origin = `http://${shownHost}:${port}`;
  state.url = `${state.origin}/v1`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

/** Where a sentinel secret shows in a text: whole, any 8 consecutive characters of it, or its last 4 after a mask. */
export function sentinelHits(text: string, secrets: string[]): string[] {
  const hits: string[] = [];
  for (const s of secrets) {
    for (let i = 0; i + 8 <= s.length; i++) {
      const w = s.slice(i, i + 8);
      const at = text.indexOf(w);
      if (at >= 0) {
        hits.push(`"${w}" of a sentinel at ${at}: …${text.slice(Math.max(0, at - 40), at + 40)}…`);
        break;
      }
    }
    const tail = new RegExp(`(?:…|\\.{3}|\\*{2,})${s.slice(-4)}`);
    const m = tail.exec(text);
    if (m) hits.push(`masked tail "${m[0]}" at ${m.index}`);
  }
  return hits;
}
