/**
 * The workspace index of questions, for duplicate detection within a file and across `qa/`.
 *
 * Exact duplicates share a key (the question's words); near-duplicates are found through MinHash
 * bands (locality-sensitive hashing) and confirmed by Jaccard similarity of their shingles.
 * Updates are incremental: re-indexing a file after an edit touches only the pairs whose text
 * changed, and only questions that share a key or band with those are re-examined.
 */
import type { PairAnalysis } from './checks';
import type { QaFile, QaProblem } from './types';
import { jaccardSorted } from './similarity';

/** Jaccard similarity of shingles from which two questions count as near-duplicates. */
export const NEAR_DUPLICATE_THRESHOLD = 0.75;
/** A band shared by more questions than this is degenerate (e.g. boilerplate) and skipped. */
const MAX_BUCKET = 400;

interface FileEntry {
  path: string;
  refs: Ref[];
  /** Refs whose finding must be recomputed. */
  dirty: Set<Ref>;
  findings: Map<Ref, Finding>;
}

/** One indexed question. Its position is updated in place when lines move. */
export interface Ref {
  file: FileEntry;
  pair: number;
  line: number;
  startCol: number;
  endLine: number;
  endCol: number;
  question: string;
  /** Position among the file's indexed questions at the last update (to notice moved pairs). */
  ord: number;
  a: PairAnalysis;
}

interface Finding {
  kind: 'exact' | 'near';
  other: Ref;
  similarity: number;
}

/** Where a duplicate's original is. */
export interface DuplicateOf {
  path: string;
  line: number;
  pair: number;
}

export class QaIndex {
  private readonly files = new Map<string, FileEntry>();
  private readonly byExact = new Map<string, Bucket>();
  private readonly byBand = new Map<number, Bucket>();

  get fileCount(): number {
    return this.files.size;
  }
  get questionCount(): number {
    let n = 0;
    for (const f of this.files.values()) n += f.refs.length;
    return n;
  }
  paths(): string[] {
    return [...this.files.keys()];
  }
  has(path: string): boolean {
    return this.files.has(path);
  }

  /**
   * Indexes a file's pairs (analyses[i] belongs to file.pairs[i]; commented-out pairs are not
   * indexed). Returns the other files whose duplicate findings changed.
   */
  update(path: string, file: QaFile, analyses: PairAnalysis[]): Set<string> {
    let entry = this.files.get(path);
    if (!entry) {
      entry = { path, refs: [], dirty: new Set(), findings: new Map() };
      this.files.set(path, entry);
    }
    // The questions to index, in order.
    const items: number[] = [];
    for (let i = 0; i < file.pairs.length; i++) {
      const p = file.pairs[i];
      if (!(p.commented || p.question === '' || p.answerLine === undefined)) items.push(i);
    }
    // Reuse the refs of pairs whose analysis (hence question text) is unchanged: first the unchanged
    // run at each end (the common case after an edit), then by analysis in between.
    const prev = entry.refs;
    let head = 0;
    while (head < prev.length && head < items.length && prev[head].a === analyses[items[head]]) head++;
    let tail = 0;
    while (tail < prev.length - head && tail < items.length - head && prev[prev.length - 1 - tail].a === analyses[items[items.length - 1 - tail]]) tail++;
    const old = new Map<PairAnalysis, Ref[]>();
    for (let k = head; k < prev.length - tail; k++) {
      const r = prev[k];
      const list = old.get(r.a);
      if (list) list.push(r);
      else old.set(r.a, [r]);
    }
    const refs: Ref[] = [];
    const added: Ref[] = [];
    const moved: Ref[] = [];
    let maxOrd = head - 1;
    for (let k = 0; k < items.length; k++) {
      const i = items[k];
      const p = file.pairs[i];
      const a = analyses[i];
      const inMiddle = k >= head && k < items.length - tail;
      const reuse = !inMiddle ? (k < head ? prev[k] : prev[prev.length - (items.length - k)]) : old.get(a)?.shift();
      const s = p.questionSpan;
      if (reuse) {
        // A question that now comes before one it used to follow was moved: its order-dependent findings change.
        if (inMiddle) {
          if (reuse.ord < maxOrd) moved.push(reuse);
          maxOrd = Math.max(maxOrd, reuse.ord);
        }
        reuse.ord = refs.length;
        reuse.pair = p.index;
        reuse.line = p.questionLine;
        reuse.startCol = s.startCol;
        reuse.endLine = s.endLine;
        reuse.endCol = s.endCol;
        refs.push(reuse);
      } else {
        const r: Ref = { file: entry, pair: p.index, line: p.questionLine, startCol: s.startCol, endLine: s.endLine, endCol: s.endCol, question: p.question, ord: refs.length, a };
        refs.push(r);
        added.push(r);
      }
    }
    const removed: Ref[] = [];
    for (const list of old.values()) removed.push(...list);
    entry.refs = refs;
    for (const r of removed) this.unlink(r);
    for (const r of added) this.link(r);
    for (const r of added) entry.dirty.add(r);
    for (const r of moved) entry.dirty.add(r);
    return this.invalidate([...removed, ...added, ...moved], path);
  }

  /** Drops a file from the index; returns the other files whose findings changed. */
  remove(path: string): Set<string> {
    const entry = this.files.get(path);
    if (!entry) return new Set();
    this.files.delete(path);
    for (const r of entry.refs) this.unlink(r);
    return this.invalidate(entry.refs, path);
  }

  private link(r: Ref): void {
    add(this.byExact, r.a.exact, r);
    for (const b of r.a.bands) add(this.byBand, b, r);
  }
  private unlink(r: Ref): void {
    del(this.byExact, r.a.exact, r);
    for (const b of r.a.bands) del(this.byBand, b, r);
    r.file.findings.delete(r);
    r.file.dirty.delete(r);
  }

  /** Marks every question that shares a key or band with `changed` for re-examination. */
  private invalidate(changed: Ref[], self: string): Set<string> {
    const touched = new Set<string>();
    const mark = (r: Ref) => {
      if (!this.files.has(r.file.path) || r.file.dirty.has(r)) return;
      r.file.dirty.add(r);
      if (r.file.path !== self) touched.add(r.file.path);
    };
    for (const c of changed) {
      eachMember(this.byExact.get(c.a.exact), mark);
      for (const b of c.a.bands) {
        const bucket = this.byBand.get(b);
        if (bucket && sizeOf(bucket) <= MAX_BUCKET) eachMember(bucket, mark);
      }
    }
    return touched;
  }

  /** Duplicate problems of one file (recomputing only what changed since last asked). */
  problemsFor(path: string): QaProblem[] {
    const entry = this.files.get(path);
    if (!entry) return [];
    for (const r of entry.dirty) {
      const f = this.examine(r);
      if (f) entry.findings.set(r, f);
      else entry.findings.delete(r);
    }
    entry.dirty.clear();
    const out: QaProblem[] = [];
    for (const [r, f] of entry.findings) out.push(this.describe(r, f));
    return out.sort((a, b) => a.startLine - b.startLine);
  }

  /** The original of a duplicate question, for quick fixes and tests. */
  duplicateOf(path: string, pair: number): (DuplicateOf & { kind: 'exact' | 'near'; similarity: number }) | undefined {
    const entry = this.files.get(path);
    if (!entry) return undefined;
    this.problemsFor(path);
    for (const [r, f] of entry.findings) if (r.pair === pair) return { path: f.other.file.path, line: f.other.line, pair: f.other.pair, kind: f.kind, similarity: f.similarity };
    return undefined;
  }

  /** The first earlier question this one duplicates: same file first, exact before near. */
  private examine(r: Ref): Finding | undefined {
    let exactSame: Ref | undefined;
    let exactOther: Ref | undefined;
    const exact = this.byExact.get(r.a.exact);
    const n = exact === undefined ? 0 : Array.isArray(exact) ? exact.length : 1;
    for (let i = 0; i < n; i++) {
      const o = Array.isArray(exact) ? exact[i] : exact!;
      if (o === r || !before(o, r)) continue;
      if (o.file === r.file) {
        if (!exactSame || before(o, exactSame)) exactSame = o;
      } else if (!exactOther || before(o, exactOther)) exactOther = o;
    }
    if (exactSame) return { kind: 'exact', other: exactSame, similarity: 1 };
    let near: Finding | undefined;
    for (const b of r.a.bands) {
      const bucket = this.byBand.get(b);
      if (bucket === undefined) continue;
      const m = Array.isArray(bucket) ? bucket.length : 1;
      if (m > MAX_BUCKET) continue;
      for (let i = 0; i < m; i++) {
        const o = Array.isArray(bucket) ? bucket[i] : bucket;
        if (o === r || !before(o, r) || o.a.exact === r.a.exact || (near && near.other === o)) continue;
        const sim = jaccardSorted(r.a.shingles, o.a.shingles);
        if (sim < NEAR_DUPLICATE_THRESHOLD) continue;
        // Prefer a near-duplicate in the same file, then the most similar, then the earliest.
        const sameFile = o.file === r.file;
        const nearSame = near !== undefined && near.other.file === r.file;
        const better = !near || (sameFile && !nearSame) || (sameFile === nearSame && (sim > near.similarity || (sim === near.similarity && before(o, near.other))));
        if (better) near = { kind: 'near', other: o, similarity: sim };
      }
    }
    if (near && near.other.file === r.file) return near;
    if (exactOther) return { kind: 'exact', other: exactOther, similarity: 1 };
    return near;
  }

  private describe(r: Ref, f: Finding): QaProblem {
    const same = f.other.file === r.file;
    const where = same ? `line ${f.other.line + 1}` : `${f.other.file.path}:${f.other.line + 1}`;
    const span = { startLine: r.line, startCol: r.startCol, endLine: r.endLine, endCol: r.endCol };
    const related = [{ path: f.other.file.path, line: f.other.line, message: 'The earlier question' }];
    if (f.kind === 'exact') {
      return same
        ? { code: 'duplicate', severity: 'warning', message: `Duplicate question: the same question is at ${where}. Remove one of them.`, pair: r.pair, related, ...span }
        : { code: 'duplicate-across-files', severity: 'information', message: `The same question is also in ${where}.`, pair: r.pair, related, ...span };
    }
    const pct = Math.round(f.similarity * 100);
    return same
      ? { code: 'near-duplicate', severity: 'information', message: `Near-duplicate question (${pct}% similar to ${where}).`, pair: r.pair, related, ...span }
      : { code: 'near-duplicate-across-files', severity: 'hint', message: `Near-duplicate of a question in ${where} (${pct}% similar).`, pair: r.pair, related, ...span };
  }
}

/** Order of questions across the workspace: by file path, then by line. */
function before(a: Ref, b: Ref): boolean {
  if (a.file === b.file) return a.line < b.line;
  return a.file.path < b.file.path;
}

// Most buckets hold one question: it is stored alone, and only shared buckets become arrays.
type Bucket = Ref | Ref[];

function eachMember(b: Bucket | undefined, f: (r: Ref) => void): void {
  if (b === undefined) return;
  if (Array.isArray(b)) for (const r of b) f(r);
  else f(b);
}
function sizeOf(b: Bucket): number {
  return Array.isArray(b) ? b.length : 1;
}
function add<K>(m: Map<K, Bucket>, k: K, v: Ref): void {
  const s = m.get(k);
  if (s === undefined) m.set(k, v);
  else if (Array.isArray(s)) s.push(v);
  else m.set(k, [s, v]);
}
function del<K>(m: Map<K, Bucket>, k: K, v: Ref): void {
  const s = m.get(k);
  if (s === undefined) return;
  if (!Array.isArray(s)) {
    if (s === v) m.delete(k);
    return;
  }
  const i = s.indexOf(v);
  if (i >= 0) s.splice(i, 1);
  if (s.length === 1) m.set(k, s[0]);
  else if (s.length === 0) m.delete(k);
}
