import { MnemoError } from '../../core/errors';
import { chunkSource } from '../../core/sources';
import { loadProject, selectSources, SOURCE_OPTIONS, summarize } from './shared';
import type { CliCommand } from './types';

/** The first words of a chunk, on one line. */
export function preview(text: string, words = 8): string {
  const w = text.trim().split(/\s+/).slice(0, words).join(' ');
  return w.length < text.trim().length ? `${w}…` : w;
}

export const chunks: CliCommand = {
  name: 'chunks',
  summary: 'List the chunks of each source (or of one, with --source): number, page, token range, id.',
  help: 'npm run mnemo -- chunks --project DIR [--source sources/file.pdf] [--json]\n--json prints every chunk with its text.',
  options: SOURCE_OPTIONS,
  async run(values) {
    const project = loadProject(values);
    const json = !!values.json;
    const out: unknown[] = [];
    let failed = 0;
    for (const s of await selectSources(project, values.source)) {
      if (!s.supported) continue;
      try {
        const c = await chunkSource(project, s.path);
        if (json) {
          out.push({ path: c.path, hash: c.hash, pages: c.pages.length, tokens: c.tokens, tokenizer: project.config.tokenizer, tokensPerChunk: project.config.chunking.tokens, chunks: c.chunks });
          continue;
        }
        console.log(`${c.path}  ${summarize(c)}`);
        const width = String(c.chunks.length).length;
        for (const k of c.chunks) {
          console.log(`  ${String(k.n).padStart(width)}  p.${k.page}  tokens ${k.tokenStart}–${k.tokenEnd}  ${k.id}  "${preview(k.text)}"`);
        }
      } catch (err) {
        if (!(err instanceof MnemoError)) throw err;
        failed++;
        if (json) out.push({ path: s.path, error: err.message, hint: err.hint });
        else console.log(`${s.path}  error: ${err.describe()}`);
      }
    }
    if (json) console.log(JSON.stringify({ sources: out }, null, 2));
    return failed ? 1 : 0;
  },
};
