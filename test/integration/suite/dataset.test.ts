// The dataset stage in a real VS Code: Build Dataset on the example project (pairs written into the
// throwaway workspace), the report opened, and Push Dataset to Hub against a local Hub server
// started by the test, with the token in secret storage.
import * as assert from 'node:assert';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { HubServer } from '../../servers/hub-server';
import { activateMnemo, harness, waitFor } from './helpers';

const TOKEN = 'hf_integration_token_0123456789';

interface BuildResult {
  summary: string;
  reportPath: string;
  written: string[];
  report: { train: { rows: number; pairs: number; tokens: { max: number } }; test: { rows: number; pairs: number }; pairsIn: number; dropped: unknown[] };
}

/** 30 pairs over chunks 1-3 of the rulebook, one exact duplicate among them. */
function qaText(): string {
  const lines = ['@source: sources/rulebook.pdf', '@variant: nuanced', '@temperature: 0.45', '@model: integration-test', ''];
  for (let i = 0; i < 30; i++) {
    if (i % 10 === 0) lines.push(`@chunk: ${1 + i / 10}`);
    lines.push(`Q: In Cairnrun, what does rule ${i}.${i % 4} say about marker ${i}?`, `A: Marker ${i} stands ${i + 2} metres from the ${i % 2 ? 'Gate' : 'Cast Mark'}.`, '');
  }
  lines.push('Q: In Cairnrun, what does rule 0.0 say about marker 0?', 'A: Marker 0 stands 2 metres from the Cast Mark.', '');
  return lines.join('\n');
}

/** Every file under a folder, read as text. */
function readAll(dir: string): string {
  if (!existsSync(dir)) return '';
  return readdirSync(dir)
    .map((n) => join(dir, n))
    .map((p) => (statSync(p).isDirectory() ? readAll(p) : readFileSync(p, 'utf8')))
    .join('\n');
}

suite('Dataset', () => {
  let hub: HubServer;
  let logDir: string;

  suiteSetup(async () => {
    const api = (await activateMnemo()) as unknown as { ctx: { extension: vscode.ExtensionContext } };
    logDir = api.ctx.extension.logUri.fsPath;
    writeFileSync(join(harness.workspace, 'qa', 'integration.qa'), qaText());
    hub = await HubServer.start([{ name: 'me', token: TOKEN, write: ['me'] }]);
  });
  suiteTeardown(async () => {
    await hub?.stop();
  });

  test('Build Dataset writes the splits, the card and the report, and Open Dataset Report shows it', async () => {
    const result = (await vscode.commands.executeCommand('mnemo.buildDataset', { quiet: true })) as BuildResult | undefined;
    assert.ok(result, 'buildDataset returned nothing (it failed: see the Mnemo log)');
    const data = join(harness.workspace, 'data');
    for (const f of ['train.jsonl', 'test.jsonl', 'README.md', 'report.md']) assert.ok(existsSync(join(data, f)), f);
    assert.strictEqual(result.report.pairsIn, 31);
    assert.strictEqual(result.report.dropped.length, 1);
    assert.strictEqual(result.report.train.pairs + result.report.test.pairs, 30);
    const rows = (f: string) => readFileSync(join(data, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { messages: { role: string; content: string }[] });
    const train = rows('train.jsonl');
    const test = rows('test.jsonl');
    assert.strictEqual(train.length, result.report.train.rows);
    assert.ok(test.length >= 1);
    assert.strictEqual([...train, ...test].flatMap((r) => r.messages).filter((m) => m.role === 'user').length, 30);
    assert.ok(result.report.train.tokens.max <= 512);
    const card = readFileSync(join(data, 'README.md'), 'utf8');
    assert.match(card, /^---\npretty_name: Cairnrun rules\n/);
    assert.match(card, /\| rulebook\.pdf \| `[0-9a-f]{64}` \|/);
    // The rulebook's chunks were read through the sources stage: coverage knows which chunks have no pair.
    const report = readFileSync(join(data, 'report.md'), 'utf8');
    assert.match(report, /Chunks with pairs: 3 of \d+/);
    assert.match(report, /Exact duplicates removed \(1\)/);

    const uri = (await vscode.commands.executeCommand('mnemo.openDatasetReport')) as vscode.Uri | undefined;
    assert.ok(uri);
    const editor = await waitFor('the report in an editor', () => vscode.window.visibleTextEditors.find((e) => e.document.uri.fsPath === join(data, 'report.md')), {
      events: [vscode.window.onDidChangeVisibleTextEditors as vscode.Event<unknown>],
    });
    assert.match(editor.document.getText(), /^# Dataset report: cairnrun/);
  });

  test('Push Dataset to Hub lands the built files in one commit, with the token from secret storage', async () => {
    assert.strictEqual(await vscode.commands.executeCommand('mnemo.setHfToken', TOKEN), true);
    const result = (await vscode.commands.executeCommand('mnemo.pushDataset', { repo: 'me/cairnrun', hubUrl: hub.url })) as { url: string; created: boolean } | undefined;
    assert.ok(result, 'pushDataset returned nothing (it failed: see the Mnemo log)');
    assert.strictEqual(result.url, `${hub.url}/datasets/me/cairnrun`);
    assert.strictEqual(result.created, true);
    assert.strictEqual(hub.repos.get('datasets/me/cairnrun')?.private, true);
    assert.strictEqual(hub.commits.length, 1);
    const data = join(harness.workspace, 'data');
    assert.deepStrictEqual(hub.commits[0].files, {
      'train.jsonl': readFileSync(join(data, 'train.jsonl'), 'utf8'),
      'test.jsonl': readFileSync(join(data, 'test.jsonl'), 'utf8'),
      'README.md': readFileSync(join(data, 'README.md'), 'utf8'),
    });
  });

  test('a refused token: nothing lands, the failure is logged, the token appears in no log', async () => {
    const bad = 'hf_refused_token_abcdef0123';
    const before = hub.commits.length;
    // Not awaited: a failed command's promise waits on its error notification (ctx.showError) until someone closes it.
    void vscode.commands.executeCommand('mnemo.pushDataset', { repo: 'me/cairnrun', hubUrl: hub.url, token: bad });
    await waitFor('the failed push in the Mnemo log', () => /Push to me\/cairnrun failed: The Hugging Face Hub refused the token \(401\)/.test(readAll(logDir)));
    assert.strictEqual(hub.commits.length, before);
    assert.ok(hub.requests.some((q) => q.path === '/api/whoami-v2' && q.status === 401), 'the Hub was asked with the refused token');
    const logs = readAll(logDir);
    assert.ok(!logs.includes(bad) && !logs.includes(TOKEN), 'a token is in the Mnemo log');
  });
});
