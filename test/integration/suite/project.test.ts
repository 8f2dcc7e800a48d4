// The extension in the example project: activation, every contributed command registered,
// New Project leaves an existing mnemo.json alone, a bad mnemo.json shows a diagnostic on the key.
import * as assert from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { activateMnemo, harness, waitFor } from './helpers';

suite('Project', () => {
  const configPath = join(harness.workspace, 'mnemo.json');

  test('activates on a folder with mnemo.json and reports its activation time', async () => {
    const ext = vscode.extensions.getExtension('mnemo.mnemo');
    assert.ok(ext, 'mnemo.mnemo is loaded');
    // workspaceContains:mnemo.json activates it without anyone asking.
    await waitFor('the extension to activate on mnemo.json', () => ext.isActive, { timeoutMs: 30_000 });
    const api = await activateMnemo();
    assert.strictEqual(typeof api.activationMs, 'number');
    assert.ok(api.activationMs > 0 && api.activationMs < 60_000, `activationMs = ${api.activationMs}`);
  });

  test('registers every command of package.json', async () => {
    await activateMnemo();
    const manifest = JSON.parse(readFileSync(join(harness.repoRoot, 'package.json'), 'utf8')) as { contributes: { commands: { command: string }[] } };
    const declared = manifest.contributes.commands.map((c) => c.command);
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = declared.filter((id) => !registered.has(id));
    assert.deepStrictEqual(missing, [], `commands declared in package.json but not registered: ${missing.join(', ')}`);
  });

  test('New Project never overwrites an existing mnemo.json', async () => {
    await activateMnemo();
    const before = readFileSync(configPath, 'utf8');
    const created = (await vscode.commands.executeCommand('mnemo.newProject', 'Something else entirely')) as string[] | undefined;
    assert.ok(Array.isArray(created), 'newProject returns what it created');
    assert.ok(!created.includes('mnemo.json'), `created: ${created.join(', ')}`);
    assert.strictEqual(readFileSync(configPath, 'utf8'), before);
  });

  test('an unknown key in mnemo.json gets a diagnostic on its line', async () => {
    await activateMnemo();
    const uri = vscode.Uri.file(configPath);
    const original = readFileSync(configPath, 'utf8');
    const bad = original.replace('"context"', '"contxet": "typo",\n  "context"');
    const line = bad.split('\n').findIndex((l) => l.includes('"contxet"'));
    assert.ok(line > 0);
    try {
      writeFileSync(configPath, bad);
      const diag = await waitFor(
        'a Mnemo diagnostic on the unknown key',
        () => vscode.languages.getDiagnostics(uri).find((d) => d.source === 'mnemo' && d.message.includes('contxet')),
        { events: [vscode.languages.onDidChangeDiagnostics as vscode.Event<unknown>] },
      );
      assert.strictEqual(diag.range.start.line, line, `diagnostic "${diag.message}" is on line ${diag.range.start.line + 1}, the key on ${line + 1}`);
      assert.strictEqual(diag.severity, vscode.DiagnosticSeverity.Error);
    } finally {
      writeFileSync(configPath, original);
    }
    // Fixing the file clears it.
    await waitFor('the diagnostic to clear once mnemo.json is fixed', () => !vscode.languages.getDiagnostics(uri).some((d) => d.source === 'mnemo'), {
      events: [vscode.languages.onDidChangeDiagnostics as vscode.Event<unknown>],
    });
  });
});
