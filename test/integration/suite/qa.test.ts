// Curation in the real VS Code: the .qa language server's diagnostics, quick fixes and code lenses,
// and the Q&A view's commands editing files through the editor (unsaved changes kept).
import * as assert from 'node:assert';
import { readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { startOpenAiServer, type FakeServer } from '../../servers/openai-server';
import { activateMnemo, harness, waitFor } from './helpers';

interface Snap {
  label: string;
  description?: string;
  contextValue?: string;
  children?: Snap[];
}

const FILE_A = [
  '@source: sources/rulebook.pdf',
  '@variant: nuanced',
  '@temperature: 0.45',
  '',
  '@chunk: 1',
  'Q: In Cairnrun, how many players are in a team?',
  'A: Nine.',
  '',
  'Q: How many teams play a match?',
  'A: Two teams of nine.',
  '',
  'Q: In Cairnrun, how many players are in a team?',
  'A: Nine players.',
  '',
].join('\n');

const FILE_B = ['@source: sources/rulebook.pdf', '@variant: nuanced', '@temperature: 1.2', '', '@chunk: 2', 'Q: In Cairnrun, what is a Pennant?', 'A: A small coloured flag the Chief Arbiter raises to signal a sanction.', '', 'Q: In Cairnrun, how big is the Moor for international matches?', 'A: 84 m long and 52 m wide.', ''].join('\n');

// Pairs a small model wrote: its prompt's example, and an answer that says nothing (the generation filters' measures, as diagnostics).
const FILE_C = ['@source: sources/rulebook.pdf', '@variant: simple', '@temperature: 0.6', '', '@chunk: 1', 'Q: In Rivermark chess rules, how many squares may a ferry move in one turn?', 'A: A ferry may travel no more than three squares in a single turn.', '', 'Q: What is the rules of the game of Cairnrun?', 'A: The rules of Cairnrun are as described in the document.', '', 'Q: In Cairnrun, who decides where the Laws are silent?', 'A: The Chief Arbiter decides.', ''].join('\n');

const onDiagnostics = vscode.languages.onDidChangeDiagnostics as vscode.Event<unknown>;

function mnemoDiagnostics(uri: vscode.Uri): vscode.Diagnostic[] {
  return vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'mnemo');
}

function codeOf(d: vscode.Diagnostic): string {
  return String(typeof d.code === 'object' ? d.code.value : d.code);
}

suite('Q&A curation', () => {
  const pathA = join(harness.workspace, 'qa/rulebook-nuanced-0.45.qa');
  const pathB = join(harness.workspace, 'qa/rulebook-nuanced-1.2.qa');
  const uriA = vscode.Uri.file(pathA);

  suiteSetup(async () => {
    writeFileSync(pathA, FILE_A);
    writeFileSync(pathB, FILE_B);
    await activateMnemo();
  });

  teardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('a .qa file with problems shows them, without being opened (the server checks all of qa/)', async () => {
    const ds = await waitFor('diagnostics on the .qa file', () => {
      const d = mnemoDiagnostics(uriA);
      return d.some((x) => codeOf(x) === 'duplicate') && d.some((x) => codeOf(x) === 'not-standalone') ? d : undefined;
    }, { events: [onDiagnostics], timeoutMs: 60_000 });
    const dup = ds.find((d) => codeOf(d) === 'duplicate')!;
    assert.strictEqual(dup.range.start.line, 11);
    assert.strictEqual(dup.severity, vscode.DiagnosticSeverity.Warning);
    assert.strictEqual(ds.find((d) => codeOf(d) === 'not-standalone')!.range.start.line, 8);
  });

  test('a quick fix adds the context to a question that does not stand alone', async () => {
    const doc = await vscode.workspace.openTextDocument(uriA);
    await vscode.window.showTextDocument(doc);
    assert.strictEqual(doc.languageId, 'mnemo-qa');
    const diag = await waitFor('the not-standalone diagnostic', () => mnemoDiagnostics(uriA).find((d) => codeOf(d) === 'not-standalone'), { events: [onDiagnostics], timeoutMs: 60_000 });
    const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', uriA, diag.range, vscode.CodeActionKind.QuickFix.value);
    const fix = actions.find((a) => a.title.startsWith('Add the context'));
    assert.ok(fix?.edit, `quick fixes offered: ${actions.map((a) => a.title).join(', ')}`);
    assert.ok(await vscode.workspace.applyEdit(fix.edit));
    assert.strictEqual(doc.lineAt(8).text, 'Q: In Cairnrun rules, how many teams play a match?');
    await waitFor('the problem to clear after the fix', () => !mnemoDiagnostics(uriA).some((d) => codeOf(d) === 'not-standalone'), { events: [onDiagnostics] });
    await doc.save();
  });

  test('code lenses on @chunk: regenerate and open source', async () => {
    const lenses = await waitFor('code lenses', async () => {
      const l = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uriA);
      return l.length ? l : undefined;
    });
    assert.deepStrictEqual(lenses.map((l) => l.command?.command), ['mnemo.qa.regenerateChunk', 'mnemo.qa.regenerateChunk', 'mnemo.qa.openSourceChunk']);
    assert.deepStrictEqual(lenses[0].command?.arguments?.[0], { uri: uriA.toString(), source: 'sources/rulebook.pdf', chunk: 1, variant: 'nuanced', temperature: 0.45, scope: 'file' });
    assert.deepStrictEqual(lenses[1].command?.arguments?.[0], { uri: uriA.toString(), source: 'sources/rulebook.pdf', chunk: 1, scope: 'all' });
  });

  test('the Q&A view groups files by source and variant, with pairs and problem counts', async () => {
    const tree = await waitFor('the Q&A view to list both files', async () => {
      const t = (await vscode.commands.executeCommand<Snap[]>('mnemo.refreshQa', { snapshot: true })) ?? [];
      return t[0]?.children?.[0]?.children?.length === 2 ? t : undefined;
    }, { timeoutMs: 60_000 });
    assert.strictEqual(tree[0].label, 'sources/rulebook.pdf');
    assert.strictEqual(tree[0].contextValue, 'group');
    const variant = tree[0].children![0];
    assert.strictEqual(variant.label, 'nuanced');
    assert.deepStrictEqual(variant.children!.map((f) => f.label), ['t=0.45', 't=1.2']);
    assert.match(variant.children![0].description ?? '', /3 pairs · 1 problem/);
    assert.deepStrictEqual(variant.children![1].children!.map((p) => p.contextValue), ['pair', 'pair']);
  });

  test('editing an answer from the view changes the file', async () => {
    const answer = await vscode.commands.executeCommand('mnemo.qa.editAnswer', { file: pathB, pair: 1, question: 'In Cairnrun, how big is the Moor for international matches?' }, '84 metres by 52 metres.');
    assert.strictEqual(answer, '84 metres by 52 metres.');
    await waitFor('the answer on disk', () => readFileSync(pathB, 'utf8').includes('A: 84 metres by 52 metres.'));
    assert.ok(readFileSync(pathB, 'utf8').includes('Q: In Cairnrun, how big is the Moor for international matches?'));
  });

  test('a tree edit on a file with unsaved changes joins them and writes nothing behind the editor', async () => {
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(pathB));
    const editor = await vscode.window.showTextDocument(doc);
    await editor.edit((e) => e.insert(new vscode.Position(0, 0), '# my unsaved note\n'));
    assert.ok(doc.isDirty);
    const onDisk = readFileSync(pathB, 'utf8');
    await vscode.commands.executeCommand('mnemo.qa.markReviewed', { file: pathB, pair: 0 });
    await vscode.commands.executeCommand('mnemo.qa.rejectPair', { file: pathB, pair: 1 });
    assert.strictEqual(readFileSync(pathB, 'utf8'), onDisk, 'the file on disk is untouched');
    const text = doc.getText();
    assert.ok(text.startsWith('# my unsaved note\n'), 'the unsaved edit is kept');
    assert.match(text, /@reviewed\nQ: In Cairnrun, what is a Pennant\?/);
    assert.match(text, /# Q: In Cairnrun, how big is the Moor for international matches\?/);
    assert.ok(doc.isDirty);
    await doc.save();
  });

  test('filters: only pairs with problems, then all again', async () => {
    assert.strictEqual(await vscode.commands.executeCommand('mnemo.qa.filterProblems'), 'problems');
    const tree = await waitFor('the filtered view', async () => {
      const t = (await vscode.commands.executeCommand<Snap[]>('mnemo.refreshQa', { snapshot: true })) ?? [];
      const files = t.flatMap((s) => s.children ?? []).flatMap((v) => v.children ?? []);
      return files.length === 1 ? files : undefined;
    }, { events: [onDiagnostics] });
    assert.strictEqual(tree[0].label, 't=0.45');
    assert.deepStrictEqual(tree[0].children!.map((p) => p.label), ['In Cairnrun, how many players are in a team?']);
    assert.strictEqual(await vscode.commands.executeCommand('mnemo.qa.clearFilter'), 'all');
  });

  test('echoed and vacuous pairs get warnings, and the view filters to them', async () => {
    const pathC = join(harness.workspace, 'qa/rulebook-simple-0.6.qa');
    writeFileSync(pathC, FILE_C);
    try {
      const uriC = vscode.Uri.file(pathC);
      const ds = await waitFor('the filters\' diagnostics', () => {
        const d = mnemoDiagnostics(uriC);
        return d.some((x) => codeOf(x) === 'example-echo') && d.some((x) => codeOf(x) === 'vacuous') ? d : undefined;
      }, { events: [onDiagnostics], timeoutMs: 60_000 });
      assert.deepStrictEqual(ds.filter((d) => ['example-echo', 'vacuous', 'ungrounded'].includes(codeOf(d))).map((d) => [codeOf(d), d.range.start.line]).sort(), [['example-echo', 5], ['vacuous', 9]]);
      await vscode.workspace.openTextDocument(uriC);
      const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', uriC, ds.find((d) => codeOf(d) === 'example-echo')!.range, vscode.CodeActionKind.QuickFix.value);
      assert.ok(actions.some((a) => a.title === 'Comment out this pair' && a.isPreferred), actions.map((a) => a.title).join(', '));

      assert.strictEqual(await vscode.commands.executeCommand('mnemo.qa.filterFiltered'), 'filtered');
      const files = await waitFor('the view filtered to echoed, vacuous or ungrounded pairs', async () => {
        const t = (await vscode.commands.executeCommand<Snap[]>('mnemo.refreshQa', { snapshot: true })) ?? [];
        const f = t.flatMap((s) => s.children ?? []).flatMap((v) => v.children ?? []);
        return f.length === 1 && f[0].children?.length === 2 ? f : undefined;
      }, { events: [onDiagnostics], timeoutMs: 30_000 });
      assert.strictEqual(files[0].label, 't=0.6');
      assert.deepStrictEqual(files[0].children!.map((p) => p.label), ['In Rivermark chess rules, how many squares may a ferry move in one turn?', 'What is the rules of the game of Cairnrun?']);
      assert.strictEqual(await vscode.commands.executeCommand('mnemo.qa.clearFilter'), 'all');
    } finally {
      unlinkSync(pathC);
    }
  });

  test('deleting the duplicate from the view clears its diagnostic', async () => {
    await vscode.commands.executeCommand('mnemo.qa.deletePair', { file: pathA, pair: 2, question: 'In Cairnrun, how many players are in a team?' });
    assert.ok(!readFileSync(pathA, 'utf8').includes('A: Nine players.'));
    await waitFor('the duplicate diagnostic to clear', () => !mnemoDiagnostics(uriA).some((d) => codeOf(d) === 'duplicate'), { events: [onDiagnostics], timeoutMs: 30_000 });
  });

  test('coverage lists chunks with no pairs', async () => {
    const md = await vscode.commands.executeCommand<string>('mnemo.qa.showCoverage');
    assert.match(md, /## sources\/rulebook\.pdf/);
    assert.match(md, /Chunks with no pairs \(\d+\):\*\* 3, 4/);
    // The report is a read-only document (shown as a Markdown preview): nothing to save on close.
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.from({ scheme: 'mnemo-qa-coverage', path: '/Q&A coverage.md' }));
    assert.strictEqual(doc.getText(), md);
    assert.strictEqual(doc.isDirty, false);
  });
});

suite('Q&A curation: hover and go to definition', () => {
  test('hover on @chunk shows the chunk; definition opens it read-only', async () => {
    await activateMnemo();
    const path = join(harness.workspace, 'qa/hover.qa');
    writeFileSync(path, ['@source: sources/rulebook.pdf', '', '@chunk: 2', 'Q: In Cairnrun, what is in chunk two?', 'A: Something.', ''].join('\n'));
    const uri = vscode.Uri.file(path);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc);
    const hover = await waitFor('a hover with the chunk text', async () => {
      const hs = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, new vscode.Position(2, 3));
      const text = hs.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
      return text.includes('**Chunk 2** of `sources/rulebook.pdf`') ? text : undefined;
    }, { timeoutMs: 60_000 });
    assert.match(hover, /page \d+ · \d+ tokens/);
    const defs = await vscode.commands.executeCommand<(vscode.Location | vscode.LocationLink)[]>('vscode.executeDefinitionProvider', uri, new vscode.Position(2, 3));
    assert.strictEqual(defs.length, 1);
    const target = 'targetUri' in defs[0] ? defs[0].targetUri : defs[0].uri;
    assert.strictEqual(target.scheme, 'mnemo-source');
    assert.strictEqual(target.path, '/sources/rulebook.pdf (chunk 2)');
    const chunkDoc = await vscode.workspace.openTextDocument(target);
    assert.ok(chunkDoc.getText().length > 200, 'the chunk document has the chunk text');
    assert.ok(hover.includes(chunkDoc.getText().slice(0, 40).trim().split('\n')[0]), 'the hover shows the same text');
  });
});

suite('Q&A curation: offline pairs', () => {
  test('the Q&A view marks files and pairs of the offline generator as low quality', async () => {
    await activateMnemo();
    const path = join(harness.workspace, 'qa/rulebook-offline.qa');
    writeFileSync(path, ['@source: sources/rulebook.pdf', '@variant: offline', '@temperature: 0', '@generator: offline (low-quality fallback)', '', '@chunk: 1', 'Q: In Cairnrun rules, fill in the blank: the Moor is ___ m long.', 'A: 84', ''].join('\n'));
    try {
      const file = await waitFor('the offline file in the view', async () => {
        const t = (await vscode.commands.executeCommand<Snap[]>('mnemo.refreshQa', { snapshot: true })) ?? [];
        const files = t.flatMap((s) => s.children ?? []).flatMap((v) => (v.label === 'offline' ? (v.children ?? []) : []));
        return files[0]?.children?.length ? files[0] : undefined;
      }, { timeoutMs: 60_000 });
      assert.match(file.description ?? '', /offline, low quality/);
      assert.match(file.children![0].description ?? '', /^offline · 84$/);
    } finally {
      unlinkSync(path);
    }
  });
});

suite('Q&A curation: regenerate a chunk', () => {
  let server: FakeServer;
  const configPath = join(harness.workspace, 'mnemo.json');
  let original = '';

  suiteSetup(async () => {
    original = readFileSync(configPath, 'utf8');
    server = await startOpenAiServer({ apiKey: 'test-key-qa', models: ['mock-model'], take: 2 });
    const api = (await activateMnemo()) as unknown as { ctx: { project?: { config: { generation: { baseUrl?: string } } }; onDidChangeProject: vscode.Event<unknown> } };
    const config = JSON.parse(original) as Record<string, unknown>;
    config.generation = { baseUrl: server.url, model: 'mock-model', variants: ['nuanced'], temperatures: [0.45, 0.9] };
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    await waitFor('the project to reload with the local endpoint', () => api.ctx.project?.config.generation.baseUrl === server.url, { events: [api.ctx.onDidChangeProject] });
    assert.strictEqual(await vscode.commands.executeCommand('mnemo.setApiKey', 'test-key-qa'), true);
  });

  suiteTeardown(async () => {
    await server?.close();
    writeFileSync(configPath, original);
  });

  test("the code lens command asks again for that one chunk at the file's own variant and temperature, and the pairs land under its @chunk", async () => {
    const before = server.stats.requests;
    const outcome = await vscode.commands.executeCommand<{ plan: { chunk: number; source: string; temperature: number }[] } | undefined>('mnemo.qa.regenerateChunk', { source: 'sources/rulebook.pdf', chunk: 2, variant: 'nuanced', temperature: 0.45, scope: 'file' });
    assert.ok(outcome, 'the command returned the generation outcome (see the Mnemo log if not)');
    assert.deepStrictEqual(outcome.plan.map((r) => [r.source, r.chunk, r.temperature]), [['sources/rulebook.pdf', 2, 0.45]]);
    assert.strictEqual(server.stats.requests - before, 1);
    const written = readdirSync(join(harness.workspace, 'qa'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.qa') && readFileSync(join(harness.workspace, 'qa', f), 'utf8').includes('@temperature: 0.45') && readFileSync(join(harness.workspace, 'qa', f), 'utf8').includes('@chunk: 2\nQ: '));
    assert.ok(written.length >= 1, 'a .qa file holds new pairs under @chunk: 2');
  });

  test('the second lens sweeps the chunk over every variant and temperature', async () => {
    const before = server.stats.requests;
    const outcome = await vscode.commands.executeCommand<{ plan: { temperature: number }[] } | undefined>('mnemo.qa.regenerateChunk', { source: 'sources/rulebook.pdf', chunk: 3, variant: 'nuanced', temperature: 0.45, scope: 'all' });
    assert.ok(outcome, 'the command returned the generation outcome (see the Mnemo log if not)');
    assert.deepStrictEqual(outcome.plan.map((r) => r.temperature).sort(), [0.45, 0.9]);
    assert.strictEqual(server.stats.requests - before, 2);
  });
});
