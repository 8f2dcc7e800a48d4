/**
 * Token counting and encoding with the tokenizer named in mnemo.json (`tokenizer`).
 * Each encoding's tables (~2.5 MB) are loaded on first use, never at extension activation.
 */
import { MnemoError } from './errors';
import { loadHeavy } from './sources/lazy';

export type EncodingName = 'o200k_base' | 'cl100k_base';
export const DEFAULT_ENCODING: EncodingName = 'o200k_base';
export const ENCODINGS: readonly EncodingName[] = ['o200k_base', 'cl100k_base'];

export interface Tokenizer {
  readonly encoding: EncodingName;
  /** Token ids of `text`. Special-token strings such as "<|endoftext|>" are plain text here. */
  encode(text: string): number[];
  count(text: string): number;
  decode(tokens: Iterable<number>): string;
}

// Documents are data, not prompts: a literal "<|endoftext|>" in a PDF is encoded as text instead of throwing.
const AS_TEXT = { disallowedSpecial: new Set<string>() };

interface EncodingModule {
  encode(text: string, options?: typeof AS_TEXT): number[];
  countTokens(text: string, options?: typeof AS_TEXT): number;
  decode(tokens: Iterable<number>): string;
}

const loading = new Map<EncodingName, Promise<Tokenizer>>();
const loaded = new Map<EncodingName, Tokenizer>();

function importEncoding(name: EncodingName): Promise<EncodingModule> {
  // dist/tokenizer-<name>.js when bundled (see scripts/build.mjs), else the package.
  return loadHeavy<EncodingModule>(`tokenizer-${name}`, `gpt-tokenizer/encoding/${name}`);
}

/** The tokenizer for an encoding, loaded once per process. */
export function getTokenizer(name: EncodingName = DEFAULT_ENCODING): Promise<Tokenizer> {
  if (!ENCODINGS.includes(name)) {
    return Promise.reject(new MnemoError(`Unknown tokenizer "${String(name)}".`, `Set "tokenizer" in mnemo.json to one of: ${ENCODINGS.join(', ')}.`));
  }
  let p = loading.get(name);
  if (!p) {
    p = importEncoding(name).then((m) => {
      const tokenizer: Tokenizer = {
        encoding: name,
        encode: (text) => m.encode(text, AS_TEXT),
        count: (text) => m.countTokens(text, AS_TEXT),
        decode: (tokens) => m.decode(tokens),
      };
      loaded.set(name, tokenizer);
      return tokenizer;
    });
    loading.set(name, p);
  }
  return p;
}

/** The tokenizer if it is already loaded (for synchronous callers that loaded it earlier). */
export function loadedTokenizer(name: EncodingName = DEFAULT_ENCODING): Tokenizer | undefined {
  return loaded.get(name);
}

export async function countTokens(text: string, name: EncodingName = DEFAULT_ENCODING): Promise<number> {
  return (await getTokenizer(name)).count(text);
}

export async function encodeTokens(text: string, name: EncodingName = DEFAULT_ENCODING): Promise<number[]> {
  return (await getTokenizer(name)).encode(text);
}
