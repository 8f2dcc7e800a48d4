/**
 * Turns a model's answer into Q&A pairs, tolerating what real models return: numbering, labels,
 * markdown, blank lines, JSON, refusals and answers cut off by the token limit. Whatever does not
 * become a pair is returned as a dropped fragment with its reason; nothing is lost silently.
 */
import type { DroppedFragment, GeneratedPair } from './types';

export interface ParsedPair extends GeneratedPair {
  /** The atomic fact (1-based, from "FACT n:" lines) the pair asks about, when the variant lists facts. */
  fact?: number;
}

export interface ParsedResponse {
  pairs: ParsedPair[];
  dropped: DroppedFragment[];
  /** Atomic facts listed by the model ("FACT n: ..."), in order. */
  facts: string[];
}

const REFUSAL = /^(?:i['’]m sorry|i am sorry|sorry,|i can(?:not|['’]t)|i won['’]t|i am unable|i['’]m unable|as an ai\b|unfortunately,? i)/i;
const QUESTION = /^(?:q(?:uestion)?)[ \t]*\d*[ \t]*[:.)][ \t]*/i;
const ANSWER = /^(?:a(?:nswer)?)[ \t]*\d*[ \t]*[:.)][ \t]*/i;
const FACT = /^fact[ \t]*(\d*)[ \t]*[:.)][ \t]*/i;
const LIST_MARKER = /^(?:[-*•+][ \t]+|\(?\d{1,3}[.)][ \t]+|#{1,6}[ \t]+)/;
const INLINE_ANSWER = /[ \t]+(?:\*\*|__)?A(?:nswer)?(?:\*\*|__)?[ \t]*:[ \t]*/;

/** Parses a model's answer. `truncated` is true when the model stopped at the token limit (finish_reason "length"). */
export function parseModelPairs(text: string, opts: { truncated?: boolean } = {}): ParsedResponse {
  const trimmed = stripFences(text.trim());
  if (!trimmed) return { pairs: [], dropped: [{ reason: 'empty', text: '' }], facts: [] };
  if (/^[[{]/.test(trimmed)) {
    const json = parseJsonPairs(trimmed, !!opts.truncated);
    if (json) return json;
  }
  return parseTextPairs(trimmed, !!opts.truncated);
}

function stripFences(text: string): string {
  const m = /^```[\w-]*\s*\n([\s\S]*?)\n?```\s*$/.exec(text);
  return m ? m[1].trim() : text;
}

function clean(line: string): string {
  let l = line.replace(/\*\*|__/g, '').trim();
  // Markers can nest: "1. **Q1:**" -> "Q1:".
  for (let i = 0; i < 2; i++) l = l.replace(LIST_MARKER, '').trim();
  return l;
}

interface Building {
  question: string[];
  answer?: string[];
  fact?: number;
  raw: string[];
}

function parseTextPairs(text: string, truncated: boolean): ParsedResponse {
  const pairs: ParsedPair[] = [];
  const dropped: DroppedFragment[] = [];
  const facts: string[] = [];
  let cur: Building | undefined;
  let fact: number | undefined;
  let stray: string[] = [];
  // Lines without any Q/A labels: fall back to "a line ending in '?' then its answer".
  const labelled = text.split(/\r?\n/).some((l) => QUESTION.test(clean(l)));

  const flushStray = () => {
    if (!stray.length) return;
    const t = stray.join('\n');
    dropped.push({ reason: REFUSAL.test(t) ? 'refusal' : 'stray-text', text: t });
    stray = [];
  };
  const finish = (last = false) => {
    if (!cur) return;
    const q = cur.question.join(' ').replace(/\s+/g, ' ').trim();
    const a = cur.answer?.join(' ').replace(/\s+/g, ' ').trim();
    const raw = cur.raw.join('\n');
    if (cur.answer === undefined) dropped.push({ reason: last ? 'truncated' : 'missing-answer', text: raw });
    else if (!q) dropped.push({ reason: 'missing-question', text: raw });
    else if (!a) dropped.push({ reason: last ? 'truncated' : 'missing-answer', text: raw });
    else pairs.push({ question: q, answer: a, ...(cur.fact !== undefined ? { fact: cur.fact } : {}) });
    cur = undefined;
  };
  const startQuestion = (rest: string, raw: string) => {
    finish();
    flushStray();
    const inline = INLINE_ANSWER.exec(rest);
    cur = { question: [inline ? rest.slice(0, inline.index) : rest], fact, raw: [raw] };
    if (inline) cur.answer = [rest.slice(inline.index + inline[0].length)];
  };

  for (const rawLine of text.split(/\r?\n/)) {
    if (/^\s*```/.test(rawLine)) continue;
    // A horizontal rule between pairs ("---", "***") separates like a blank line.
    const line = /^\s*([-*_=])\1{2,}\s*$/.test(rawLine) ? '' : clean(rawLine);
    if (!line) {
      // A blank line ends an answer; between a question and its answer it is tolerated.
      if (cur?.answer !== undefined) finish();
      flushStray();
      continue;
    }
    const f = FACT.exec(line);
    if (f) {
      finish();
      flushStray();
      facts.push(line.slice(f[0].length).trim());
      fact = facts.length;
      continue;
    }
    const q = QUESTION.exec(line);
    if (q) {
      startQuestion(line.slice(q[0].length), rawLine);
      continue;
    }
    const a = ANSWER.exec(line);
    if (a) {
      if (cur && cur.answer === undefined) {
        cur.answer = [line.slice(a[0].length)];
        cur.raw.push(rawLine);
      } else {
        finish();
        flushStray();
        cur = { question: [], answer: [line.slice(a[0].length)], fact, raw: [rawLine] };
      }
      continue;
    }
    if (!labelled && line.endsWith('?') && !cur) {
      startQuestion(line, rawLine);
      continue;
    }
    if (cur) {
      if (cur.answer !== undefined) cur.answer.push(line);
      // An unlabelled line after a finished question ("...?") is its answer.
      else if (!labelled || /\?\s*$/.test(cur.question.join(' '))) cur.answer = [line];
      else cur.question.push(line);
      cur.raw.push(rawLine);
      continue;
    }
    stray.push(rawLine.trim());
  }
  finish(true);
  flushStray();
  if (truncated && pairs.length && !dropped.some((d) => d.reason === 'truncated')) {
    // The model hit its token limit: the last answer is probably cut mid-sentence.
    const last = pairs.pop()!;
    dropped.push({ reason: 'truncated', text: `Q: ${last.question}\nA: ${last.answer}` });
  }
  return { pairs, dropped, facts };
}

function parseJsonPairs(text: string, truncated: boolean): ParsedResponse | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return salvageJson(text, truncated);
  }
  const items = Array.isArray(value) ? value : findArray(value);
  if (!items) return undefined;
  const out: ParsedResponse = { pairs: [], dropped: [], facts: [] };
  for (const item of items) addJsonItem(item, out);
  return out;
}

function findArray(value: unknown): unknown[] | undefined {
  if (!value || typeof value !== 'object') return undefined;
  for (const v of Object.values(value as Record<string, unknown>)) if (Array.isArray(v)) return v;
  return undefined;
}

function field(o: Record<string, unknown>, names: string[]): string | undefined {
  for (const [k, v] of Object.entries(o)) if (names.includes(k.toLowerCase()) && typeof v === 'string') return v.trim();
  return undefined;
}

function addJsonItem(item: unknown, out: ParsedResponse): void {
  if (!item || typeof item !== 'object') {
    out.dropped.push({ reason: 'bad-json', text: JSON.stringify(item) ?? String(item) });
    return;
  }
  const o = item as Record<string, unknown>;
  const question = field(o, ['question', 'q']);
  const answer = field(o, ['answer', 'a']);
  if (!question) out.dropped.push({ reason: 'missing-question', text: JSON.stringify(o) });
  else if (!answer) out.dropped.push({ reason: 'missing-answer', text: JSON.stringify(o) });
  else out.pairs.push({ question: question.replace(/\s+/g, ' '), answer: answer.replace(/\s+/g, ' ') });
}

/** JSON cut off by the token limit: keep every complete {...} object, drop the rest as truncated. */
function salvageJson(text: string, truncated: boolean): ParsedResponse | undefined {
  const out: ParsedResponse = { pairs: [], dropped: [], facts: [] };
  const objects = /\{[^{}]*\}/g;
  let end = 0;
  let m: RegExpExecArray | null;
  while ((m = objects.exec(text))) {
    try {
      addJsonItem(JSON.parse(m[0]), out);
      end = m.index + m[0].length;
    } catch {
      out.dropped.push({ reason: 'bad-json', text: m[0] });
      end = m.index + m[0].length;
    }
  }
  if (!out.pairs.length && !out.dropped.length) return undefined;
  const tail = text.slice(end).replace(/^[\s,\]}]*/, '').trim();
  if (tail) out.dropped.push({ reason: truncated || !/[\]}]\s*$/.test(text) ? 'truncated' : 'bad-json', text: tail });
  return out;
}

/** Counts of dropped fragments by reason, for logs and summaries. */
export function countDropped(dropped: DroppedFragment[]): Partial<Record<DroppedFragment['reason'], number>> {
  const out: Partial<Record<DroppedFragment['reason'], number>> = {};
  for (const d of dropped) out[d.reason] = (out[d.reason] ?? 0) + 1;
  return out;
}
