import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { QaProblem, Severity } from '../../core/qa';
import { QaWorkspace } from '../../server/workspace';
import { loadProject } from './shared';
import type { CliCommand } from './types';

/** Severity words a problem matcher reads (VS Code's `$tsc` style: error, warning, info). */
const WORD: Record<Exclude<Severity, 'hint'>, string> = { error: 'error', warning: 'warning', information: 'info' };

/** One problem as `file:line:col: severity: message [code]` (1-based line and column, one line). */
export function problemLine(path: string, p: QaProblem): string | undefined {
  if (p.severity === 'hint') return undefined;
  const message = p.message.replace(/\s*\r?\n\s*/g, ' ').trim();
  return `${path}:${p.startLine + 1}:${p.startCol + 1}: ${WORD[p.severity]}: ${message} [${p.code}]`;
}

/** The .qa files under a folder of the project (URIs, sorted), hidden folders left out. */
async function qaFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory() && !e.name.startsWith('.')) await walk(p);
      else if (e.isFile() && e.name.endsWith('.qa')) out.push(pathToFileURL(p).toString());
    }
  };
  await walk(dir);
  return out.sort();
}

export const check: CliCommand = {
  name: 'check',
  summary: "Check every .qa file with the language server's checks; problems as file:line:col: severity: message [code].",
  help: [
    'npm run mnemo -- check --project DIR [--fail-on-warnings] [--quiet]',
    '',
    "Runs the language server's checks (the same code) over qa/**/*.qa and eval/**/*.qa, and prints",
    'one line per problem, `file:line:col: severity: message [code]` (paths relative to the current',
    'folder when the project is inside it, so an editor or a CI problem matcher can link them), then a summary.',
    'Exit code: 1 when there is an error, 0 otherwise (warnings and notes alone pass).',
    '  --fail-on-warnings   exit 1 on warnings too',
    '  --quiet              print errors only (and the summary)',
  ].join('\n'),
  options: { 'fail-on-warnings': { type: 'boolean' }, quiet: { type: 'boolean' } },
  async run(values) {
    // A broken mnemo.json fails here with its message (the server would go on without a project).
    const project = loadProject(values);
    const ws = new QaWorkspace(project.root, (m) => console.error(m));
    await ws.loadProject();
    // qa/ is indexed for duplicates across files, as in the server; eval/ is checked file by file, as an open file there is.
    const uris = [...(await ws.listQaFiles()), ...(await qaFilesUnder(join(project.root, 'eval')))];
    const texts = new Map<string, string>();
    for (const uri of uris) {
      const text = await ws.readFromDisk(uri);
      if (text !== undefined) texts.set(uri, text);
    }
    // Chunks first, as the server does, so answers are checked against their source.
    await Promise.all(ws.sourcesOf([...texts.values()]).map((s) => ws.chunks.load(s)));
    for (const [uri, text] of texts) ws.update(uri, text, false);

    const counts = { error: 0, warning: 0, information: 0 };
    let withProblems = 0;
    for (const uri of texts.keys()) {
      const problems = ws.problems(uri).filter((p) => p.severity !== 'hint');
      if (!problems.length) continue;
      withProblems++;
      const abs = join(project.root, ws.pathOf(uri));
      const rel = relative(process.cwd(), abs);
      const shown = (rel.startsWith('..') ? abs : rel).split(sep).join('/');
      problems.sort((a, b) => a.startLine - b.startLine || a.startCol - b.startCol);
      for (const p of problems) {
        counts[p.severity as keyof typeof counts]++;
        if (values.quiet && p.severity !== 'error') continue;
        console.log(problemLine(shown, p));
      }
    }
    const n = (x: number, one: string) => `${x.toLocaleString('en')} ${one}${x === 1 ? '' : 's'}`;
    console.log(
      texts.size
        ? `${n(counts.error, 'error')}, ${n(counts.warning, 'warning')}, ${n(counts.information, 'note')} in ${n(withProblems, 'file')} of ${n(texts.size, '.qa file')} checked.`
        : 'No .qa files to check (none under qa/ or eval/).',
    );
    return counts.error || (values['fail-on-warnings'] && counts.warning) ? 1 : 0;
  },
};
