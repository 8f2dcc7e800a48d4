/** Generation over a real project folder: the CLI command, regenerating one chunk, offline, prompts. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli } from './cli-run';
import { generateForChunks, Journal, journalPath, loadSourceChunks, prepareSweep } from '../../src/core/generation';
import { Project } from '../../src/core/project';
import { activePairs, parseQa } from '../../src/core/qa';
import { startOpenAiServer } from '../servers/openai-server';
import { generationFixture } from './generation-fixture';

const { project: fixtureProject, servers } = generationFixture('mnemo-genp-');
const project = (): string => fixtureProject({ temperatures: [0.2, 0.9] });

void describe('generation over a project', () => {
  void test('CLI: the plan first, nothing sent without --yes; --yes runs and writes one file per variant x temperature', async () => {
    const root = project();
    const s = await startOpenAiServer({ models: ['mock-model'] });
    servers.push(s);
    const dry = await cli(['generate', '--project', root, '--base-url', s.url, '--model', 'mock-model']);
    assert.equal(dry.code, 2);
    assert.match(dry.out, /requests: \d+ chunks in 1 source x 2 variants \(nuanced, simple\) x 2 temperatures \(0\.2, 0\.9\)/);
    assert.match(dry.out, /estimated cost \$0\.00/);
    assert.match(dry.err, /Pass --yes/);
    assert.equal(s.stats.requests, 0);
    const run = await cli(['generate', '--project', root, '--base-url', s.url, '--model', 'mock-model', '--yes', '--concurrency', '3']);
    assert.equal(run.code, 0, run.err);
    const chunks = (await loadSourceChunks(Project.load(root)))[0].chunks.length;
    assert.ok(chunks >= 2);
    assert.equal(s.stats.requests, chunks * 4);
    assert.ok(s.stats.maxInFlight <= 3);
    assert.deepEqual(readdirSync(join(root, 'qa', 'rules')).sort(), ['nuanced-t0.200.qa', 'nuanced-t0.900.qa', 'simple-t0.200.qa', 'simple-t0.900.qa']);
    const again = await cli(['generate', '--project', root, '--base-url', s.url, '--model', 'mock-model', '--yes']);
    assert.equal(again.code, 0);
    assert.equal(s.stats.requests, chunks * 4);
    assert.match(again.out, /already done/);
  });

  void test('CLI: Ctrl+C (SIGINT) stops the sweep, keeps what finished, writes those pairs, and a re-run resumes', async () => {
    const root = project();
    const s = await startOpenAiServer({ models: ['mock-model'], latencyMs: 300 });
    servers.push(s);
    const repo = join(__dirname, '..', '..');
    const child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'src/cli/main.ts'), 'generate', '--project', root, '--base-url', s.url, '--model', 'mock-model', '--yes', '--concurrency', '2'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    while ([...s.stats.completed.values()].length < 2) {
      assert.ok(Date.now() < deadline, `no requests finished: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const t0 = Date.now();
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, out);
    assert.ok(Date.now() - t0 < 2000, `exited ${Date.now() - t0} ms after SIGINT`);
    assert.match(out, /Cancelled: \d+ of \d+ requests are done and kept/);
    const journal = Journal.open(journalPath(join(root, '.mnemo')));
    const done = journal.done.size;
    await journal.close();
    assert.ok(done >= 2, `${done} done`);
    const written = readdirSync(join(root, 'qa', 'rules'));
    assert.ok(written.length >= 1, 'the pairs that finished are in .qa files');
    const before = s.stats.requests;
    s.options.latencyMs = 0;
    const again = await cli(['generate', '--project', root, '--base-url', s.url, '--model', 'mock-model', '--yes']);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, new RegExp(`\\(${done} from earlier runs\\)`));
    const total = Number(/(\d+)\/(\d+) requests done/.exec(again.out)![2]);
    assert.equal(s.stats.requests - before, total - done, 'only the unfinished requests were sent again');
  });

  void test('CLI: a hosted endpoint without OPENAI_API_KEY is refused before anything is sent; --offline needs no key', async () => {
    const root = project();
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      const r = await cli(['generate', '--project', root, '--base-url', 'https://api.example.com/v1', '--yes']);
      assert.equal(r.code, 1);
      assert.match(r.err, /OPENAI_API_KEY is not set/);
      const off = await cli(['generate', '--project', root, '--offline']);
      assert.equal(off.code, 0);
      const qa = parseQa(readFileSync(join(root, 'qa', 'rules', 'offline.qa'), 'utf8'));
      assert.equal(qa.header.generator, 'offline (low-quality fallback)');
      assert.ok(activePairs(qa).length >= 9);
    } finally {
      if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
    }
  });

  void test('a source that cannot be read is skipped with a warning when generating everything, and an error when named', async () => {
    const root = project();
    writeFileSync(join(root, 'sources', 'broken.pdf'), 'this is not a PDF at all');
    const off = await cli(['generate', '--project', root, '--offline']);
    assert.equal(off.code, 0, off.err);
    assert.match(off.err, /warning: skipped sources\/broken\.pdf: /);
    assert.deepEqual(readdirSync(join(root, 'qa')), ['rules']);
    const named = await cli(['generate', '--project', root, '--offline', '--source', 'sources/broken.pdf']);
    assert.equal(named.code, 1);
    assert.match(named.err, /^error: .*broken\.pdf/m);
  });

  void test('a budget for a model without a price is refused before any call', async () => {
    const root = project();
    const p = Project.load(root);
    const sources = await loadSourceChunks(p);
    await assert.rejects(prepareSweep(p, sources, { baseUrl: 'https://api.example.com/v1', model: 'unpriced', concurrency: 2, budgetUsd: 1 }), /price of "unpriced" is unknown/);
  });

  void test('generateForChunks regenerates one chunk: new requests, pristine files updated in place, edited files only appended to', async () => {
    const root = project();
    const s = await startOpenAiServer({ models: ['mock-model'] });
    servers.push(s);
    assert.equal((await cli(['generate', '--project', root, '--base-url', s.url, '--model', 'mock-model', '--yes'])).code, 0);
    const sent = s.stats.requests;
    const dir = join(root, 'qa', 'rules');
    // The user edits one file; the other three stay pristine.
    const editedPath = join(dir, 'simple-t0.900.qa');
    const edited = readFileSync(editedPath, 'utf8').replace(/^A: .*$/m, 'A: My own answer.');
    writeFileSync(editedPath, edited);
    const pristineBefore = readFileSync(join(dir, 'nuanced-t0.200.qa'), 'utf8');
    // A different answer this time, so the regenerated pairs differ from the old ones.
    s.options.behavior = () => ({ kind: 'json' });
    const r = await generateForChunks(Project.load(root), 'sources/rules.md', [2], { baseUrl: s.url, model: 'mock-model', concurrency: 2, timeoutMs: 10_000 });
    assert.equal(r.result.done, 4);
    assert.equal(s.stats.requests - sent, 4);
    assert.equal(r.pairs.length, 4);
    assert.ok(r.pairs.every((p) => p.chunk === 2 && p.pairs.length > 0));
    const actions = Object.fromEntries(r.files.map((f) => [f.path.split('/').pop(), f.action]));
    // The JSON answers hold the same pairs: pristine files are unchanged, the edited file gets nothing new.
    assert.deepEqual(actions, { 'nuanced-t0.200.qa': 'unchanged', 'nuanced-t0.900.qa': 'unchanged', 'simple-t0.200.qa': 'unchanged', 'simple-t0.900.qa': 'unchanged' });
    assert.equal(readFileSync(editedPath, 'utf8'), edited);
    assert.equal(readFileSync(join(dir, 'nuanced-t0.200.qa'), 'utf8').replace(/^@generated.*$/m, ''), pristineBefore.replace(/^@generated.*$/m, ''));
    // Now answers worded differently: pristine files get chunk 2 replaced; the edited one keeps
    // every line and gets the new pairs appended under its @chunk: 2.
    s.options.behavior = undefined;
    s.options.take = 2;
    const chunk1Before = activePairs(parseQa(pristineBefore)).filter((p) => p.chunk === '1').map((p) => p.question);
    const r2 = await generateForChunks(Project.load(root), 'sources/rules.md', [2], { baseUrl: s.url, model: 'mock-model', concurrency: 2, timeoutMs: 10_000 });
    const actions2 = Object.fromEntries(r2.files.map((f) => [f.path.split('/').pop(), f.action]));
    assert.deepEqual(actions2, { 'nuanced-t0.200.qa': 'rewritten', 'nuanced-t0.900.qa': 'rewritten', 'simple-t0.200.qa': 'rewritten', 'simple-t0.900.qa': 'merged' });
    const pristine = activePairs(parseQa(readFileSync(join(dir, 'nuanced-t0.200.qa'), 'utf8')));
    assert.deepEqual(pristine.filter((p) => p.chunk === '1').map((p) => p.question), chunk1Before);
    const chunk2 = pristine.filter((p) => p.chunk === '2');
    assert.ok(chunk2.length > 0 && chunk2.every((p) => /take 2/.test(p.question)), 'chunk 2 holds only the new pairs');
    const after = readFileSync(editedPath, 'utf8');
    const kept = edited.split('\n').filter(Boolean);
    let i = 0;
    for (const line of after.split('\n')) if (line === kept[i]) i++;
    assert.equal(i, kept.length, 'every line of the edited file is still there, in order');
    const merged = activePairs(parseQa(after));
    assert.ok(merged.some((p) => p.answer === 'My own answer.'));
    const added = merged.filter((p) => /take 2/.test(p.question));
    assert.equal(added.length, r2.pairs.find((p) => p.variant === 'simple' && p.temperature === 0.9)!.pairs.length);
    assert.ok(added.every((p) => p.chunk === '2'));
    const journal = Journal.open(journalPath(join(root, '.mnemo')));
    assert.equal(journal.done.size, sent + 4 + 4);
    await journal.close();
  });
});
