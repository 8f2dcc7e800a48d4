/**
 * A local stand-in for the Hugging Face Hub: the endpoints @huggingface/hub calls to push a few
 * small files to a dataset repository, over real HTTP (node:http, port 0).
 *
 *   GET  /api/whoami-v2                              who owns the token
 *   GET  /api/{type}s/{ns}/{name}                    does the repository exist (repoExists)
 *   POST /api/repos/create                           create a repository (409 if the name is taken by any type)
 *   POST /api/{type}s/{ns}/{name}/preupload/{rev}    answers uploadMode "regular" for every file (no LFS/Xet)
 *   POST /api/{type}s/{ns}/{name}/commit/{rev}       NDJSON: a header line, then one base64 file per line
 *
 * Tokens are checked on every request (401 unknown, 403 no write access to the namespace). Commits
 * are recorded with their files' decoded contents so tests can assert exactly what landed.
 * `failNext` makes the next requests fail (HTTP status, or a dropped connection); `stop` and
 * `start` take the server down and bring it back on the same port.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface HubUser {
  name: string;
  token: string;
  /** Namespaces the token may write to (its own name is not implied: list it). */
  write: string[];
  orgs?: string[];
}

/** An injected failure: an HTTP status, a status whose error message echoes the Authorization header (a careless server), or a dropped connection. */
export type Failure = number | { status: number; echoAuthorization: true } | 'drop';

export interface HubRepo {
  type: 'model' | 'dataset' | 'space';
  /** ns/name */
  name: string;
  private: boolean;
}

export interface HubCommit {
  repo: string;
  type: string;
  revision: string;
  summary: string;
  /** path -> content (UTF-8) */
  files: Record<string, string>;
  /** path -> content as sent (for binary files such as model weights) */
  bytes: Record<string, Buffer>;
  oid: string;
}

export interface HubRequest {
  method: string;
  path: string;
  status: number;
  /** Who the request authenticated as, if anyone (never the token itself). */
  user?: string;
}

export class HubServer {
  readonly repos = new Map<string, HubRepo>();
  readonly commits: HubCommit[] = [];
  readonly requests: HubRequest[] = [];
  private server: Server | undefined;
  private sockets = new Set<Socket>();
  private failures: Failure[] = [];
  port = 0;

  constructor(readonly users: HubUser[]) {}

  static async start(users: HubUser[], port = 0): Promise<HubServer> {
    const hub = new HubServer(users);
    await hub.listen(port);
    return hub;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the port it had, or on `port`. */
  async listen(port = this.port): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Stops listening and drops open connections; `listen()` brings it back on the same port. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  addRepo(type: HubRepo['type'], name: string, isPrivate = false): void {
    this.repos.set(`${type}s/${name}`, { type, name, private: isPrivate });
  }

  /** The next requests fail in order: an HTTP status, or 'drop' (the connection is closed without an answer). */
  failNext(...failures: Failure[]): void {
    this.failures.push(...failures);
  }

  private json(res: ServerResponse, req: IncomingMessage, status: number, body: unknown, user?: string): void {
    this.requests.push({ method: req.method ?? '', path: req.url ?? '', status, user });
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const failure = this.failures.shift();
    if (failure === 'drop') {
      this.requests.push({ method: req.method ?? '', path: req.url ?? '', status: 0 });
      req.socket.destroy();
      return;
    }
    if (typeof failure === 'number') return this.json(res, req, failure, { error: `Injected failure ${failure}` });
    if (failure) return this.json(res, req, failure.status, { error: `Bad request with header "${req.headers.authorization ?? ''}"` });

    const url = new URL(req.url ?? '/', 'http://hub');
    const auth = req.headers.authorization;
    const user = auth?.startsWith('Bearer ') ? this.users.find((u) => u.token === auth.slice(7)) : undefined;
    if (auth && !user) return this.json(res, req, 401, { error: 'Invalid credentials in Authorization header' });
    const needUser = () => {
      if (!user) this.json(res, req, 401, { error: 'You must be authenticated to access this resource' });
      return user;
    };

    if (req.method === 'GET' && url.pathname === '/api/whoami-v2') {
      const u = needUser();
      if (!u) return;
      return this.json(res, req, 200, { type: 'user', id: `id-${u.name}`, name: u.name, fullname: u.name, email: `${u.name}@example.invalid`, emailVerified: true, isPro: false, canPay: false, avatarUrl: '', periodEnd: null, billingMode: 'prepaid', orgs: (u.orgs ?? []).map((o) => ({ type: 'org', id: `id-${o}`, name: o, fullname: o })), auth: { type: 'access_token', accessToken: { displayName: 'test', role: u.write.length ? 'write' : 'read', createdAt: '2026-01-01T00:00:00.000Z' } } }, u.name);
    }

    if (req.method === 'POST' && url.pathname === '/api/repos/create') {
      const u = needUser();
      if (!u) return;
      const p = JSON.parse(body) as { name: string; organization?: string; type?: HubRepo['type']; visibility?: string; private?: boolean };
      const ns = p.organization ?? u.name;
      const type = p.type ?? 'model';
      if (!u.write.includes(ns)) return this.json(res, req, 403, { error: `You don't have the rights to create a ${type} under the namespace "${ns}"` }, u.name);
      const full = `${ns}/${p.name}`;
      const clash = [...this.repos.values()].find((r) => r.name.toLowerCase() === full.toLowerCase());
      if (clash) return this.json(res, req, 409, { error: `You already created this ${clash.type} repo`, url: `${this.url}/${clash.type === 'model' ? '' : clash.type + 's/'}${clash.name}` }, u.name);
      this.addRepo(type, full, p.visibility ? p.visibility !== 'public' : !!p.private);
      return this.json(res, req, 200, { url: `${this.url}/${type === 'model' ? '' : type + 's/'}${full}`, name: full, id: `repo-${full}` }, u.name);
    }

    const m = /^\/api\/(models|datasets|spaces)\/([^/]+\/[^/]+)(?:\/(preupload|commit)\/([^/]+))?$/.exec(url.pathname);
    if (m) {
      const [, types, name, action, revision] = m;
      const repo = this.repos.get(`${types}/${name}`);
      const visible = repo && (!repo.private || (user && user.write.includes(name.split('/')[0])));
      if (!action && req.method === 'GET') {
        return visible ? this.json(res, req, 200, { id: name, private: repo.private, likes: 0 }, user?.name) : this.json(res, req, 404, { error: 'Repository not found' }, user?.name);
      }
      if (req.method === 'POST' && action) {
        const u = needUser();
        if (!u) return;
        if (!visible) return this.json(res, req, 404, { error: 'Repository not found' }, u.name);
        if (!u.write.includes(name.split('/')[0])) return this.json(res, req, 403, { error: `You don't have the rights to write to ${name}` }, u.name);
        if (action === 'preupload') {
          const p = JSON.parse(body) as { files: { path: string; size: number }[] };
          return this.json(res, req, 200, { files: p.files.map((f) => ({ path: f.path, uploadMode: 'regular', shouldIgnore: false })) }, u.name);
        }
        const lines = body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string; value: { summary?: string; path?: string; content?: string; encoding?: string } });
        const header = lines.find((l) => l.key === 'header');
        const files: Record<string, string> = {};
        const bytes: Record<string, Buffer> = {};
        for (const l of lines) {
          if (l.key === 'file') {
            bytes[l.value.path!] = Buffer.from(l.value.content ?? '', l.value.encoding === 'base64' ? 'base64' : 'utf8');
            files[l.value.path!] = bytes[l.value.path!].toString('utf8');
          } else if (l.key !== 'header') return this.json(res, req, 400, { error: `Unexpected commit line "${l.key}"` }, u.name);
        }
        const oid = createHash('sha1').update(body).digest('hex');
        this.commits.push({ repo: name, type: types.slice(0, -1), revision: decodeURIComponent(revision), summary: header?.value.summary ?? '', files, bytes, oid });
        return this.json(res, req, 200, { success: true, commitOid: oid, commitUrl: `${this.url}/${types}/${name}/commit/${oid}` }, u.name);
      }
    }
    return this.json(res, req, 404, { error: `Not found: ${req.method} ${url.pathname}` });
  }
}
