/**
 * Sweeps against the local chat-completions server (openai-server.ts), shared by the runner's
 * tests and bench/sweep.ts: synthetic chunks of rule-book sentences, a plan over them, and a
 * runner wired to a server with a journal in a temporary folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlan, Journal, loadPromptTemplates, OpenAiChatClient, runSweep, type PlannedRequest, type RunOptions, type RunResult } from '../../src/core/generation';
import type { Chunk } from '../../src/core/sources/types';
import type { FakeServer } from './openai-server';

export const SENTENCES = [
  'Opponents must retreat nine metres at a Free Cast.',
  'The captain of the defending side places the stone on the mark.',
  'Play restarts when the referee raises the blue flag.',
  'A cairn is built from exactly seven stones.',
  'Each half lasts thirty minutes of running time.',
  'A player who handles the stone inside the ring concedes a Free Cast.',
  'The Chief Arbiter may stop play for injury at any time.',
];

/** Chunk n: `sentences` sentences of the first `pool` of SENTENCES, starting at sentence `start`, then "(label n.)". */
export function sentenceChunk(n: number, o: { start: number; sentences: number; pool?: number; tokens: number; label?: string }): Chunk {
  const pool = o.pool ?? SENTENCES.length;
  const text = Array.from({ length: o.sentences }, (_, k) => SENTENCES[(o.start + k) % pool]).join(' ') + ` (${o.label ?? 'Chunk'} ${n}.)`;
  return { n, id: `chunk-${n}`, text, tokenStart: (n - 1) * o.tokens, tokenEnd: n * o.tokens, charStart: 0, charEnd: text.length, page: 1 };
}

/** Every chunk x variant x temperature, as `mnemo generate` plans them (built-in prompt templates). */
export function sweepPlan(chunks: Chunk[], o: { variants: string[]; temperatures: number[]; maxOutputTokens: number; source?: string }): PlannedRequest[] {
  return buildPlan([{ source: o.source ?? 'sources/rulebook.md', sourceHash: 'h', chunks }], {
    context: 'Cairnrun rules',
    model: 'mock-model',
    variants: loadPromptTemplates('/nonexistent', o.variants),
    temperatures: o.temperatures,
    tokensPerQuestion: 60,
    maxOutputTokens: o.maxOutputTokens,
  });
}

/** Runner options against `server`, with the test key. */
export function sweepOptions(server: FakeServer, journal: Journal, extra: Partial<RunOptions> = {}): RunOptions {
  return { client: new OpenAiChatClient({ baseUrl: server.url, apiKey: 'test-key' }), journal, concurrency: 4, timeoutMs: 10_000, ...extra };
}

/** Runs a whole sweep against `server` with a fresh journal that is removed afterwards; times it. */
export async function timedSweep(server: FakeServer, requests: PlannedRequest[], extra: Partial<RunOptions> = {}): Promise<{ result: RunResult; seconds: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-sweep-'));
  const journal = Journal.open(join(dir, 'journal.jsonl'));
  try {
    const t0 = performance.now();
    const result = await runSweep(requests, sweepOptions(server, journal, extra));
    return { result, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await journal.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
