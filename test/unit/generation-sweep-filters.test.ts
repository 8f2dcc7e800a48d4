/**
 * A sweep with the pair filters, against the local chat-completions server
 * (test/servers/openai-server.ts): pairs land in .qa files chunk by chunk while the sweep runs,
 * SIGTERM stops the CLI like Ctrl+C, and the drop counts reach the summary and data/report.md.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildProjectDataset } from '../../src/core/dataset';
import { answerFor, startOpenAiServer } from '../servers/openai-server';
import { generationFixture } from './generation-fixture';
import { formatPreview, Journal, journalPath, loadSourceChunks, prepareSweep, previewFirst, runPreparedSweep } from '../../src/core/generation';
import { Project } from '../../src/core/project';
import { parseQa } from '../../src/core/qa';

const { project: fixtureProject, servers } = generationFixture('mnemo-genf-');
const project = (generation: Record<string, unknown> = {}): string => fixtureProject({ temperatures: [0.2], ...generation });

const ECHO = 'Q: In Rivermark chess rules, how many squares may a ferry move in one turn?\nA: A ferry may travel no more than three squares in a single turn.';
const VACUOUS = 'Q: What is the rules of the game of Cairnrun?\nA: The rules of Cairnrun are as described in the document.';


/** Answers like a small model: the good pairs of the test server, then the prompt's example, a vacuous pair, and the first good pair again. */
function smallModelReply({ prompt }: { prompt: string }): string {
  const good = answerFor(prompt);
  return [good, ECHO, VACUOUS, good.split('\n\n')[0]].join('\n\n');
}

const chunkOf = (prompt: string) => [...prompt.matchAll(/<chunk>\s*([\s\S]*?)\s*<\/chunk>/g)].pop()?.[1] ?? '';

void describe('sweeps with pair filters', () => {
  void test('pairs land in their .qa files as each chunk finishes, with echoes, vacuous and repeated pairs dropped and journaled', async () => {
    const root = project();
    const p = Project.load(root);
    const sources = await loadSourceChunks(p);
    const chunks = sources[0].chunks;
    assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
    const files = ['nuanced-t0.200.qa', 'simple-t0.200.qa'].map((f) => join(root, 'qa', 'rules', f));
    // What the files hold each time the server is asked about a chunk (before it answers).
    const seen: { chunk: number; written: number[][] }[] = [];
    const s = await startOpenAiServer({
      latencyMs: 50,
      reply: ({ prompt }) => {
        const n = chunks.find((c) => c.text.trim() === chunkOf(prompt).trim())?.n ?? -1;
        const written = files.map((f) => (existsSync(f) ? [...new Set(parseQa(readFileSync(f, 'utf8')).pairs.map((x) => Number(x.chunk)))] : []));
        seen.push({ chunk: n, written });
        return smallModelReply({ prompt });
      },
    });
    servers.push(s);
    const prep = await prepareSweep(p, sources, { baseUrl: s.url, model: 'mock-model', concurrency: 1 });
    const { result, files: written } = await runPreparedSweep(prep, { apiKey: 'k', timeoutMs: 10_000 });
    assert.equal(result.stopped, 'completed');
    // One request at a time, chunk after chunk: when chunk n is asked for, both files hold chunks 1..n-1.
    for (const { chunk, written: w } of seen.filter((x, i, all) => all.findIndex((y) => y.chunk === x.chunk) === i)) {
      const before = Array.from({ length: chunk - 1 }, (_, i) => i + 1);
      assert.deepEqual(w.map((list) => list.sort((a, b) => a - b)), [before, before], `when chunk ${chunk} was asked for`);
    }
    assert.deepEqual(written.map((f) => [f.path, f.action]).sort(), [['qa/rules/nuanced-t0.200.qa', 'created'], ['qa/rules/simple-t0.200.qa', 'created']]);
    // Nothing echoed, vacuous or repeated reached the files; every good pair did.
    for (const f of files) {
      const pairs = parseQa(readFileSync(f, 'utf8')).pairs;
      assert.ok(pairs.length > 0);
      assert.ok(pairs.every((x) => !/ferry|Rivermark|as described in the document/i.test(`${x.question} ${x.answer}`)), readFileSync(f, 'utf8'));
      assert.equal(new Set(pairs.map((x) => `${x.chunk} ${x.question}`)).size, pairs.length, 'no pair twice in one chunk');
    }
    const requests = chunks.length * 2;
    assert.deepEqual(result.droppedByReason, { 'example-echo': requests, vacuous: requests, 'duplicate-in-answer': requests });
    assert.deepEqual(result.dropGroups.map((g) => [g.variant, g.temperature, g.answers, g.dropped]), [
      ['nuanced', 0.2, chunks.length, { 'example-echo': chunks.length, vacuous: chunks.length, 'duplicate-in-answer': chunks.length }],
      ['simple', 0.2, chunks.length, { 'example-echo': chunks.length, vacuous: chunks.length, 'duplicate-in-answer': chunks.length }],
    ]);
    // The journal keeps each dropped pair with its reason and why.
    const journal = Journal.open(journalPath(p.cacheDir));
    const entry = [...journal.done.values()][0];
    await journal.close();
    const echo = entry.dropped!.find((d) => d.reason === 'example-echo')!;
    assert.equal(echo.text, ECHO);
    assert.match(echo.detail!, /like the prompt's example/);

    // data/report.md gives the same counts per variant and temperature.
    const { build } = await buildProjectDataset(p);
    const report = build.files.get('report.md')!;
    assert.match(report, /## Dropped during generation/);
    assert.match(report, /\| variant \| temperature \| answers \| pairs kept \| example-echo \| vacuous \| duplicate-in-answer \|/);
    assert.match(report, new RegExp(`\\| nuanced \\| 0\\.200 \\| ${chunks.length} \\| \\d+ \\| ${chunks.length} \\| ${chunks.length} \\| ${chunks.length} \\|`));
    assert.match(report, new RegExp(`\\| \\*\\*all\\*\\* \\|  \\| ${requests} \\| \\d+ \\| ${requests} \\| ${requests} \\| ${requests} \\|`));
  });

  void test('the preview of the first chunk shows what the filters dropped, and why', async () => {
    const root = project();
    const p = Project.load(root);
    const s = await startOpenAiServer({ reply: smallModelReply });
    servers.push(s);
    const prep = await prepareSweep(p, await loadSourceChunks(p), { baseUrl: s.url, model: 'mock-model', concurrency: 1 });
    const preview = await previewFirst(prep, { apiKey: 'k', timeoutMs: 10_000 });
    const text = formatPreview(preview);
    assert.match(text, /## Parsed: \d+ pair\(s\) kept, 0 fragment\(s\) the parser dropped, 3 pair\(s\) the filters dropped \(example-echo 1, vacuous 1, duplicate-in-answer 1; generation\.filters in mnemo\.json turns each on or off\)/);
    assert.match(text, /dropped \(example-echo: \d+% like the prompt's example "In Rivermark chess rules, how many squares may a ferry move in one turn\?"\): Q: In Rivermark/);
    assert.match(text, /dropped \(vacuous: its question asks about nothing in particular\): Q: What is the rules/);
    assert.ok(!existsSync(join(root, 'qa', 'rules')), 'a preview writes nothing');
  });

  void test('filters turned off in mnemo.json keep every pair that parses', async () => {
    const root = project({ filters: { exampleEcho: false, vacuous: false, ungrounded: false, duplicateInAnswer: false } });
    const p = Project.load(root);
    const sources = await loadSourceChunks(p, { chunks: [1] });
    const s = await startOpenAiServer({ reply: smallModelReply });
    servers.push(s);
    const prep = await prepareSweep(p, sources, { baseUrl: s.url, model: 'mock-model', concurrency: 2 });
    const { result } = await runPreparedSweep(prep, { apiKey: 'k', timeoutMs: 10_000 });
    assert.deepEqual(result.droppedByReason, {});
    const text = readFileSync(join(root, 'qa', 'rules', 'nuanced-t0.200.qa'), 'utf8');
    assert.match(text, /ferry/);
    assert.match(text, /as described in the document/);
  });

  void test('CLI: SIGTERM stops the sweep like Ctrl+C: finished chunks are in their files, the summary counts drops per reason, exit 143', async () => {
    const root = project({ temperatures: [0.2, 0.9] });
    const s = await startOpenAiServer({ models: ['mock-model'], latencyMs: 400, reply: smallModelReply });
    servers.push(s);
    const repo = join(__dirname, '..', '..');
    const child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'src/cli/main.ts'), 'generate', '--project', root, '--base-url', s.url, '--model', 'mock-model', '--yes', '--concurrency', '2'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Chunk 1's four requests (2 variants x 2 temperatures) finish first; its pairs are then on disk while the sweep goes on.
    const file = join(root, 'qa', 'rules', 'nuanced-t0.200.qa');
    const deadline = Date.now() + 60_000;
    while (!existsSync(file)) {
      assert.ok(Date.now() < deadline, `no file written: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const total = (await loadSourceChunks(Project.load(root)))[0].chunks.length * 4;
    assert.ok(s.stats.completed.size < total, 'the file exists before the sweep is done');
    child.kill('SIGTERM');
    const code = await exited;
    assert.equal(code, 143, out);
    assert.match(out, /Cancelling \(SIGTERM\)/);
    assert.match(out, /Cancelled: \d+ of \d+ requests are done and kept/);
    assert.match(out, /\d+ pairs kept; filters dropped \d+ pairs \(example-echo \d+, vacuous \d+, duplicate-in-answer \d+\)\./);
    assert.match(out, /nuanced t=0\.200: \d+ pairs? kept; dropped example-echo \d+, vacuous \d+, duplicate-in-answer \d+/);
    const pairs = parseQa(readFileSync(file, 'utf8')).pairs;
    assert.ok(pairs.some((x) => x.chunk === '1'));
    assert.ok(pairs.every((x) => !/ferry/i.test(x.answer)));
  });
});
