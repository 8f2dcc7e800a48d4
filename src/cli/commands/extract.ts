import { MnemoError } from '../../core/errors';
import { chunkSource } from '../../core/sources';
import { loadProject, selectSources, SOURCE_OPTIONS, summarize } from './shared';
import type { CliCommand } from './types';

/** One source's outcome, as printed and as emitted with --json. */
export interface ExtractReport {
  path: string;
  kind?: string;
  pages?: number;
  tokens?: number;
  chunks?: number;
  emptyPages?: number[];
  seconds?: number;
  skipped?: string;
  error?: string;
  hint?: string;
}

export const extract: CliCommand = {
  name: 'extract',
  summary: 'Extract the text of every source (cached by content) and report pages, tokens and chunks.',
  help: 'npm run mnemo -- extract --project DIR [--source sources/file.pdf] [--json]\nExits 1 if any source could not be extracted.',
  options: SOURCE_OPTIONS,
  async run(values) {
    const project = loadProject(values);
    const json = !!values.json;
    const reports: ExtractReport[] = [];
    const sources = await selectSources(project, values.source);
    if (!sources.length && !json) console.log(`No sources in ${project.sourcesDir}. Copy PDFs, .txt or .md files there.`);
    for (const s of sources) {
      if (!s.supported) {
        reports.push({ path: s.path, skipped: s.note });
        if (!json) console.log(`${s.path}  skipped: ${s.note}`);
        continue;
      }
      const started = performance.now();
      const progress = !json && process.stderr.isTTY ? (p: { done: number; total: number }) => process.stderr.write(`\r${s.path}  page ${p.done}/${p.total}`) : undefined;
      try {
        const c = await chunkSource(project, s.path, { onProgress: progress });
        if (progress) process.stderr.write('\r\x1b[K');
        const r: ExtractReport = { path: c.path, kind: c.kind, pages: c.pages.length, tokens: c.tokens, chunks: c.chunks.length, emptyPages: c.emptyPages, seconds: round((performance.now() - started) / 1000) };
        reports.push(r);
        if (!json) {
          const empty = c.emptyPages.length ? `  (${c.emptyPages.length} page${c.emptyPages.length === 1 ? '' : 's'} without text, OCR needed: ${c.emptyPages.slice(0, 10).join(', ')}${c.emptyPages.length > 10 ? ', …' : ''})` : '';
          console.log(`${c.path}  ${summarize(c)}${empty}`);
        }
      } catch (err) {
        if (progress) process.stderr.write('\r\x1b[K');
        if (!(err instanceof MnemoError)) throw err;
        reports.push({ path: s.path, error: err.message, hint: err.hint });
        if (!json) console.log(`${s.path}  error: ${err.describe()}`);
      }
    }
    const failed = reports.filter((r) => r.error).length;
    if (json) console.log(JSON.stringify({ sources: reports }, null, 2));
    else if (failed) console.log(`\n${failed} of ${reports.length} source${reports.length === 1 ? '' : 's'} could not be extracted.`);
    return failed ? 1 : 0;
  },
};

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
