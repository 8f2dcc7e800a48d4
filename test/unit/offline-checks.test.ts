// The offline generator's own output against the curation checks: the .qa file it writes for the
// example rule book gets no "copies N consecutive words verbatim" warning (there were 170).
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generateOffline, loadSourceChunks } from '../../src/core/generation';
import { MAX_START_WORDS, sentences } from '../../src/core/generation/offline';
import { Project } from '../../src/core/project';
import { Checker, parseQa } from '../../src/core/qa';
import { words } from '../../src/core/qa/similarity';
import { rulebookPath } from './server-client';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

void test('the offline generator writes pairs the verbatim check does not flag: a reversed statement asks for a short start, not the whole sentence', async () => {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-offline-'));
  dirs.push(root);
  mkdirSync(join(root, 'sources'));
  copyFileSync(rulebookPath(), join(root, 'sources/rulebook.md'));
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules' }));
  const project = Project.load(root);
  const sources = await loadSourceChunks(project, {});
  const [written] = generateOffline(project, sources);
  const file = parseQa(readFileSync(join(root, written.path), 'utf8'));
  assert.ok(file.pairs.length > 200, `${file.pairs.length} pairs`);
  const chunks = new Map(sources[0].chunks.map((c) => [String(c.n), c.text]));
  const checker = new Checker({ context: 'Cairnrun rules', keywords: [], rowTokenBudget: 512, countTokens: (t) => Math.ceil(t.length / 4), chunkText: (_s, n) => chunks.get(n) });
  const problems = checker.checkFile(file, written.path);
  const verbatim = problems.filter((p) => p.code === 'verbatim');
  assert.deepEqual(verbatim.map((p) => p.message), []);
  // The check is on: the same chunk text copied into an answer is still flagged.
  const copied = parseQa(`@source: sources/rulebook.md\n\n@chunk: 2\nQ: In Cairnrun rules, what does the rule say?\nA: ${chunks.get('2')!.split(/\s+/).slice(5, 25).join(' ')}\n`);
  assert.equal(checker.checkFile(copied).filter((p) => p.code === 'verbatim').length, 1);
  // Reversed statements: the start of a sentence of the chunk, at most MAX_START_WORDS words.
  const reversed = file.pairs.filter((p) => p.question.includes('how does the statement that ends'));
  assert.ok(reversed.length > 50);
  for (const p of reversed) {
    assert.ok(words(p.answer).length <= MAX_START_WORDS, p.answer);
    assert.ok(sentences(chunks.get(p.chunk!)!).some((s) => s.startsWith(p.answer)), `"${p.answer}" is the start of a sentence of chunk ${p.chunk}`);
  }
});
