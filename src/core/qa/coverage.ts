/**
 * Coverage of sources by Q&A pairs: how many active pairs each chunk has, per temperature, and
 * which chunks have none. The gaps are what a curator regenerates or writes by hand.
 */
import { activePairs } from './parse';
import type { QaFile } from './types';

export interface CoverageInput {
  /** Project-relative path of the .qa file. */
  path: string;
  file: QaFile;
}

export interface SourceCoverage {
  source: string;
  /** Number of chunks of the source, when known (from the chunker). */
  chunkCount?: number;
  /** Temperatures seen, sorted ascending ("?" for files without `@temperature`). */
  temperatures: string[];
  /** chunk -> temperature -> active pairs. */
  pairs: Map<string, Map<string, number>>;
  /** Chunks (1..chunkCount) with no active pair at all. */
  uncovered: string[];
  total: number;
}

/** Builds the coverage of every source named by the files (and of `chunkCounts`' sources, covered or not). */
export function coverage(files: CoverageInput[], chunkCounts: Map<string, number> = new Map()): SourceCoverage[] {
  const bySource = new Map<string, SourceCoverage>();
  const get = (source: string) => {
    let c = bySource.get(source);
    if (!c) {
      c = { source, chunkCount: chunkCounts.get(source), temperatures: [], pairs: new Map(), uncovered: [], total: 0 };
      bySource.set(source, c);
    }
    return c;
  };
  for (const source of chunkCounts.keys()) get(source);
  for (const { file } of files) {
    for (const p of activePairs(file)) {
      const c = get(p.meta.source ?? '(no @source)');
      const chunk = p.chunk ?? '?';
      const t = p.meta.temperature ?? '?';
      if (!c.temperatures.includes(t)) c.temperatures.push(t);
      let row = c.pairs.get(chunk);
      if (!row) c.pairs.set(chunk, (row = new Map()));
      row.set(t, (row.get(t) ?? 0) + 1);
      c.total++;
    }
  }
  for (const c of bySource.values()) {
    c.temperatures.sort((a, b) => (Number(a) || Infinity) - (Number(b) || Infinity));
    if (c.chunkCount !== undefined) {
      for (let n = 1; n <= c.chunkCount; n++) if (!c.pairs.has(String(n))) c.uncovered.push(String(n));
    }
  }
  return [...bySource.values()].sort((a, b) => a.source.localeCompare(b.source));
}

/** The coverage as a Markdown report: gaps first, then a chunk x temperature table. */
export function coverageMarkdown(report: SourceCoverage[]): string {
  const out: string[] = ['# Q&A coverage', ''];
  if (report.length === 0) out.push('No sources and no Q&A pairs yet.');
  for (const c of report) {
    out.push(`## ${c.source}`, '');
    const chunks = c.chunkCount !== undefined ? `${c.chunkCount} chunks, ` : '';
    out.push(`${chunks}${c.total} active pairs.`, '');
    if (c.chunkCount !== undefined) {
      out.push(c.uncovered.length ? `**Chunks with no pairs (${c.uncovered.length}):** ${c.uncovered.join(', ')}` : 'Every chunk has at least one pair.', '');
    }
    const rows = [...new Set([...(c.chunkCount ? Array.from({ length: c.chunkCount }, (_, i) => String(i + 1)) : []), ...c.pairs.keys()])].sort((a, b) => (Number(a) || Infinity) - (Number(b) || Infinity));
    if (rows.length === 0) continue;
    const temps = c.temperatures.length ? c.temperatures : ['?'];
    const bold = (n: number) => (n === 0 ? '**0**' : String(n));
    if (temps.length === 1 && temps[0] === '?') {
      // No file names a temperature (offline or hand-written pairs): one column of counts.
      out.push('| chunk | pairs |', '|---:|---:|');
      for (const chunk of rows) out.push(`| ${chunk} | ${bold(c.pairs.get(chunk)?.get('?') ?? 0)} |`);
      out.push('');
      continue;
    }
    const label = (t: string) => (t === '?' ? 'no @temperature' : `t=${t}`);
    out.push(`| chunk | ${temps.map(label).join(' | ')} | total |`, `|---:|${temps.map(() => '---:').join('|')}|---:|`);
    for (const chunk of rows) {
      const row = c.pairs.get(chunk);
      const cells = temps.map((t) => row?.get(t) ?? 0);
      const total = cells.reduce((a, b) => a + b, 0);
      out.push(`| ${chunk} | ${cells.map(bold).join(' | ')} | ${bold(total)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
