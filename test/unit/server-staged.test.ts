/**
 * A large document opened in the editor (STAGED_CHARS or more) gets two publishes: its structure
 * problems at once, then all its diagnostics. The second must equal what a single check of the
 * same text gives (the file read from disk when the server starts).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Diagnostic } from 'vscode-languageserver-protocol';
import { STAGED_CHARS } from '../../src/server/workspace';
import { fileUri, rulebookPath, startServer } from './server-client';

/** A file over STAGED_CHARS: a structure error, a duplicate, a question that does not stand alone, filtered pairs. */
function largeFile(): string {
  const out = ['@source: sources/rulebook.md', '@variant: nuanced', '@temperature: 0.45', '', '@chunk: 1', 'A: An answer with no question.', ''];
  for (let i = 0; out.join('\n').length < STAGED_CHARS + 10_000; i++) {
    if (i % 50 === 0) out.push(`@chunk: ${(i / 50) % 12 + 1}`, '');
    const q = i === 7 ? 'How heavy is the cairnstone?' : i === 9 ? 'In Cairnrun, what is question 3?' : `In Cairnrun, what is question ${i}?`;
    out.push(`Q: ${q}`, `A: ${i % 40 === 5 ? 'As described in the document.' : `Answer number ${i} about the stone.`}`, '');
  }
  return out.join('\n');
}

const key = (d: Diagnostic) => JSON.stringify([d.range, d.code, d.severity, d.message, d.data, d.relatedInformation]);

void test('a large document opened gets its structure problems first, then exactly the diagnostics of a single check', async () => {
  const root = mkdtempSync(join(tmpdir(), 'mnemo-staged-'));
  try {
    mkdirSync(join(root, 'sources'));
    mkdirSync(join(root, 'qa'));
    copyFileSync(rulebookPath(), join(root, 'sources/rulebook.md'));
    writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', keywords: ['Cairnrun'] }));
    // Another file of the same source, so that its chunks are loaded when the server starts (in both runs).
    writeFileSync(join(root, 'qa/other.qa'), '@source: sources/rulebook.md\n\n@chunk: 2\nQ: In Cairnrun, what is a Tap?\nA: One deliberate bounce of the stone.\n');
    const text = largeFile();
    assert.ok(text.length >= STAGED_CHARS);

    // A single check: the file on disk, read when the server starts.
    writeFileSync(join(root, 'qa/disk.qa'), text);
    const single = await startServer(root);
    let expected: Diagnostic[];
    try {
      await single.ready;
      expected = await single.waitDiagnostics(fileUri(join(root, 'qa/disk.qa')));
    } finally {
      await single.stop();
    }
    const codes = new Set(expected.map((d) => d.code));
    for (const c of ['answer-without-question', 'duplicate', 'not-standalone', 'vacuous']) assert.ok(codes.has(c), `the single check reports ${c}`);
    rmSync(join(root, 'qa/disk.qa'));

    // The same text opened in the editor (not on disk yet), under the same path.
    const server = await startServer(root);
    try {
      await server.ready;
      const uri = fileUri(join(root, 'qa/disk.qa'));
      const publishes: Diagnostic[][] = [];
      const done = server.waitDiagnostics(uri, (d) => publishes.push(d) >= 2, 60_000);
      server.open(uri, text, 1);
      await done;
      assert.deepEqual(publishes[0].map((d) => d.code), ['answer-without-question'], 'the first publish: the structure problems only');
      assert.deepEqual(publishes[1].map(key).sort(), expected.map(key).sort(), 'the second publish: every diagnostic of a single check');
      // Edits after that are checked in one go, from the cached analyses.
      server.change(uri, 2, [{ range: { start: { line: 5, character: 0 }, end: { line: 5, character: 0 } }, text: 'Q: In Cairnrun, what is new?\n' }]);
      const edited = await server.waitDiagnostics(uri, () => server.versions.get(uri) === 2);
      assert.ok(!edited.some((d) => d.code === 'answer-without-question'));
      assert.equal(edited.filter((d) => d.code === 'duplicate').length, expected.filter((d) => d.code === 'duplicate').length);
      assert.deepEqual(server.errors, []);
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
