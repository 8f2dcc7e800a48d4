import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cli } from './cli-run';
import { HubServer } from '../servers/hub-server';

const TOKEN = 'hf_cli_token_0123456789';

function project(qa?: string): string {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-cli-ds-'));
  mkdirSync(join(root, 'qa'));
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', hub: { repo: 'me/from-config' } }));
  if (qa) writeFileSync(join(root, 'qa', 'a.qa'), qa);
  return root;
}

const qa = Array.from({ length: 30 }, (_, i) => `Q: In Cairnrun, what is rule ${i} about item${i}?\nA: Rule ${i} says item${i} is ${i} m long.\n`).join('\n');


let hub: HubServer;
after(() => hub?.stop());

void test('mnemo build writes the splits, card and report; twice gives the same bytes', async () => {
  const root = project(qa);
  const first = await cli(['build', '--project', root]);
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /^\d+ train \+ \d+ test rows from 30 pairs\.$/m);
  assert.match(first.out, /wrote data\/train\.jsonl/);
  const bytes = readFileSync(join(root, 'data', 'train.jsonl'));
  assert.equal((await cli(['build', '--project', root])).code, 0);
  assert.deepEqual(readFileSync(join(root, 'data', 'train.jsonl')), bytes);
});

void test('mnemo build warns when offline (low-quality) pairs would go into the dataset, and the report lists their files', async () => {
  const root = project(qa);
  const offline = ['@source: sources/rulebook.md', '@generator: offline (low-quality fallback)', '', '@chunk: 1', ...Array.from({ length: 4 }, (_, i) => `Q: In Cairnrun rules, fill in the blank: the Moor is ___ m long (part ${i}).\nA: 84\n`)].join('\n');
  writeFileSync(join(root, 'qa', 'offline.qa'), offline);
  const r = await cli(['build', '--project', root]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^warning: 4 of 34 pairs come from the offline generator \(1 file\)/m);
  const report = readFileSync(join(root, 'data', 'report.md'), 'utf8');
  assert.match(report, /## Low-quality pairs[\s\S]*- qa\/offline\.qa/);
  // Without them: no warning.
  writeFileSync(join(root, 'qa', 'offline.qa'), offline.replace('@generator: offline (low-quality fallback)', '@generator: mnemo sweep'));
  const clean = await cli(['build', '--project', root]);
  assert.doesNotMatch(clean.out, /warning:/);
  assert.doesNotMatch(readFileSync(join(root, 'data', 'report.md'), 'utf8'), /Low-quality pairs/);
});

void test('mnemo build with no pairs: exit 1, a clear message, nothing written', async () => {
  const root = project();
  const r = await cli(['build', '--project', root]);
  assert.equal(r.code, 1);
  assert.match(r.err, /^error: No Q&A pairs to build a dataset from/);
  assert.equal(existsSync(join(root, 'data')), false);
});

void test('mnemo push takes the token from HF_TOKEN, the repo from mnemo.json or --repo, and prints the dataset page', async () => {
  hub = await HubServer.start([{ name: 'me', token: TOKEN, write: ['me'] }]);
  const root = project(qa);
  const notBuilt = await cli(['push', '--project', root, '--hub-url', hub.url], { HF_TOKEN: TOKEN });
  assert.equal(notBuilt.code, 1);
  assert.match(notBuilt.err, /no built dataset to push/);
  await cli(['build', '--project', root]);
  const noToken = await cli(['push', '--project', root, '--hub-url', hub.url], { HF_TOKEN: undefined });
  assert.equal(noToken.code, 1);
  assert.match(noToken.err, /No Hugging Face token is set.*HF_TOKEN/);
  const r = await cli(['push', '--project', root, '--hub-url', hub.url], { HF_TOKEN: TOKEN });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`Created and pushed train\\.jsonl, test\\.jsonl, README\\.md: ${hub.url}/datasets/me/from-config`));
  assert.equal(hub.repos.get('datasets/me/from-config')?.private, true);
  const pub = await cli(['push', '--project', root, '--repo', 'me/open', '--public'], { HF_TOKEN: TOKEN, HF_ENDPOINT: hub.url });
  assert.equal(pub.code, 0, pub.err);
  assert.equal(hub.repos.get('datasets/me/open')?.private, false);
  assert.equal(hub.commits[1].files['train.jsonl'], readFileSync(join(root, 'data', 'train.jsonl'), 'utf8'));
  assert.ok(![notBuilt, noToken, r, pub].some((x) => (x.out + x.err).includes(TOKEN)));
  // Edited pairs after the build: the push warns that it sends the last build.
  const later = new Date(Date.now() + 5000);
  utimesSync(join(root, 'qa', 'a.qa'), later, later);
  const stale = await cli(['push', '--project', root, '--hub-url', hub.url], { HF_TOKEN: TOKEN });
  assert.equal(stale.code, 0, stale.err);
  assert.match(stale.err, /warning: \.qa files changed since the dataset was built/);
  assert.doesNotMatch(r.err, /warning/);
  const bad = await cli(['push', '--project', root, '--hub-url', hub.url], { HF_TOKEN: 'hf_nope_nope_nope' });
  assert.equal(bad.code, 1);
  assert.match(bad.err, /refused the token \(401\)/);
  assert.ok(!(bad.out + bad.err).includes('hf_nope_nope_nope'));
});
