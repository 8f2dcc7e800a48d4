import assert from 'node:assert/strict';
import { after, afterEach, test } from 'node:test';
import { MnemoError } from '../../src/core/errors';
import { datasetUrl, pushDataset, scrub, type PushOptions } from '../../src/core/hub';
import { HubServer } from '../servers/hub-server';

const TOKEN = 'hf_me_write_0123456789abcdef';
const READ_TOKEN = 'hf_me_read_0123456789abcdef';
const users = [
  { name: 'me', token: TOKEN, write: ['me', 'team'], orgs: ['team'] },
  { name: 'reader', token: READ_TOKEN, write: [] },
];
const files = [
  { path: 'train.jsonl', content: '{"messages":[{"role":"user","content":"Q?"},{"role":"assistant","content":"A — é."}]}\n' },
  { path: 'test.jsonl', content: '{"messages":[{"role":"user","content":"Q2?"},{"role":"assistant","content":"A2."}]}\n' },
  { path: 'README.md', content: '---\nlicense: other\n---\n# Card\n' },
];

const servers: HubServer[] = [];
async function hub(): Promise<HubServer> {
  const h = await HubServer.start(users.map((u) => ({ ...u })));
  servers.push(h);
  return h;
}
after(async () => {
  for (const s of servers) await s.stop();
});

/** Everything said to the user or the log during a push, to check the token never shows. */
const said: string[] = [];
afterEach(() => {
  for (const line of said) {
    assert.ok(!line.includes(TOKEN) && !line.includes(READ_TOKEN), `token leaked: ${line}`);
  }
  said.length = 0;
});

function push(h: HubServer, o: Partial<PushOptions> = {}) {
  return pushDataset({ repo: 'me/cairnrun', token: TOKEN, hubUrl: h.url, private: true, files, retryDelayMs: 5, log: (l) => said.push(l), ...o });
}

async function failure(p: Promise<unknown>): Promise<MnemoError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MnemoError, `not a MnemoError: ${String(err)}`);
    said.push(err.message, err.hint ?? '', err.stack ?? '');
    return err;
  }
  assert.fail('the push succeeded');
}

void test('a push creates the private dataset and lands every file in one commit', async () => {
  const h = await hub();
  const r = await push(h);
  assert.deepEqual(r, { repo: 'me/cairnrun', url: `${h.url}/datasets/me/cairnrun`, created: true, commitUrl: `${h.url}/datasets/me/cairnrun/commit/${h.commits[0].oid}`, files: ['train.jsonl', 'test.jsonl', 'README.md'] });
  assert.deepEqual(h.repos.get('datasets/me/cairnrun'), { type: 'dataset', name: 'me/cairnrun', private: true });
  assert.equal(h.commits.length, 1);
  assert.equal(h.commits[0].type, 'dataset');
  assert.equal(h.commits[0].revision, 'main');
  assert.deepEqual(h.commits[0].files, Object.fromEntries(files.map((f) => [f.path, f.content])));
  assert.deepEqual(h.requests.map((q) => `${q.method} ${q.path.split('?')[0]} ${q.status}`), [
    'GET /api/whoami-v2 200',
    'GET /api/datasets/me/cairnrun 404',
    'POST /api/repos/create 200',
    'POST /api/datasets/me/cairnrun/preupload/main 200',
    'POST /api/datasets/me/cairnrun/commit/main 200',
  ]);
  // A second push updates the same repository without creating it.
  const again = await push(h, { private: false });
  assert.equal(again.created, false);
  assert.equal(h.commits.length, 2);
  assert.equal(h.repos.get('datasets/me/cairnrun')?.private, true);
});

void test('a bare name goes to the token owner; --public creates a public repository', async () => {
  const h = await hub();
  const r = await push(h, { repo: 'cairn-qa', private: false });
  assert.equal(r.repo, 'me/cairn-qa');
  assert.equal(r.url, datasetUrl(h.url + '/', 'me/cairn-qa'));
  assert.equal(h.repos.get('datasets/me/cairn-qa')?.private, false);
});

void test('a bad token: 401, said plainly, the token in no message', async () => {
  const h = await hub();
  const err = await failure(push(h, { token: 'hf_wrong_token_value_xyz' }));
  assert.match(err.message, /refused the token \(401\)/);
  assert.match(err.hint!, /Set Hugging Face Token/);
  assert.ok(!`${err.message} ${err.hint} ${err.stack}`.includes('hf_wrong_token_value_xyz'));
  assert.equal(h.commits.length, 0);
  assert.match((await failure(push(h, { token: 'not-a-token' }))).message, /not a Hugging Face access token/);
  assert.match((await failure(push(h, { token: '  ' }))).message, /No Hugging Face token/);
  assert.match((await failure(push(h, { repo: 'a/b/c' }))).message, /not a valid repository name/);
});

void test('no rights: a read-only token, and a namespace that is not yours', async () => {
  const h = await hub();
  const ro = await failure(push(h, { token: READ_TOKEN, repo: 'reader/data' }));
  assert.match(ro.message, /token of "reader" has no right to create a dataset repository in "reader" \(403\)/);
  assert.match(ro.hint!, /read-only/);
  const other = await failure(push(h, { repo: 'someone-else/data' }));
  assert.match(other.message, /no right to create a dataset repository in "someone-else"/);
  assert.match(other.hint!, /me\/data/);
  // An existing dataset you cannot write to: 403 on the commit.
  h.addRepo('dataset', 'someone-else/open');
  const commitDenied = await failure(push(h, { repo: 'someone-else/open' }));
  assert.match(commitDenied.message, /no right to write to the dataset in "someone-else"/);
  assert.equal(h.commits.length, 0);
});

void test('a name taken by a model repository is detected (409 on create, no dataset of that name)', async () => {
  const h = await hub();
  h.addRepo('model', 'me/cairnrun');
  const err = await failure(push(h));
  assert.match(err.message, /"me\/cairnrun" is already taken on the Hub by another kind of repository/);
  assert.match(err.hint!, /another name/);
  assert.equal(h.commits.length, 0);
  assert.equal(h.repos.has('datasets/me/cairnrun'), false);
});

void test('an existing dataset is reused, not created', async () => {
  const h = await hub();
  h.addRepo('dataset', 'team/shared', true);
  const r = await push(h, { repo: 'team/shared' });
  assert.equal(r.created, false);
  assert.equal(h.requests.some((q) => q.path === '/api/repos/create'), false);
  assert.equal(h.commits[0].repo, 'team/shared');
});

void test('server down, then up: retried with backoff, then pushed', async () => {
  const h = await hub();
  await h.stop();
  const retries: string[] = [];
  const r = await push(h, {
    onRetry: async (info) => {
      retries.push(`${info.what}:${info.reason}:${info.delayMs}`);
      if (info.attempt === 2) await h.listen();
    },
  });
  assert.deepEqual(retries, ['check the token:ECONNREFUSED:5', 'check the token:ECONNREFUSED:10']);
  assert.equal(r.url, `${h.url}/datasets/me/cairnrun`);
  assert.equal(h.commits.length, 1);
  assert.ok(said.some((l) => /retrying in 5 ms \(try 2 of 4\)/.test(l)));
});

void test('5xx and dropped connections mid-push are retried; the commit lands once', async () => {
  const h = await hub();
  await push(h, { repo: 'me/warmup' });
  h.failNext(503, 'drop');
  const r = await push(h);
  assert.equal(r.created, true);
  assert.equal(h.commits.filter((c) => c.repo === 'me/cairnrun').length, 1);
  assert.deepEqual(h.requests.filter((q) => q.status === 503 || q.status === 0).length, 2);
});

void test('server down for good: a clear message after the tries', async () => {
  const h = await hub();
  await h.stop();
  const err = await failure(push(h, { attempts: 3 }));
  assert.match(err.message, new RegExp(`Could not reach the Hugging Face Hub at ${h.url.replace(/\./g, '\\.')} \\(ECONNREFUSED\\) while trying to check the token, after 3 tries`));
  assert.match(err.hint!, /mnemo\.hub\.url/);
});

void test('a server that echoes the token in an error: the message keeps the error, not the token', async () => {
  const h = await hub();
  h.failNext({ status: 400, echoAuthorization: true });
  const err = await failure(push(h));
  assert.match(err.message, /HTTP 400 while trying to check the token: Bad request with header "Bearer hf_\*\*\*"/);
  assert.equal(scrub(`x ${TOKEN} y ${TOKEN}`, TOKEN), 'x hf_*** y hf_***');
});
