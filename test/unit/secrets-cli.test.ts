/**
 * Secrets against servers that echo them: the CLI's generate and push, Test Connection and the
 * clear-text refusal, run against test/servers/secret-echo-server.ts with sentinel secrets. After
 * each run every file of the project and the CLI's stdout and stderr are searched for any
 * 8 characters of a sentinel, or its last 4 after a mask: none may be found.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { testConnection } from '../../src/core/generation';
import { Project, scaffoldProject } from '../../src/core/project';
import { redaction, secretRegistry } from '../../src/core/secrets';
import { maskedForms, sentinelHits, startEchoServer, type EchoServer } from '../servers/secret-echo-server';

const KEY = `sk-mnemoSENTINEL-${randomBytes(16).toString('hex')}`;
const TOKEN = `hf_SENTINEL${randomBytes(12).toString('hex')}`;
const SENTINELS = [KEY, TOKEN];
const repo = join(__dirname, '..', '..');

const dirs: string[] = [];
const servers: EchoServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function project(): string {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-secrets-'));
  dirs.push(root);
  scaffoldProject(root, 'Cairnrun rules');
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', chunking: { tokens: 60 }, generation: { variants: ['nuanced'], temperatures: [0.2, 0.9] }, hub: { repo: 'someone/cairnrun-qa' } }, null, 2));
  writeFileSync(join(root, 'sources', 'rules.md'), 'A cairn is built from exactly seven stones. Each half lasts thirty minutes.\n\nA cairn marks the course that each team must follow. The match ball weighs four hundred grams.\n');
  return root;
}

async function server(opts: Parameters<typeof startEchoServer>[0] = {}): Promise<EchoServer> {
  const s = await startEchoServer(opts);
  servers.push(s);
  return s;
}

/** Runs the CLI as its own process (so its real stdout and stderr are what is searched). */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; out: string; err: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, OPENAI_API_KEY: undefined, HF_TOKEN: undefined, MNEMO_ALLOW_INSECURE_KEY: undefined, ...env };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  const child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'src/cli/main.ts'), ...args], { cwd: repo, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

/** Every file under the project (caches included), as text. */
function projectFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(root);
  return out;
}

function assertNoSentinel(what: string, text: string): void {
  const hits = sentinelHits(text, SENTINELS);
  assert.deepEqual(hits, [], `${what} holds a sentinel: ${hits.join('; ')}`);
}

function assertProjectClean(root: string): number {
  const files = projectFiles(root);
  for (const f of files) assertNoSentinel(f.slice(root.length + 1), readFileSync(f, 'latin1'));
  return files.length;
}

/** An IPv4 address of this machine that is not loopback, for the clear-text tests. */
function lanAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

void test('the sentinel check itself finds a sentinel in every form the server echoes', () => {
  assert.ok(sentinelHits(`x ${KEY} y`, SENTINELS).length);
  for (const f of [...maskedForms(KEY), ...maskedForms(TOKEN)]) assert.ok(sentinelHits(`said: ${f}`, SENTINELS).length, f);
  assert.deepEqual(sentinelHits('Q: In Cairnrun rules, what is a cairn?', SENTINELS), []);
});

void test('CLI generate against a server that echoes the key in 429, 500, headers and answers: the key is in no file and no output', async () => {
  const root = project();
  const s = await server();
  const r = await cli(['generate', '--project', root, '--base-url', s.url, '--model', 'echo-model', '--yes', '--concurrency', '2'], { OPENAI_API_KEY: KEY });
  assert.equal(r.code, 0, r.out + r.err);
  assert.ok(s.auth.some((a) => a === `Bearer ${KEY}`), 'the key was sent to the loopback server');
  assert.ok(s.requests.filter((q) => q.status === 429).length >= 1 && s.requests.filter((q) => q.status === 500).length >= 1, 'the errors were served');
  assertNoSentinel('stdout', r.out);
  assertNoSentinel('stderr', r.err);
  assert.match(r.err, /redacted API key/, 'retries were logged, scrubbed');
  const journal = readFileSync(join(root, '.mnemo', 'generation', 'journal.jsonl'), 'utf8');
  assert.match(journal, /\[redacted API key\]/, 'the answers quoting the key were journaled, scrubbed');
  const qaDir = join(root, 'qa', 'rules');
  const qa = readdirSync(qaDir).map((f) => readFileSync(join(qaDir, f), 'utf8')).join('\n');
  assert.match(qa, /A cairn marks the course/, 'the ordinary pair was written');
  const files = assertProjectClean(root);
  assert.ok(files >= 4, `${files} files searched`);

  // Preview prints the raw answer: scrubbed too.
  const preview = await cli(['generate', '--project', root, '--base-url', s.url, '--model', 'echo-model', '--preview', '--temperatures', '0.5'], { OPENAI_API_KEY: KEY });
  assertNoSentinel('preview stdout', preview.out);
  assertNoSentinel('preview stderr', preview.err);
});

for (const mode of ['401', '403'] as const) {
  void test(`CLI generate refused with ${mode} and the key in the message: it stops, says why, and shows no part of the key`, async () => {
    const root = project();
    const s = await server({ mode });
    const r = await cli(['generate', '--project', root, '--base-url', s.url, '--model', 'echo-model', '--yes'], { OPENAI_API_KEY: KEY });
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out + r.err, new RegExp(`HTTP ${mode}`));
    assertNoSentinel('stdout', r.out);
    assertNoSentinel('stderr', r.err);
    assertProjectClean(root);
  });
}

void test('Test Connection against echoing servers: the report holds no part of the key', async () => {
  for (const mode of ['echo', '401', '403'] as const) {
    const s = await server({ mode });
    const report = await testConnection({ baseUrl: s.url, model: 'echo-model', apiKey: KEY, timeoutMs: 5000 });
    assert.equal(report.ok, mode === 'echo', report.message);
    assertNoSentinel(`report (${mode})`, JSON.stringify(report));
    if (mode === 'echo') assert.ok(report.models.includes(redaction('API key')), 'the model named after the key was listed, scrubbed');
    else assert.match(report.message, /refused the API key/);
  }
});

void test('CLI push with a token the Hub refuses and echoes: a clear message, no part of the token anywhere', async () => {
  const root = project();
  assert.equal((await cli(['generate', '--project', root, '--offline'])).code, 0);
  assert.equal((await cli(['build', '--project', root])).code, 0);
  const s = await server();
  const r = await cli(['push', '--project', root, '--hub-url', s.origin], { HF_TOKEN: TOKEN });
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.err, /refused the token \(401\)/);
  assert.ok(s.auth.includes(`Bearer ${TOKEN}`), 'the token was sent to the loopback Hub');
  assertNoSentinel('stdout', r.out);
  assertNoSentinel('stderr', r.err);
  assertProjectClean(root);
});

void test('a key is not sent over plain http to another machine unless allowed for that endpoint; keyless requests are unaffected', async (t) => {
  const lan = lanAddress();
  if (!lan) return t.skip('this machine has no non-loopback IPv4 address');
  const root = project();
  const s = await server({ host: '0.0.0.0' });
  const url = `http://${lan}:${new URL(s.url).port}/v1`;
  const refused = await cli(['generate', '--project', root, '--base-url', url, '--model', 'echo-model', '--yes'], { OPENAI_API_KEY: KEY });
  assert.equal(refused.code, 1);
  assert.match(refused.err, /was not sent to http:\/\/[\d.]+:\d+: that is plain http:\/\/ to a host other than this machine/);
  assert.match(refused.err, /--allow-insecure-key/);
  assert.match(refused.err, /MNEMO_ALLOW_INSECURE_KEY/);
  assert.equal(s.auth.length, 0, 'nothing reached the server');

  const report = await testConnection({ baseUrl: url, model: 'echo-model', apiKey: KEY, timeoutMs: 5000 });
  assert.equal(report.ok, false);
  assert.match(report.message, /clear text/);
  assert.match(report.message, /mnemo\.endpoint\.allowInsecureKey/);
  assert.equal(s.auth.length, 0, 'Test Connection sent nothing either');

  const allowed = await cli(['generate', '--project', root, '--base-url', url, '--model', 'echo-model', '--yes', '--allow-insecure-key'], { OPENAI_API_KEY: KEY });
  assert.equal(allowed.code, 0, allowed.out + allowed.err);
  assert.ok(s.auth.includes(`Bearer ${KEY}`), 'allowed: the key was sent');
  assertNoSentinel('stdout', allowed.out);
  assertNoSentinel('stderr', allowed.err);

  const before = s.auth.length;
  const byEnv = await testConnection({ baseUrl: url, model: 'echo-model', apiKey: KEY, timeoutMs: 5000, allowInsecureKey: [`http://${lan}:${new URL(s.url).port}`] });
  assert.equal(byEnv.ok, true, byEnv.message);
  assert.ok(s.auth.length > before);
  const other = await testConnection({ baseUrl: url, model: 'echo-model', apiKey: KEY, timeoutMs: 5000, allowInsecureKey: [`http://${lan}:1`] });
  assert.equal(other.ok, false, 'an allowance is for its origin only');

  const envAllowed = await cli(['generate', '--project', root, '--base-url', url, '--model', 'echo-model', '--yes', '--temperatures', '0.4'], { OPENAI_API_KEY: KEY, MNEMO_ALLOW_INSECURE_KEY: `http://${lan}:${new URL(s.url).port}` });
  assert.equal(envAllowed.code, 0, envAllowed.out + envAllowed.err);

  // Keyless: a local URL over http works as before (no key, nothing to protect).
  const keyless = await cli(['generate', '--project', root, '--base-url', `http://127.0.0.1:${new URL(s.url).port}/v1`, '--model', 'echo-model', '--yes', '--temperatures', '0.7']);
  assert.equal(keyless.code, 0, keyless.out + keyless.err);
  assert.ok(s.auth.includes('Bearer no-key'), 'a keyless request went through over http');
  const keylessLan = await testConnection({ baseUrl: url, model: 'echo-model', timeoutMs: 5000 });
  assert.equal(keylessLan.ok, true, `a keyless Test Connection to another machine is not refused: ${keylessLan.message}`);
  assertProjectClean(root);
});

void test('the Hub token is not sent to a plain http Hub on another machine unless allowed', async (t) => {
  const lan = lanAddress();
  if (!lan) return t.skip('this machine has no non-loopback IPv4 address');
  const root = project();
  assert.equal((await cli(['generate', '--project', root, '--offline'])).code, 0);
  assert.equal((await cli(['build', '--project', root])).code, 0);
  const s = await server({ host: '0.0.0.0' });
  const hub = `http://${lan}:${new URL(s.url).port}`;
  const refused = await cli(['push', '--project', root, '--hub-url', hub], { HF_TOKEN: TOKEN });
  assert.equal(refused.code, 1);
  assert.match(refused.err, /Hugging Face token was not sent to http:\/\/[\d.]+:\d+: that is plain http:\/\//);
  assert.match(refused.err, /--allow-insecure-key/);
  assert.equal(s.auth.length, 0, 'nothing reached the Hub');
  const allowed = await cli(['push', '--project', root, '--hub-url', hub, '--allow-insecure-key'], { HF_TOKEN: TOKEN });
  assert.equal(allowed.code, 1, 'the echoing Hub refuses the token');
  assert.match(allowed.err, /refused the token \(401\)/);
  assert.ok(s.auth.includes(`Bearer ${TOKEN}`), 'allowed: the token was sent');
  const byEnv = await cli(['push', '--project', root, '--hub-url', hub], { HF_TOKEN: TOKEN, MNEMO_ALLOW_INSECURE_KEY: hub });
  assert.match(byEnv.err, /refused the token \(401\)/);
  for (const r of [refused, allowed, byEnv]) {
    assertNoSentinel('stdout', r.out);
    assertNoSentinel('stderr', r.err);
  }
  assertProjectClean(root);
});

void test('old leaks: generate names the files that hold the key, and --scrub-leaks replaces it in place', async () => {
  const root = project();
  mkdirSync(join(root, '.mnemo', 'generation'), { recursive: true });
  const journal = join(root, '.mnemo', 'generation', 'journal.jsonl');
  writeFileSync(journal, JSON.stringify({ key: 'k1', status: 'failed', source: 'sources/rules.md', chunk: 1, chunkId: 'x', variant: 'nuanced', temperature: 0.2, model: 'm', at: '2026-01-01T00:00:00Z', attempts: 1, error: `HTTP 401: Incorrect API key provided: ${maskedForms(KEY)[0]}` }) + '\n');
  mkdirSync(join(root, 'runs', 'r1'), { recursive: true });
  const log = join(root, 'runs', 'r1', 'train.log');
  writeFileSync(log, `step 1\nAuthorization: Bearer ${KEY}\nstep 2\n`);
  writeFileSync(join(root, 'qa', 'notes.qa'), 'Q: In Cairnrun rules, what is a cairn?\nA: Seven stones.\n');

  const r = await cli(['generate', '--project', root, '--offline'], { OPENAI_API_KEY: KEY });
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /2 project files hold the API key/);
  assert.match(r.err, /\.mnemo\/generation\/journal\.jsonl: API key on 1 line/);
  assert.match(r.err, /runs\/r1\/train\.log: API key on 1 line/);
  assert.match(r.err, /--scrub-leaks/);
  assertNoSentinel('stderr', r.err);
  assert.ok(readFileSync(log, 'utf8').includes(KEY), 'nothing is changed without asking');

  const fixed = await cli(['generate', '--project', root, '--offline', '--scrub-leaks'], { OPENAI_API_KEY: KEY });
  assert.equal(fixed.code, 0, fixed.err);
  assert.match(fixed.err, /scrubbed the key from runs\/r1\/train\.log/);
  assert.equal(readFileSync(log, 'utf8'), `step 1\nAuthorization: Bearer ${redaction('API key')}\nstep 2\n`);
  assert.match(readFileSync(journal, 'utf8'), /"error":"HTTP 401: Incorrect API key provided: \[redacted API key\]"/);
  assertProjectClean(root);
  const again = await cli(['generate', '--project', root, '--offline'], { OPENAI_API_KEY: KEY });
  assert.doesNotMatch(again.err, /hold the API key/);

  // Without the key in the environment there is nothing to look for, and nothing is reported.
  writeFileSync(log, `Bearer ${KEY}\n`);
  const nokey = await cli(['generate', '--project', root, '--offline']);
  assert.doesNotMatch(nokey.err, /hold/);
  assert.ok(existsSync(log));
});

void test('the registry is process-wide: a secret registered by a client scrubs the writers too', () => {
  secretRegistry.register(KEY, 'API key');
  try {
    const p = Project.load(project());
    assert.ok(p.root);
    assert.equal(secretRegistry.scrub(`x ${maskedForms(KEY)[5]} y`), `x ${redaction('API key')} y`);
  } finally {
    secretRegistry.unregister(KEY);
  }
});
