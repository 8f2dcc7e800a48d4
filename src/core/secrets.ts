/**
 * The one registry of secrets in use (the API key, the Hub token, SSH passphrases, remote tokens)
 * and the scrubber every string goes through before it leaves a client or reaches a writer.
 *
 * Servers echo keys back, whole or in part ("Incorrect API key provided: sk-abc*******wxyz"), so a
 * secret is scrubbed in these forms:
 *  - the whole value;
 *  - a prefix of at least 8 of its characters followed by a mask (`…`, `...`, `***`), with
 *    whatever tail follows the mask;
 *  - a mask followed by its last 4 characters (`****wxyz`, `sk-...wxyz`), with the prefix of the
 *    secret written before the mask.
 *
 * Values shorter than MIN_SECRET_LENGTH, or placeholders like "no-key", are not registered: they
 * would mangle ordinary text and protect nothing.
 *
 * The core never imports vscode; the extension and the CLI register what they read from secret
 * storage or the environment, and every client registers what it is handed, so a caller that
 * forgets still does not leak.
 */

/** Shorter values are refused: scrubbing them would mangle text. */
export const MIN_SECRET_LENGTH = 8;

/** Placeholder "keys" that local servers accept and that are no secret. */
const NOT_SECRETS = new Set(['no-key', 'none', 'null', 'undefined', 'empty', 'dummy', 'password', 'changeme', 'sk-no-key', 'not-needed', 'anything', 'ollama', 'lm-studio', 'lmstudio', 'localhost', 'secret']);

/** What a scrubbed secret becomes: it names the kind of secret, never any of its characters. */
export function redaction(label: string): string {
  return `[redacted ${label}]`;
}

/** A run of mask characters as servers and proxies write them. */
const MASK = /^(?:…+|\.{3,}|\*{2,}|•{2,}|x{4,}|X{4,})/;
/** Characters a secret's tail may be shown with after a mask (alphanumerics, '-' and '_'). */
const TAIL_CHAR = /[A-Za-z0-9_-]/;

interface Entry {
  value: string;
  label: string;
  count: number;
  prefix: string;
  last4: string;
  /** Finds a mask followed by the last 4 characters, not followed by more key characters. */
  tailRe: RegExp;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Why a value cannot be registered as a secret, or undefined when it can. */
export function secretRefusal(value: string): string | undefined {
  const v = value.trim();
  if (v.length < MIN_SECRET_LENGTH) return `shorter than ${MIN_SECRET_LENGTH} characters`;
  if (NOT_SECRETS.has(v.toLowerCase())) return 'a placeholder, not a secret';
  if (/^(.)\1+$/.test(v)) return 'one repeated character';
  return undefined;
}

export class SecretRegistry {
  private readonly entries = new Map<string, Entry>();

  /**
   * Registers a secret in use. Returns false (and registers nothing) for a value too short or too
   * common to scrub safely. Registering the same value twice needs two unregisters.
   */
  register(value: string | undefined, label: string): boolean {
    if (!value) return false;
    const v = value.trim();
    if (secretRefusal(v)) return false;
    // A passphrase with spaces or quotes also travels URL-encoded or JSON-escaped.
    for (const form of encodedForms(v)) this.add(form, label);
    return true;
  }

  private add(v: string, label: string): void {
    const prior = this.entries.get(v);
    if (prior) {
      prior.count++;
      return;
    }
    const last4 = v.slice(-4);
    this.entries.set(v, {
      value: v,
      label,
      count: 1,
      prefix: v.slice(0, MIN_SECRET_LENGTH),
      last4,
      tailRe: new RegExp(`(?:…+|\\.{3,}|\\*{2,}|•{2,}|x{4,}|X{4,})${escapeRe(last4)}(?![A-Za-z0-9_-])`, 'g'),
    });
  }

  unregister(value: string | undefined): void {
    if (!value) return;
    for (const form of encodedForms(value.trim())) {
      const e = this.entries.get(form);
      if (e && --e.count <= 0) this.entries.delete(form);
    }
  }

  /** Forgets every secret (tests; a session's end). */
  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  /** The text with every registered secret, whole or partial, replaced by its redaction. */
  scrub(text: string): string {
    if (!text || !this.entries.size) return text;
    let out = text;
    // Longer secrets first, so a secret that contains another is replaced whole.
    for (const e of [...this.entries.values()].sort((a, b) => b.value.length - a.value.length)) out = scrubOne(out, e);
    return out;
  }

  /** Whether the text holds a registered secret in any of its forms. */
  contains(text: string): boolean {
    return this.found(text).length > 0;
  }

  /** The labels of the secrets found in the text (each once). */
  found(text: string): string[] {
    if (!text) return [];
    const labels: string[] = [];
    for (const e of this.entries.values()) if (scrubOne(text, e) !== text && !labels.includes(e.label)) labels.push(e.label);
    return labels;
  }

  /** A copy of a JSON-like value with every string (and object key) scrubbed. Errors become plain objects with scrubbed fields. */
  scrubDeep<T>(value: T): T {
    if (!this.entries.size) return value;
    return deep(value, (s) => this.scrub(s), new WeakMap()) as T;
  }
}

/** The value as written, URL-encoded and JSON-escaped (each once). */
function encodedForms(v: string): string[] {
  let url = v;
  try {
    url = encodeURIComponent(v);
  } catch {
    // A lone surrogate: no URL form.
  }
  return [...new Set([v, url, JSON.stringify(v).slice(1, -1)])];
}

function scrubOne(text: string, e: Entry): string {
  const r = redaction(e.label);
  let out = text.includes(e.value) ? text.split(e.value).join(r) : text;
  // A prefix of >= 8 characters, then a mask (and whatever tail follows it).
  if (out.includes(e.prefix)) {
    let result = '';
    let from = 0;
    for (let i = out.indexOf(e.prefix); i >= 0; i = out.indexOf(e.prefix, i + 1)) {
      if (i < from) continue;
      let len = e.prefix.length;
      while (len < e.value.length && out[i + len] === e.value[len]) len++;
      const mask = MASK.exec(out.slice(i + len, i + len + 200));
      if (!mask) continue;
      let end = i + len + mask[0].length;
      while (end < out.length && TAIL_CHAR.test(out[end])) end++;
      result += out.slice(from, i) + r;
      from = end;
    }
    out = result + out.slice(from);
  }
  // A mask followed by the last 4 characters, with the secret's prefix before the mask if written.
  if (out.includes(e.last4)) {
    let result = '';
    let from = 0;
    e.tailRe.lastIndex = 0;
    for (let m = e.tailRe.exec(out); m; m = e.tailRe.exec(out)) {
      const start = Math.max(from, m.index - prefixBefore(out, m.index, e.value));
      result += out.slice(from, start) + r;
      from = m.index + m[0].length;
    }
    out = result + out.slice(from);
  }
  return out;
}

/** How many characters before `offset` are a prefix of the secret standing as a word (the "sk-abc" of "sk-abc****wxyz"). */
function prefixBefore(text: string, offset: number, value: string): number {
  let best = 0;
  for (let n = 1; n <= Math.min(offset, value.length - 4); n++) {
    const starts = offset - n === 0 || !TAIL_CHAR.test(text[offset - n - 1]);
    if (starts && text.slice(offset - n, offset) === value.slice(0, n)) best = n;
  }
  return best;
}

function deep(value: unknown, scrub: (s: string) => string, seen: WeakMap<object, unknown>): unknown {
  if (typeof value === 'string') return scrub(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return seen.get(value);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const v of value) out.push(deep(v, scrub, seen));
    return out;
  }
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: scrub(value.message) };
    seen.set(value, out);
    if (value.stack) out.stack = scrub(value.stack);
    for (const [k, v] of Object.entries(value)) out[scrub(k)] = deep(v, scrub, seen);
    return out;
  }
  if (value instanceof Uint8Array || value instanceof Date || value instanceof RegExp) return value;
  const out: Record<string, unknown> = {};
  seen.set(value, out);
  for (const [k, v] of Object.entries(value)) out[scrub(k)] = deep(v, scrub, seen);
  return out;
}

/** The process-wide registry: the extension host and the CLI each have one. */
export const secretRegistry = new SecretRegistry();

/** Registers a secret in use (false when it is too short or common to scrub safely). */
export function registerSecret(value: string | undefined, label: string): boolean {
  return secretRegistry.register(value, label);
}

export function unregisterSecret(value: string | undefined): void {
  secretRegistry.unregister(value);
}

/** Every registered secret, whole or partial, replaced by its redaction. */
export function scrub(text: string): string {
  return secretRegistry.scrub(text);
}

/** A copy with every string scrubbed (objects, arrays, errors). */
export function scrubDeep<T>(value: T): T {
  return secretRegistry.scrubDeep(value);
}

export function containsSecret(text: string): boolean {
  return secretRegistry.contains(text);
}

/** Hosts a key may be sent to over plain http: the machine itself. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (/^::ffff:127\.\d+\.\d+\.\d+$/.test(h)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The origin of a URL (scheme://host:port), as the allow list holds it; undefined when it is not a URL. */
export function urlOrigin(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/**
 * Whether sending a secret to this URL would send it in clear text over the network: plain
 * http:// to a host that is not loopback. Returns the origin at risk, or undefined when the URL is
 * https, loopback, or not a URL at all (the caller's URL check reports that).
 */
export function clearTextOrigin(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:') return undefined;
  return isLoopbackHost(u.hostname) ? undefined : u.origin;
}

/** Whether an origin is in an allow list of origins or URLs (compared as origins). */
export function originAllowed(origin: string, allowed: readonly string[] | undefined): boolean {
  return !!allowed?.some((a) => (urlOrigin(a.trim()) ?? a.trim().replace(/\/+$/, '')) === origin);
}
