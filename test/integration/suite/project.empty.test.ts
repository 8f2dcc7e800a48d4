// "Mnemo: New Project" in an empty folder (this file's name ends in .empty.test.ts, so the
// launcher opens an empty workspace).
import * as assert from 'node:assert';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { harness, waitFor } from './helpers';

suite('New Project (empty folder)', () => {
  test('the extension does not activate on a folder without mnemo.json', () => {
    assert.deepStrictEqual(readdirSync(harness.workspace), []);
    const ext = vscode.extensions.getExtension('mnemo.mnemo');
    assert.ok(ext, 'mnemo.mnemo is loaded');
    assert.strictEqual(ext.isActive, false);
  });

  test('scaffolds mnemo.json and the project folders, and the project opens', async () => {
    const created = (await vscode.commands.executeCommand('mnemo.newProject', 'Cairnrun rules')) as string[] | undefined;
    assert.ok(Array.isArray(created), 'newProject returns what it created');
    const config = JSON.parse(readFileSync(join(harness.workspace, 'mnemo.json'), 'utf8')) as { context: string; name: string };
    assert.strictEqual(config.context, 'Cairnrun rules');
    assert.strictEqual(config.name, 'cairnrun-rules');
    for (const dir of ['sources', 'qa', 'eval', 'data', 'runs', 'prompts', '.mnemo']) {
      assert.ok(existsSync(join(harness.workspace, dir)) && statSync(join(harness.workspace, dir)).isDirectory(), `${dir}/ exists`);
    }
    assert.match(readFileSync(join(harness.workspace, '.gitignore'), 'utf8'), /^\.mnemo\/$/m);
    assert.ok(created.includes('mnemo.json'));
    const api = (await vscode.extensions.getExtension('mnemo.mnemo')!.activate()) as { ctx: { project?: { config: { context: string } } } };
    await waitFor('the new project to be loaded', () => api.ctx.project?.config.context === 'Cairnrun rules');
  });

  test('running it again keeps the existing mnemo.json', async () => {
    const path = join(harness.workspace, 'mnemo.json');
    const before = readFileSync(path, 'utf8');
    const created = (await vscode.commands.executeCommand('mnemo.newProject', 'Other')) as string[];
    assert.deepStrictEqual(created, []);
    assert.strictEqual(readFileSync(path, 'utf8'), before);
  });
});
