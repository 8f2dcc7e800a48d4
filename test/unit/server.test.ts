/**
 * The .qa language server over a real connection: a child process speaking LSP on stdio, driven
 * the way an editor drives it (open, incremental edits, requests), on a real project folder.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { CodeAction, CodeLens, Diagnostic, DocumentSymbol, FoldingRange, Hover, Location, TextEdit } from 'vscode-languageserver-protocol';
import { Project } from '../../src/core/project';
import { parseQa } from '../../src/core/qa';
import { words } from '../../src/core/qa/similarity';
import { chunkSource } from '../../src/core/sources';
import { QaSummaryRequest } from '../../src/shared/lsp-protocol';
import { fileUri, rulebookPath, startServer, type ServerHandle } from './server-client';

let root: string;
let server: ServerHandle;
let chunk2Words: string[];
const codes = (ds: Diagnostic[]) => ds.map((d) => d.code).sort();
const NO_FILTERS = { exampleEcho: false, vacuous: false, ungrounded: false };

const A = [
  '@source: sources/rulebook.md',
  '@variant: nuanced',
  '@temperature: 0.45',
  '',
  '@chunk: 1',
  'Q: In Cairnrun, how many players does each team field?',
  'A: Nine.',
  '',
  'Q: How heavy is the cairnstone?',
  'A: Between 620 and 650 grams.',
  '',
  'Q: In Cairnrun, how many players does each team field?',
  'A: Nine players.',
  '',
  'Q: In Cairnrun, what is a Tap?',
  '',
].join('\n');

const B = ['@source: sources/rulebook.md', '@temperature: 1.2', '', '@chunk: 1', 'Q: In Cairnrun, what is a Tap?', 'A: One deliberate bounce of the stone by the Carrier.', ''].join('\n');

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'mnemo-lsp-'));
  mkdirSync(join(root, 'sources'));
  mkdirSync(join(root, 'qa'));
  copyFileSync(rulebookPath(), join(root, 'sources/rulebook.md'));
  // The pair filters' diagnostics (placeholder answers here are vacuous or not in their chunk) have their own tests: server-filters.test.ts.
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', keywords: ['Cairnrun'], dataset: { rowTokenBudget: 200 }, generation: { filters: NO_FILTERS } }));
  writeFileSync(join(root, 'qa/a.qa'), A);
  writeFileSync(join(root, 'qa/b.qa'), B);
  const chunked = await chunkSource(Project.load(root), 'sources/rulebook.md');
  chunk2Words = words(chunked.chunks[1].text);
  server = await startServer(root);
  await server.ready;
});

after(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

const uriA = () => fileUri(join(root, 'qa/a.qa'));
const uriB = () => fileUri(join(root, 'qa/b.qa'));

void test('closed files under qa/ get diagnostics after the first pass: structure, standalone, duplicates within and across files', async () => {
  const a = await server.waitDiagnostics(uriA());
  assert.deepEqual(codes(a), ['duplicate', 'not-standalone', 'question-without-answer']);
  const dup = a.find((d) => d.code === 'duplicate')!;
  assert.equal(dup.range.start.line, 11);
  assert.equal(dup.relatedInformation?.[0].location.range.start.line, 5);
  // b's question is also in a (whose pair has no answer, so it is not active but still a question).
  const b = await server.waitDiagnostics(uriB());
  assert.deepEqual(codes(b), []);
});

void test('incremental edits re-check the file and the files that share its questions', async () => {
  server.open(uriA(), A, 1);
  // Give a's Tap question an answer: it is now b's earlier duplicate (qa/a.qa sorts before qa/b.qa).
  server.change(uriA(), 2, [{ range: { start: { line: 14, character: 29 }, end: { line: 14, character: 29 } }, text: '\nA: A single bounce.' }]);
  await server.waitDiagnostics(uriA(), (d) => !codes(d).includes('question-without-answer'));
  const b = await server.waitDiagnostics(uriB(), (d) => codes(d).includes('duplicate-across-files'));
  assert.match(b[0].message as string, /qa\/a\.qa:15/);
  // Fix the standalone problem by editing one line.
  server.change(uriA(), 3, [{ range: { start: { line: 8, character: 3 }, end: { line: 8, character: 3 } }, text: 'In Cairnrun, h' }, { range: { start: { line: 8, character: 17 }, end: { line: 8, character: 18 } }, text: '' }]);
  const a = await server.waitDiagnostics(uriA(), (d) => !codes(d).includes('not-standalone'));
  assert.deepEqual(codes(a), ['duplicate']);
});

void test('quick fixes: remove a duplicate, add the context, comment out a pair', async () => {
  const text = ['@source: sources/rulebook.md', '', '@chunk: 2', 'Q: What is a Clasp?', 'A: A two-handed touch.', '', 'Q: In Cairnrun, what is a Clasp?', 'A: A touch.', '', 'Q: In Cairnrun, what is a clasp', 'A: Two hands on the torso.', ''].join('\r\n');
  const uri = fileUri(join(root, 'qa/c.qa'));
  server.open(uri, text, 1);
  const ds = await server.waitDiagnostics(uri, (d) => codes(d).includes('duplicate'));
  const actions = async (d: Diagnostic) => (await server.conn.sendRequest('textDocument/codeAction', { textDocument: { uri }, range: d.range, context: { diagnostics: [d] } })) as CodeAction[];
  const apply = (a: CodeAction) => TextDocument.applyEdits(TextDocument.create(uri, 'mnemo-qa', 1, text), a.edit!.changes![uri] as TextEdit[]);

  const dupActions = await actions(ds.find((d) => d.code === 'duplicate')!);
  assert.deepEqual(dupActions.map((a) => a.title), ['Remove this duplicate pair', 'Comment out this pair']);
  const removed = apply(dupActions[0]);
  assert.deepEqual(parseQa(removed).pairs.map((p) => p.answer), ['A two-handed touch.', 'A touch.']);
  assert.ok(!/[^\r]\n/.test(removed), 'CRLF kept');
  const commented = parseQa(apply(dupActions[1]));
  assert.equal(commented.pairs[2].commented, true);

  const ctxActions = await actions(ds.find((d) => d.code === 'not-standalone')!);
  assert.equal(ctxActions[0].title, 'Add the context: "In Cairnrun rules, …"');
  assert.equal(parseQa(apply(ctxActions[0])).pairs[0].question, 'In Cairnrun rules, what is a Clasp?');
  server.close(uri);
});

void test('an answer that copies its chunk is flagged, hover shows the chunk, definition goes to it', async () => {
  const copied = chunk2Words.slice(5, 25).join(' ');
  const text = ['@source: sources/rulebook.md', '', '@chunk: 2', 'Q: In Cairnrun, what does the rule say?', `A: ${copied}.`, ''].join('\n');
  const uri = fileUri(join(root, 'qa/d.qa'));
  server.open(uri, text, 1);
  const ds = await server.waitDiagnostics(uri, (d) => codes(d).includes('verbatim'));
  assert.equal(ds[0].range.start.line, 4);
  const hover = (await server.conn.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line: 2, character: 3 } })) as Hover;
  const value = (hover.contents as { value: string }).value;
  assert.match(value, /\*\*Chunk 2\*\* of `sources\/rulebook.md`/);
  assert.ok(value.toLowerCase().includes(chunk2Words[5]));
  const pairHover = (await server.conn.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line: 4, character: 3 } })) as Hover;
  assert.match((pairHover.contents as { value: string }).value, /Chunk 2/);
  const def = (await server.conn.sendRequest('textDocument/definition', { textDocument: { uri }, position: { line: 2, character: 3 } })) as Location;
  assert.equal(def.uri, fileUri(join(root, 'sources/rulebook.md')));
  assert.ok(def.range.end.line > def.range.start.line);
  server.close(uri);
});

void test('outline, folding, code lenses and formatting', async () => {
  const text = ['@source: sources/rulebook.md', '', '@chunk: 1', 'Q:In Cairnrun, one?  ', 'A:  First.', 'Q: In Cairnrun, two', 'continued?', 'A: Second.', '', '', '@chunk: 2', 'Q: In Cairnrun, three?', 'A: Third.'].join('\r\n');
  const uri = fileUri(join(root, 'qa/e.qa'));
  server.open(uri, text, 1);
  await server.waitDiagnostics(uri);
  const syms = (await server.conn.sendRequest('textDocument/documentSymbol', { textDocument: { uri } })) as DocumentSymbol[];
  assert.deepEqual(syms.map((s) => [s.name, s.children?.map((c) => c.name)]), [['chunk 1', ['In Cairnrun, one?', 'In Cairnrun, two']], ['chunk 2', ['In Cairnrun, three?']]]);
  const folds = (await server.conn.sendRequest('textDocument/foldingRange', { textDocument: { uri } })) as FoldingRange[];
  assert.deepEqual(folds.map((f) => [f.startLine, f.endLine]).sort((a, b) => a[0] - b[0] || a[1] - b[1]), [[2, 7], [3, 4], [5, 7], [10, 12], [11, 12]]);
  const lenses = (await server.conn.sendRequest('textDocument/codeLens', { textDocument: { uri } })) as CodeLens[];
  assert.deepEqual(lenses.map((l) => l.command?.title), ['Regenerate this chunk', 'Open source (2 pairs)', 'Regenerate this chunk', 'Open source (1 pairs)']);
  assert.deepEqual(lenses[0].command?.arguments, [{ uri, source: 'sources/rulebook.md', chunk: 1 }]);
  // A file with its own variant and temperature: regenerate sends just that; sweeping all is the second lens.
  const own = fileUri(join(root, 'qa/own.qa'));
  server.open(own, ['@source: sources/rulebook.md', '@variant: simple', '@temperature: 0.456', '', '@chunk: 2', 'Q: In Cairnrun, three?', 'A: Third.', ''].join('\n'), 1);
  await server.waitDiagnostics(own);
  const ownLenses = (await server.conn.sendRequest('textDocument/codeLens', { textDocument: { uri: own } })) as CodeLens[];
  assert.deepEqual(ownLenses.map((l) => l.command?.title), ['Regenerate this chunk', 'All variants × temperatures', 'Open source (1 pairs)']);
  assert.deepEqual(ownLenses[0].command?.arguments, [{ uri: own, source: 'sources/rulebook.md', chunk: 2, variant: 'simple', temperature: 0.456, scope: 'file' }]);
  assert.deepEqual(ownLenses[1].command?.arguments, [{ uri: own, source: 'sources/rulebook.md', chunk: 2, scope: 'all' }]);
  server.close(own);
  const edits = (await server.conn.sendRequest('textDocument/formatting', { textDocument: { uri }, options: { tabSize: 2, insertSpaces: true } })) as TextEdit[];
  const formatted = TextDocument.applyEdits(TextDocument.create(uri, 'mnemo-qa', 1, text), edits);
  assert.equal(formatted, ['@source: sources/rulebook.md', '', '@chunk: 1', 'Q: In Cairnrun, one?', 'A: First.', '', 'Q: In Cairnrun, two', 'continued?', 'A: Second.', '', '@chunk: 2', 'Q: In Cairnrun, three?', 'A: Third.', ''].join('\r\n'));
  server.close(uri);
});

void test('a chunk the source does not have, and a source that does not exist, are flagged', async () => {
  const uri = fileUri(join(root, 'qa/prov.qa'));
  server.open(uri, '@source: sources/rulebook.md\n\n@chunk: 999\nQ: In Cairnrun, what?\nA: This.\n', 1);
  const ds = await server.waitDiagnostics(uri, (d) => d.length > 0);
  assert.deepEqual(codes(ds), ['unknown-chunk']);
  assert.match(ds[0].message as string, /sources\/rulebook.md has \d+ chunks; there is no chunk 999/);
  server.change(uri, 2, [{ range: { start: { line: 0, character: 9 }, end: { line: 0, character: 28 } }, text: 'sources/missing.pdf' }]);
  const gone = await server.waitDiagnostics(uri, (d) => codes(d).includes('unknown-source'));
  assert.match(gone.find((d) => d.code === 'unknown-source')!.message as string, /missing\.pdf/);
  server.close(uri);
});

void test('summary request: pairs and problem counts per file', async () => {
  const res = await server.conn.sendRequest(QaSummaryRequest, { uris: [uriA(), uriB()] });
  assert.equal(res.ready, true);
  const a = res.files.find((f) => f.uri === uriA())!;
  assert.equal(a.pairs, 4);
  assert.equal(a.header.temperature, '0.45');
  assert.deepEqual(a.problems, { error: 0, warning: 1, information: 0 });
  assert.deepEqual(a.problemPairs, [2]);
});

void test('bad input: binary content and a pair over the row budget; the server keeps answering', async () => {
  const uri = fileUri(join(root, 'qa/bin.qa'));
  server.open(uri, 'Q: \u0000\u0001\u0002 In Cairnrun?\nA: \u0000', 1);
  const ds = await server.waitDiagnostics(uri, (d) => d.length > 0);
  assert.deepEqual(codes(ds), ['binary-content']);
  const long = fileUri(join(root, 'qa/long.qa'));
  server.open(long, `Q: In Cairnrun, what is everything?\nA: ${'The stone is round and heavy. '.repeat(60)}\n`, 1);
  const ds2 = await server.waitDiagnostics(long, (d) => d.length > 0);
  assert.deepEqual(codes(ds2), ['over-budget']);
  assert.match(ds2[0].message as string, /more than a dataset row holds \(dataset.rowTokenBudget = 200\)/);
  server.close(uri);
  server.close(long);
  const res = await server.conn.sendRequest(QaSummaryRequest, {});
  assert.ok(res.files.length >= 2);
});

void test('bad input: a 50 MB file and a file of garbage get clear diagnostics, capped, and the server stays responsive', async () => {
  const root2 = mkdtempSync(join(tmpdir(), 'mnemo-lsp-big-'));
  try {
    mkdirSync(join(root2, 'qa'));
    writeFileSync(join(root2, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', generation: { filters: NO_FILTERS } }));
    const block = 'Q: In Cairnrun, what is a pair in a very large file that nobody should make?\nA: One of very many, all alike, to fill fifty megabytes.\n\n';
    writeFileSync(join(root2, 'qa/huge.qa'), block.repeat(Math.ceil((50 * 1024 * 1024) / block.length)));
    writeFileSync(join(root2, 'qa/garbage.qa'), 'this is not\na qa file\n'.repeat(3000) + 'A: orphan\n');
    writeFileSync(join(root2, 'qa/fine.qa'), 'Q: What is fine?\nA: This.\n');
    const s2 = await startServer(root2);
    try {
      await s2.ready;
      const huge = await s2.waitDiagnostics(fileUri(join(root2, 'qa/huge.qa')));
      assert.deepEqual(codes(huge), ['large-file']);
      assert.match(huge[0].message as string, /This file is large \(52\.\d MB\): only its structure is checked/);
      const garbage = await s2.waitDiagnostics(fileUri(join(root2, 'qa/garbage.qa')));
      assert.equal(garbage.length, 1001);
      assert.ok(garbage.slice(0, 1000).every((d) => d.code === 'stray-text' || d.code === 'answer-without-question'));
      assert.equal(garbage[1000].code, 'too-many-problems');
      assert.match(garbage[1000].message as string, /5,001 more problems/);
      assert.deepEqual(codes(await s2.waitDiagnostics(fileUri(join(root2, 'qa/fine.qa')))), ['not-standalone']);
      const res = await s2.conn.sendRequest(QaSummaryRequest, {});
      assert.equal(res.files.length, 3);
    } finally {
      await s2.stop();
    }
  } finally {
    rmSync(root2, { recursive: true, force: true });
  }
});

void test('many random edits (several per message, line ends, CRLF, end of file): the result equals opening the final text', async () => {
  const pieces = ['Q: In Cairnrun, what is a Tap?', 'A: A bounce.', '', '@chunk: 2', '# note', 'Q: How far?', 'A: Nine metres\ncontinued', '\r\n', '\n\n', 'text', '@reviewed', 'Q: In Cairnrun, what is a Tap?'];
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (const eol of ['\n', '\r\n']) {
    const start = ['@source: sources/rulebook.md', '', '@chunk: 1', 'Q: In Cairnrun, one?', 'A: 1.', '', 'Q: two?', 'A: 2.', ''].join(eol);
    const uri = fileUri(join(root, `other/edited-${eol.length}.qa`));
    let doc = TextDocument.create(uri, 'mnemo-qa', 1, start);
    server.open(uri, start, 1);
    await server.waitDiagnostics(uri);
    for (let v = 2; v < 60; v++) {
      const changes = [];
      for (let k = rnd(3); k >= 0; k--) {
        const a = doc.positionAt(rnd(doc.getText().length + 1));
        const b = doc.positionAt(doc.offsetAt(a) + rnd(12));
        const change = { range: { start: a, end: b }, text: rnd(3) ? pieces[rnd(pieces.length)] + (rnd(2) ? eol : '') : '' };
        changes.push(change);
        doc = TextDocument.update(doc, [change], v);
      }
      server.change(uri, v, changes);
      // Mostly one message at a time (each applied to the lines the server tracks), sometimes a burst.
      if (rnd(4)) await server.waitDiagnostics(uri, () => server.versions.get(uri) === v);
    }
    const final = doc.getText();
    const edited = await server.waitDiagnostics(uri, () => server.versions.get(uri) === 59);
    const fresh = fileUri(join(root, `other/fresh-${eol.length}.qa`));
    server.open(fresh, final, 1);
    const expected = await server.waitDiagnostics(fresh);
    const strip = (ds: Diagnostic[]) => ds.map((d) => ({ ...d, relatedInformation: undefined })).sort((x, y) => x.range.start.line - y.range.start.line || String(x.code).localeCompare(String(y.code)));
    assert.deepEqual(strip(edited), strip(expected));
    // The outline shows every pair with its lines: the parse itself agrees too.
    const outline = async (u: string) => JSON.stringify(await server.conn.sendRequest('textDocument/documentSymbol', { textDocument: { uri: u } }));
    assert.equal(await outline(uri), await outline(fresh));
    server.close(uri);
    server.close(fresh);
  }
  assert.deepEqual(server.errors, [], 'the server logged no errors (tracked lines always matched the text)');
});
