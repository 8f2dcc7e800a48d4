import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { activePairs, applyLineEdits, deletePairEdit, formatQa, parseQa, printQa, reparseQa, replacePairEdit, setReviewedEdit, toggleCommentEdit } from '../../src/core/qa';

/** Lines a .qa file is made of: well-formed pairs, and everything a person might type by mistake. */
const lineArb = fc.oneof(
  fc.constantFrom('', '   ', '\t', '# a comment', '@source: sources/rulebook.pdf', '@chunk: 3', '@temperature: 0.45', '@reviewed', '@bogus: x', '@', '@chunk', 'Q:', 'A:', '#Q: hidden', '# A: hidden answer', 'Q:no space', 'A:   spaced  '),
  fc.string({ maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, ' ')),
  fc.string({ maxLength: 30 }).map((s) => 'Q: ' + s.replace(/[\r\n]/g, ' ')),
  fc.string({ maxLength: 30 }).map((s) => 'A: ' + s.replace(/[\r\n]/g, ' ')),
);
const fileArb = fc.record({ lines: fc.array(lineArb, { maxLength: 40 }), crlf: fc.boolean(), finalEol: fc.boolean() }).map(({ lines, crlf, finalEol }) => {
  const eol = crlf ? '\r\n' : '\n';
  return lines.join(eol) + (finalEol && lines.length ? eol : '');
});

void test('print(parse(text)) is the text itself, for any text with one kind of line end', () => {
  fc.assert(
    fc.property(fileArb, (text) => {
      assert.equal(printQa(parseQa(text)), text);
    }),
    { numRuns: 500 },
  );
});

void test('parsing never throws, and every problem lies inside the file', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 400 }), (text) => {
      const f = parseQa(text);
      for (const p of f.problems) assert.ok(p.startLine >= 0 && p.startLine <= Math.max(0, f.lines.length - 1), JSON.stringify(p));
    }),
    { numRuns: 300 },
  );
});

/** What a file means: its pairs' text, state and metadata, whitespace inside text collapsed. */
function meaning(text: string) {
  return parseQa(text).pairs.map((p) => ({ q: p.question.replace(/\s+/g, ' '), a: p.answer.replace(/\s+/g, ' '), c: p.commented, meta: p.meta, hasA: p.answerLine !== undefined }));
}

void test('formatting keeps the meaning, is idempotent and keeps the line end', () => {
  fc.assert(
    fc.property(fileArb, (text) => {
      const once = formatQa(parseQa(text));
      assert.deepEqual(meaning(once), meaning(text));
      assert.equal(formatQa(parseQa(once)), once);
      if (text.includes('\r\n')) assert.ok(!/[^\r]\n/.test(once), 'CRLF kept');
    }),
    { numRuns: 500 },
  );
});

void test('formatting: spacing, trailing whitespace, one blank line between pairs', () => {
  const text = '\n\n@source:  sources/a.md  \n\n\n@chunk:1\nQ:What?  \nA:   That.\nQ: Next?\nA: Yes.\n#Q: old\n# A: gone\n\n\n';
  assert.equal(formatQa(parseQa(text)), '@source: sources/a.md\n\n@chunk: 1\nQ: What?\nA: That.\n\nQ: Next?\nA: Yes.\n\n# Q: old\n# A: gone\n');
  assert.equal(formatQa(parseQa('Q: a\r\nA: b\r\nQ: c\r\nA: d')), 'Q: a\r\nA: b\r\n\r\nQ: c\r\nA: d\r\n');
});

const sample = ['@source: sources/rulebook.md', '@temperature: 0.45', '', '@chunk: 3', 'Q: In Cairnrun, how far', 'must opponents retreat?', 'A: Nine metres.', '', '@reviewed', 'Q: In Cairnrun, who decides?', 'A: The Chief Arbiter.', '', '# Q: In Cairnrun, rejected?', '# A: Yes.', ''].join('\n');

void test('pairs, multi-line text, reviewed and commented pairs', () => {
  const f = parseQa(sample);
  assert.equal(f.pairs.length, 3);
  assert.equal(f.pairs[0].question, 'In Cairnrun, how far\nmust opponents retreat?');
  assert.equal(f.pairs[0].chunk, '3');
  assert.equal(f.pairs[1].reviewed, true);
  assert.equal(f.pairs[1].firstLine, 8);
  assert.equal(f.pairs[2].commented, true);
  assert.equal(activePairs(f).length, 2);
  assert.deepEqual(f.header, { source: 'sources/rulebook.md', temperature: '0.45' });
  assert.deepEqual(f.problems, []);
});

void test('line edits: delete, comment out, replace, mark reviewed', () => {
  const f = parseQa(sample);
  const deleted = parseQa(applyLineEdits(f, [deletePairEdit(f, f.pairs[0])]));
  assert.deepEqual(deleted.pairs.map((p) => p.question), ['In Cairnrun, who decides?', 'In Cairnrun, rejected?']);
  const commented = parseQa(applyLineEdits(f, [toggleCommentEdit(f, f.pairs[0])]));
  assert.equal(commented.pairs[0].commented, true);
  assert.equal(commented.pairs[0].question, f.pairs[0].question);
  const restored = parseQa(applyLineEdits(f, [toggleCommentEdit(f, f.pairs[2])]));
  assert.equal(restored.pairs[2].commented, false);
  const replaced = parseQa(applyLineEdits(f, [replacePairEdit(f, f.pairs[1], { answer: 'The Chief\n\nArbiter decides.' })]));
  assert.equal(replaced.pairs[1].answer, 'The Chief\nArbiter decides.');
  assert.equal(replaced.pairs[1].reviewed, true);
  const reviewed = parseQa(applyLineEdits(f, [setReviewedEdit(f, f.pairs[0], true)]));
  assert.equal(reviewed.pairs[0].reviewed, true);
  assert.equal(reviewed.pairs[0].chunk, '3');
});

void test('structure problems: question without answer, answer without question, stray text, unknown key, binary', () => {
  const f = parseQa('@colour: red\nQ: lonely?\n\nA: orphan\nhello\n');
  assert.deepEqual(f.problems.map((p) => p.code).sort(), ['answer-without-question', 'question-without-answer', 'stray-text', 'unknown-key']);
  assert.equal(parseQa('Q: a\u0000b\nA: c').problems[0].code, 'binary-content');
});

void test('CRLF files keep CRLF through edits', () => {
  const f = parseQa(sample.replace(/\n/g, '\r\n'));
  assert.equal(f.eol, '\r\n');
  const out = applyLineEdits(f, [toggleCommentEdit(f, f.pairs[0])]);
  assert.ok(!/[^\r]\n/.test(out));
});

/** Everything a parse says, with problems in line order (a re-parse may emit them in another order). */
function parsed(f: ReturnType<typeof parseQa>) {
  const problems = [...f.problems].sort((a, b) => a.startLine - b.startLine || a.code.localeCompare(b.code) || a.startCol - b.startCol);
  return JSON.stringify({ ...f, problems });
}

void test('re-parsing after an edit gives exactly what a full parse gives', () => {
  const editArb = fc.record({ at: fc.nat(), remove: fc.nat({ max: 4 }), insert: fc.array(lineArb, { maxLength: 4 }) });
  fc.assert(
    fc.property(fileArb, fc.array(editArb, { minLength: 1, maxLength: 4 }), (text, edits) => {
      let current = parseQa(text);
      let currentText = text;
      for (const e of edits) {
        const eol = currentText.includes('\r\n') ? '\r\n' : '\n';
        const ls = currentText.split(/\r?\n/);
        const at = ls.length ? e.at % ls.length : 0;
        ls.splice(at, e.remove, ...e.insert);
        currentText = ls.join(eol);
        current = reparseQa(current, currentText);
        assert.equal(parsed(current), parsed(parseQa(currentText)));
      }
    }),
    { numRuns: 1000 },
  );
});

void test('re-parsing keeps the pair objects outside the edit', () => {
  const text = ['@source: s.md', '', '@chunk: 1', 'Q: one?', 'A: 1.', '', 'Q: two?', 'A: 2.', '', 'Q: three?', 'A: 3.', ''].join('\n');
  const f = parseQa(text);
  const [one, , three] = f.pairs;
  const g = reparseQa(f, text.replace('Q: two?', 'Q: two, edited\nover two lines?'));
  assert.equal(g.pairs[0], one);
  assert.equal(g.pairs[2], three);
  assert.equal(three.questionLine, 10);
  assert.equal(g.pairs[1].question, 'two, edited\nover two lines?');
});
