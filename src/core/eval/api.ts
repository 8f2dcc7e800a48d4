/**
 * Answering with any OpenAI-compatible model (the generation stage's client), as a baseline:
 * with no context, with the whole document in the prompt (the ceiling), or with the top chunks by
 * a lexical score (BM25 over the question's words).
 */
import { MnemoError } from '../errors';
import { classifyError, explainFailure, OpenAiChatClient, RequestFailure, type ChatClient } from '../generation/client';
import { loadSourceChunks } from '../generation';
import type { Project } from '../project';
import { pool } from './grade';
import { normalizeTokens } from './match';
import type { AnswerRecord, ContextMode, EvalProgress, EvalSet } from './types';

export interface ApiAnswerOptions {
  baseUrl: string;
  model: string;
  /** From OPENAI_API_KEY or secret storage; never logged. */
  apiKey?: string;
  /** A client to use instead of one made from baseUrl/apiKey (tests, the extension). */
  client?: ChatClient;
  context?: ContextMode;
  /** Chunks for context 'chunks' (default mnemo.json eval.topK). */
  topK?: number;
  concurrency?: number;
  timeoutMs?: number;
  maxTokens?: number;
  signal?: AbortSignal;
  onProgress?: (p: EvalProgress) => void;
}

export interface ContextChunk {
  source: string;
  n: number;
  text: string;
}

const STOP = new Set('a an the and or of in on at to for by with is are was be what which who how does do did many much may can when where why it its this that there their than from as into not no yes'.split(' '));

function terms(text: string): string[] {
  return normalizeTokens(text).filter((t) => !STOP.has(t) && (t.length > 1 || /\d/.test(t)));
}

/** Okapi BM25 (k1 1.5, b 0.75): the indices of the `k` best chunks for the query, best first. */
export function bm25TopK(query: string, docs: string[], k: number): number[] {
  const docTerms = docs.map(terms);
  const avg = docTerms.reduce((s, d) => s + d.length, 0) / Math.max(1, docTerms.length);
  const df = new Map<string, number>();
  for (const d of docTerms) for (const t of new Set(d)) df.set(t, (df.get(t) ?? 0) + 1);
  const q = [...new Set(terms(query))];
  const N = docs.length;
  const scores = docTerms.map((d, i) => {
    const tf = new Map<string, number>();
    for (const t of d) tf.set(t, (tf.get(t) ?? 0) + 1);
    let s = 0;
    for (const t of q) {
      const f = tf.get(t);
      if (!f) continue;
      const n = df.get(t) ?? 0;
      const idf = Math.log(1 + (N - n + 0.5) / (n + 0.5));
      s += (idf * f * 2.5) / (f + 1.5 * (0.25 + (0.75 * d.length) / (avg || 1)));
    }
    return { i, s };
  });
  return scores.sort((a, b) => b.s - a.s || a.i - b.i).slice(0, Math.min(k, N)).map((x) => x.i);
}

/** The prompt an API model gets for one question. */
export function apiPrompt(question: string, context: ContextMode, about: string, material: ContextChunk[] | string): string {
  const ask = `Answer the question in one or two sentences. Give the exact names and numbers.\n\nQuestion: ${question}`;
  if (context === 'none') return ask;
  if (context === 'document') {
    return `Here is the complete document about ${about}.\n\n<document>\n${material as string}\n</document>\n\nAnswer from the document. ${ask}`;
  }
  const parts = (material as ContextChunk[]).map((c) => `<chunk source="${c.source}" n="${c.n}">\n${c.text.trim()}\n</chunk>`).join('\n\n');
  return `Here are passages of a document about ${about}.\n\n${parts}\n\nAnswer from the passages. ${ask}`;
}

/** Every chunk of the project's readable sources, in order. */
export async function loadContextChunks(project: Project, signal?: AbortSignal): Promise<ContextChunk[]> {
  const sources = await loadSourceChunks(project, { signal });
  return sources.flatMap((s) => s.chunks.map((c) => ({ source: s.source, n: c.n, text: c.text })));
}

/** The whole text of the project's sources (each source's chunks joined back into its text). */
export function documentText(chunks: ContextChunk[]): string {
  const bySource = new Map<string, string[]>();
  for (const c of chunks) {
    let t = bySource.get(c.source);
    if (!t) bySource.set(c.source, (t = []));
    t.push(c.text);
  }
  return [...bySource.entries()].map(([s, parts]) => (bySource.size > 1 ? `## ${s}\n\n${parts.join('')}` : parts.join(''))).join('\n\n');
}

const MAX_ATTEMPTS = 3;

/**
 * Asks an API model every question of the set. A question that fails (timeout, server error after
 * retries) gets an answer record with `error` and the others go on; a refused key or an unknown
 * model stops at once with a MnemoError that says what to do.
 */
export async function answerWithApi(project: Project, set: EvalSet, opts: ApiAnswerOptions): Promise<AnswerRecord[]> {
  const context = opts.context ?? 'none';
  const client = opts.client ?? new OpenAiChatClient({ baseUrl: opts.baseUrl, apiKey: opts.apiKey });
  const signal = opts.signal ?? new AbortController().signal;
  const timeoutMs = opts.timeoutMs ?? project.config.eval.timeoutSeconds * 1000;
  const topK = opts.topK ?? project.config.eval.topK;
  opts.onProgress?.({ phase: 'loading', done: 0, total: set.questions.length, message: context === 'none' ? undefined : 'reading the sources' });
  const material = context === 'none' ? [] : await loadContextChunks(project, signal);
  const doc = context === 'document' ? documentText(material) : '';
  const records: AnswerRecord[] = new Array(set.questions.length);
  let done = 0;
  let fatal: RequestFailure | undefined;
  const inner = new AbortController();
  const onAbort = () => inner.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await pool(
      set.questions,
      opts.concurrency ?? project.config.eval.concurrency,
      async (q, i) => {
        const picked = context === 'chunks' ? bm25TopK(q.question, material.map((c) => c.text), topK).map((j) => material[j]) : material;
        const prompt = apiPrompt(q.question, context, project.config.context, context === 'document' ? doc : picked);
        const started = Date.now();
        let answer = '';
        let error: string | undefined;
        for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
          try {
            const res = await client.complete({ model: opts.model, prompt, temperature: 0, maxTokens: opts.maxTokens ?? project.config.eval.maxNewTokens }, { signal: inner.signal, timeoutMs });
            answer = res.text.trim();
            error = undefined;
            break;
          } catch (err) {
            const f = classifyError(err);
            if (f.kind === 'cancelled') throw f;
            if (f.fatal) {
              fatal ??= f;
              inner.abort();
              throw f;
            }
            error = f.kind === 'timeout' ? `timed out after ${Math.round(timeoutMs / 1000)} s` : f.message;
            // A timeout is not retried: the next question should not wait twice as long.
            if (!f.retryable || f.kind === 'timeout' || attempt === MAX_ATTEMPTS) break;
            await new Promise((r) => setTimeout(r, f.retryAfterMs ?? 500 * 2 ** (attempt - 1)));
          }
        }
        records[i] = { questionId: q.id, question: q.question, reference: q.reference, tags: q.tags, ...(q.keys ? { keys: q.keys } : {}), answer, ...(error ? { error } : {}), latencyMs: Date.now() - started, verdict: { correct: null, by: 'none' } };
        done++;
        opts.onProgress?.({ phase: 'answering', done, total: set.questions.length });
      },
      inner.signal,
    );
  } catch (err) {
    if (fatal) throw new MnemoError(explainFailure(fatal, { baseUrl: opts.baseUrl, model: opts.model, apiKey: opts.apiKey }, 'answering the eval questions'));
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  if (signal.aborted) throw new RequestFailure('cancelled', 'cancelled');
  return records;
}
