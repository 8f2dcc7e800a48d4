import fc from 'fast-check';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chunkId, chunkText, findCuts, pageAt } from '../../src/core/chunking';
import type { Chunk } from '../../src/core/sources/types';
import { getTokenizer, type Tokenizer } from '../../src/core/tokens';

const repo = join(__dirname, '..', '..');

/** Everything chunkText promises, checked against an independent encoding of the whole text. */
function assertInvariants(text: string, tok: Tokenizer, max: number, r: { tokens: number; chunks: Chunk[] }): void {
  assert.equal(r.chunks.map((c) => c.text).join(''), text, 'chunks concatenated are the text');
  const all = tok.encode(text);
  assert.equal(r.tokens, all.length, 'token total equals the whole-text encoding');
  let token = 0;
  let char = 0;
  r.chunks.forEach((c, i) => {
    assert.equal(c.n, i + 1);
    assert.equal(c.tokenStart, token, 'token ranges are contiguous');
    assert.equal(c.charStart, char, 'char ranges are contiguous');
    assert.equal(c.text, text.slice(c.charStart, c.charEnd));
    assert.ok(c.tokenEnd > c.tokenStart && c.text.length > 0, 'no empty chunk');
    if (c.tokenEnd - c.tokenStart > max) {
      // Allowed only where no cut within the limit keeps characters whole: byte-level BPE tokens
      // can straddle characters (rare scripts, emoji sequences), and a chunk never splits one.
      for (let k = 1; k <= max; k++) {
        const left = tok.decode(all.slice(c.tokenStart, c.tokenStart + k));
        const right = tok.decode(all.slice(c.tokenStart + k, c.tokenEnd));
        assert.ok(!(left && right && left + right === c.text), `chunk ${c.n} has ${c.tokenEnd - c.tokenStart} > ${max} tokens but could be cut after ${k}`);
      }
    }
    assert.equal(tok.decode(all.slice(c.tokenStart, c.tokenEnd)), c.text, 'the token range holds exactly the chunk text');
    assert.equal(c.id, chunkId(c.text));
    token = c.tokenEnd;
    char = c.charEnd;
  });
  assert.equal(token, all.length);
  assert.equal(char, text.length);
}

// Fragments that stress the boundaries: whitespace runs, CRLF, punctuation next to newlines,
// o200k's '/' after a newline, contractions, digits, non-Latin scripts, emoji, NBSP, and U+FFFD
// (what a cut character decodes to, and what PDF text holds for glyphs it could not map).
const fragment = fc.oneof(
  fc.constantFrom('𓀀𓀁𓀂', '𝕏', '𠀋', 'word', 'The', 'Warden', ' ', '  ', '\n', '\n\n', '\n\n\n', '\r\n', '\t', '\u00a0', '.', '. ', '.\n', '!', '?', '"', ')', '(', '/', '.\n/', "'s", "'LL", '1234567', '2.1', 'e.g.', 'é', 'ß', '😀', '👩‍👩‍👧', '漢字かな', 'Привет', '<|endoftext|>', ' \n ', '—', '…', '\ufffd', '\ufffd\ufffd', 'a\ufffd'),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
);
const text = fc.array(fragment, { maxLength: 120 }).map((parts) => parts.join(''));

void test('property: chunks cover the text exactly, token ranges are contiguous and bounded (o200k_base)', async () => {
  const tok = await getTokenizer('o200k_base');
  fc.assert(
    fc.property(text, fc.integer({ min: 1, max: 40 }), (t, max) => {
      assertInvariants(t, tok, max, chunkText(t, tok, { tokens: max }));
    }),
    { numRuns: 400 },
  );
});

void test('property: the same holds for cl100k_base', async () => {
  const tok = await getTokenizer('cl100k_base');
  fc.assert(
    fc.property(text, fc.integer({ min: 1, max: 40 }), (t, max) => {
      assertInvariants(t, tok, max, chunkText(t, tok, { tokens: max }));
    }),
    { numRuns: 200 },
  );
});

void test('property: encoding the text between stable cuts piece by piece gives the whole-text tokens', async () => {
  const tok = await getTokenizer('o200k_base');
  fc.assert(
    fc.property(text, (t) => {
      const cuts = findCuts(t);
      const pieces: number[] = [];
      let from = 0;
      for (let i = 0; i < cuts.count; i++) {
        pieces.push(...tok.encode(t.slice(from, cuts.at[i])));
        from = cuts.at[i];
      }
      assert.deepEqual(pieces, tok.encode(t));
    }),
    { numRuns: 300 },
  );
});

void test('the rulebook chunks at paragraph ends, within 500 tokens, and ids are stable', async () => {
  const tok = await getTokenizer();
  const md = readFileSync(join(repo, 'test/fixtures/rulebook.md'), 'utf8');
  const r = chunkText(md, tok, { tokens: 500 });
  assertInvariants(md, tok, 500, r);
  assert.ok(r.chunks.length >= 12, `${r.chunks.length} chunks`);
  // Every chunk but the last ends at a paragraph end (a blank line follows).
  for (const c of r.chunks.slice(0, -1)) assert.match(c.text, /\n\n$/, `chunk ${c.n} ends mid-paragraph: ${JSON.stringify(c.text.slice(-40))}`);
  // Chunks are reasonably full: a paragraph end is taken only if it keeps half the budget.
  for (const c of r.chunks.slice(0, -1)) assert.ok(c.tokenEnd - c.tokenStart >= 250);
  assert.deepEqual(chunkText(md, tok, { tokens: 500 }).chunks.map((c) => c.id), r.chunks.map((c) => c.id));
  // Editing the end of the text leaves the ids of earlier chunks alone.
  const edited = chunkText(md.replace(/\S+\s*$/, 'changed.\n'), tok, { tokens: 500 });
  assert.deepEqual(edited.chunks.slice(0, -1).map((c) => c.id), r.chunks.slice(0, -1).map((c) => c.id));
  assert.notEqual(edited.chunks.at(-1)!.id, r.chunks.at(-1)!.id);
});

void test('without paragraphs, chunks end at sentence ends', async () => {
  const tok = await getTokenizer();
  const sentences = Array.from({ length: 200 }, (_, i) => `Rule ${i + 1} says the Warden of each team may hold the cairnstone for ${i % 9} seconds.`).join(' ');
  const r = chunkText(sentences, tok, { tokens: 100 });
  assertInvariants(sentences, tok, 100, r);
  for (const c of r.chunks.slice(0, -1)) assert.match(c.text, /seconds\.$/);
  for (const c of r.chunks.slice(1)) assert.match(c.text, /^ Rule \d+/);
});

void test('without sentence ends, chunks end between words; without spaces, between tokens', async () => {
  const tok = await getTokenizer();
  const words = Array.from({ length: 500 }, (_, i) => `word${i}`).join(' ');
  const w = chunkText(words, tok, { tokens: 50 });
  assertInvariants(words, tok, 50, w);
  for (const c of w.chunks.slice(0, -1)) assert.match(c.text, /word\d+$/);
  const run = 'x'.repeat(3000) + '漢字'.repeat(500) + '😀'.repeat(300);
  const h = chunkText(run, tok, { tokens: 64 });
  assertInvariants(run, tok, 64, h);
  assert.ok(h.chunks.length > 10);
  // Characters of several tokens each (Egyptian hieroglyphs) are never split between chunks, even
  // when their tokens straddle characters and the limit is below one character's tokens.
  const glyphs = '𓀀𓀁𓀂𓀃'.repeat(50);
  for (const max of [1, 4, 16, 64]) {
    const g = chunkText(glyphs, tok, { tokens: max });
    assertInvariants(glyphs, tok, max, g);
    assert.ok(g.chunks.length > 1);
  }
  // A U+FFFD of the text (an unmapped PDF glyph) is a place to cut like any other character; the
  // U+FFFD that a cut inside a character decodes to is not (found by the property above, seed 915858530).
  assert.deepEqual(chunkText('\ufffd!', tok, { tokens: 1 }).chunks.map((c) => c.text), ['\ufffd', '!']);
  const mixed = '\ufffd𓀀\ufffd\ufffd漢😀\ufffd'.repeat(40);
  for (const max of [1, 2, 3, 7]) assertInvariants(mixed, tok, max, chunkText(mixed, tok, { tokens: max }));
});

void test('"e.g." and initials are not sentence ends', async () => {
  const tok = await getTokenizer();
  const cuts = findCuts('Use a ball, e.g. the cairnstone. Next');
  const kinds = Array.from(cuts.kind.subarray(0, cuts.count));
  const at = Array.from(cuts.at.subarray(0, cuts.count));
  const sentenceAt = at.filter((_, i) => kinds[i] === 2);
  assert.deepEqual(sentenceAt, ['Use a ball, e.g. the cairnstone.'.length]);
  assert.equal(chunkText('', tok).chunks.length, 0);
  assert.equal(chunkText('', tok).tokens, 0);
});

void test('each chunk knows the page it starts on', async () => {
  const tok = await getTokenizer();
  const pages = Array.from({ length: 6 }, (_, i) => `Page ${i + 1}. ` + 'The Moor is eighty-four metres long. '.repeat(30).trim());
  const textAll = pages.join('\n\n');
  const starts: number[] = [];
  let at = 0;
  for (const p of pages) {
    starts.push(at);
    at += p.length + 2;
  }
  const r = chunkText(textAll, tok, { tokens: 120, pageStarts: starts });
  for (const c of r.chunks) {
    const expected = starts.filter((s) => s <= c.charStart + (c.text.length - c.text.trimStart().length)).length;
    assert.equal(c.page, expected);
  }
  assert.equal(r.chunks[0].page, 1);
  assert.equal(r.chunks.at(-1)!.page, 6);
  assert.equal(pageAt([0, 10, 20], 0), 1);
  assert.equal(pageAt([0, 10, 20], 10), 2);
  assert.equal(pageAt([0, 10, 20], 99), 3);
});
