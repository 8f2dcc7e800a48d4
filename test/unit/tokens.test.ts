import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countTokens, encodeTokens, getTokenizer, loadedTokenizer } from '../../src/core/tokens';
import { MnemoError } from '../../src/core/errors';

void test('o200k_base is the default and counts like its encoding', async () => {
  const tok = await getTokenizer();
  assert.equal(tok.encoding, 'o200k_base');
  assert.deepEqual(tok.encode('Hello world'), [13225, 2375]);
  assert.equal(await countTokens('Hello world'), 2);
  assert.equal(tok.decode(await encodeTokens('Cairnrun: the Laws of the Game')), 'Cairnrun: the Laws of the Game');
});

void test('cl100k_base is available and differs from o200k_base', async () => {
  const cl = await getTokenizer('cl100k_base');
  const text = 'Les règles du Cairnrun — 84 m × 52 m.';
  assert.equal(cl.decode(cl.encode(text)), text);
  assert.notDeepEqual(cl.encode(text), (await getTokenizer('o200k_base')).encode(text));
});

void test('each encoding loads once and is then available synchronously', async () => {
  const [a, b] = await Promise.all([getTokenizer('o200k_base'), getTokenizer('o200k_base')]);
  assert.equal(a, b);
  assert.equal(loadedTokenizer('o200k_base'), a);
});

void test('special-token strings in a document are plain text, not an error', async () => {
  const tok = await getTokenizer();
  const text = 'A document that mentions <|endoftext|> literally.';
  assert.ok(tok.count(text) > 5);
  assert.equal(tok.decode(tok.encode(text)), text);
});

void test('an unknown tokenizer name is a clear error', async () => {
  await assert.rejects(getTokenizer('p50k' as never), (err: unknown) => err instanceof MnemoError && /Unknown tokenizer "p50k"/.test(err.message) && /o200k_base, cl100k_base/.test(err.hint ?? ''));
});

void test('decode is stateless: a character cut at the end of one call does not leak into the next', async () => {
  const tok = await getTokenizer();
  const glyph = tok.encode('𓀀'); // one character, several tokens
  assert.ok(glyph.length > 1);
  assert.equal(tok.decode(glyph.slice(0, 1)), '\ufffd');
  assert.equal(tok.decode(tok.encode('Moor')), 'Moor');
  assert.equal(tok.decode(glyph), '𓀀');
});
