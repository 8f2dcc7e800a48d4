import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Checker, checkWorkspace, coverage, coverageMarkdown, parseQa, QaIndex, reparseQa, withContext, type CheckOptions } from '../../src/core/qa';
import { getTokenizer } from '../../src/core/tokens';

const chunk3 = 'At a Free Cast that is not taken from the Cast Mark, opponents must retreat nine metres from the mark before the stone is released by the player taking it.';

async function options(over: Partial<CheckOptions> = {}): Promise<CheckOptions> {
  const tok = await getTokenizer('o200k_base');
  return {
    context: 'Cairnrun rules',
    keywords: ['Cairnrun'],
    rowTokenBudget: 512,
    countTokens: (t) => tok.count(t),
    chunkText: (source, chunk) => (source === 'sources/rulebook.md' && chunk === '3' ? chunk3 : undefined),
    ...over,
  };
}

const codes = (ps: { code: string }[]) => ps.map((p) => p.code).sort();

void test('a question that does not name the context is flagged; one that does is not', async () => {
  const c = new Checker(await options());
  const ps = c.checkFile(parseQa('Q: How far must opponents retreat?\nA: Nine metres.\n\nQ: In cairnrun, how far?\nA: Nine metres.\n'));
  assert.deepEqual(codes(ps), ['not-standalone']);
  assert.equal(ps[0].startLine, 0);
  assert.equal(ps[0].startCol, 3);
});

void test('an answer that copies 12 words of its chunk is flagged, a paraphrase is not', async () => {
  const c = new Checker(await options());
  const text = [
    '@source: sources/rulebook.md',
    '@chunk: 3',
    'Q: In Cairnrun, how far must opponents retreat at a Free Cast?',
    'A: Opponents must retreat nine metres from the mark before the stone is released by the player.',
    '',
    'Q: In Cairnrun, what distance applies at a Free Cast?',
    'A: Nine metres back from the mark, until the taker lets go of the stone.',
  ].join('\n');
  const ps = c.checkFile(parseQa(text));
  assert.deepEqual(codes(ps), ['verbatim']);
  assert.equal(ps[0].startLine, 3);
  assert.match(ps[0].message, /copies 16 consecutive words of chunk 3/);
});

void test('a pair longer than the row budget is flagged', async () => {
  const c = new Checker(await options({ rowTokenBudget: 20 }));
  const ps = c.checkFile(parseQa('Q: In Cairnrun, what is short?\nA: This.\n\nQ: In Cairnrun, what is long?\nA: ' + 'word '.repeat(40) + '\n'));
  assert.deepEqual(codes(ps), ['over-budget']);
  assert.equal(ps[0].pair, 1);
});

void test('exact and near duplicates within a file point at the earlier question', async () => {
  const c = new Checker(await options());
  const text = [
    'Q: In Cairnrun, how many points is a Crown worth?', 'A: 5.', '',
    'Q: In Cairnrun, how many points is a crown worth', 'A: Five.', '',
    'Q: In Cairnrun, how many points is one Crown worth?', 'A: 5.', '',
    'Q: In Cairnrun, what is the mass of the cairnstone?', 'A: 620 to 650 g.',
  ].join('\n');
  const ps = c.checkFile(parseQa(text), 'qa/a.qa');
  assert.deepEqual(codes(ps), ['duplicate', 'near-duplicate']);
  const dup = ps.find((p) => p.code === 'duplicate')!;
  assert.equal(dup.startLine, 3);
  assert.deepEqual(dup.related, [{ path: 'qa/a.qa', line: 0, message: 'The earlier question' }]);
  assert.equal(ps.find((p) => p.code === 'near-duplicate')!.startLine, 6);
});

void test('duplicates across files: reported in the later file, and kept up to date incrementally', async () => {
  const c = new Checker(await options());
  const a = parseQa('Q: In Cairnrun, how many points is a Crown worth?\nA: 5.\n');
  const b = parseQa('Q: In Cairnrun, what is the mass of the stone?\nA: 620 g.\n\nQ: In Cairnrun, how many points is a Crown worth?\nA: Five points.\n');
  const all = checkWorkspace(c, [{ path: 'qa/a.qa', file: a }, { path: 'qa/b.qa', file: b }]);
  assert.deepEqual(codes(all.get('qa/a.qa')!), []);
  assert.deepEqual(codes(all.get('qa/b.qa')!), ['duplicate-across-files']);

  const index = new QaIndex();
  const analyse = (f: ReturnType<typeof parseQa>) => f.pairs.map((p) => c.analyse(p));
  index.update('qa/a.qa', a, analyse(a));
  index.update('qa/b.qa', b, analyse(b));
  assert.equal(index.problemsFor('qa/b.qa').length, 1);
  // Editing a's question away clears b's problem, and b is reported as touched.
  const a2 = parseQa('Q: In Cairnrun, how long is a watch?\nA: 30 minutes.\n');
  const touched = index.update('qa/a.qa', a2, analyse(a2));
  assert.deepEqual([...touched], ['qa/b.qa']);
  assert.deepEqual(index.problemsFor('qa/b.qa'), []);
  // Inserting lines above b's duplicate moves the diagnostic with it.
  const a3 = a;
  index.update('qa/a.qa', a3, analyse(a3));
  const b2 = parseQa('\n\n' + 'Q: In Cairnrun, what is the mass of the stone?\nA: 620 g.\n\nQ: In Cairnrun, how many points is a Crown worth?\nA: Five points.\n');
  index.update('qa/b.qa', b2, analyse(b2));
  assert.equal(index.problemsFor('qa/b.qa')[0].startLine, 5);
  index.remove('qa/a.qa');
  assert.deepEqual(index.problemsFor('qa/b.qa'), []);
});

void test('moving a duplicate above its original swaps which one is reported', async () => {
  const c = new Checker(await options());
  const index = new QaIndex();
  const x = 'Q: In Cairnrun, how long is the interval between watches?\nA: 12 minutes.';
  const y = 'Q: In Cairnrun, how long is the interval between the watches?\nA: Twelve minutes.';
  const z = 'Q: In Cairnrun, what colour is the sash?\nA: White.';
  const f1 = parseQa([x, z, y].join('\n\n'));
  index.update('qa/a.qa', f1, f1.pairs.map((p) => c.analyse(p)));
  assert.deepEqual(index.problemsFor('qa/a.qa').map((p) => [p.code, p.pair]), [['near-duplicate', 2]]);
  const f2 = parseQa([y, z, x].join('\n\n'));
  index.update('qa/a.qa', f2, f2.pairs.map((p) => c.analyse(p)));
  assert.deepEqual(index.problemsFor('qa/a.qa').map((p) => [p.code, p.pair]), [['near-duplicate', 2]]);
  assert.match(index.problemsFor('qa/a.qa')[0].message, /line 1/);
});

void test('commented-out pairs are not checked, large files get structure checks only', async () => {
  const c = new Checker(await options({ largeFileChars: 100 }));
  assert.deepEqual(c.checkFile(parseQa('# Q: What?\n# A: That.\n')), []);
  const big = 'Q: What?\nA: That.\n\n'.repeat(20);
  assert.deepEqual(codes(c.checkFile(parseQa(big), 'x.qa', big.length)), ['large-file']);
});

void test('adding the context to a question', () => {
  assert.equal(withContext('What is a Crown worth?', 'Cairnrun'), 'In Cairnrun, what is a Crown worth?');
  assert.equal(withContext('Velmora hosted what?', 'Cairnrun'), 'In Cairnrun, Velmora hosted what?');
});

void test('coverage: pairs per chunk and temperature, and chunks with none', () => {
  const f1 = parseQa('@source: sources/r.md\n@temperature: 0.01\n\n@chunk: 1\nQ: a?\nA: b.\n\n@chunk: 3\nQ: c?\nA: d.\n');
  const f2 = parseQa('@source: sources/r.md\n@temperature: 1.2\n\n@chunk: 1\nQ: a?\nA: b.\n\n# Q: x?\n# A: y.\n');
  const [r] = coverage([{ path: 'qa/1.qa', file: f1 }, { path: 'qa/2.qa', file: f2 }], new Map([['sources/r.md', 4]]));
  assert.deepEqual(r.uncovered, ['2', '4']);
  assert.deepEqual(r.temperatures, ['0.01', '1.2']);
  assert.equal(r.pairs.get('1')!.get('1.2'), 1);
  assert.equal(r.total, 3);
  const md = coverageMarkdown([r]);
  assert.match(md, /Chunks with no pairs \(2\):\*\* 2, 4/);
  assert.match(md, /\| 1 \| 1 \| 1 \| 2 \|/);
});

void test('the index kept up to date edit by edit reports what a fresh index reports', async () => {
  const fc = (await import('fast-check')).default;
  const c = new Checker(await options());
  const vocab = ['crown', 'points', 'worth', 'stone', 'mass', 'watch', 'long', 'gate', 'ring', 'herald'];
  const questionArb = fc.array(fc.constantFrom(...vocab), { minLength: 2, maxLength: 5 }).map((ws) => `In Cairnrun, ${ws.join(' ')}?`);
  const fileArb = fc.array(questionArb, { maxLength: 12 });
  const text = (qs: string[]) => qs.map((q, i) => `Q: ${q}\nA: ${i}.`).join('\n\n') + '\n';
  const editArb = fc.record({ file: fc.constantFrom('qa/a.qa', 'qa/b.qa'), at: fc.nat(), remove: fc.nat({ max: 3 }), insert: fc.array(questionArb, { maxLength: 3 }) });
  fc.assert(
    fc.property(fileArb, fileArb, fc.array(editArb, { maxLength: 6 }), (a, b, edits) => {
      const files: Record<string, string[]> = { 'qa/a.qa': a, 'qa/b.qa': b };
      const index = new QaIndex();
      const parsed: Record<string, ReturnType<typeof parseQa>> = {};
      for (const [path, qs] of Object.entries(files)) {
        parsed[path] = parseQa(text(qs));
        index.update(path, parsed[path], parsed[path].pairs.map((p) => c.analyse(p)));
      }
      for (const e of edits) {
        const qs = files[e.file];
        qs.splice(qs.length ? e.at % qs.length : 0, e.remove, ...e.insert);
        parsed[e.file] = reparseQa(parsed[e.file], text(qs));
        index.update(e.file, parsed[e.file], parsed[e.file].pairs.map((p) => c.analyse(p)));
        const fresh = new QaIndex();
        for (const path of Object.keys(files)) fresh.update(path, parseQa(text(files[path])), parseQa(text(files[path])).pairs.map((p) => c.analyse(p)));
        for (const path of Object.keys(files)) assert.deepEqual(index.problemsFor(path), fresh.problemsFor(path), path);
      }
    }),
    { numRuns: 300 },
  );
});

void test('word hashes agree with hashing the words one by one', async () => {
  const fc = (await import('fast-check')).default;
  const { wordHashes, words, fnv1a } = await import('../../src/core/qa/similarity');
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom("Don't move 1.8 m.", 'The stone. Next', "a'b.c' d.", 'Ünïcode wörds')), (t) => {
      assert.deepEqual([...wordHashes(t)], words(t).map(fnv1a));
    }),
    { numRuns: 1000 },
  );
});

void test('the shared table of words gives the words, hashes and shingles of the words themselves', async () => {
  const fc = (await import('fast-check')).default;
  const { tokens, words, fnv1a, joinWords, shingleArray, shingles } = await import('../../src/core/qa/similarity');
  const ignore = new Set(['cairnrun']);
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom("Don't move 1.8 m.", 'In Cairnrun, what is the stone of the Moor?', "a'b.c' d.", 'Ünïcode wörds', 'the the THE The')), (t) => {
      const ts = tokens(t);
      assert.deepEqual(
        ts.map((w) => w.text),
        words(t),
      );
      assert.deepEqual(
        ts.map((w) => w.hash),
        words(t).map(fnv1a),
      );
      assert.equal(joinWords(ts), words(t).join(' '));
      assert.deepEqual([...shingleArray(ts, ignore)], [...shingles(words(t), ignore)].sort((x, y) => x - y));
      // The same word is the same object wherever it occurs.
      for (const w of ts) assert.equal(tokens(w.text)[0], w);
    }),
    { numRuns: 1000 },
  );
});

void test('shingle arrays give the same Jaccard similarity as shingle sets', async () => {
  const fc = (await import('fast-check')).default;
  const s = await import('../../src/core/qa/similarity');
  const text = fc.array(fc.constantFrom('crown', 'points', 'the', 'worth', 'stone', 'Stone', 'mass', 'of', 'gate', 'x1'), { maxLength: 8 }).map((w) => w.join(' '));
  fc.assert(
    fc.property(text, text, (a, b) => {
      assert.equal(s.jaccardSorted(s.shingleArray(s.tokens(a)), s.shingleArray(s.tokens(b))), s.jaccard(s.shingles(a), s.shingles(b)));
    }),
    { numRuns: 500 },
  );
});

void test('the longest copied run matches a direct search over word windows', async () => {
  const fc = (await import('fast-check')).default;
  const s = await import('../../src/core/qa/similarity');
  const text = (max: number) => fc.array(fc.constantFrom('the', 'stone', 'is', 'round', 'and', 'heavy', 'nine', 'metres'), { maxLength: max }).map((w) => w.join(' '));
  const n = 3;
  fc.assert(
    fc.property(text(30), text(12), (chunk, answer) => {
      const cw = s.words(chunk);
      const aw = s.words(answer);
      const inChunk = new Set<string>();
      for (let i = 0; i + n <= cw.length; i++) inChunk.add(cw.slice(i, i + n).join(' '));
      // Direct: the longest run of consecutive answer windows that are all in the chunk.
      let best: { start: number; length: number } | undefined;
      for (let i = 0; i + n <= aw.length; i++) {
        let j = i;
        while (j + n <= aw.length && inChunk.has(aw.slice(j, j + n).join(' '))) j++;
        if (j > i && (!best || j - i - 1 + n > best.length)) best = { start: i, length: j - i - 1 + n };
      }
      assert.deepEqual(s.longestCopiedRun(s.tokens(answer), s.windowHashes(chunk, n), n), best);
    }),
    { numRuns: 1000 },
  );
});

void test('@source must be readable and @chunk one of its chunks', async () => {
  const c = new Checker(await options({ sourceInfo: (s) => (s === 'sources/r.md' ? { chunks: 3 } : s === 'sources/gone.pdf' ? { error: 'sources/gone.pdf does not exist.' } : undefined) }));
  const ps = c.checkFile(parseQa('@source: sources/r.md\n\n@chunk: 3\nQ: In Cairnrun, a?\nA: b.\n\n@chunk: 4\nQ: In Cairnrun, c?\nA: d.\n\n@chunk: x\n'));
  assert.deepEqual(ps.map((p) => [p.code, p.startLine]), [['unknown-chunk', 6], ['unknown-chunk', 10]]);
  assert.match(ps[0].message, /sources\/r.md has 3 chunks; there is no chunk 4/);
  const gone = c.checkFile(parseQa('@source: sources/gone.pdf\n@chunk: 1\nQ: In Cairnrun, a?\nA: b.\n'));
  assert.deepEqual(gone.map((p) => p.code), ['unknown-source']);
  assert.match(gone[0].message, /does not exist/);
  // Unknown (not loaded yet): nothing is said.
  assert.deepEqual(c.checkFile(parseQa('@source: sources/later.md\n@chunk: 7\nQ: In Cairnrun, a?\nA: b.\n')), []);
});
