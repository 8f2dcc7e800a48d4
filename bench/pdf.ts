/**
 * PDF extraction (pdf-parse, page by page, as Mnemo runs it) against poppler's `pdftotext` on the
 * same files: time ratio and word agreement (bag-of-words overlap, Dice over word multisets).
 *   npm run bench:pdf [-- --runs 5] [-- --large]
 * Files: the sample rulebook (1 column), its 2-column layout, and real manuals from Debian's
 * r-doc-pdf package (/usr/share/R/doc/manual: R-intro 113 pages, R-exts 236 pages; --large adds
 * refman, 2,415 pages). A missing file is reported and skipped.
 * Needs `pdftotext` (Debian: poppler-utils). Last line: {"time_ratio_vs_pdftotext":..,"word_agreement":..}
 * for the 1-column rulebook (targets <= 5 and >= 0.995).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { extractPdfPages, loadPdfParse } from '../src/core/sources/pdf';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, large: { type: 'boolean', default: false } } });
const runs = Math.max(1, Number(values.runs));
const repo = join(__dirname, '..');
const R_MANUALS = '/usr/share/R/doc/manual';

const files: { label: string; path: string; note?: string }[] = [
  { label: '1-column rulebook', path: join(repo, 'examples/cairnrun/sources/rulebook.pdf') },
  { label: '2-column rulebook', path: join(repo, 'test/fixtures/rulebook-2col.pdf') },
  { label: 'R-intro (r-doc-pdf)', path: join(R_MANUALS, 'R-intro.pdf'), note: 'install the Debian package r-doc-pdf' },
  { label: 'R-exts (r-doc-pdf)', path: join(R_MANUALS, 'R-exts.pdf'), note: 'install the Debian package r-doc-pdf' },
  ...(values.large ? [{ label: 'refman (r-doc-pdf)', path: join(R_MANUALS, 'refman.pdf'), note: 'install the Debian package r-doc-pdf' }] : []),
];

function words(text: string): Map<string, number> {
  const bag = new Map<string, number>();
  for (const w of text.normalize('NFKC').toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) bag.set(w, (bag.get(w) ?? 0) + 1);
  return bag;
}

/** Dice coefficient over word multisets: 2|A∩B| / (|A|+|B|). */
function agreement(a: Map<string, number>, b: Map<string, number>): number {
  let inter = 0;
  let na = 0;
  let nb = 0;
  for (const [w, n] of a) {
    na += n;
    inter += Math.min(n, b.get(w) ?? 0);
  }
  for (const n of b.values()) nb += n;
  return na + nb ? (2 * inter) / (na + nb) : 1;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  if (spawnSync('pdftotext', ['-v']).error) {
    console.log('pdftotext is not installed (Debian: poppler-utils); nothing to compare against.');
    process.exitCode = 1;
    return;
  }
  const t0 = performance.now();
  await loadPdfParse();
  // The first document also loads pdf.js's worker module: warm up on one page, outside the figures.
  await extractPdfPages(readFileSync(files[0].path), 'warm-up', { batchPages: 1 });
  console.log(`pdf-parse and its worker loaded in ${((performance.now() - t0) / 1000).toFixed(3)} s (once per process; not in the figures below); median of ${runs} runs per file`);
  let headline: { time_ratio_vs_pdftotext: number; word_agreement: number } | undefined;
  for (const f of files) {
    if (!existsSync(f.path)) {
      console.log(`${f.label}: MISSING ${f.path}${f.note ? ` (${f.note})` : ''}; skipped`);
      continue;
    }
    const bytes = readFileSync(f.path);
    const n = f.label.startsWith('refman') ? 1 : runs;
    const ours: number[] = [];
    const theirs: number[] = [];
    let text = '';
    let pages = 0;
    let poppler = '';
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    for (let i = 0; i < n; i++) {
      const a = performance.now();
      const extracted = await extractPdfPages(bytes, f.label, { onProgress: () => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)) });
      ours.push((performance.now() - a) / 1000);
      text = extracted.map((p) => p.text).join('\n\n');
      pages = extracted.length;
      const b = performance.now();
      poppler = execFileSync('pdftotext', ['-enc', 'UTF-8', f.path, '-'], { encoding: 'utf8', maxBuffer: 1 << 30 });
      theirs.push((performance.now() - b) / 1000);
    }
    const ratio = median(ours) / median(theirs);
    const agree = agreement(words(text), words(poppler));
    const figures = { file: f.label, pages, mb: Number((bytes.length / 1e6).toFixed(2)), pdf_parse_s: Number(median(ours).toFixed(3)), pdftotext_s: Number(median(theirs).toFixed(3)), time_ratio_vs_pdftotext: Number(ratio.toFixed(2)), word_agreement: Number(agree.toFixed(4)), rss_growth_mb: Math.round((rssPeak - rssBefore) / 1e6) };
    console.log(`${f.label}: ${pages} pages, ${figures.mb} MB: pdf-parse ${figures.pdf_parse_s} s, pdftotext ${figures.pdftotext_s} s, ratio ${figures.time_ratio_vs_pdftotext}, word agreement ${figures.word_agreement}, RSS growth ${figures.rss_growth_mb} MB`);
    console.log(JSON.stringify(figures));
    if (f.label.startsWith('1-column')) headline = { time_ratio_vs_pdftotext: figures.time_ratio_vs_pdftotext, word_agreement: figures.word_agreement };
  }
  console.log(JSON.stringify(headline ?? { time_ratio_vs_pdftotext: null, word_agreement: null }));
}

void main();
