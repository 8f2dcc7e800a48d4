/**
 * Writes sweep results as .qa files: qa/<source>/<variant>-t<temperature>.qa, pairs grouped under
 * `@chunk: N`, with a header that records provenance and a digest of the pairs.
 *
 * A file whose pairs no longer match its @digest was edited by a person and is never rewritten:
 * pairs from requests finished in this run that it does not already hold are appended under
 * their @chunk, and everything the person wrote stays exactly as it was.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, relative } from 'node:path';
import { pairLines, parseQa, serializeQa, type NewBlock, type QaFile } from '../qa';
import { scrub } from '../secrets';
import type { Journal } from './journal';
import { formatTemperature } from './plan';
import type { GeneratedPair, JournalEntry, PlannedRequest } from './types';

export const SWEEP_GENERATOR = 'mnemo sweep';
export const OFFLINE_GENERATOR = 'offline (low-quality fallback)';

/** Whether a `@generator` value names the offline generator (low-quality cloze pairs, no model). */
export function isOfflineGenerator(generator: string | undefined): boolean {
  return !!generator && /^offline\b/i.test(generator.trim());
}

/** The folder under qa/ for a source: its name without extension ("sources/rulebook.pdf" -> "rulebook"), made unique among `all`. */
export function sourceStem(source: string, all: string[] = [source]): string {
  const rel = source.replace(/\\/g, '/').replace(/^sources\//, '');
  const stem = (p: string) => p.slice(0, p.length - extname(p).length);
  const clash = all.some((o) => o !== source && stem(o.replace(/\\/g, '/').replace(/^sources\//, '')) === stem(rel));
  const name = clash ? rel.replace(/\.(\w+)$/, '-$1') : stem(rel);
  return name.replace(/[^\w./-]+/g, '-');
}

export function qaFileName(variant: string, temperature?: number): string {
  return temperature === undefined ? `${variant}.qa` : `${variant}-t${formatTemperature(temperature)}.qa`;
}

/** A hash of a file's pairs (chunk, state, text): equal to @digest while nobody has edited them. */
export function pairsDigest(file: QaFile): string {
  const h = createHash('sha256');
  for (const p of file.pairs) h.update(JSON.stringify([p.chunk ?? '', p.commented, p.reviewed, p.question, p.answer]) + '\n');
  return h.digest('hex').slice(0, 16);
}

/** True when a file was written by Mnemo and not changed since (its pairs match @digest). */
export function isPristine(file: QaFile): boolean {
  return file.header.digest !== undefined && file.header.digest === pairsDigest(file);
}

function normalize(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

export interface QaHeader {
  source: string;
  variant: string;
  temperature?: number;
  model: string;
  generator: string;
}

/** The whole text of a generated file, @digest included. */
export function renderQaFile(header: QaHeader, blocks: Map<number, GeneratedPair[]>, generated = new Date()): string {
  const head: Record<string, string> = { source: header.source, variant: header.variant };
  if (header.temperature !== undefined) head.temperature = formatTemperature(header.temperature);
  head.model = header.model;
  head.generator = header.generator;
  head.generated = generated.toISOString();
  const list: NewBlock[] = [...blocks.entries()]
    .sort((a, b) => a[0] - b[0])
    .filter(([, pairs]) => pairs.length)
    .map(([chunk, pairs]) => ({ chunk: String(chunk), pairs: pairs.map((p) => ({ question: p.question, answer: p.answer })) }));
  const comments = header.generator === OFFLINE_GENERATOR ? ['Made by the offline generator (no model): cloze and reversed statements, a low-quality fallback to try the workflow.'] : [];
  const body = serializeQa(head, list, comments);
  // The digest is over the pairs as the parser reads them back, so a later parse compares like with like.
  const digest = pairsDigest(parseQa(body));
  return serializeQa({ ...head, digest }, list, comments);
}

export type WriteAction = 'created' | 'rewritten' | 'merged' | 'unchanged';

export interface WrittenFile {
  path: string;
  action: WriteAction;
  /** Pairs in the file after writing (created/rewritten), or pairs appended (merged). */
  pairs: number;
}

function atomicWrite(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  // Pairs come from model answers; a key a server slipped into one is scrubbed before it lands in a file.
  writeFileSync(tmp, scrub(text));
  renameSync(tmp, path);
}

/**
 * Writes one file from its blocks. `fresh` are the blocks produced by this run (what may be
 * appended to an edited file); `all` are every block known (what a pristine file is rebuilt from).
 */
export function writeQaFile(path: string, header: QaHeader, all: Map<number, GeneratedPair[]>, fresh: Map<number, GeneratedPair[]>, now = new Date()): WrittenFile {
  if (!existsSync(path)) {
    const text = renderQaFile(header, all, now);
    atomicWrite(path, text);
    return { path, action: 'created', pairs: countPairs(all) };
  }
  const text = readFileSync(path, 'utf8');
  const file = parseQa(text);
  if (isPristine(file)) {
    // Ours and untouched: chunks answered in this run replace the file's; chunks the file lacks
    // (a crash between journal and file, an earlier cancel) are added; the rest stay as they are,
    // so a chunk regenerated earlier keeps its newer pairs.
    const blocks = new Map<number, GeneratedPair[]>();
    for (const p of file.pairs) {
      const n = Number(p.chunk);
      if (!Number.isInteger(n) || fresh.has(n)) continue;
      const list = blocks.get(n) ?? [];
      list.push({ question: p.question, answer: p.answer });
      blocks.set(n, list);
    }
    for (const [n, pairs] of all) if (fresh.has(n) || !blocks.has(n)) blocks.set(n, fresh.get(n) ?? pairs);
    const next = renderQaFile(header, blocks, now);
    const same = stripGenerated(next) === stripGenerated(text);
    if (!same) atomicWrite(path, next);
    return { path, action: same ? 'unchanged' : 'rewritten', pairs: countPairs(blocks) };
  }
  const merged = mergeIntoEdited(file, fresh);
  if (merged.added === 0) return { path, action: 'unchanged', pairs: 0 };
  atomicWrite(path, merged.text);
  return { path, action: 'merged', pairs: merged.added };
}

function stripGenerated(text: string): string {
  return text.replace(/^@generated:.*$/m, '');
}

function countPairs(blocks: Map<number, GeneratedPair[]>): number {
  let n = 0;
  for (const p of blocks.values()) n += p.length;
  return n;
}

/** Appends pairs the edited file does not hold yet (same question, or same answer) under their @chunk; leaves every existing line as it is. */
export function mergeIntoEdited(file: QaFile, fresh: Map<number, GeneratedPair[]>): { text: string; added: number } {
  const questions = new Set(file.pairs.map((p) => normalize(p.question)));
  const answers = new Set(file.pairs.map((p) => normalize(p.answer)));
  const lines = [...file.lines];
  const inserts: { at: number; lines: string[] }[] = [];
  const tail: string[] = [];
  let added = 0;
  for (const [chunk, pairs] of [...fresh.entries()].sort((a, b) => a[0] - b[0])) {
    const news = pairs.filter((p) => {
      const q = normalize(p.question);
      const a = normalize(p.answer);
      if (questions.has(q) || answers.has(a)) return false;
      questions.add(q);
      answers.add(a);
      return true;
    });
    if (!news.length) continue;
    added += news.length;
    const body = news.flatMap((p) => ['', ...pairLines(p)]);
    const last = [...file.pairs].reverse().find((p) => p.chunk === String(chunk));
    if (last) inserts.push({ at: last.lastLine + 1, lines: body });
    else tail.push('', `@chunk: ${chunk}`, ...body.slice(1));
  }
  for (const ins of inserts.sort((a, b) => b.at - a.at)) lines.splice(ins.at, 0, ...ins.lines);
  while (lines.length && lines[lines.length - 1] === '' && tail.length) lines.pop();
  lines.push(...tail);
  const text = lines.join(file.eol) + (file.finalEol || tail.length ? file.eol : '');
  return { text, added };
}

export interface GroupKey {
  source: string;
  variant: string;
  temperature: number;
}

/**
 * Writes (or merges) the file of every source x variant x temperature that has finished requests
 * in `requests`. `freshKeys` are the requests finished in this run.
 */
export function writeSweepOutputs(opts: {
  root: string;
  qaDir: string;
  requests: PlannedRequest[];
  journal: Journal;
  freshKeys: ReadonlySet<string>;
  allSources?: string[];
  generator?: string;
  now?: Date;
}): WrittenFile[] {
  const groups = new Map<string, { key: GroupKey; model: string; entries: JournalEntry[] }>();
  for (const r of opts.requests) {
    const e = opts.journal.done.get(r.key);
    if (!e) continue;
    const id = JSON.stringify([r.source, r.variant, formatTemperature(r.temperature)]);
    const g = groups.get(id) ?? { key: { source: r.source, variant: r.variant, temperature: r.temperature }, model: r.model, entries: [] };
    g.entries.push(e);
    groups.set(id, g);
  }
  const all = opts.allSources ?? [...new Set(opts.requests.map((r) => r.source))];
  const out: WrittenFile[] = [];
  for (const g of groups.values()) {
    const path = join(opts.qaDir, sourceStem(g.key.source, all), qaFileName(g.key.variant, g.key.temperature));
    const blocks = new Map<number, GeneratedPair[]>();
    const fresh = new Map<number, GeneratedPair[]>();
    for (const e of g.entries.sort((a, b) => a.chunk - b.chunk)) {
      const pairs = (e.pairs ?? []).map((p) => ({ question: p.question, answer: p.answer }));
      blocks.set(e.chunk, [...(blocks.get(e.chunk) ?? []), ...pairs]);
      if (opts.freshKeys.has(e.key)) fresh.set(e.chunk, [...(fresh.get(e.chunk) ?? []), ...pairs]);
    }
    out.push(writeQaFile(path, { ...g.key, model: g.model, generator: opts.generator ?? SWEEP_GENERATOR }, blocks, fresh, opts.now));
  }
  return out.map((f) => ({ ...f, path: relative(opts.root, f.path).replace(/\\/g, '/') }));
}
