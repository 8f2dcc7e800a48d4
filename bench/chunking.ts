/**
 * Chunking + token counting of a ~1M-token text (target: under 1 s).
 *   npm run bench:chunking [-- --tokens 1000000] [-- --chunk 500] [-- --tokenizer cl100k_base]
 * The text is the Cairnrun rulebook repeated with variation (numbers, names and sentence order
 * change from copy to copy) so that the tokenizer's merge cache cannot just replay one copy.
 * Last line: {"tokens":..,"seconds":..}.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chunkText } from '../src/core/chunking';
import { getTokenizer, type EncodingName } from '../src/core/tokens';

const { values } = parseArgs({ options: { tokens: { type: 'string', default: '1000000' }, chunk: { type: 'string', default: '500' }, tokenizer: { type: 'string', default: 'o200k_base' } } });
const targetTokens = Number(values.tokens);
const chunkTokens = Number(values.chunk);

/** A small deterministic PRNG (mulberry32), so every run chunks the same text. */
function rng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['Cairnrun', 'Moorball', 'Stonefield', 'Hearthcast', 'Kettlerun', 'Gatestone', 'Warden', 'Herald', 'Buttress', 'Runner'];

function vary(base: string[], random: () => number, copy: number): string {
  const paragraphs = [...base];
  // Swap some paragraphs, rename the sport, change every number.
  for (let i = 0; i < paragraphs.length / 4; i++) {
    const a = Math.floor(random() * paragraphs.length);
    const b = Math.floor(random() * paragraphs.length);
    [paragraphs[a], paragraphs[b]] = [paragraphs[b], paragraphs[a]];
  }
  const name = NAMES[copy % NAMES.length];
  return paragraphs
    .map((p) => p.replace(/Cairnrun/g, name).replace(/\d+/g, (d) => String((Number(d) * (copy + 3) + Math.floor(random() * 97)) % 1000)))
    .join('\n\n');
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const tok = await getTokenizer(values.tokenizer as EncodingName);
  const loadSeconds = (performance.now() - t0) / 1000;
  const base = readFileSync(join(__dirname, '..', 'test/fixtures/rulebook.md'), 'utf8').split(/\n\n+/);
  const baseTokens = tok.count(base.join('\n\n'));
  const random = rng(42);
  const parts: string[] = [];
  for (let copy = 0, total = 0; total < targetTokens; copy++) {
    parts.push(vary(base, random, copy));
    total += baseTokens;
  }
  const text = parts.join('\n\n');
  console.log(`text: ${(text.length / 1e6).toFixed(2)} M characters, ${parts.length} varied copies of the rulebook; tokenizer ${tok.encoding} loaded in ${loadSeconds.toFixed(3)} s`);

  const started = performance.now();
  const result = chunkText(text, tok, { tokens: chunkTokens });
  const seconds = (performance.now() - started) / 1000;

  const sizes = result.chunks.map((c) => c.tokenEnd - c.tokenStart);
  const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
  console.log(`chunking + token counting: ${result.tokens.toLocaleString('en-US')} tokens -> ${result.chunks.length.toLocaleString('en-US')} chunks of <= ${chunkTokens} tokens (mean ${mean.toFixed(0)}, min ${Math.min(...sizes)}, max ${Math.max(...sizes)}) in ${seconds.toFixed(3)} s`);

  // Check against one encoding of the whole text (not part of the timing).
  const c0 = performance.now();
  const whole = tok.count(text);
  console.log(`reference: one countTokens over the whole text = ${whole.toLocaleString('en-US')} tokens in ${((performance.now() - c0) / 1000).toFixed(3)} s; ${whole === result.tokens ? 'equal to the chunks\' sum' : `MISMATCH with the chunks' sum ${result.tokens}`}`);
  if (result.chunks.map((c) => c.text).join('') !== text) console.log('MISMATCH: chunks do not concatenate to the text');
  console.log(JSON.stringify({ tokens: result.tokens, seconds: Number(seconds.toFixed(3)) }));
  if (whole !== result.tokens) process.exitCode = 1;
}

void main();
