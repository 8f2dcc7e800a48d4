/**
 * Generation: synthetic Q&A sweeps over every chunk x prompt variant x temperature.
 * The one API the extension, the CLI and the curation stage (regenerate one chunk) call.
 */
import { MnemoError } from '../errors';
import type { Project } from '../project';
import { chunkSource, getTokenizer, listSources, resolveSourcePath } from '../sources';
import { OpenAiChatClient, type ChatClient } from './client';
import { Journal, journalPath } from './journal';
import { OFFLINE_GENERATOR, writeQaFile, sourceStem, qaFileName, writeSweepOutputs, type WrittenFile } from './output';
import { offlinePairs } from './offline';
import { filterPairs, isFilterReason, PairJudge, templateExamples } from './filters';
import { parseModelPairs, type ParsedResponse } from './parse';
import { buildPlan, charsOver4, priceFor, summarizePlan, type PlanSummary } from './plan';
import { loadPromptTemplates, type PromptTemplate } from './prompts';
import { runSweep, type RetryPolicy, type RunOptions, type RunProgress, type RunResult } from './runner';
import type { GeneratedPair, PlannedRequest, Price, SourceChunks } from './types';
import { join } from 'node:path';

export * from './types';
export * from './client';
export * from './drops';
export * from './filters';
export * from './journal';
export * from './offline';
export * from './output';
export * from './parse';
export * from './plan';
export * from './prompts';
export * from './ratelimit';
export * from './runner';

export interface Endpoint {
  baseUrl: string;
  model: string;
}

/** Where requests go: explicit overrides (CLI flags), then mnemo.json, then user settings. */
export function resolveEndpoint(project: Project, settings: Endpoint, override: Partial<Endpoint> = {}): Endpoint {
  return {
    baseUrl: (override.baseUrl || project.config.generation.baseUrl || settings.baseUrl).replace(/\/+$/, ''),
    model: override.model || project.config.generation.model || settings.model,
  };
}

/**
 * Chunks of the project's sources (all readable ones, or those named), optionally only some chunk
 * numbers. When no source is named, a source that cannot be read (encrypted, scanned, damaged) is
 * skipped and reported through `onSkip`, so one bad file does not stop the others.
 */
export async function loadSourceChunks(
  project: Project,
  opts: { sources?: string[]; chunks?: number[]; signal?: AbortSignal; onSkip?: (path: string, err: MnemoError) => void } = {},
): Promise<SourceChunks[]> {
  const named = !!opts.sources?.length;
  const paths = named ? opts.sources!.map((s) => resolveSourcePath(project, s).rel) : (await listSources(project)).filter((s) => s.kind).map((s) => s.path);
  if (!paths.length) throw new MnemoError('The project has no sources to generate from.', 'Add a PDF, .txt or .md file to sources/ ("Mnemo: Add Source…"), then generate again.', project.sourcesDir, 'addSource');
  const out: SourceChunks[] = [];
  let firstError: MnemoError | undefined;
  for (const path of paths) {
    let src;
    try {
      src = await chunkSource(project, path, { signal: opts.signal });
    } catch (err) {
      if (named || !(err instanceof MnemoError)) throw err;
      firstError ??= err;
      opts.onSkip?.(path, err);
      continue;
    }
    let chunks = src.chunks;
    if (opts.chunks?.length) {
      const missing = opts.chunks.filter((n) => !chunks.some((c) => c.n === n));
      if (missing.length && named) throw new MnemoError(`${src.path} has ${chunks.length} chunks; there is no chunk ${missing.join(', ')}.`, 'Chunks are numbered from 1; expand the source in the Sources view to see them.', src.path);
      chunks = chunks.filter((c) => opts.chunks!.includes(c.n));
    }
    if (chunks.length) out.push({ source: src.path, sourceHash: src.hash, chunks });
  }
  if (!out.length) throw firstError ?? new MnemoError('The sources have no text to generate from.', 'Check the Sources view: each source shows why it has no chunks.', project.sourcesDir);
  return out;
}

export interface SweepOptions extends Endpoint {
  variants?: string[];
  temperatures?: number[];
  concurrency: number;
  budgetUsd?: number;
  /** Makes every key new (a deliberate regeneration); the journal keeps the earlier answers. */
  salt?: string;
  /** Seconds a request usually takes, for the time estimate. */
  secondsPerRequest?: number;
}

export interface PreparedSweep {
  project: Project;
  endpoint: Endpoint;
  plan: PlannedRequest[];
  summary: PlanSummary;
  price?: Price;
  budgetUsd?: number;
  concurrency: number;
  journalFile: string;
  /** The pair filters of mnemo.json generation.filters (undefined when all are off). */
  filter?: RunOptions['filter'];
  allSources: string[];
  countTokens: (text: string) => number;
}

/** Builds the plan and its summary; sends nothing. */
export async function prepareSweep(project: Project, sources: SourceChunks[], opts: SweepOptions): Promise<PreparedSweep> {
  const g = project.config.generation;
  const variants = opts.variants?.length ? opts.variants : g.variants;
  const temperatures = opts.temperatures?.length ? opts.temperatures : g.temperatures;
  for (const t of temperatures) if (!(t >= 0 && t <= 2)) throw new MnemoError(`Temperature ${t} is out of range.`, 'Temperatures go from 0 to 2.');
  const templates = loadPromptTemplates(project.promptsDir, variants);
  let countTokens = charsOver4;
  try {
    const tok = await getTokenizer(project.config.tokenizer);
    countTokens = (t: string) => tok.count(t);
  } catch {
    // The estimate falls back to characters / 4.
  }
  const plan = buildPlan(sources, { context: project.config.context, model: opts.model, variants: templates, temperatures, tokensPerQuestion: g.tokensPerQuestion, maxOutputTokens: g.maxOutputTokens, countTokens, salt: opts.salt });
  const price = priceFor(opts.model, g.prices, opts.baseUrl);
  const journalFile = journalPath(project.cacheDir);
  const journal = Journal.open(journalFile);
  const budgetUsd = opts.budgetUsd ?? g.budgetUsd;
  if (budgetUsd !== undefined && !price) {
    throw new MnemoError(`A budget is set ($${budgetUsd}) but the price of "${opts.model}" is unknown, so spend cannot be counted.`, `Add "${opts.model}": {"input": ..., "output": ...} (US dollars per million tokens) to generation.prices in mnemo.json, or remove the budget.`, project.configPath);
  }
  const summary = summarizePlan(plan, { done: new Set(journal.done.keys()), price, concurrency: opts.concurrency, secondsPerRequest: opts.secondsPerRequest ?? observedSeconds(journal, opts.model), budgetUsd });
  await journal.close();
  const allSources = (await listSources(project).catch(() => [])).filter((s) => s.kind).map((s) => s.path);
  const filter = sweepFilter(project, templates, sources);
  return { project, endpoint: { baseUrl: opts.baseUrl, model: opts.model }, plan, summary, price, budgetUsd, concurrency: opts.concurrency, journalFile, filter, allSources: allSources.length ? allSources : sources.map((s) => s.source), countTokens };
}

/** The pair filters of a sweep (mnemo.json generation.filters): each request's pairs judged against its chunk and its template's examples. */
export function sweepFilter(project: Project, templates: PromptTemplate[], sources: SourceChunks[]): RunOptions['filter'] {
  const f = project.config.generation.filters;
  if (!f.exampleEcho && !f.ungrounded && !f.vacuous && !f.duplicateInAnswer) return undefined;
  const { context, keywords } = project.config;
  const examples = new Map(templates.map((t) => [t.variant, templateExamples(t.text, context)]));
  const chunks = new Map(sources.flatMap((s) => s.chunks.map((c) => [`${s.source}\u0000${c.n}`, c.text] as const)));
  return (r, pairs) => filterPairs(pairs, new PairJudge({ chunk: chunks.get(`${r.source}\u0000${r.chunk}`), context, keywords, examples: examples.get(r.variant) ?? [] }), f);
}

/** The median time of this model's recent requests in the journal, when there are enough to say. */
function observedSeconds(journal: Journal, model: string): number | undefined {
  const ms = [...journal.done.values()].filter((e) => e.model === model && typeof e.ms === 'number').slice(-200).map((e) => e.ms!).sort((a, b) => a - b);
  return ms.length >= 5 ? Math.max(0.1, Math.round(ms[Math.floor(ms.length / 2)] / 100) / 10) : undefined;
}

export interface RunSweepOptions {
  /** The endpoint client; by default the openai SDK client for the prepared endpoint. */
  client?: ChatClient;
  apiKey?: string;
  /** Origins allowed to receive the key over plain http:// (see checkKeyTransport). */
  allowInsecureKey?: readonly string[];
  timeoutMs: number;
  signal?: AbortSignal;
  onProgress?: (p: RunProgress) => void;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  retry?: Partial<RetryPolicy>;
}

export interface SweepOutcome {
  result: RunResult;
  files: WrittenFile[];
}

/** Runs a prepared sweep to the end (or cancel, budget, fatal error) and writes the .qa files of what finished. */
export async function runPreparedSweep(prep: PreparedSweep, opts: RunSweepOptions): Promise<SweepOutcome> {
  const journal = Journal.open(prep.journalFile);
  if (journal.badLines) opts.log?.('warn', `${journal.badLines} unreadable line(s) in ${prep.journalFile} were skipped (a line cut by a crash is normal).`);
  const fresh = new Set<string>();
  // Each chunk's pairs go into their .qa files as soon as the last request of that chunk is
  // journaled, so the files (and the Q&A view) fill during a long sweep; the final pass writes
  // whatever is left (a cancelled sweep's partial chunks, answers journaled by an earlier run).
  const written = new Set<string>();
  const files = new WrittenFiles();
  const chunkOf = (r: PlannedRequest) => `${r.source}\u0000${r.chunk}`;
  const byChunk = new Map<string, PlannedRequest[]>();
  const left = new Map<string, Set<string>>();
  for (const r of prep.plan) {
    const id = chunkOf(r);
    if (!byChunk.has(id)) byChunk.set(id, []);
    byChunk.get(id)!.push(r);
    if (!journal.has(r.key)) left.set(id, (left.get(id) ?? new Set()).add(r.key));
  }
  // Finished chunks not written yet. Writing rebuilds whole files, so writes are spaced to take at
  // most a tenth of the time (a write of d ms waits 10 d after the last one): a long sweep over a
  // large document does not spend itself rewriting growing files.
  const finished = new Set<string>();
  let nextWrite = 0;
  let timer: NodeJS.Timeout | undefined;
  const writeFinished = () => {
    clearTimeout(timer);
    timer = undefined;
    const requests = [...finished].flatMap((id) => byChunk.get(id) ?? []);
    finished.clear();
    const keys = new Set(requests.filter((r) => fresh.has(r.key) && !written.has(r.key)).map((r) => r.key));
    if (!keys.size) return;
    const t0 = Date.now();
    try {
      for (const f of writeSweepOutputs({ root: prep.project.root, qaDir: prep.project.qaDir, requests, journal, freshKeys: keys, allSources: prep.allSources })) files.add(f);
      for (const k of keys) written.add(k);
    } catch (err) {
      // The final pass tries again; the answers are safe in the journal.
      opts.log?.('warn', `could not write the pairs of finished chunks yet: ${err instanceof Error ? err.message : String(err)}`);
    }
    nextWrite = Date.now() + 10 * (Date.now() - t0);
  };
  try {
    const result = await runSweep(prep.plan, {
      client: opts.client ?? new OpenAiChatClient({ baseUrl: prep.endpoint.baseUrl, apiKey: opts.apiKey, allowInsecureKey: opts.allowInsecureKey }),
      journal,
      concurrency: prep.concurrency,
      timeoutMs: opts.timeoutMs,
      price: prep.price,
      budgetUsd: prep.budgetUsd,
      signal: opts.signal,
      retry: opts.retry,
      onProgress: opts.onProgress,
      log: opts.log,
      countTokens: prep.countTokens,
      filter: prep.filter,
      onEntry: (e, r) => {
        if (e.status === 'done') fresh.add(e.key);
        const pending = left.get(chunkOf(r));
        pending?.delete(r.key);
        if (pending && pending.size === 0) {
          finished.add(chunkOf(r));
          if (Date.now() >= nextWrite) writeFinished();
          else timer ??= setTimeout(writeFinished, nextWrite - Date.now());
        }
      },
    });
    clearTimeout(timer);
    const rest = new Set([...fresh].filter((k) => !written.has(k)));
    for (const f of writeSweepOutputs({ root: prep.project.root, qaDir: prep.project.qaDir, requests: prep.plan, journal, freshKeys: rest, allSources: prep.allSources })) files.add(f);
    return { result, files: files.list() };
  } finally {
    clearTimeout(timer);
    await journal.close();
  }
}

/** The files a sweep wrote, each once, however many chunks were written into it. */
class WrittenFiles {
  private readonly byPath = new Map<string, WrittenFile>();
  add(f: WrittenFile): void {
    const prior = this.byPath.get(f.path);
    if (!prior) this.byPath.set(f.path, f);
    else if (f.action === 'merged') this.byPath.set(f.path, { ...f, pairs: (prior.action === 'merged' ? prior.pairs : 0) + f.pairs });
    else if (f.action !== 'unchanged') this.byPath.set(f.path, { ...f, action: prior.action === 'created' ? 'created' : f.action });
  }
  list(): WrittenFile[] {
    return [...this.byPath.values()];
  }
}

export interface PreviewResult {
  request: PlannedRequest;
  text: string;
  parsed: ParsedResponse;
  usage?: { inputTokens: number; outputTokens: number };
  finishReason?: string;
}

/** Sends the first request of a plan alone and returns the prompt and raw answer; writes nothing (not even the journal). */
export async function previewFirst(prep: PreparedSweep, opts: { client?: ChatClient; apiKey?: string; allowInsecureKey?: readonly string[]; timeoutMs: number; signal?: AbortSignal }): Promise<PreviewResult> {
  const request = prep.plan[0];
  if (!request) throw new MnemoError('There is nothing to preview: the plan is empty.', 'Add a source, and check generation.variants and temperatures in mnemo.json.');
  const client = opts.client ?? new OpenAiChatClient({ baseUrl: prep.endpoint.baseUrl, apiKey: opts.apiKey, allowInsecureKey: opts.allowInsecureKey });
  const res = await client.complete({ model: request.model, prompt: request.prompt, temperature: request.temperature, maxTokens: request.maxTokens }, { signal: opts.signal ?? new AbortController().signal, timeoutMs: opts.timeoutMs });
  const parsed = parseModelPairs(res.text, { truncated: res.finishReason === 'length' });
  if (prep.filter) {
    const filtered = prep.filter(request, parsed.pairs);
    parsed.pairs = filtered.pairs;
    parsed.dropped.push(...filtered.dropped);
  }
  return { request, text: res.text, parsed, usage: res.usage, finishReason: res.finishReason };
}

/** The preview as a readable document: the full prompt, then the raw response, then what parsing made of it. */
export function formatPreview(p: PreviewResult): string {
  const r = p.request;
  return [
    `# Preview: ${r.source} chunk ${r.chunk}, variant ${r.variant}, temperature ${r.temperature}, model ${r.model}`,
    '',
    '## Prompt (the whole user message)',
    '',
    r.prompt,
    '',
    `## Raw response${p.finishReason ? ` (finish_reason: ${p.finishReason})` : ''}${p.usage ? `, ${p.usage.inputTokens} input + ${p.usage.outputTokens} output tokens` : ''}`,
    '',
    p.text,
    '',
    `## Parsed: ${p.parsed.pairs.length} pair(s) kept, ${p.parsed.dropped.filter((d) => !isFilterReason(d.reason)).length} fragment(s) the parser dropped, ${p.parsed.dropped.filter((d) => isFilterReason(d.reason)).length} pair(s) the filters dropped${filterCounts(p)}`,
    '',
    ...p.parsed.pairs.flatMap((x) => [`Q: ${x.question}`, `A: ${x.answer}`, '']),
    ...p.parsed.dropped.map((d) => `dropped (${d.reason}${d.detail ? `: ${d.detail}` : ''}): ${d.text}`),
    '',
  ].join('\n');
}

function filterCounts(p: PreviewResult): string {
  const counts = new Map<string, number>();
  for (const d of p.parsed.dropped) if (isFilterReason(d.reason)) counts.set(d.reason, (counts.get(d.reason) ?? 0) + 1);
  return counts.size ? ` (${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}; generation.filters in mnemo.json turns each on or off)` : '';
}

export interface ChunkRegeneration extends SweepOutcome {
  plan: PlannedRequest[];
  /** The new pairs, by request: what the caller may show or place itself. */
  pairs: { source: string; chunk: number; variant: string; temperature: number; pairs: GeneratedPair[] }[];
}

/**
 * Regenerates some chunks of one source: fresh requests (a salt makes their keys new, so the
 * journal's earlier answers do not stop them) over the given variants and temperatures (default:
 * the project's). Pristine .qa files get the new pairs in place of the chunk's old ones; edited
 * files get the new pairs appended under their @chunk (nothing the user wrote changes).
 */
export async function generateForChunks(
  project: Project,
  source: string,
  chunkNs: number[],
  options: Omit<SweepOptions, 'salt'> & Omit<RunSweepOptions, 'onProgress'> & { onProgress?: (p: RunProgress) => void },
): Promise<ChunkRegeneration> {
  const sources = await loadSourceChunks(project, { sources: [source], chunks: chunkNs, signal: options.signal });
  const prep = await prepareSweep(project, sources, { ...options, salt: `regenerate ${new Date().toISOString()}` });
  const outcome = await runPreparedSweep(prep, options);
  const journal = Journal.open(prep.journalFile);
  const pairs = prep.plan.flatMap((r) => {
    const e = journal.done.get(r.key);
    return e ? [{ source: r.source, chunk: r.chunk, variant: r.variant, temperature: r.temperature, pairs: (e.pairs ?? []).map((p) => ({ question: p.question, answer: p.answer })) }] : [];
  });
  await journal.close();
  return { ...outcome, plan: prep.plan, pairs };
}

/** Writes the offline generator's pairs: qa/<source>/offline.qa per source. No model, no key, no network. */
export function generateOffline(project: Project, sources: SourceChunks[], allSources: string[] = sources.map((s) => s.source)): WrittenFile[] {
  const out: WrittenFile[] = [];
  for (const src of sources) {
    const blocks = new Map<number, GeneratedPair[]>();
    for (const c of src.chunks) blocks.set(c.n, offlinePairs(c, project.config.context, project.config.keywords));
    const path = join(project.qaDir, sourceStem(src.source, allSources), qaFileName('offline'));
    const written = writeQaFile(path, { source: src.source, variant: 'offline', model: 'none', generator: OFFLINE_GENERATOR }, blocks, blocks);
    out.push({ ...written, path: written.path.slice(project.root.length + 1).replace(/\\/g, '/') });
  }
  return out;
}
