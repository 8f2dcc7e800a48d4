import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import {
  buildDataset,
  collectPairs,
  guessLanguage,
  DATA_FILES,
  nearDuplicateGroups,
  rowTokens,
  shuffled,
  mulberry32,
  SPLIT_NEAR_DUPLICATE_THRESHOLD,
  writeDataset,
  type DatasetBuild,
  type SourceChunks,
} from '../../src/core/dataset';
import { MnemoError } from '../../src/core/errors';
import { Project, type ProjectConfigFile } from '../../src/core/project';
import { exactKey, jaccard, shingles } from '../../src/core/qa/similarity';
import { getTokenizer, type Tokenizer } from '../../src/core/tokens';

let tok: Tokenizer;
const count = (t: string) => tok.count(t);
before(async () => {
  tok = await getTokenizer('o200k_base');
});

const A = ['stone', 'gate', 'moor', 'cairn', 'pennant', 'bench', 'watch', 'cast', 'mark', 'crown', 'ring', 'line'];
const B = ['keeper', 'runner', 'warden', 'carrier', 'caller', 'steward', 'herald', 'marshal'];
const C = ['north', 'south', 'upper', 'lower', 'inner', 'outer', 'far', 'near', 'high'];

/** Fact k phrased three ways: near-duplicates of each other, distinct from every other fact. */
function question(k: number, variant: number): string {
  const [a, b, c] = [A[k % A.length], B[Math.floor(k / A.length) % B.length], C[Math.floor(k / (A.length * B.length)) % C.length]];
  const base = `how far may the ${c} ${b} ${a} move${k}`;
  return ['In Cairnrun, ' + base + '?', 'In Cairnrun, ' + base + ' exactly?', 'Under Cairnrun rules, ' + base + ' at most?'][variant];
}

function qaFile(variant: number, temperature: number, facts: number, extra = ''): string {
  const lines = [`@source: sources/rulebook.md`, `@variant: v${variant}`, `@temperature: ${temperature}`, `@model: test-model`, ''];
  for (let k = 0; k < facts; k++) {
    if (k % 10 === 0) lines.push(`@chunk: ${1 + Math.floor(k / 10)}`);
    lines.push(`Q: ${question(k, variant)}`, `A: It may move ${k + 1} metres (Rule ${k}.${variant}).`, '');
  }
  return lines.join('\n') + extra;
}

function project(files: Record<string, string | Buffer>, dataset: ProjectConfigFile['dataset'] = {}): Project {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-ds-'));
  mkdirSync(join(root, 'qa'), { recursive: true });
  mkdirSync(join(root, 'sources'), { recursive: true });
  writeFileSync(join(root, 'sources', 'rulebook.md'), '# Cairnrun\n\nThe rules.\n');
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', name: 'cairnrun', dataset }));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(root, 'qa', name, '..'), { recursive: true });
    writeFileSync(join(root, 'qa', name), content);
  }
  return Project.load(root);
}

const standard = () => ({ 'a.qa': qaFile(0, 0.01, 60), 'b.qa': qaFile(1, 0.6, 60), 'sub/c.qa': qaFile(2, 1.2, 60) });
const key = (p: { file: string; line: number }) => `${p.file}:${p.line}`;

async function build(p: Project, chunks?: SourceChunks[]): Promise<DatasetBuild> {
  return buildDataset(p, { countTokens: count, loadChunks: chunks ? async () => chunks : undefined });
}

void test('the same inputs and seed give byte-identical files; another seed gives another split', async () => {
  const p1 = project(standard(), { csv: true });
  const p2 = project(standard(), { csv: true });
  const b1 = await build(p1);
  writeDataset(p1, b1);
  writeDataset(p2, await build(p2));
  for (const name of Object.values(DATA_FILES)) {
    assert.ok(existsSync(join(p1.dataDir, name)), name);
    assert.deepEqual(readFileSync(join(p1.dataDir, name)), readFileSync(join(p2.dataDir, name)), name);
  }
  const p3 = project(standard(), { csv: true, seed: 7 });
  const b3 = await build(p3);
  assert.notEqual(b3.files.get(DATA_FILES.train), b1.files.get(DATA_FILES.train));
  assert.notDeepEqual(b3.testPairs.map(key).sort(), b1.testPairs.map(key).sort());
});

void test('every row is within the token budget, counted the chat way, with at most turnsPerRow turns', async () => {
  for (const dataset of [{}, { rowTokenBudget: 80, turnsPerRow: 3, systemPrompt: 'You answer questions about Cairnrun from memory.' }]) {
    const p = project(standard(), dataset);
    const b = await build(p);
    const budget = p.config.dataset.rowTokenBudget;
    const all = [...b.train, ...b.test];
    assert.ok(all.length > 10);
    const sizes = all.map((r) => rowTokens(r.messages, count));
    for (const [i, row] of all.entries()) {
      assert.ok(sizes[i] <= budget, `row ${i}: ${sizes[i]} > ${budget}`);
      const turns = row.messages.filter((m) => m.role === 'user').length;
      assert.ok(turns >= 1 && turns <= p.config.dataset.turnsPerRow);
      if (dataset.systemPrompt) assert.deepEqual(row.messages[0], { role: 'system', content: dataset.systemPrompt });
      // Roles alternate user, assistant after the optional system message.
      row.messages.filter((m) => m.role !== 'system').forEach((m, j) => assert.equal(m.role, j % 2 ? 'assistant' : 'user'));
    }
    assert.equal(Math.max(...b.train.map((r) => rowTokens(r.messages, count))), b.report.train.tokens.max);
    // The budget is used: rows are not one pair each when more fit.
    if (!dataset.systemPrompt) assert.ok(b.report.train.tokens.median > 100);
  }
});

void test('train + test hold every input pair exactly once, minus the reported drops', async () => {
  const dupA = 'Q: In Cairnrun, what colour is the Crown pennant?\nA: Gold.\n\n';
  const dupB = 'Q: in cairnrun what colour is the crown pennant\nA: gold\n\n';
  const p = project({ ...standard(), 'd.qa': dupA + dupA + dupB + 'Q: In Cairnrun, what is long?\nA: ' + 'very long words '.repeat(200) + '\n' }, { rowTokenBudget: 256 });
  const input = collectPairs(p).pairs;
  const b = await build(p);
  const dropped = new Set(b.report.dropped.map((d) => key(d.pair)));
  assert.equal(b.report.dropped.filter((d) => d.reason === 'duplicate').length, 2);
  assert.equal(b.report.dropped.filter((d) => d.reason === 'over-budget').length, 1);
  const expected = input.filter((x) => !dropped.has(key(x))).map(key).sort();
  const got = [...b.trainPairs, ...b.testPairs].map(key).sort();
  assert.deepEqual(got, expected);
  assert.equal(b.report.train.pairs + b.report.test.pairs, expected.length);
  // The rows say what the pairs say.
  const contents = [...b.train, ...b.test].flatMap((r) => r.messages.filter((m) => m.role === 'user').map((m) => m.content));
  assert.deepEqual(contents.sort(), [...b.trainPairs, ...b.testPairs].map((x) => x.question).sort());
  const report = b.files.get(DATA_FILES.report)!;
  assert.match(report, /Exact duplicates removed \(2\)/);
  assert.match(report, /`qa\/d\.qa:4` duplicates `qa\/d\.qa:1`/);
});

void test('near-duplicate questions never straddle the split, and the split is about testFraction', async () => {
  const p = project(standard());
  const b = await build(p);
  const ignore = new Set(['cairnrun']);
  const trainSets = b.trainPairs.map((x) => shingles(x.question, ignore));
  assert.ok(b.testPairs.length > 0);
  for (const t of b.testPairs) {
    const s = shingles(t.question, ignore);
    for (const [i, other] of trainSets.entries()) {
      assert.ok(jaccard(s, other) < SPLIT_NEAR_DUPLICATE_THRESHOLD, `"${t.question}" (test) ~ "${b.trainPairs[i].question}" (train)`);
      assert.notEqual(exactKey(t.question), exactKey(b.trainPairs[i].question));
    }
  }
  // Each fact's three phrasings form one group.
  assert.equal(b.report.groups.count, 60);
  const fraction = b.testPairs.length / (b.testPairs.length + b.trainPairs.length);
  assert.ok(Math.abs(fraction - 0.09) < 0.03, `test fraction ${fraction}`);
});

void test('near-duplicate groups are exact (no candidate missed) on random inputs', () => {
  const rng = mulberry32(1);
  const vocab = ['red', 'stone', 'gate', 'far', 'ring', 'keeper', 'moor', 'high', 'pass', 'mark', 'cast', 'watch'];
  const texts = Array.from({ length: 300 }, () => shuffled(vocab, rng).slice(0, 2 + Math.floor(rng() * 5)).join(' '));
  const groups = nearDuplicateGroups(texts);
  const groupOf = new Map<number, number>();
  groups.forEach((g, gi) => g.forEach((i) => groupOf.set(i, gi)));
  assert.equal(groupOf.size, texts.length);
  const sets = texts.map((t) => shingles(t));
  for (let i = 0; i < texts.length; i++) {
    for (let j = i + 1; j < texts.length; j++) {
      if (jaccard(sets[i], sets[j]) >= SPLIT_NEAR_DUPLICATE_THRESHOLD) assert.equal(groupOf.get(i), groupOf.get(j), `${texts[i]} / ${texts[j]}`);
    }
  }
});

void test('no pairs at all: a clear error and nothing written', async () => {
  const p = project({ 'a.qa': '@source: sources/rulebook.md\n# Q: commented out?\n# A: yes\n\nQ: no answer here\n' });
  await assert.rejects(build(p), (err: unknown) => err instanceof MnemoError && /No Q&A pairs/.test(err.message) && /Nothing was written/.test(err.message) && !!err.hint);
  assert.equal(existsSync(join(p.dataDir, DATA_FILES.train)), false);
  const empty = project({});
  await assert.rejects(build(empty), /qa\/ holds no readable \.qa file/);
});

void test('a pair longer than the budget is reported with its place, never cut', async () => {
  const long = 'The Free Cast is taken from the mark. '.repeat(40).trim();
  const p = project({ 'a.qa': qaFile(0, 0.1, 12) + `\nQ: In Cairnrun, what is the whole Free Cast rule?\nA: ${long}\n` }, { rowTokenBudget: 128 });
  const b = await build(p);
  const over = b.report.dropped.filter((d) => d.reason === 'over-budget');
  assert.equal(over.length, 1);
  assert.ok(over[0].tokens! > 128);
  const report = b.files.get(DATA_FILES.report)!;
  assert.match(report, /Pairs longer than a row \(1\)/);
  assert.match(report, new RegExp(`qa/a\\.qa:${over[0].pair.line + 1}\` \\(${over[0].tokens} tokens\\)`));
  const all = b.files.get(DATA_FILES.train)! + b.files.get(DATA_FILES.test)!;
  assert.equal(all.includes('The Free Cast is taken from the mark'), false);
});

void test('mixed line ends, unreadable, binary and non-UTF-8 .qa files: named in the report, the rest still build', async () => {
  const mixed = '@source: sources/rulebook.md\r\n\r\nQ: In Cairnrun, how wide is the Moor?\nA: 52 m,\r\nmeasured between the side lines.\r\n\nQ: In Cairnrun, how long is the Moor?\r\nA: 84 m.\n';
  const p = project({ 'mixed.qa': mixed, 'bin.qa': Buffer.from([0x51, 0x3a, 0x00, 0x01, 0x02, 0x0a]), 'latin1.qa': Buffer.from('Q: caf\xe9?\nA: oui\n', 'latin1'), 'ok.qa': qaFile(0, 0.3, 20) });
  symlinkSync(join(p.root, 'qa', 'missing-target.qa'), join(p.qaDir, 'broken.qa'));
  const b = await build(p);
  const skipped = Object.fromEntries(b.report.files.skipped.map((s) => [s.file, s.reason]));
  assert.match(skipped['qa/bin.qa'], /binary/);
  assert.match(skipped['qa/broken.qa'], /not readable \(ENOENT\)/);
  assert.match(skipped['qa/latin1.qa'], /not UTF-8/);
  assert.equal(b.trainPairs.length + b.testPairs.length, 22);
  const wide = [...b.train, ...b.test].flatMap((r) => r.messages).find((m) => m.content.startsWith('52 m'));
  assert.equal(wide?.content, '52 m,\nmeasured between the side lines.');
  const report = b.files.get(DATA_FILES.report)!;
  for (const f of ['qa/bin.qa', 'qa/broken.qa', 'qa/latin1.qa']) assert.ok(report.includes(`\`${f}\``), f);
  for (const [name, content] of b.files) assert.equal(content.includes('\r') && !name.endsWith('.csv'), false, name);
});

void test('CSV: one messages column, quoted so that it reads back exactly', async () => {
  const p = project({ 'a.qa': 'Q: In Cairnrun, what does "Hoarding" mean, exactly?\nA: Holding the stone, still,\nfor more than "four" seconds.\n\n' + qaFile(0, 0.2, 20) }, { csv: true });
  const b = await build(p);
  const csv = b.files.get(DATA_FILES.trainCsv)! + b.files.get(DATA_FILES.testCsv)!.replace(/^messages\r\n/, '');
  const records = parseCsv(csv);
  assert.deepEqual(records[0], ['messages']);
  assert.deepEqual(records.slice(1).map((r) => JSON.parse(r[0])), [...b.train, ...b.test].map((r) => r.messages));
});

/** A strict RFC 4180 reader, for checking the writer. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (text[i] === '"' && text[i + 1] === '"') {
          field += '"';
          i += 2;
        }
        else if (text[i] === '"') break;
        else field += text[i++];
      }
      i++;
    } else while (i < text.length && !/[,\r]/.test(text[i])) field += text[i++];
    row.push(field);
    if (text[i] === ',') i++;
    else if (text[i] === '\r' && text[i + 1] === '\n') {
      rows.push(row);
      row = [];
      i += 2;
    }
  }
  return rows;
}

void test('source-text rows: at the ratio, within the budget, passages in order that rebuild each chunk', async () => {
  const sentence = (i: number) => `Rule ${i}: the Carrier of the stone may take up to ${i % 7} steps before a tap. `;
  const chunkText = (from: number) => Array.from({ length: 40 }, (_, i) => sentence(from + i)).join('').trim();
  const chunks: SourceChunks[] = [{ path: 'sources/rulebook.md', chunks: [{ n: 1, text: chunkText(0) }, { n: 2, text: chunkText(100) }, { n: 3, text: 'Short chunk.' }] }];
  const p = project(standard(), { sourceTextRatio: 0.5, rowTokenBudget: 256 });
  const b = await build(p, chunks);
  const isSource = (r: { messages: { content: string }[] }) => /^(Recite chunk|In the Cairnrun rules document rulebook\.md, what comes after ")/.test(r.messages[0].content);
  const qaRows = b.train.filter((r) => !isSource(r));
  const sourceRows = b.train.filter(isSource);
  assert.equal(sourceRows.length, Math.round(0.5 * qaRows.length));
  assert.equal(b.report.sourceRows, sourceRows.length);
  for (const r of b.train) assert.ok(rowTokens(r.messages, count) <= 256);
  // Every answer is a piece of its chunk; a continuation starts right after its cue; the test split holds no source text.
  const flat = (t: string) => t.replace(/\s+/g, ' ').trim();
  const texts = chunks[0].chunks.map((c) => flat(c.text));
  const recites = sourceRows.filter((r) => r.messages[0].content.startsWith('Recite'));
  const continuations = sourceRows.filter((r) => !r.messages[0].content.startsWith('Recite'));
  assert.ok(recites.length > 0 && continuations.length > 0, `${recites.length} recites, ${continuations.length} continuations`);
  for (const r of recites) assert.ok(texts.some((t) => t.includes(flat(r.messages[1].content))), r.messages[0].content);
  for (const r of continuations) {
    const cue = /what comes after "(.*)"\?$/s.exec(r.messages[0].content)![1];
    assert.ok(texts.some((t) => t.includes(`${flat(cue)} ${flat(r.messages[1].content)}`)), r.messages[0].content);
  }
  assert.ok(b.test.every((r) => !isSource(r)));
  assert.match(recites.map((r) => r.messages[0].content).join('\n'), /Recite chunk 1, part 1 of \d of the Cairnrun rules document rulebook\.md\./);
  // Parts of a chunk rebuild it.
  const parts = recites.filter((r) => r.messages[0].content.startsWith('Recite chunk 2, part')).sort((x, y) => x.messages[0].content.localeCompare(y.messages[0].content, 'en', { numeric: true }));
  assert.ok(parts.length > 1);
  assert.equal(parts.length, Number(/of (\d+)/.exec(parts[0].messages[0].content)![1]));
  assert.equal(flat(parts.map((r) => r.messages[1].content).join(' ')), texts[1]);
  // Coverage knows the chunk count now: chunks 1..6 hold pairs, and the source has 3 chunks, all covered.
  const cov = b.report.coverage.find((c) => c.source === 'sources/rulebook.md')!;
  assert.equal(cov.chunkCount, 3);
  assert.deepEqual(cov.uncovered, []);
});

void test('coverage names chunks with no pair; the card carries the Hub metadata and the generation settings', async () => {
  const chunks: SourceChunks[] = [{ path: 'sources/rulebook.md', chunks: Array.from({ length: 9 }, (_, i) => ({ n: i + 1, text: `Chunk ${i + 1}.` })) }];
  const p = project(standard(), { license: 'cc-by-4.0' });
  const b = await build(p, chunks);
  const cov = b.report.coverage[0];
  assert.deepEqual(cov.uncovered, ['7', '8', '9']);
  assert.equal(cov.pairsPerChunk.get('1'), 30);
  assert.match(b.files.get(DATA_FILES.report)!, /Chunks with no pair: 7, 8, 9\./);
  const card = b.files.get(DATA_FILES.card)!;
  const yaml = card.split('---\n')[1];
  assert.match(yaml, /^license: cc-by-4\.0$/m);
  assert.match(yaml, /^size_categories:\n- n<1K$/m);
  assert.match(yaml, /configs:\n- config_name: default\n {2}data_files:\n {2}- split: train\n {4}path: train\.jsonl\n {2}- split: test\n {4}path: test\.jsonl/);
  assert.match(yaml, /^pretty_name: Cairnrun rules$/m);
  assert.match(card, /Temperatures: `0\.01`, `0\.6`, `1\.2`/);
  assert.match(card, /Prompt variants: `v0`, `v1`, `v2`/);
  assert.match(card, /\| rulebook\.md \| `[0-9a-f]{64}` \|/);
});

void test('the card names English only when the pairs read as English', () => {
  assert.equal(guessLanguage(['In Cairnrun, how many points is a Crown worth? 5 points (Rule 9.1).', 'What is the inner diameter of the Gate ring and how high is it above the ground? It is 1.2 m wide and 3.5 m up.']), 'en');
  assert.equal(guessLanguage(['Wie viele Punkte ist eine Krone beim Cairnrun wert? Fünf Punkte, nach Regel neun Punkt eins, immer und überall gültig.', 'Wie breit ist das Moor? Zweiundfünfzig Meter zwischen den Seitenlinien gemessen.']), undefined);
});

void test('property: for any pairs and settings, rows fit, nothing is lost or doubled, no twin straddles the split', async () => {
  const fc = await import('fast-check');
  const word = fc.constantFrom('stone', 'gate', 'moor', 'keeper', 'far', 'how', 'the', 'of', 'what', 'Cairnrun', 'metres', '9', 'é', 'line');
  const text = fc.array(word, { minLength: 1, maxLength: 6 }).map((ws) => ws.join(' '));
  const pairArb = fc.record({ question: text, answer: fc.oneof(text, fc.array(word, { minLength: 30, maxLength: 120 }).map((ws) => ws.join(' '))), chunk: fc.constantFrom(undefined, '1', '2', '3') });
  await fc.assert(
    fc.asyncProperty(
      fc.array(pairArb, { minLength: 1, maxLength: 60 }),
      fc.record({ turnsPerRow: fc.integer({ min: 1, max: 6 }), rowTokenBudget: fc.integer({ min: 40, max: 400 }), testFraction: fc.double({ min: 0.05, max: 0.5, noNaN: true }), seed: fc.integer({ min: 0, max: 1000 }) }),
      async (raw, dataset) => {
        const { buildRows } = await import('../../src/core/dataset/build');
        const pairs = raw.map((p, i) => ({ ...p, file: 'qa/x.qa', line: i * 3, source: 'sources/rulebook.md' }));
        const settings = { name: 'p', context: 'Cairnrun rules', keywords: ['Cairnrun'], systemPrompt: undefined, csv: false, sourceTextRatio: 0, license: 'other', tokenizer: 'o200k_base' as const, ...dataset };
        const b = buildRows({ pairs, filesRead: 1, skipped: [], sources: [] }, settings, count);
        for (const row of [...b.train, ...b.test]) {
          assert.ok(rowTokens(row.messages, count) <= dataset.rowTokenBudget);
          assert.ok(row.messages.length / 2 <= dataset.turnsPerRow);
        }
        const dropped = new Set(b.report.dropped.map((d) => d.pair.line));
        assert.deepEqual([...b.trainPairs, ...b.testPairs].map((p) => p.line).sort((x, y) => x - y), pairs.map((p) => p.line).filter((l) => !dropped.has(l)));
        const ignore = new Set(['cairnrun']);
        for (const t of b.testPairs) {
          for (const r of b.trainPairs) assert.ok(jaccard(shingles(t.question, ignore), shingles(r.question, ignore)) < SPLIT_NEAR_DUPLICATE_THRESHOLD && exactKey(t.question) !== exactKey(r.question));
        }
      },
    ),
    { numRuns: 150, seed: 20261127 },
  );
});

void test('sentences: cut at . ! ? before blank space and at blank lines, never inside "Rule 3.1"; joined they restore the text', async () => {
  const { sentences } = await import('../../src/core/dataset');
  const text = 'Rule 3.1 sets the mass. Is it 650 g? Yes!  "Quoted." Next\n\nParagraph two (see 4.2.) ends';
  const s = sentences(text);
  assert.equal(s.join(''), text);
  assert.deepEqual(s.map((x) => x.trim()), ['Rule 3.1 sets the mass.', 'Is it 650 g?', 'Yes!', '"Quoted."', 'Next', 'Paragraph two (see 4.2.)', 'ends']);
});
