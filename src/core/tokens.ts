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
  /** Text of the tokens; bytes of a character cut at either end become U+FFFD. Stateless. */
  decode(tokens: Iterable<number>): string;
}

// Documents are data, not prompts: a literal "<|endoftext|>" in a PDF is encoded as text instead of throwing.
const AS_TEXT = { disallowedSpecial: new Set<string>() };

interface EncodingModule {
  encode(text: string, options?: typeof AS_TEXT): number[];
  countTokens(text: string, options?: typeof AS_TEXT): number;
  decode(tokens: Iterable<number>): string;
  default?: unknown;
}

/** What gpt-tokenizer 4.0.0 keeps behind its public API: each token's bytes. */
interface EncodingInternals {
  bytePairEncodingCoreProcessor?: { tryDecodeToken?(token: number): string | Uint8Array | undefined };
}

/**
 * gpt-tokenizer's decode() runs every call through one shared streaming TextDecoder: the bytes of
 * a character cut at the end of one call stay buffered and come out at the start of the next.
 * Chunking decodes token slices that may cut characters, so it decodes the tokens' bytes itself:
 * each call stands alone, and cut bytes become U+FFFD as with any UTF-8 decoder.
 */
function statelessDecode(m: EncodingModule, name: EncodingName): (tokens: Iterable<number>) => string {
  const core = (m.default as EncodingInternals | undefined)?.bytePairEncodingCoreProcessor;
  if (typeof core?.tryDecodeToken !== 'function') return (tokens) => m.decode(tokens);
  const bytesOf = core.tryDecodeToken.bind(core);
  const utf8 = new TextEncoder();
  const text = new TextDecoder('utf-8');
  return (tokens) => {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (const token of tokens) {
      const b = bytesOf(token);
      if (b === undefined) throw new Error(`Token ${token} is not in the ${name} vocabulary.`);
      const bytes = typeof b === 'string' ? utf8.encode(b) : b;
      parts.push(bytes);
      length += bytes.length;
    }
    const all = new Uint8Array(length);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return text.decode(all);
  };
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
        decode: statelessDecode(m, name),
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
