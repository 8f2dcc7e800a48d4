// The Sources view in a real VS Code: counts on the sample PDF, errors on bad files copied into
// sources/, Add Source with a path, opening text and chunks, re-extract and remove.
import * as assert from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { Chunk } from '../../../src/core/sources';
import type { SourcesView, TreeSnapshot } from '../../../src/extension/sources';
import { makeEncryptedPdf, makeLargePdf, truncate } from '../../fixtures/pdf';
import { activateMnemo, copyExample, harness, waitFor } from './helpers';

const fmt = new Intl.NumberFormat('en-US');

async function sourcesView(): Promise<SourcesView> {
  const api = (await activateMnemo()) as { sources?: SourcesView };
  assert.ok(api.sources, 'the extension API exposes the Sources view');
  return api.sources;
}

async function itemFor(view: SourcesView, label: string, done: (t: TreeSnapshot) => boolean, what: string): Promise<TreeSnapshot> {
  return waitFor(
    what,
    async () => {
      const item = (await view.provider.snapshot()).find((t) => t.label === label);
      return item && done(item) ? item : undefined;
    },
    { timeoutMs: 60_000, events: [view.model.onDidChange as vscode.Event<unknown>] },
  );
}

/** A Markdown tooltip as the user reads it (without escapes). */
function plain(markdown: string | undefined): string {
  return (markdown ?? '').replace(/\\(.)/g, '$1');
}

suite('Sources', () => {
  let expected: { tokens: number; chunks: Chunk[] };

  suiteSetup(() => {
    // The expected figures come from another process: the bundled CLI on a separate copy of the project.
    const copy = copyExample();
    const out = execFileSync(process.execPath, [join(harness.repoRoot, 'dist/cli.js'), 'chunks', '--project', copy, '--source', 'sources/rulebook.pdf', '--json'], { encoding: 'utf8' });
    expected = (JSON.parse(out) as { sources: { tokens: number; chunks: Chunk[] }[] }).sources[0];
  });

  test('the sample PDF shows its page, token and chunk counts, and its chunks', async () => {
    const view = await sourcesView();
    // Showing the view is what starts listing and extracting (never activation).
    await vscode.commands.executeCommand('mnemo.sources.focus');
    const item = await itemFor(view, 'rulebook.pdf', (t) => /pages/.test(t.description ?? ''), 'rulebook.pdf to be extracted in the Sources view');
    // Page count by poppler, independent of pdf.js.
    const pages = Number(/Pages:\s+(\d+)/.exec(execFileSync('pdfinfo', [join(harness.workspace, 'sources/rulebook.pdf')], { encoding: 'utf8' }))![1]);
    assert.strictEqual(pages, 10);
    assert.strictEqual(item.description, `${pages} pages · ${fmt.format(expected.tokens)} tokens · ${expected.chunks.length} chunks`);
    assert.strictEqual(item.contextValue, 'source');
    assert.ok(item.children, 'a source with chunks is expandable');
    assert.deepStrictEqual(
      item.children.map((c) => c.label),
      expected.chunks.map((c) => `Chunk ${c.n}`),
    );
    const third = item.children[2];
    assert.strictEqual(third.contextValue, 'chunk');
    assert.match(third.description ?? '', new RegExp(`^tokens ${fmt.format(expected.chunks[2].tokenStart)}–${fmt.format(expected.chunks[2].tokenEnd)} · "`));
  });

  test('opening a chunk and the extracted text shows exactly their text', async () => {
    await sourcesView();
    const chunkUri = (await vscode.commands.executeCommand('mnemo.openChunk', 'sources/rulebook.pdf', 3)) as string;
    assert.ok(chunkUri, 'openChunk returns the document it opened');
    const editor = await waitFor('the chunk to be the active editor', () => (vscode.window.activeTextEditor?.document.uri.toString() === chunkUri ? vscode.window.activeTextEditor : undefined), {
      events: [vscode.window.onDidChangeActiveTextEditor as vscode.Event<unknown>],
    });
    assert.strictEqual(editor.document.uri.scheme, 'mnemo-source');
    assert.strictEqual(editor.document.getText(), expected.chunks[2].text);

    const textUri = (await vscode.commands.executeCommand('mnemo.openExtractedText', 'rulebook.pdf')) as string;
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === textUri);
    assert.ok(doc);
    assert.strictEqual(doc.getText(), expected.chunks.map((c) => c.text).join(''));
  });

  test('bad files copied into sources/ show their problem on the item', async () => {
    const view = await sourcesView();
    await vscode.commands.executeCommand('mnemo.sources.focus');
    const dir = join(harness.workspace, 'sources');
    writeFileSync(join(dir, 'locked.pdf'), makeEncryptedPdf(['The Warden may not cross the halfway line.']));
    writeFileSync(join(dir, 'cut.pdf'), truncate(readFileSync(join(dir, 'rulebook.pdf'))));
    writeFileSync(join(dir, 'slides.pptx'), 'not a document Mnemo reads');
    const locked = await itemFor(view, 'locked.pdf', (t) => t.contextValue === 'source-error', 'the encrypted PDF to show an error');
    assert.strictEqual(locked.description, 'error: encrypted');
    assert.match(plain(locked.tooltip), /sources\/locked\.pdf is encrypted \(password-protected\)/);
    assert.match(plain(locked.tooltip), /qpdf --decrypt/);
    const cut = await itemFor(view, 'cut.pdf', (t) => t.contextValue === 'source-error', 'the truncated PDF to show an error');
    assert.strictEqual(cut.description, 'error: damaged PDF');
    const pptx = await itemFor(view, 'slides.pptx', (t) => t.description === 'not supported', 'the unsupported file to be listed with a note');
    assert.match(plain(pptx.tooltip), /\.pptx files are not supported/);
    // Nothing else broke: the good PDF still shows its counts.
    const good = (await view.provider.snapshot()).find((t) => t.label === 'rulebook.pdf');
    assert.match(good?.description ?? '', /^10 pages/);
    // Deleting the files takes them off the view.
    for (const f of ['locked.pdf', 'cut.pdf', 'slides.pptx']) unlinkSync(join(dir, f));
    await waitFor('deleted files to leave the view', async () => (await view.provider.snapshot()).every((t) => t.label === 'rulebook.pdf'), { events: [view.model.onDidChange as vscode.Event<unknown>] });
  });

  test('Add Source with a path copies the file, never overwrites, and it can be removed', async () => {
    const view = await sourcesView();
    const file = join(harness.tmp, 'notes.txt');
    writeFileSync(file, 'Cairnrun notes.\n\nThe Moor is 84 m long and 52 m wide.\n');
    const added = (await vscode.commands.executeCommand('mnemo.addSource', file)) as string[];
    assert.deepStrictEqual(added, ['sources/notes.txt']);
    assert.strictEqual(readFileSync(join(harness.workspace, 'sources/notes.txt'), 'utf8'), readFileSync(file, 'utf8'));
    const item = await itemFor(view, 'notes.txt', (t) => /chunk/.test(t.description ?? ''), 'the added .txt to be extracted');
    assert.match(item.description ?? '', /^1 page · \d+ tokens · 1 chunk$/);
    // The same bytes again: nothing added. Different bytes under the same name: kept as a copy.
    assert.deepStrictEqual(await vscode.commands.executeCommand('mnemo.addSource', file), []);
    writeFileSync(file, 'Different notes.\n');
    assert.deepStrictEqual(await vscode.commands.executeCommand('mnemo.addSource', file), ['sources/notes (2).txt']);
    assert.strictEqual(readFileSync(join(harness.workspace, 'sources/notes.txt'), 'utf8'), 'Cairnrun notes.\n\nThe Moor is 84 m long and 52 m wide.\n');

    // Dropping a file on the view adds it the same way.
    const dropped = join(harness.tmp, 'dropped.md');
    writeFileSync(dropped, '# Dropped\n\nA Kettle Drop starts each watch.\n');
    const data = new vscode.DataTransfer();
    data.set('text/uri-list', new vscode.DataTransferItem(vscode.Uri.file(dropped).toString()));
    await view.provider.handleDrop(undefined, data, new vscode.CancellationTokenSource().token);
    const md = await itemFor(view, 'dropped.md', (t) => /chunk/.test(t.description ?? ''), 'the dropped .md to be extracted');
    assert.match(md.description ?? '', /^1 page · \d+ tokens · 1 chunk$/);
    unlinkSync(join(harness.workspace, 'sources/dropped.md'));

    const summary = (await vscode.commands.executeCommand('mnemo.reextractSource', 'sources/notes.txt')) as string;
    assert.match(summary, /^sources\/notes\.txt: 1 page · \d+ tokens · 1 chunk$/);

    for (const f of ['sources/notes.txt', 'sources/notes (2).txt']) {
      assert.strictEqual(await vscode.commands.executeCommand('mnemo.removeSource', f, { confirm: false }), true);
      assert.ok(!existsSync(join(harness.workspace, f)), `${f} was removed`);
    }
    // code-server's file system has no trash: the files are kept under .mnemo/trash/, not deleted.
    if ((process.env.MNEMO_VSCODE_LAUNCHER ?? 'code-server') === 'code-server') {
      const kept = readdirSync(join(harness.workspace, '.mnemo/trash'));
      assert.ok(kept.some((n) => n.endsWith('-notes.txt')) && kept.some((n) => n.endsWith('-notes (2).txt')), `kept: ${kept.join(', ')}`);
    }
    await waitFor('removed sources to leave the view', async () => !(await view.provider.snapshot()).some((t) => t.label.startsWith('notes')), { events: [view.model.onDidChange as vscode.Event<unknown>] });
  });
  test('a 1,000-page PDF copied into sources/ shows its progress, then its counts', async () => {
    const view = await sourcesView();
    await vscode.commands.executeCommand('mnemo.sources.focus');
    const seen: { done: number; total: number }[] = [];
    const sub = view.model.onDidChange((item) => {
      if (item?.entry.name === 'big.pdf' && item.state.status === 'extracting' && item.state.total) seen.push({ done: item.state.done, total: item.state.total });
    });
    try {
      writeFileSync(join(harness.workspace, 'sources/big.pdf'), makeLargePdf(1000));
      const item = await itemFor(view, 'big.pdf', (t) => /pages/.test(t.description ?? ''), 'the 1,000-page PDF to be extracted');
      assert.match(item.description ?? '', /^1,000 pages · [\d,]+ tokens · \d+ chunks$/);
    } finally {
      sub.dispose();
    }
    assert.ok(seen.length >= 10, `${seen.length} progress updates`);
    assert.ok(seen.every((p, i) => p.total === 1000 && (i === 0 || p.done >= seen[i - 1].done)));
    unlinkSync(join(harness.workspace, 'sources/big.pdf'));
  });

  test('changing chunking.tokens in mnemo.json re-chunks the sources', async () => {
    const view = await sourcesView();
    await vscode.commands.executeCommand('mnemo.sources.focus');
    await itemFor(view, 'rulebook.pdf', (t) => t.description === `10 pages · ${fmt.format(expected.tokens)} tokens · ${expected.chunks.length} chunks`, 'the default chunking');
    const configPath = join(harness.workspace, 'mnemo.json');
    const original = readFileSync(configPath, 'utf8');
    const config = JSON.parse(original) as { chunking?: { tokens?: number } };
    writeFileSync(configPath, JSON.stringify({ ...config, chunking: { tokens: 200 } }, null, 2));
    try {
      const item = await itemFor(view, 'rulebook.pdf', (t) => /chunks$/.test(t.description ?? '') && t.description !== `10 pages · ${fmt.format(expected.tokens)} tokens · ${expected.chunks.length} chunks`, 'the source to be re-chunked at 200 tokens');
      const chunks = Number(/(\d+) chunks$/.exec(item.description ?? '')![1]);
      assert.ok(chunks >= Math.ceil(expected.tokens / 200), `${chunks} chunks of <= 200 tokens for ${expected.tokens} tokens`);
      assert.ok(item.children?.every((c) => {
        const m = /^tokens ([\d,]+)–([\d,]+)/.exec(c.description ?? '')!;
        return Number(m[2].replace(/,/g, '')) - Number(m[1].replace(/,/g, '')) <= 200;
      }));
    } finally {
      writeFileSync(configPath, original);
    }
    await itemFor(view, 'rulebook.pdf', (t) => t.description === `10 pages · ${fmt.format(expected.tokens)} tokens · ${expected.chunks.length} chunks`, 'the default chunking again');
  });
});
