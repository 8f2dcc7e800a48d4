/**
 * The pair filters on real answers of a small local model: SmolLM2-135M-Instruct, served by
 * src/python/serve.py, answering the built-in prompts over the example project (recorded by
 * scripts/record-smollm2.ts into test/fixtures/smollm2-answers.json). Parsed and filtered as a
 * sweep does; then replayed by the local chat-completions server through a whole sweep.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { BUILTIN_PROMPTS, filterPairs, loadSourceChunks, PairJudge, parseModelPairs, prepareSweep, runPreparedSweep, templateExamples, type GeneratedPair } from '../../src/core/generation';
import { Project } from '../../src/core/project';
import { parseQa } from '../../src/core/qa';
import { startOpenAiServer, type FakeServer } from '../servers/openai-server';

const REPO = join(__dirname, '..', '..');

interface Recording {
  context: string;
  chunks: Record<string, string>;
  answers: { variant: string; temperature: number; chunk: number; raw: string; finishReason?: string }[];
}

const rec = JSON.parse(readFileSync(process.env.MNEMO_SMOLLM2_FIXTURE ?? join(REPO, 'test/fixtures/smollm2-answers.json'), 'utf8')) as Recording;
const KEYWORDS = ['Cairnrun'];

const dirs: string[] = [];
const servers: FakeServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function judge(variant: string, chunk: number): PairJudge {
  return new PairJudge({ chunk: rec.chunks[String(chunk)], context: rec.context, keywords: KEYWORDS, examples: templateExamples(BUILTIN_PROMPTS[variant], rec.context) });
}

/** What an echo of the built-in example looks like, by a test of its own: the example's objects (a ferry, squares, Rivermark). */
const LOOKS_ECHOED = /\b(ferry|boat|rivermark|chess|squares?)\b/i;
/** What a vacuous answer looks like, by a test of its own. */
const LOOKS_VACUOUS = /\bas (described|stated|mentioned|explained|outlined) in\b|\bit depends\b/i;

function filtered() {
  return rec.answers.map((a) => {
    const parsed = parseModelPairs(a.raw, { truncated: a.finishReason === 'length' });
    return { answer: a, parsed, result: filterPairs(parsed.pairs, judge(a.variant, a.chunk)) };
  });
}

void describe('filters on recorded SmolLM2-135M answers', () => {
  void test('the recording is what its header says: real answers to both variants over several chunks', () => {
    assert.ok(rec.answers.length >= 8, `${rec.answers.length} answers`);
    assert.deepEqual([...new Set(rec.answers.map((a) => a.variant))].sort(), ['nuanced', 'simple']);
    assert.ok(new Set(rec.answers.map((a) => a.chunk)).size >= 4);
    for (const a of rec.answers) assert.ok(rec.chunks[String(a.chunk)]?.length > 500, `the text of chunk ${a.chunk}`);
  });

  void test('no kept pair echoes the prompt example, says nothing, or repeats within its answer', () => {
    const all = filtered();
    const kept = all.flatMap((x) => x.result.pairs);
    const dropped = all.flatMap((x) => x.result.dropped);
    // The model does echo the example and says nothing, so there is something to catch.
    assert.ok(dropped.some((d) => d.reason === 'example-echo'));
    assert.ok(all.flatMap((x) => x.parsed.pairs).some((p) => LOOKS_ECHOED.test(`${p.question} ${p.answer}`)));
    for (const p of kept) {
      assert.doesNotMatch(`${p.question} ${p.answer}`, LOOKS_ECHOED, `kept an echo: ${JSON.stringify(p)}`);
      assert.doesNotMatch(p.answer, LOOKS_VACUOUS, `kept a vacuous answer: ${JSON.stringify(p)}`);
    }
    for (const x of all) {
      const keys = x.result.pairs.map((p) => `${p.question}\u0000${p.answer}`.toLowerCase());
      assert.equal(new Set(keys).size, keys.length);
    }
  });

  void test('good pairs about the same chunks pass the same judges (hand-written, one per recorded chunk)', () => {
    // Paraphrases, as a capable model writes them (numbers as words or digits, other word forms).
    const good: Record<number, GeneratedPair> = {
      1: { question: 'In Cairnrun rules, who decides when the Laws say nothing?', answer: 'When the Laws are silent, the decision is the Chief Arbiter\'s.' },
      2: { question: 'In Cairnrun rules, how large is the Moor for an international match?', answer: 'For international matches it measures 84 m by 52 m.' },
      3: { question: 'In Cairnrun rules, which shirt number is kept for the Warden?', answer: 'Number one is reserved for the Warden; shirts are numbered 1 to 16.' },
      4: { question: 'In Cairnrun rules, what happens when a team has fewer than six players on the Moor?', answer: 'The match is abandoned and awarded to the opponents, 25–0 or by the actual score if greater.' },
      5: { question: 'In Cairnrun rules, how long is the interval between the two watches?', answer: 'Twelve minutes separate the two 30-minute watches.' },
      6: { question: 'In Cairnrun rules, what is it called when a player kicks the stone while an opponent holds it?', answer: 'Kicking the stone an opponent is holding is Stamping, a Major infringement.' },
    };
    for (const [chunk, pair] of Object.entries(good)) {
      assert.ok(rec.chunks[chunk], `chunk ${chunk} is recorded`);
      for (const variant of ['nuanced', 'simple']) assert.deepEqual(filterPairs([pair], judge(variant, Number(chunk))).dropped, [], `chunk ${chunk}: ${pair.question}`);
    }
  });

  void test('a sweep against a local server answering like the small model writes no echo and no vacuous pair, chunk by chunk', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mnemo-smol-'));
    dirs.push(root);
    cpSync(join(REPO, 'examples', 'cairnrun'), root, { recursive: true });
    const temperature = rec.answers[0].temperature;
    writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: rec.context, chunking: { tokens: 500 }, generation: { variants: ['nuanced', 'simple'], temperatures: [temperature] } }));
    const p = Project.load(root);
    const chunkNs = [...new Set(rec.answers.map((a) => a.chunk))].sort((a, b) => a - b);
    const sources = await loadSourceChunks(p, { chunks: chunkNs });
    const byText = new Map(sources[0].chunks.map((c) => [c.text.trim(), c.n]));
    const dir = join(root, 'qa', 'rulebook');
    const seen: { chunk: number; files: number }[] = [];
    const s = await startOpenAiServer({
      latencyMs: 30,
      // The recorded answer of the prompt's variant and chunk; what the .qa files hold at that moment is noted.
      reply: ({ prompt }) => {
        const text = [...prompt.matchAll(/<chunk>\s*([\s\S]*?)\s*<\/chunk>/g)].pop()?.[1]?.trim() ?? '';
        const chunk = byText.get(text) ?? -1;
        const variant = /write \d+ simple question-and-answer pairs/.test(prompt) ? 'simple' : 'nuanced';
        const files = existsSync(dir) ? readdirSync(dir).flatMap((f) => parseQa(readFileSync(join(dir, f), 'utf8')).pairs.map((x) => Number(x.chunk))) : [];
        seen.push({ chunk, files: new Set(files).size });
        return rec.answers.find((a) => a.chunk === chunk && a.variant === variant)?.raw ?? 'Q: none?\nA: none.';
      },
    });
    servers.push(s);
    const prep = await prepareSweep(p, sources, { baseUrl: s.url, model: 'smollm2', concurrency: 1 });
    assert.equal(prep.plan.length, rec.answers.length);
    const { result } = await runPreparedSweep(prep, { timeoutMs: 10_000 });
    assert.equal(result.stopped, 'completed');
    assert.ok((result.droppedByReason['example-echo'] ?? 0) > 0);
    const written = existsSync(dir) ? readdirSync(dir).flatMap((f) => parseQa(readFileSync(join(dir, f), 'utf8')).pairs) : [];
    for (const x of written) {
      assert.doesNotMatch(`${x.question} ${x.answer}`, LOOKS_ECHOED, `an echo was written: ${x.question}`);
      assert.doesNotMatch(x.answer, LOOKS_VACUOUS, `a vacuous pair was written: ${x.answer}`);
    }
    // Each chunk's pairs were on disk before later chunks were asked for (when it had any left after filtering).
    assert.deepEqual(seen.map((x) => x.chunk), prep.plan.map((r) => r.chunk));
    const kept = new Map<number, number>();
    for (const a of rec.answers) {
      const n = filterPairs(parseModelPairs(a.raw, { truncated: false }).pairs, judge(a.variant, a.chunk)).pairs.length;
      kept.set(a.chunk, (kept.get(a.chunk) ?? 0) + n);
    }
    let before = 0;
    for (const x of seen) {
      assert.ok(x.files >= before, `when chunk ${x.chunk} was asked for, ${x.files} chunks were in files, ${before} expected`);
      if (x === [...seen].reverse().find((y) => y.chunk === x.chunk) && (kept.get(x.chunk) ?? 0) > 0) before++;
    }
  });
});
