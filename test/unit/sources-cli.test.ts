import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { main } from '../../src/cli/main';
import { scaffoldProject } from '../../src/core/project';
import { makeEncryptedPdf } from '../fixtures/pdf';

const repo = join(__dirname, '..', '..');
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-cli-'));
  dirs.push(dir);
  scaffoldProject(dir, 'Cairnrun rules');
  copyFileSync(join(repo, 'examples/cairnrun/sources/rulebook.pdf'), join(dir, 'sources/rulebook.pdf'));
  return dir;
}

/** Runs the CLI in-process and captures what it prints. */
async function run(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.map(String).join(' '));
  try {
    const code = await main(args);
    return { code, out: lines.join('\n') };
  } finally {
    console.log = log;
  }
}

void test('extract prints pages, tokens and chunks per source and exits 0', async () => {
  const dir = project();
  writeFileSync(join(dir, 'sources/notes.txt'), 'The Moor is 84 m long.');
  writeFileSync(join(dir, 'sources/slides.pptx'), 'x');
  const { code, out } = await run(['extract', '--project', dir]);
  assert.equal(code, 0);
  assert.match(out, /^sources\/notes\.txt {2}1 page · \d+ tokens · 1 chunk$/m);
  assert.match(out, /^sources\/rulebook\.pdf {2}10 pages · 5,895 tokens · 13 chunks$/m);
  assert.match(out, /^sources\/slides\.pptx {2}skipped: \.pptx files are not supported/m);
});

void test('extract exits 1 and names the file when a source fails; --json reports it', async () => {
  const dir = project();
  writeFileSync(join(dir, 'sources/locked.pdf'), makeEncryptedPdf(['Secret.']));
  const text = await run(['extract', '--project', dir]);
  assert.equal(text.code, 1);
  assert.match(text.out, /^sources\/locked\.pdf {2}error: sources\/locked\.pdf is encrypted/m);
  assert.match(text.out, /1 of 2 sources could not be extracted/);
  const json = await run(['extract', '--project', dir, '--json']);
  assert.equal(json.code, 1);
  const report = JSON.parse(json.out) as { sources: { path: string; pages?: number; error?: string; hint?: string }[] };
  assert.deepEqual(report.sources.map((s) => [s.path, s.pages, !!s.error]), [['sources/locked.pdf', undefined, true], ['sources/rulebook.pdf', 10, false]]);
  assert.match(report.sources[0].hint ?? '', /qpdf --decrypt/);
});

void test('chunks lists each chunk, and --json gives their texts', async () => {
  const dir = project();
  const { code, out } = await run(['chunks', '--project', dir, '--source', 'sources/rulebook.pdf']);
  assert.equal(code, 0);
  const rows = out.split('\n').filter((l) => /^\s+\d+ {2}p\.\d+ {2}tokens \d+–\d+ {2}[0-9a-f]{16} {2}"/.test(l));
  assert.equal(rows.length, 13);
  const json = JSON.parse((await run(['chunks', '--project', dir, '--json'])).out) as { sources: { path: string; tokens: number; chunks: { n: number; text: string; tokenStart: number; tokenEnd: number }[] }[] };
  const src = json.sources[0];
  assert.equal(src.path, 'sources/rulebook.pdf');
  assert.equal(src.chunks.length, 13);
  assert.equal(src.chunks.at(-1)!.tokenEnd, src.tokens);
  assert.match(src.chunks[0].text, /^Cairnrun: The Laws of the Game/);
});
