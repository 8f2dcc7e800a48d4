/**
 * The sweep plan: every chunk x prompt variant x temperature, each with a stable key, and what it
 * is expected to cost before a single call is made.
 */
import { createHash } from 'node:crypto';
import { renderPrompt, type PromptTemplate } from './prompts';
import type { PlannedRequest, Price, SourceChunks } from './types';

export interface PlanOptions {
  context: string;
  model: string;
  variants: PromptTemplate[];
  temperatures: number[];
  tokensPerQuestion: number;
  maxOutputTokens: number;
  /** Counts tokens of a text: the project's tokenizer (falls back to characters / 4). */
  countTokens?: (text: string) => number;
  /** Mixed into every key so that a deliberate regeneration is a new request (the journal keeps the old one). */
  salt?: string;
}

/** Output tokens a pair usually takes (question + answer + labels), used only for estimates. */
export const EST_TOKENS_PER_PAIR = 45;
/** Tokens chat formatting adds around a message, used only for estimates. */
const MESSAGE_OVERHEAD = 8;

export function charsOver4(text: string): number {
  return Math.ceil(text.length / 4);
}

export function questionsFor(chunkTokens: number, tokensPerQuestion: number): number {
  return Math.max(1, Math.round(chunkTokens / tokensPerQuestion));
}

/**
 * A request's stable key: the same source, chunk text (id), variant, temperature, prompt and model
 * give the same key. The source file's hash is left out on purpose: editing one page of a source
 * re-sends only the chunks whose text changed, not the whole sweep.
 */
export function requestKey(parts: { source: string; chunkId: string; variant: string; temperature: number; prompt: string; model: string; salt?: string }): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([parts.source, parts.chunkId, parts.variant, formatTemperature(parts.temperature), parts.prompt, parts.model, parts.salt ?? '']));
  return h.digest('hex').slice(0, 32);
}

export function formatTemperature(t: number): string {
  return t.toFixed(3);
}

export function buildPlan(sources: SourceChunks[], opts: PlanOptions): PlannedRequest[] {
  const count = opts.countTokens ?? charsOver4;
  const out: PlannedRequest[] = [];
  for (const src of sources) {
    for (const chunk of src.chunks) {
      const questions = questionsFor(chunk.tokenEnd - chunk.tokenStart, opts.tokensPerQuestion);
      for (const template of opts.variants) {
        const prompt = renderPrompt(template.text, { context: opts.context, questions, chunk: chunk.text, source: src.source });
        const estInputTokens = count(prompt) + MESSAGE_OVERHEAD;
        // Atomic-style prompts also list facts and ask several pairs per fact.
        const factor = /FACT\s*\d*:/i.test(template.text) ? 2 : 1;
        const estOutputTokens = Math.min(opts.maxOutputTokens, questions * EST_TOKENS_PER_PAIR * factor);
        for (const temperature of opts.temperatures) {
          out.push({
            key: requestKey({ source: src.source, chunkId: chunk.id, variant: template.variant, temperature, prompt, model: opts.model, salt: opts.salt }),
            source: src.source,
            chunk: chunk.n,
            chunkId: chunk.id,
            variant: template.variant,
            temperature,
            model: opts.model,
            prompt,
            questions,
            maxTokens: opts.maxOutputTokens,
            estInputTokens,
            estOutputTokens,
          });
        }
      }
    }
  }
  return out;
}

/**
 * US dollars per million tokens for common hosted models (list prices, late 2025). A project
 * overrides or extends it with generation.prices in mnemo.json. Local servers cost nothing.
 */
export const BUILTIN_PRICES: Record<string, Price> = {
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-5': { input: 1.25, output: 10 },
  'gpt-5-mini': { input: 0.25, output: 2 },
  'gpt-5-nano': { input: 0.05, output: 0.4 },
  'o4-mini': { input: 1.1, output: 4.4 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
};

/** The price of a model: mnemo.json's table over the built-in one; undefined when unknown. */
export function priceFor(model: string, projectPrices: Record<string, Price> = {}, baseUrl?: string): Price | undefined {
  if (projectPrices[model]) return projectPrices[model];
  if (baseUrl && isLocalUrl(baseUrl)) return { input: 0, output: 0 };
  if (BUILTIN_PRICES[model]) return BUILTIN_PRICES[model];
  // Dated snapshots ("gpt-4o-mini-2024-07-18") cost what their family costs.
  const family = Object.keys(BUILTIN_PRICES)
    .filter((k) => model.startsWith(k + '-'))
    .sort((a, b) => b.length - a.length)[0];
  return family ? BUILTIN_PRICES[family] : undefined;
}

export function isLocalUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);
  } catch {
    return false;
  }
}

export function costOf(usage: { inputTokens: number; outputTokens: number }, price: Price | undefined): number {
  if (!price) return 0;
  return (usage.inputTokens * price.input + usage.outputTokens * price.output) / 1e6;
}

export interface PlanSummary {
  requests: number;
  /** Requests the journal already holds as done: they are not sent again. */
  alreadyDone: number;
  toSend: number;
  sources: number;
  chunks: number;
  variants: string[];
  temperatures: number[];
  model: string;
  estInputTokens: number;
  estOutputTokens: number;
  /** undefined when the model's price is unknown. */
  estCostUsd?: number;
  price?: Price;
  concurrency: number;
  /** Seconds at the chosen concurrency, assuming `secondsPerRequest` each. */
  estSeconds: number;
  secondsPerRequest: number;
  /** True when secondsPerRequest comes from earlier requests of this model (journal). */
  secondsFromJournal: boolean;
  budgetUsd?: number;
}

export function summarizePlan(
  plan: PlannedRequest[],
  opts: { done?: ReadonlySet<string>; price?: Price; concurrency: number; secondsPerRequest?: number; budgetUsd?: number },
): PlanSummary {
  const pending = plan.filter((r) => !opts.done?.has(r.key));
  const estInputTokens = pending.reduce((s, r) => s + r.estInputTokens, 0);
  const estOutputTokens = pending.reduce((s, r) => s + r.estOutputTokens, 0);
  // A hosted model writes roughly 50-100 tokens a second; 8 s is typical for ~500 output tokens.
  const secondsPerRequest = opts.secondsPerRequest ?? 8;
  return {
    requests: plan.length,
    alreadyDone: plan.length - pending.length,
    toSend: pending.length,
    sources: new Set(plan.map((r) => r.source)).size,
    chunks: new Set(plan.map((r) => `${r.source}#${r.chunk}`)).size,
    variants: [...new Set(plan.map((r) => r.variant))],
    temperatures: [...new Set(plan.map((r) => r.temperature))],
    model: plan[0]?.model ?? '',
    estInputTokens,
    estOutputTokens,
    estCostUsd: opts.price ? costOf({ inputTokens: estInputTokens, outputTokens: estOutputTokens }, opts.price) : undefined,
    price: opts.price,
    concurrency: opts.concurrency,
    estSeconds: Math.ceil(pending.length / Math.max(1, opts.concurrency)) * secondsPerRequest,
    secondsPerRequest,
    secondsFromJournal: opts.secondsPerRequest !== undefined,
    budgetUsd: opts.budgetUsd,
  };
}

export function formatUsd(x: number): string {
  return x < 0.01 && x > 0 ? `$${x.toFixed(4)}` : `$${x.toFixed(2)}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** The plan summary as the lines shown before any call (notification detail, CLI). */
export function describePlan(s: PlanSummary): string[] {
  const lines = [
    `${s.requests} requests: ${s.chunks} chunks in ${s.sources} source${s.sources === 1 ? '' : 's'} x ${s.variants.length} variants (${s.variants.join(', ')}) x ${s.temperatures.length} temperatures (${s.temperatures.join(', ')})`,
  ];
  if (s.alreadyDone) lines.push(`${s.alreadyDone} already done (journal), ${s.toSend} to send`);
  lines.push(`model ${s.model}; estimated ${s.estInputTokens.toLocaleString('en-US')} input + ${s.estOutputTokens.toLocaleString('en-US')} output tokens`);
  if (s.estCostUsd !== undefined && s.price) lines.push(`estimated cost ${formatUsd(s.estCostUsd)} (at $${s.price.input}/M input, $${s.price.output}/M output)`);
  else lines.push(`cost unknown: no price for "${s.model}" (add it to generation.prices in mnemo.json)`);
  lines.push(`about ${formatDuration(s.estSeconds)} at concurrency ${s.concurrency} (~${s.secondsPerRequest} s a request${s.secondsFromJournal ? ', as in earlier runs' : ', a typical hosted model'})`);
  if (s.budgetUsd !== undefined) lines.push(`budget cap ${formatUsd(s.budgetUsd)}: the sweep stops before spend would pass it`);
  return lines;
}
