/**
 * `mnemo check`: the language server's checks from the command line, in problem-matcher format.
 * Its problems are compared with what the real server (a child process over stdio) publishes for
 * the same project, so the command cannot drift from the editor's diagnostics.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { cli } from './cli-run';
import { fileUri, rulebookPath, startServer } from './server-client';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** `file:line:col: severity: message [code]`, as the problem matcher package.json contributes (`$mnemo-check`) reads it. */
const MATCHER = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')).contributes.problemMatchers.find((m: { name: string }) => m.name === 'mnemo-check');
const LINE = new RegExp(MATCHER.pattern.regexp);

function project(files: Record<string, string>, config: object = { context: 'Cairnrun rules', keywords: ['Cairnrun'] }): string {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-check-'));
  dirs.push(root);
  for (const d of ['sources', 'qa', 'eval']) mkdirSync(join(root, d));
  copyFileSync(rulebookPath(), join(root, 'sources/rulebook.md'));
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify(config));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const A = [
  '@source: sources/rulebook.md',
  '@variant: nuanced',
  '',
  '@chunk: 1',
  'Q: In Cairnrun, how many players does each team field?',
  'A: Nine.',
  '',
  'Q: How heavy is the cairnstone?',
  'A: Between 620 and 650 grams.',
  '',
  'Q: In Cairnrun, what is a Tap?',
  '',
].join('\n');
// In a folder made for it (as a sweep writes qa/<source>/), with the same question as a.qa.
const B = ['@source: sources/rulebook.md', '', '@chunk: 1', 'Q: In Cairnrun, how many players does each team field?', 'A: Nine players on the Moor.', ''].join('\n');
const EVAL = ['@tags: forward', 'Q: In Cairnrun, how long is a watch?', 'A: 30 minutes.', '', 'Q: What is an Overstep?', ''].join('\n');

void test('mnemo check prints each problem as file:line:col: severity: message [code], the same problems the language server publishes, and exits 1 on errors', async () => {
  const root = project({ 'qa/a.qa': A, 'qa/rulebook/b.qa': B, 'eval/questions.qa': EVAL, 'qa/clean.qa': 'Q: In Cairnrun, who keeps time?\nA: The Timekeeper.\n' });
  const r = await cli(['check', '--project', root]);
  assert.equal(r.code, 1, r.err);
  const lines = r.out.split('\n');
  const summary = lines.pop()!;
  assert.match(summary, /^2 errors, \d+ warnings, \d+ notes? in 3 files of 4 \.qa files checked\.$/);
  for (const l of lines) assert.match(l, LINE);
  // The matcher's groups: file, line, column, severity, message, code.
  const m = LINE.exec(lines.find((l) => l.endsWith('[duplicate-across-files]'))!)!;
  assert.deepEqual([MATCHER.pattern.file, MATCHER.pattern.line, MATCHER.pattern.column, MATCHER.pattern.severity, MATCHER.pattern.message, MATCHER.pattern.code], [1, 2, 3, 4, 5, 6]);
  assert.ok(m[1].endsWith('qa/rulebook/b.qa') && m[2] === '4' && m[4] !== undefined && m[6] === 'duplicate-across-files', m.join(' | '));
  // Paths relative to the current folder when the project is inside it (it is not here: it is under the temp folder).
  const rel = (p: string) => (relative(process.cwd(), join(root, p)).startsWith('..') ? join(root, p) : relative(process.cwd(), join(root, p))).split('\\').join('/');
  // The question with no answer, at its Q: (line 11, column 1), in both files.
  assert.ok(lines.some((l) => l.startsWith(`${rel('qa/a.qa')}:11:1: error: `) && l.endsWith('[question-without-answer]')), r.out);
  assert.ok(lines.some((l) => l.startsWith(`${rel('eval/questions.qa')}:5:1: error: `) && l.endsWith('[question-without-answer]')), r.out);
  assert.ok(lines.some((l) => l.startsWith(`${rel('qa/a.qa')}:8:`) && l.includes(': warning: ') && l.endsWith('[not-standalone]')), r.out);
  assert.ok(lines.some((l) => l.startsWith(`${rel('qa/rulebook/b.qa')}:4:`) && l.endsWith('[duplicate-across-files]')), r.out);
  assert.ok(!lines.some((l) => l.includes('clean.qa')), 'a file with no problems prints nothing');

  // The same problems as the server's diagnostics (hints aside: they are not printed).
  const server = await startServer(root);
  try {
    await server.ready;
    const evalUri = fileUri(join(root, 'eval/questions.qa'));
    server.open(evalUri, EVAL);
    await server.waitDiagnostics(evalUri, (d) => d.length > 0);
    const word = { 1: 'error', 2: 'warning', 3: 'info' } as Record<number, string>;
    const fromServer: string[] = [];
    for (const path of ['qa/a.qa', 'qa/rulebook/b.qa', 'eval/questions.qa', 'qa/clean.qa']) {
      const ds = await server.waitDiagnostics(fileUri(join(root, path)));
      for (const d of ds) if (d.severity !== 4) fromServer.push(`${rel(path)}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${word[d.severity!]}: ${d.message} [${String(d.code)}]`);
    }
    assert.deepEqual([...lines].sort(), fromServer.sort());
  } finally {
    await server.stop();
  }
});

void test('mnemo check: warnings alone exit 0, or 1 with --fail-on-warnings; --quiet prints errors only', async () => {
  const root = project({ 'qa/a.qa': 'Q: How heavy is the cairnstone?\nA: Between 620 and 650 grams.\n' });
  const r = await cli(['check', '--project', root]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /: warning: .+ \[not-standalone\]$/m);
  assert.match(r.out, /^0 errors, 1 warning, 0 notes in 1 file of 1 \.qa file checked\.$/m);
  const strict = await cli(['check', '--project', root, '--fail-on-warnings']);
  assert.equal(strict.code, 1);
  const quiet = await cli(['check', '--project', root, '--quiet']);
  assert.equal(quiet.code, 0);
  assert.equal(quiet.out, '0 errors, 1 warning, 0 notes in 1 file of 1 .qa file checked.');
});

void test('mnemo check on a project with no .qa files says so and passes; a broken mnemo.json fails with the key named', async () => {
  const empty = project({});
  const r = await cli(['check', '--project', empty]);
  assert.equal(r.code, 0);
  assert.equal(r.out, 'No .qa files to check (none under qa/ or eval/).');
  const broken = project({ 'qa/a.qa': A }, { context: 'Cairnrun rules', dataset: { rowTokenBudget: 'lots' } });
  const b = await cli(['check', '--project', broken]);
  assert.equal(b.code, 1);
  assert.match(b.err, /^error: .*rowTokenBudget/);
});
