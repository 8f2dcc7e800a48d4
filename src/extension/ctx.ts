import * as vscode from 'vscode';
import { describeError, MnemoError, type Fix } from '../core/errors';
import { PROJECT_FILE, Project, ProjectConfigError } from '../core/project';
import { scrub } from '../core/secrets';
import { scrubbingLog, Secrets } from './secrets';
import { Settings } from './settings';

/** Context keys used in `when` clauses of package.json. */
export const CONTEXT_KEYS = {
  projectOpen: 'mnemo.projectOpen',
  hasSources: 'mnemo.hasSources',
  hasChunks: 'mnemo.hasChunks',
  generating: 'mnemo.generating',
} as const;

/**
 * The one object handed to every command and view: the extension's lifetime, its log, settings,
 * secrets and the project open in the workspace (reloaded whenever mnemo.json changes).
 */
export class Ctx implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  readonly settings = new Settings();
  readonly secrets: Secrets;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly projectEmitter = new vscode.EventEmitter<Project | undefined>();
  /** Fires after the project is loaded, reloaded or closed. */
  readonly onDidChangeProject = this.projectEmitter.event;
  private current: Project | undefined;
  private configDiagnostics = vscode.languages.createDiagnosticCollection('mnemo.json');

  constructor(readonly extension: vscode.ExtensionContext) {
    // Every line is scrubbed of the secrets in use before VS Code writes it to the log file.
    this.log = scrubbingLog(vscode.window.createOutputChannel('Mnemo', { log: true }));
    this.secrets = new Secrets(extension.secrets);
    this.disposables.push(this.log, this.projectEmitter, this.configDiagnostics);
    const watcher = vscode.workspace.createFileSystemWatcher(`**/${PROJECT_FILE}`);
    this.disposables.push(watcher, watcher.onDidCreate(() => this.reloadProject()), watcher.onDidChange(() => this.reloadProject()), watcher.onDidDelete(() => this.reloadProject()));
    this.disposables.push(vscode.workspace.onDidChangeWorkspaceFolders(() => this.reloadProject()));
  }

  /** Registers a disposable for the extension's lifetime. */
  own<T extends vscode.Disposable>(d: T): T {
    this.extension.subscriptions.push(d);
    return d;
  }

  get project(): Project | undefined {
    return this.current;
  }

  /** The project, or a clear error telling the user how to get one. */
  requireProject(): Project {
    if (this.current) return this.current;
    const root = this.workspaceRoot;
    if (!root) throw new MnemoError('No folder is open.', 'Open a folder, then run "Mnemo: New Project".', undefined, 'openFolder');
    // Re-read in case the last load failed on a since-fixed mnemo.json.
    return Project.load(root);
  }

  /** The folder that holds (or would hold) mnemo.json: the first workspace folder that has one, else the first. */
  get workspaceRoot(): string | undefined {
    const folders = vscode.workspace.workspaceFolders ?? [];
    return folders.find((f) => f.uri.scheme === 'file' && this.hasProjectFile(f.uri.fsPath))?.uri.fsPath ?? folders[0]?.uri.fsPath;
  }

  private hasProjectFile(dir: string): boolean {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require('node:fs').existsSync(`${dir}/${PROJECT_FILE}`);
    } catch {
      return false;
    }
  }

  /** Loads mnemo.json; a bad file shows diagnostics on the offending keys and keeps the last good project. */
  reloadProject(): Project | undefined {
    const root = this.workspaceRoot;
    this.configDiagnostics.clear();
    let next: Project | undefined;
    if (root && this.hasProjectFile(root)) {
      try {
        next = Project.load(root);
      } catch (err) {
        this.reportConfigError(err);
        next = this.current?.root === root ? this.current : undefined;
      }
    }
    this.current = next;
    void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.projectOpen, !!next);
    this.projectEmitter.fire(next);
    return next;
  }

  private reportConfigError(err: unknown): void {
    this.log.error(describeError(err));
    if (err instanceof ProjectConfigError) {
      const uri = vscode.Uri.file(err.configPath);
      this.configDiagnostics.set(
        uri,
        err.problems.map((p) => {
          const pos = new vscode.Position(p.line ?? 0, p.column ?? 0);
          const d = new vscode.Diagnostic(new vscode.Range(pos, pos.translate(0, 1)), p.message, vscode.DiagnosticSeverity.Error);
          d.source = 'mnemo';
          return d;
        }),
      );
    }
    void this.showError(err);
  }

  /** Shows an error the way every command does: the message, and a way to the logs. */
  async showError(err: unknown): Promise<void> {
    const message = scrub(describeError(err));
    // A MnemoError is expected (its message is the whole story); anything else is a bug: log its stack.
    this.log.error(err instanceof MnemoError ? message : err instanceof Error ? (err.stack ?? message) : message);
    const fix = err instanceof MnemoError && err.fix ? FIX_BUTTONS[err.fix] : undefined;
    const choice = await vscode.window.showErrorMessage(`Mnemo: ${message}`, ...(fix ? [fix.label] : []), 'Show Logs');
    if (choice === 'Show Logs') this.log.show();
    else if (fix && choice === fix.label) await vscode.commands.executeCommand(fix.command, ...(fix.args ?? []));
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

/** The button for each kind of fix a MnemoError names (src/core/errors.ts). */
export const FIX_BUTTONS: Record<Fix, { label: string; command: string; args?: unknown[] }> = {
  openFolder: { label: 'Open Folder…', command: 'workbench.action.files.openFolder' },
  newProject: { label: 'New Project', command: 'mnemo.newProject' },
  addSource: { label: 'Add Source…', command: 'mnemo.addSource' },
  generate: { label: 'Generate Q&A', command: 'mnemo.generate' },
  buildDataset: { label: 'Build Dataset', command: 'mnemo.buildDataset' },
  setApiKey: { label: 'Set API Key', command: 'mnemo.setApiKey' },
  chooseEndpoint: { label: 'Choose Endpoint', command: 'mnemo.chooseEndpoint' },
  setHfToken: { label: 'Set Hugging Face Token', command: 'mnemo.setHfToken' },
  sshHosts: { label: 'Edit SSH Hosts', command: 'workbench.action.openSettings', args: ['mnemo.training.hosts'] },
  pythonSetting: { label: 'Set Python', command: 'workbench.action.openSettings', args: ['mnemo.python'] },
};
