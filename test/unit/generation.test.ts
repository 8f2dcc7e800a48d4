import fc from 'fast-check';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseQa, activePairs } from '../../src/core/qa';
import {
  BUILTIN_PROMPTS,
  buildPlan,
  checkTemplate,
  countDropped,
  describePlan,
  isPristine,
  keyTerm,
  loadPromptTemplates,
  offlinePairs,
  parseModelPairs,
  priceFor,
  questionsFor,
  renderQaFile,
  retryAfterMs,
  sentences,
  sourceStem,
  summarizePlan,
  writeBuiltinPrompts,
  writeQaFile,
  backoffMs,
  DEFAULT_RETRY,
  Journal,
  type GeneratedPair,
  type SourceChunks,
} from '../../src/core/generation';
import type { Chunk } from '../../src/core/sources/types';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'mnemo-gen-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function chunk(n: number, text: string, tokens: number): Chunk {
  return { n, id: `id${n}`, text, tokenStart: n * 1000, tokenEnd: n * 1000 + tokens, charStart: 0, charEnd: text.length, page: 1 };
}

void describe('parseModelPairs', () => {
  void test('plain Q:/A: pairs', () => {
    const r = parseModelPairs('Q: In Cairnrun rules, how far?\nA: Nine metres.\n\nQ: In Cairnrun rules, who casts?\nA: The captain.');
    assert.deepEqual(r.pairs, [
      { question: 'In Cairnrun rules, how far?', answer: 'Nine metres.' },
      { question: 'In Cairnrun rules, who casts?', answer: 'The captain.' },
    ]);
    assert.equal(r.dropped.length, 0);
  });

  void test('numbering, labels, bold, extra blank lines and an intro line', () => {
    const text = [
      'Here are your pairs:',
      '',
      '1. **Q:** In Cairnrun rules, how far?',
      '',
      '',
      '**A:** Nine metres.',
      '',
      '2) Question: In Cairnrun rules, who casts?',
      'Answer: The captain.',
      '',
      'Q3: In Cairnrun rules, how long is a half?',
      'A3: Thirty minutes.',
      '',
      '- Q: In Cairnrun rules, what is a cairn? A: A stack of stones.',
    ].join('\n');
    const r = parseModelPairs(text);
    assert.deepEqual(
      r.pairs.map((p) => p.answer),
      ['Nine metres.', 'The captain.', 'Thirty minutes.', 'A stack of stones.'],
    );
    assert.equal(r.pairs[1].question, 'In Cairnrun rules, who casts?');
    assert.deepEqual(countDropped(r.dropped), { 'stray-text': 1 });
  });

  void test('a missing answer, a truncated last pair and the token limit', () => {
    const text = 'Q: First?\n\nQ: Second?\nA: Two.\n\nQ: Third?\nA: Thr';
    const cut = parseModelPairs(text, { truncated: true });
    assert.deepEqual(cut.pairs, [{ question: 'Second?', answer: 'Two.' }]);
    assert.deepEqual(countDropped(cut.dropped), { 'missing-answer': 1, truncated: 1 });
    const noAnswerAtEnd = parseModelPairs('Q: One?\nA: 1.\n\nQ: Two?');
    assert.equal(noAnswerAtEnd.pairs.length, 1);
    assert.deepEqual(countDropped(noAnswerAtEnd.dropped), { truncated: 1 });
  });

  void test('a refusal is dropped as a refusal', () => {
    const r = parseModelPairs("I'm sorry, but I can't help with that.");
    assert.equal(r.pairs.length, 0);
    assert.deepEqual(countDropped(r.dropped), { refusal: 1 });
  });

  void test('JSON arrays, fenced JSON, objects holding an array, and truncated JSON', () => {
    const arr = parseModelPairs('[{"question":"Q1?","answer":"A1."},{"question":"Q2?"}]');
    assert.deepEqual(arr.pairs, [{ question: 'Q1?', answer: 'A1.' }]);
    assert.deepEqual(countDropped(arr.dropped), { 'missing-answer': 1 });
    const fenced = parseModelPairs('```json\n{"pairs":[{"q":"Q1?","a":"A1."}]}\n```');
    assert.deepEqual(fenced.pairs, [{ question: 'Q1?', answer: 'A1.' }]);
    const cut = parseModelPairs('[{"question":"Q1?","answer":"A1."},{"question":"Q2?","ans', { truncated: true });
    assert.deepEqual(cut.pairs, [{ question: 'Q1?', answer: 'A1.' }]);
    assert.deepEqual(countDropped(cut.dropped), { truncated: 1 });
  });

  void test('atomic facts tag their pairs', () => {
    const r = parseModelPairs('FACT 1: A is B.\nQ: What is A?\nA: B.\n\nQ: What is B?\nA: A.\n\nFACT 2: C is D.\nQ: What is C?\nA: D.');
    assert.deepEqual(r.facts, ['A is B.', 'C is D.']);
    assert.deepEqual(r.pairs.map((p) => p.fact), [1, 1, 2]);
    assert.equal(r.dropped.length, 0);
  });

  void test('unlabelled numbered questions fall back to question-then-answer lines', () => {
    const r = parseModelPairs('1. In Cairnrun rules, how far?\nNine metres.\n\n2. In Cairnrun rules, who?\nThe captain.');
    assert.deepEqual(r.pairs, [
      { question: 'In Cairnrun rules, how far?', answer: 'Nine metres.' },
      { question: 'In Cairnrun rules, who?', answer: 'The captain.' },
    ]);
  });

  void test('horizontal rules separate pairs; an unlabelled line after a finished question is its answer', () => {
    const r = parseModelPairs('Q: In Cairnrun rules, how far?\nA: Nine metres.\n---\nQ: In Cairnrun rules, who casts?\nThe captain.\n***\nQ: In Cairnrun rules, what is\nthe mark called?\nA: The hearth.');
    assert.deepEqual(r.pairs, [
      { question: 'In Cairnrun rules, how far?', answer: 'Nine metres.' },
      { question: 'In Cairnrun rules, who casts?', answer: 'The captain.' },
      { question: 'In Cairnrun rules, what is the mark called?', answer: 'The hearth.' },
    ]);
    assert.equal(r.dropped.length, 0);
  });

  void test('property: pairs written in any common style come back exactly, with nothing dropped', () => {
    const text = (suffix: string) => fc.stringMatching(/^[a-z][a-z ,']{2,40}$/).map((t) => t.replace(/\s+/g, ' ').trim() + suffix);
    const pair = fc.record({ question: text('?').map((q) => `In Cairnrun rules, ${q}`), answer: text('.').map((a) => `It is ${a}`) }).map((p) => ({ ...p }));
    const styles: ((ps: GeneratedPair[]) => string)[] = [
      (ps) => ps.map((p) => `Q: ${p.question}\nA: ${p.answer}`).join('\n\n'),
      (ps) => ps.map((p, i) => `${i + 1}. **Q:** ${p.question}\n\n**A:** ${p.answer}`).join('\n\n\n'),
      (ps) => ps.map((p, i) => `Question ${i + 1}: ${p.question}\nAnswer ${i + 1}: ${p.answer}`).join('\n\n'),
      (ps) => ps.map((p, i) => `Q${i + 1}) ${p.question} A: ${p.answer}`).join('\n'),
      (ps) => '```json\n' + JSON.stringify(ps, null, 2) + '\n```',
      (ps) => ps.map((p) => `- Q: ${p.question}\n  A: ${p.answer}`).join('\n---\n'),
    ];
    fc.assert(
      fc.property(fc.array(pair, { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: styles.length - 1 }), (ps, style) => {
        const r = parseModelPairs(styles[style](ps));
        assert.deepEqual(r.pairs, ps);
        assert.deepEqual(r.dropped, []);
      }),
      { numRuns: 300 },
    );
  });

  void test('empty text is one dropped fragment', () => {
    assert.deepEqual(countDropped(parseModelPairs('  \n').dropped), { empty: 1 });
  });
});

void describe('prompts and plan', () => {
  const templates = loadPromptTemplates('/nonexistent', ['nuanced', 'simple', 'reversed', 'atomic']);
  const sources: SourceChunks[] = [{ source: 'sources/rulebook.md', sourceHash: 'h1', chunks: [chunk(1, 'Opponents retreat nine metres.', 500), chunk(2, 'The captain casts.', 29)] }];
  const temperatures = [0.01, 0.6, 1.2];
  const plan = buildPlan(sources, { context: 'Cairnrun rules', model: 'm', variants: templates, temperatures, tokensPerQuestion: 60, maxOutputTokens: 2048 });

  void test('every chunk x variant x temperature, with questions = round(tokens / 60) (at least 1)', () => {
    assert.equal(plan.length, 2 * 4 * 3);
    assert.equal(questionsFor(500, 60), 8);
    assert.equal(questionsFor(29, 60), 1);
    assert.deepEqual([...new Set(plan.filter((r) => r.chunk === 1).map((r) => r.questions))], [8]);
    assert.deepEqual([...new Set(plan.filter((r) => r.chunk === 2).map((r) => r.questions))], [1]);
  });

  void test('every prompt names the context, wraps the chunk in tags and has a one-shot Q:/A: example', () => {
    for (const r of plan) {
      assert.match(r.prompt, /Cairnrun rules/);
      assert.ok(r.prompt.includes(`<chunk>\n${r.chunk === 1 ? 'Opponents retreat nine metres.' : 'The captain casts.'}\n</chunk>`));
      assert.match(r.prompt, /^Q: .+\nA: .+$/m);
      assert.match(r.prompt, /no numbering/);
      assert.doesNotMatch(r.prompt, /\{\{/);
    }
  });

  void test('keys are stable and differ by chunk, variant, temperature, prompt and model', () => {
    assert.equal(new Set(plan.map((r) => r.key)).size, plan.length);
    const again = buildPlan(sources, { context: 'Cairnrun rules', model: 'm', variants: templates, temperatures, tokensPerQuestion: 60, maxOutputTokens: 2048 });
    assert.deepEqual(again.map((r) => r.key), plan.map((r) => r.key));
    const otherModel = buildPlan(sources, { context: 'Cairnrun rules', model: 'm2', variants: templates, temperatures, tokensPerQuestion: 60, maxOutputTokens: 2048 });
    assert.equal(otherModel.filter((r, i) => r.key === plan[i].key).length, 0);
    const salted = buildPlan(sources, { context: 'Cairnrun rules', model: 'm', variants: templates, temperatures, tokensPerQuestion: 60, maxOutputTokens: 2048, salt: 'x' });
    assert.equal(salted.filter((r, i) => r.key === plan[i].key).length, 0);
  });

  void test('summary: tokens, cost from the price table, time at the concurrency, journal-done requests left out', () => {
    const price = priceFor('gpt-4o-mini');
    assert.deepEqual(price, { input: 0.15, output: 0.6 });
    assert.deepEqual(priceFor('gpt-4o-mini-2024-07-18'), price);
    assert.deepEqual(priceFor('mine', { mine: { input: 1, output: 2 } }), { input: 1, output: 2 });
    assert.deepEqual(priceFor('llama3', {}, 'http://localhost:11434/v1'), { input: 0, output: 0 });
    assert.equal(priceFor('unknown-model', {}, 'https://example.com/v1'), undefined);
    const s = summarizePlan(plan, { done: new Set([plan[0].key]), price, concurrency: 8, secondsPerRequest: 4 });
    assert.equal(s.requests, 24);
    assert.equal(s.toSend, 23);
    assert.equal(s.estInputTokens, plan.slice(1).reduce((a, r) => a + r.estInputTokens, 0));
    assert.ok(Math.abs(s.estCostUsd! - (s.estInputTokens * 0.15 + s.estOutputTokens * 0.6) / 1e6) < 1e-12);
    assert.equal(s.estSeconds, Math.ceil(23 / 8) * 4);
    assert.match(describePlan(s).join('\n'), /estimated cost \$/);
  });

  void test('prompts/<variant>.md wins over the built-in; Edit Prompt Variants never overwrites', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'nuanced.md'), 'Mine about {{context}}: {{questions}}\n<chunk>{{chunk}}</chunk>');
    const r = writeBuiltinPrompts(dir);
    assert.equal(r.written.length, Object.keys(BUILTIN_PROMPTS).length - 1);
    assert.deepEqual(r.kept, [join(dir, 'nuanced.md')]);
    assert.match(readFileSync(join(dir, 'nuanced.md'), 'utf8'), /^Mine/);
    const [t] = loadPromptTemplates(dir, ['nuanced']);
    assert.equal(t.origin, 'file');
    writeFileSync(join(dir, 'custom.md'), 'Custom {{context}} {{chunk}}');
    assert.equal(loadPromptTemplates(dir, ['custom'])[0].text, 'Custom {{context}} {{chunk}}');
    assert.throws(() => loadPromptTemplates(dir, ['missing']), /no template/);
    assert.throws(() => checkTemplate('{{chunk}} {{bogus}}'), /unknown placeholder \{\{bogus\}\}/);
    assert.throws(() => checkTemplate('no chunk here'), /no \{\{chunk\}\}/);
  });
});

void describe('retry timing', () => {
  void test('Retry-After in seconds, as an HTTP date, and retry-after-ms', () => {
    const h = (o: Record<string, string>) => new Headers(o);
    assert.equal(retryAfterMs(h({ 'retry-after': '2' })), 2000);
    assert.equal(retryAfterMs(h({ 'retry-after': '0.2' })), 200);
    assert.equal(retryAfterMs(h({ 'retry-after-ms': '150', 'retry-after': '9' })), 150);
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(retryAfterMs(h({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now), 3000);
    assert.equal(retryAfterMs(h({ 'retry-after': 'soon' })), undefined);
    assert.equal(retryAfterMs(h({})), undefined);
  });

  void test('full jitter stays within [0, min(cap, base * 2^(n-1))]', () => {
    assert.equal(backoffMs(1, DEFAULT_RETRY, () => 0.999999), 499);
    assert.equal(backoffMs(3, DEFAULT_RETRY, () => 0.5), 1000);
    assert.equal(backoffMs(20, DEFAULT_RETRY, () => 0.999999), DEFAULT_RETRY.capMs - 1);
    assert.equal(backoffMs(4, DEFAULT_RETRY, () => 0), 0);
  });
});

void describe('.qa output', () => {
  const header = { source: 'sources/rulebook.md', variant: 'nuanced', temperature: 0.45, model: 'm', generator: 'mnemo sweep' };
  const blocks = new Map<number, GeneratedPair[]>([
    [2, [{ question: 'In Cairnrun rules, who casts?', answer: 'The captain.' }]],
    [1, [{ question: 'In Cairnrun rules, how far?', answer: 'Nine metres.' }, { question: 'In Cairnrun rules, how long?', answer: 'Thirty minutes.' }]],
  ]);

  void test('file names, header and @chunk blocks', () => {
    assert.equal(sourceStem('sources/rulebook.pdf'), 'rulebook');
    assert.equal(sourceStem('sources/rulebook.pdf', ['sources/rulebook.pdf', 'sources/rulebook.md']), 'rulebook-pdf');
    const text = renderQaFile(header, blocks, new Date('2026-01-01T00:00:00Z'));
    const f = parseQa(text);
    assert.deepEqual(f.problems, []);
    assert.equal(f.header.source, 'sources/rulebook.md');
    assert.equal(f.header.temperature, '0.450');
    assert.equal(f.header.generated, '2026-01-01T00:00:00.000Z');
    assert.deepEqual(activePairs(f).map((p) => p.chunk), ['1', '1', '2']);
    assert.ok(isPristine(f));
  });

  void test('an edited file is never overwritten: new pairs are appended under their @chunk', () => {
    const dir = tmp();
    const path = join(dir, 'qa', 'rulebook', 'nuanced-t0.450.qa');
    assert.equal(writeQaFile(path, header, blocks, blocks).action, 'created');
    // The same content again: nothing changes.
    assert.equal(writeQaFile(path, header, blocks, blocks).action, 'unchanged');
    const edited = readFileSync(path, 'utf8').replace('Nine metres.', 'Nine metres, measured from the mark.');
    writeFileSync(path, edited);
    assert.equal(isPristine(parseQa(edited)), false);
    const fresh = new Map<number, GeneratedPair[]>([
      [1, [{ question: 'In Cairnrun rules, how far?', answer: 'Nine metres.' }, { question: 'In Cairnrun rules, where from?', answer: 'From the mark.' }]],
      [3, [{ question: 'In Cairnrun rules, what ends a half?', answer: 'The horn.' }]],
    ]);
    const w = writeQaFile(path, header, fresh, fresh);
    assert.deepEqual({ action: w.action, pairs: w.pairs }, { action: 'merged', pairs: 2 });
    const after = readFileSync(path, 'utf8');
    assert.ok(after.startsWith(edited.trimEnd()) === false, 'inserted under chunk 1, not only at the end');
    // Every line the user had is still there, in order.
    const userLines = edited.split('\n').filter(Boolean);
    const afterLines = after.split('\n');
    let i = 0;
    for (const l of afterLines) if (l === userLines[i]) i++;
    assert.equal(i, userLines.length);
    const f = parseQa(after);
    assert.deepEqual(f.problems, []);
    const byChunk = activePairs(f).map((p) => `${p.chunk}:${p.answer}`);
    assert.deepEqual(byChunk, ['1:Nine metres, measured from the mark.', '1:Thirty minutes.', '1:From the mark.', '2:The captain.', '3:The horn.']);
    // Merging the same pairs again adds nothing.
    assert.equal(writeQaFile(path, header, fresh, fresh).action, 'unchanged');
  });

  void test('a pristine file keeps chunks it has and this run did not answer', () => {
    const dir = tmp();
    const path = join(dir, 'x.qa');
    writeQaFile(path, header, blocks, blocks);
    const regenerated = new Map<number, GeneratedPair[]>([[2, [{ question: 'In Cairnrun rules, who casts now?', answer: 'The vice-captain.' }]]]);
    assert.equal(writeQaFile(path, header, regenerated, regenerated).action, 'rewritten');
    const f = parseQa(readFileSync(path, 'utf8'));
    assert.ok(isPristine(f));
    assert.deepEqual(activePairs(f).map((p) => `${p.chunk}:${p.answer}`), ['1:Nine metres.', '1:Thirty minutes.', '2:The vice-captain.']);
    // Older answers for a chunk the file already has do not replace newer ones.
    assert.equal(writeQaFile(path, header, blocks, new Map()).action, 'unchanged');
  });
});

void describe('offline generator', () => {
  const text = 'Opponents must retreat 9 metres at a Free Cast. The captain of the defending side places the stone on the mark. Play restarts when the referee raises the blue flag.';

  void test('cloze and reversed statements, deterministic', () => {
    assert.equal(sentences(text).length, 3);
    assert.equal(keyTerm('Opponents must retreat 9 metres at a Free Cast.'), '9 metres');
    assert.equal(keyTerm('The captain of the defending side places the stone on the Cairn Mark.'), 'Cairn Mark');
    const pairs = offlinePairs({ text }, 'Cairnrun rules', ['Cairnrun']);
    assert.deepEqual(offlinePairs({ text }, 'Cairnrun rules', ['Cairnrun']), pairs);
    assert.equal(pairs[0].question, 'In Cairnrun rules, fill in the blank: "Opponents must retreat _____ at a Free Cast."');
    assert.equal(pairs[0].answer, '9 metres');
    assert.equal(pairs[1].question, 'In Cairnrun rules, how does the statement that ends "…at a Free Cast." begin?');
    assert.equal(pairs[1].answer, 'Opponents must retreat 9 metres');
    assert.ok(pairs.every((p) => p.question.startsWith('In Cairnrun rules, ')));
    assert.ok(pairs.length >= 5);
  });
});

void test('no temp file is left beside a written .qa', () => {
  const dir = tmp();
  writeQaFile(join(dir, 'a.qa'), { source: 's', variant: 'v', model: 'm', generator: 'g' }, new Map([[1, [{ question: 'q', answer: 'a' }]]]), new Map());
  assert.deepEqual(existsSync(join(dir, '.a.qa.' + process.pid + '.tmp')), false);
});

void describe('journal', () => {
  const entry = (key: string, status: 'done' | 'failed' = 'done') => ({ key, status, source: 's', chunk: 1, chunkId: 'c', variant: 'v', temperature: 0.1, model: 'm', at: '', attempts: 1 });

  void test('concurrent appends are all on disk once they resolve; reopening sees every done key', async () => {
    const path = join(tmp(), 'g', 'journal.jsonl');
    const j = Journal.open(path);
    await Promise.all(Array.from({ length: 200 }, (_, i) => j.append(entry(`k${i}`, i % 10 === 0 ? 'failed' : 'done'))));
    assert.equal(j.done.size, 180);
    await j.close();
    const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, 200);
    const again = Journal.open(path);
    assert.equal(again.done.size, 180);
    assert.equal(again.has('k0'), false);
    assert.equal(again.has('k1'), true);
  });

  void test('a line cut by a crash is skipped and the next entry starts on a line of its own', async () => {
    const path = join(tmp(), 'journal.jsonl');
    writeFileSync(path, JSON.stringify(entry('a')) + '\n' + JSON.stringify(entry('b')).slice(0, 30));
    const j = Journal.open(path);
    assert.equal(j.badLines, 1);
    assert.deepEqual([...j.done.keys()], ['a']);
    await j.append(entry('c'));
    await j.close();
    const again = Journal.open(path);
    assert.deepEqual([...again.done.keys()], ['a', 'c']);
    assert.equal(again.badLines, 1);
  });
});
