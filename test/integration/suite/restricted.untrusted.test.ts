// Restricted Mode: the example project opened in a folder VS Code does not trust (this file's name
// ends in .untrusted.test.ts, so the launcher turns workspace trust on and opens it untrusted).
// Mnemo loads (limited support), its checks run, and every command that would generate, connect,
// push, train or evaluate refuses with the reason and writes nothing; the settings that name a
// program or an address are not read from the folder's settings.
import * as assert from 'node:assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { RESTRICTED_COMMANDS, restrictedMessage } from '../../../src/extension/restricted';
import { activateMnemo, harness, waitFor } from './helpers';

interface Api {
  ctx: { project?: { root: string }; extension: vscode.ExtensionContext; log: vscode.LogOutputChannel };
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

suite('Restricted Mode (untrusted folder)', () => {
  let api: Api;

  suiteSetup(async () => {
    api = (await activateMnemo()) as unknown as Api;
  });

  test('the folder is untrusted and Mnemo runs with its project loaded', () => {
    assert.strictEqual(vscode.workspace.isTrusted, false, 'the launcher opened the folder untrusted');
    assert.strictEqual(api.ctx.project?.root, harness.workspace);
  });

  test('every restricted command refuses with the reason and writes nothing', async () => {
    const before = filesUnder(harness.workspace).filter((f) => !f.includes(`${join(harness.workspace, '.mnemo')}`)).sort();
    const titles = new Map((api.ctx.extension.extension.packageJSON as { contributes: { commands: { command: string; title: string }[] } }).contributes.commands.map((c) => [c.command, c.title]));
    for (const id of RESTRICTED_COMMANDS) {
      // Arguments as tests and scripts pass them, so that nothing waits on a picker.
      const result: unknown = await vscode.commands.executeCommand(id, { target: 'local', quiet: true });
      assert.strictEqual(result, undefined, `${id} returned something in Restricted Mode`);
    }
    const after = filesUnder(harness.workspace).filter((f) => !f.includes(`${join(harness.workspace, '.mnemo')}`)).sort();
    assert.deepStrictEqual(after, before, 'no file was written');
    // The log says what was refused and why (the notification says the same).
    const marker = `restricted-suite-${Date.now()}`;
    api.ctx.log.info(marker);
    const logDir = api.ctx.extension.logUri.fsPath;
    const log = await waitFor('the Mnemo log to hold the marker', () => filesUnder(logDir).map((f) => readFileSync(f, 'utf8')).find((t) => t.includes(marker)));
    for (const id of ['mnemo.generateOffline', 'mnemo.startTraining', 'mnemo.runEvaluation', 'mnemo.pushDataset', 'mnemo.testConnection']) {
      assert.ok(log.includes(restrictedMessage(titles.get(id) ?? id)), `the log holds the refusal of ${id}`);
    }
  });

  test('the checks stay on: a .qa file with a problem gets its diagnostic', async () => {
    mkdirSync(join(harness.workspace, 'qa'), { recursive: true });
    const path = join(harness.workspace, 'qa', 'restricted.qa');
    writeFileSync(path, 'Q: In Cairnrun, how many points is a Crown worth?\n');
    const uri = vscode.Uri.file(path);
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
    const ds = await waitFor('the diagnostics of restricted.qa', () => {
      const d = vscode.languages.getDiagnostics(uri);
      return d.some((x) => x.code === 'question-without-answer') ? d : undefined;
    }, { timeoutMs: 60_000, events: [vscode.languages.onDidChangeDiagnostics] });
    assert.ok(ds.length >= 1);
  });

  test('a folder setting that names a program or an address is not read', async () => {
    mkdirSync(join(harness.workspace, '.vscode'), { recursive: true });
    writeFileSync(join(harness.workspace, '.vscode', 'settings.json'), JSON.stringify({ 'mnemo.training.python': '/tmp/not-a-python', 'mnemo.endpoint.baseUrl': 'http://203.0.113.9/v1', 'mnemo.log.level': 'debug' }));
    const config = () => vscode.workspace.getConfiguration('mnemo');
    // The folder's value is seen (an unrestricted setting applies), the restricted ones are not used.
    await waitFor('the folder settings to be read', () => config().inspect('log.level')?.workspaceValue === 'debug', { timeoutMs: 30_000, events: [vscode.workspace.onDidChangeConfiguration] });
    assert.strictEqual(config().get('training.python'), '');
    assert.strictEqual(config().get('endpoint.baseUrl'), 'https://api.openai.com/v1');
  });
});
