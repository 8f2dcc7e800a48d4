import * as vscode from 'vscode';
import { MnemoError } from '../../core/errors';
import { PROJECT_FILE, scaffoldProject } from '../../core/project';
import type { Feature } from '../commands';
import type { Ctx } from '../ctx';

/**
 * Scaffolds mnemo.json and the project folders in the open workspace; never overwrites a file.
 * `context` may be passed by tests and the walkthrough; otherwise it is asked for.
 */
async function newProject(ctx: Ctx, context?: string): Promise<string[] | undefined> {
  const root = ctx.workspaceRoot;
  if (!root) throw new MnemoError('New Project needs an open folder.', 'Open the folder that should hold the project (File > Open Folder), then run "Mnemo: New Project" again.');
  const contextPhrase =
    typeof context === 'string'
      ? context
      : await vscode.window.showInputBox({
          title: 'Mnemo: New Project',
          prompt: 'What are the documents about? A phrase a question can start with; it is put into every generation prompt.',
          placeHolder: 'e.g. Cairnrun rules',
          ignoreFocusOut: true,
          validateInput: (v) => (v.trim() ? undefined : 'Write a few words, e.g. "Cairnrun rules".'),
        });
  if (!contextPhrase?.trim()) return undefined;
  const result = scaffoldProject(root, contextPhrase.trim());
  ctx.log.info(`New project in ${root}: created ${result.created.join(', ') || 'nothing'}; kept ${result.kept.join(', ') || 'nothing'}`);
  ctx.reloadProject();
  const kept = result.kept.includes(PROJECT_FILE) ? ' mnemo.json already existed and was left as it was.' : '';
  void vscode.window.showInformationMessage(`Mnemo project ready in ${vscode.workspace.asRelativePath(root)}.${kept} Next: add a source document.`, 'Add Source…').then((c) => {
    if (c) void vscode.commands.executeCommand('mnemo.addSource');
  });
  return result.created;
}

async function openProjectSettings(ctx: Ctx): Promise<void> {
  const project = ctx.requireProject();
  await vscode.window.showTextDocument(vscode.Uri.file(project.configPath));
}

export const projectFeature: Feature = {
  name: 'project',
  commands: [
    { id: 'mnemo.newProject', run: newProject },
    { id: 'mnemo.openProjectSettings', run: openProjectSettings },
    { id: 'mnemo.showLogs', run: (ctx) => ctx.log.show() },
  ],
};
