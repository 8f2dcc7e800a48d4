import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Journal, journalPath, writeQaFile } from '../../src/core/generation';
import { clearTextOrigin, isLoopbackHost, originAllowed, redaction, registerSecret, SecretRegistry, unregisterSecret } from '../../src/core/secrets';

const KEY = 'sk-SENTINELkey0123456789abcdefWXYZ';

function registry(): SecretRegistry {
  const r = new SecretRegistry();
  assert.equal(r.register(KEY, 'API key'), true);
  return r;
}

void test('the whole key is scrubbed wherever it appears', () => {
  const r = registry();
  const out = r.scrub(`Incorrect API key provided: ${KEY}. Bearer ${KEY}`);
  assert.equal(out, `Incorrect API key provided: ${redaction('API key')}. Bearer ${redaction('API key')}`);
  assert.ok(!out.includes('SENTINEL'));
});

void test('partial forms servers echo are scrubbed', () => {
  const r = registry();
  const forms = [
    `${KEY.slice(0, 6)}*******${KEY.slice(-4)}`, // OpenAI: sk-SEN*******WXYZ
    `${KEY.slice(0, 3)}...${KEY.slice(-4)}`,
    `****${KEY.slice(-4)}`,
    `…${KEY.slice(-4)}`,
    `${KEY.slice(0, 8)}…`,
    `${KEY.slice(0, 12)}...`,
    `${KEY.slice(0, 10)}***`,
    `${KEY.slice(0, 10)}*****${KEY.slice(-4)}`,
    `${KEY.slice(0, 9)}xxxxxxxx`,
  ];
  for (const f of forms) {
    const out = r.scrub(`Incorrect API key provided: ${f}, you can find your key at …`);
    assert.equal(out, `Incorrect API key provided: ${redaction('API key')}, you can find your key at …`, f);
    assert.equal(r.contains(f), true, f);
  }
});

void test('ordinary text is left alone', () => {
  const r = registry();
  const texts = [
    'The ball is played... and then WXYZ is called.',
    `A prefix of 7 ${KEY.slice(0, 7)}... is not enough`,
    `${KEY.slice(0, 8)} without a mask stays`,
    `the last four ${KEY.slice(-4)} alone stay`,
    `****${KEY.slice(-4)}more is another key`,
  ];
  for (const t of texts) assert.equal(r.scrub(t), t, t);
});

void test('short and placeholder values are not registered', () => {
  const r = new SecretRegistry();
  for (const v of ['', 'abc', 'sk-1234', 'no-key', 'password', 'aaaaaaaaaaaa', '   ']) assert.equal(r.register(v, 'API key'), false, v);
  assert.equal(r.size, 0);
  assert.equal(r.scrub('no-key password abc'), 'no-key password abc');
});

void test('register counts references; unregister forgets', () => {
  const r = registry();
  r.register(KEY, 'API key');
  r.unregister(KEY);
  assert.equal(r.contains(KEY), true);
  r.unregister(KEY);
  assert.equal(r.contains(KEY), false);
  assert.equal(r.scrub(KEY), KEY);
});

void test('scrubDeep copies objects, arrays and errors with every string scrubbed', () => {
  const r = registry();
  const err = new Error(`bad key ${KEY}`);
  const value = { a: [KEY, 1, { b: `x ${KEY.slice(0, 9)}...` }], [KEY]: true, err, n: null };
  const out = r.scrubDeep(value);
  const text = JSON.stringify(out);
  assert.ok(!text.includes('SENTINEL'), text);
  assert.equal(value.a[0], KEY, 'the original is unchanged');
  assert.equal((out.err as unknown as { message: string }).message, `bad key ${redaction('API key')}`);
});

void test('several secrets: the longer one first, each labelled', () => {
  const r = registry();
  r.register('hf_SENTINELtoken0123456789abcdef', 'Hugging Face token');
  const out = r.scrub(`key ${KEY} token hf_SENTINELtoken0123456789abcdef`);
  assert.equal(out, `key ${redaction('API key')} token ${redaction('Hugging Face token')}`);
  assert.deepEqual(r.found(`hf_SENTINELtoken0123456789abcdef`), ['Hugging Face token']);
});

void test('clear text: plain http to a non-loopback host', () => {
  for (const h of ['localhost', '127.0.0.1', '127.8.9.10', '[::1]', '::1', 'api.localhost']) assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['example.com', '10.0.0.1', '128.0.0.1', '192.168.1.2', 'localhost.example.com']) assert.equal(isLoopbackHost(h), false, h);
  assert.equal(clearTextOrigin('http://127.0.0.1:8000/v1'), undefined);
  assert.equal(clearTextOrigin('http://[::1]:8000/v1'), undefined);
  assert.equal(clearTextOrigin('https://api.example.com/v1'), undefined);
  assert.equal(clearTextOrigin('http://gpu-box.lan:8000/v1'), 'http://gpu-box.lan:8000');
  assert.equal(originAllowed('http://gpu-box.lan:8000', ['http://gpu-box.lan:8000/v1']), true);
  assert.equal(originAllowed('http://gpu-box.lan:8000', ['http://gpu-box.lan:8001']), false);
  assert.equal(originAllowed('http://gpu-box.lan:8000', undefined), false);
});

// The writers scrub on their own, for a path that forgot to: the journal, .qa files, the CLI's output.
void test('writers: the journal and .qa files never hold a registered secret, even when handed one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-secret-writers-'));
  const key = `sk-writerSENTINEL-${randomBytes(12).toString('hex')}`;
  registerSecret(key, 'API key');
  try {
    const journal = Journal.open(journalPath(dir));
    await journal.append({ key: 'k', status: 'done', source: 's', chunk: 1, chunkId: 'c', variant: 'v', temperature: 0.2, model: 'm', at: 'now', attempts: 1, raw: `said ${key}`, pairs: [{ question: 'Q?', answer: `${key.slice(0, 10)}…` }] });
    await journal.close();
    const text = readFileSync(journalPath(dir), 'utf8');
    assert.ok(!text.includes(key.slice(0, 10)), text);
    assert.equal((JSON.parse(text) as { raw: string }).raw, `said ${redaction('API key')}`);
    const qa = join(dir, 'qa', 'x.qa');
    writeQaFile(qa, { source: 'sources/x.md', variant: 'v', model: 'm', generator: 'test' }, new Map([[1, [{ question: 'In Cairnrun rules, what key?', answer: `The key ${key}.` }]]]), new Map());
    const written = readFileSync(qa, 'utf8');
    assert.ok(!written.includes(key), written);
    assert.match(written, /A: The key \[redacted API key\]\./);
  } finally {
    unregisterSecret(key);
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('writers: the CLI scrubs everything it prints on stdout and stderr, strings and buffers', () => {
  const key = `sk-outputSENTINEL-${randomBytes(12).toString('hex')}`;
  const script = [
    `const { registerSecret } = require(${JSON.stringify(join(__dirname, '../../src/core/secrets.ts'))});`,
    `const { scrubProcessOutput } = require(${JSON.stringify(join(__dirname, '../../src/cli/output.ts'))});`,
    'scrubProcessOutput();',
    `registerSecret(${JSON.stringify(key)}, 'API key');`,
    `console.log('out ${key}');`,
    `console.error('err ${key.slice(0, 9)}***');`,
    `process.stdout.write(Buffer.from('buf ****${key.slice(-4)}\\n'));`,
  ].join('\n');
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'out [redacted API key]\nbuf [redacted API key]\n');
  assert.equal(r.stderr, 'err [redacted API key]\n');
});

void test('a passphrase is also scrubbed URL-encoded and JSON-escaped', () => {
  const r = new SecretRegistry();
  const pass = 'correct "horse" battery/staple';
  assert.equal(r.register(pass, 'SSH passphrase'), true);
  assert.equal(r.scrub(`url ?p=${encodeURIComponent(pass)} json ${JSON.stringify({ p: pass })}`), `url ?p=${redaction('SSH passphrase')} json {"p":"${redaction('SSH passphrase')}"}`);
  r.unregister(pass);
  assert.equal(r.size, 0);
});
