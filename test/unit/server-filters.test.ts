/**
 * The generation stage's pair filters as language-server diagnostics on pairs already in .qa
 * files (example-echo, vacuous, ungrounded), their quick fix, and the summary the Q&A view
 * filters on: the real server as a child process over stdio, on a project with the rulebook.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { CodeAction, Diagnostic, TextEdit } from 'vscode-languageserver-protocol';
import { parseQa } from '../../src/core/qa';
import { QaSummaryRequest } from '../../src/shared/lsp-protocol';
import { fileUri, rulebookPath, startServer, type ServerHandle } from './server-client';

let root: string;
let server: ServerHandle;

// Chunk 1 of the rulebook is its preamble and definitions (two teams of nine, the Cairnstone, the Tap...).
const FILE = [
  '@source: sources/rulebook.md',
  '@variant: nuanced',
  '@temperature: 0.6',
  '',
  '@chunk: 1',
  'Q: In Cairnrun, how many players does each team have?',
  'A: Each of the two teams has nine players.',
  '',
  'Q: In Rivermark chess rules, how many squares may a ferry move in one turn?',
  'A: A ferry may travel no more than three squares in a single turn.',
  '',
  'Q: What is the rules of the game of Cairnrun?',
  'A: The rules of Cairnrun are as described in the document.',
  '',
  'Q: In Cairnrun, who referees a match?',
  'A: A panel of three umpires in yellow jackets, appointed by the national federation.',
  '',
  '# Q: In Cairnrun, what is as described?',
  '# A: As described in the document.',
  '',
].join('\n');

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'mnemo-lsp-filters-'));
  mkdirSync(join(root, 'sources'));
  mkdirSync(join(root, 'qa'));
  copyFileSync(rulebookPath(), join(root, 'sources/rulebook.md'));
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', keywords: ['Cairnrun'] }));
  writeFileSync(join(root, 'qa/smol.qa'), FILE);
  // A file with the filters' findings turned off in a second project would need a second server; the unit tests cover the settings.
  server = await startServer(root);
  await server.ready;
});

after(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

const byCode = (ds: Diagnostic[], code: string) => ds.filter((d) => d.code === code);

void test('echoed, vacuous and ungrounded pairs get warnings on the right pair; good and commented-out pairs do not', async () => {
  const uri = fileUri(join(root, 'qa/smol.qa'));
  const ds = await server.waitDiagnostics(uri, (d) => d.some((x) => x.code === 'ungrounded'), 30_000);
  const echo = byCode(ds, 'example-echo');
  const vacuous = byCode(ds, 'vacuous');
  const ungrounded = byCode(ds, 'ungrounded');
  assert.deepEqual([echo.length, vacuous.length, ungrounded.length], [1, 1, 1]);
  assert.equal(echo[0].range.start.line, 8);
  assert.match(String(echo[0].message), /repeats the prompt's own example .*Rivermark chess rules/);
  assert.equal(vacuous[0].range.start.line, 12);
  assert.match(String(vacuous[0].message), /^This pair says nothing checkable: its question asks about nothing in particular\./);
  assert.equal(ungrounded[0].range.start.line, 15);
  assert.match(String(ungrounded[0].message), /not grounded in chunk 1: .*not found: panel, three, umpires/);
  assert.ok(ds.every((d) => d.range.start.line !== 5 && d.range.start.line !== 6), 'the good pair has no warning');
  assert.ok(ds.every((d) => d.range.start.line < 17), 'the commented-out pair is not checked');
  assert.ok([...echo, ...vacuous, ...ungrounded].every((d) => d.severity === 2));
});

void test('the quick fix comments the pair out (preferred), and the summary lists the flagged pairs for the Q&A view', async () => {
  const uri = fileUri(join(root, 'qa/smol.qa'));
  const ds = await server.waitDiagnostics(uri, (d) => d.some((x) => x.code === 'example-echo'), 30_000);
  const d = byCode(ds, 'example-echo')[0];
  const actions = (await server.conn.sendRequest('textDocument/codeAction', { textDocument: { uri }, range: d.range, context: { diagnostics: [d] } })) as CodeAction[];
  assert.deepEqual(actions.map((a) => [a.title, a.isPreferred]), [['Comment out this pair', true]]);
  const after = TextDocument.applyEdits(TextDocument.create(uri, 'mnemo-qa', 1, FILE), actions[0].edit!.changes![uri] as TextEdit[]);
  const pairs = parseQa(after).pairs;
  assert.deepEqual(pairs.map((p) => p.commented), [false, true, false, false, true]);

  // With every diagnostic of the pair in the request (an editor sends them all), comment-out stays the preferred fix.
  const both = ds.filter((x) => x.range.start.line === 8);
  assert.deepEqual(both.map((x) => x.code).sort(), ['example-echo', 'not-standalone']);
  const all = (await server.conn.sendRequest('textDocument/codeAction', { textDocument: { uri }, range: d.range, context: { diagnostics: both } })) as CodeAction[];
  assert.deepEqual(all.find((a) => a.title === 'Comment out this pair')?.isPreferred, true);

  const summary = await server.conn.sendRequest(QaSummaryRequest, { uris: [uri] });
  assert.deepEqual(summary.files[0].filteredPairs, [1, 2, 3]);
  assert.deepEqual(summary.files[0].problemPairs, [1, 2, 3]);
});
