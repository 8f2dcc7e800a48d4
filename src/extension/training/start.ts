import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findNodeAtLocation, modify, parseTree } from 'jsonc-parser';
import * as vscode from 'vscode';
import { describeError, MnemoError } from '../../core/errors';
import type { Project } from '../../core/project';
import { listHosts, resolveTrainConfig, startRun, TRAINING_PRESETS, trainingPreset, type HostEntry, type RunRecord } from '../../core/training';
import { DEFAULT_MODEL } from '../../core/default-model';
import type { Ctx } from '../ctx';
import { ensurePython, offerDefaultModel, preflightModel } from '../python';
import { TRAIN_CONFIG_SCHEME, VIEW_ID } from './ids';
import { sshOptions, type LiveRuns } from './live';

/** What "Mnemo: Start Training" accepts from scripts and tests (each skips its question). */
export interface StartTrainingArgs {
  /** 'local' or a host name (listHosts): skips the target pick. */
  target?: string;
  /** Overrides over mnemo.json `training` (train.py's snake_case keys). */
  config?: Record<string, unknown>;
  /** Start without showing the config. Implied when `target` is given. */
  yes?: boolean;
  /** The folder holding train.py (default: the mnemo.training.scriptsDir setting, else Mnemo's own). */
  scriptsDir?: string;
  label?: string;
  /** A preset's id (TRAINING_PRESETS), applied under `config`; skips the settings pick. "none": the project's settings. */
  preset?: string;
  /** A Find Epochs probe ("Mnemo: Find Epochs" sets it): its record gets the advice when it ends. */
  purpose?: RunRecord['purpose'];
}

/** The settings pick's answer for the project's own settings (no preset). */
const NO_PRESET = 'none';

/** Mnemo's train.py: in the source tree (src/python) or beside the bundle (dist/python). */
export function defaultScriptsDir(ctx: Ctx): string {
  const root = ctx.extension.extensionPath;
  const candidates = [join(root, 'dist', 'python'), join(root, 'src', 'python')];
  return candidates.find((d) => existsSync(join(d, 'train.py'))) ?? candidates[1];
}

const LOCAL = 'local';

/** The config a run would get, shown as a read-only JSON document (nothing to save, nothing to lose). */
export class TrainConfigDocuments implements vscode.TextDocumentContentProvider {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  show(target: string, config: Record<string, unknown>): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: TRAIN_CONFIG_SCHEME, path: `/config.json (run on ${target.replace(/\//g, '-')})` });
    // The model first: it is what a person checks first.
    this.texts.set(uri.toString(), JSON.stringify({ model: config.model, ...config }, null, 2) + '\n');
    this.changed.fire(uri);
    return uri;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }

  dispose(): void {
    this.changed.dispose();
  }
}

/** "Mnemo: Start Training": dataset check, target, config, start with progress; returns the new run's id. */
export async function startTraining(ctx: Ctx, live: LiveRuns, docs: TrainConfigDocuments, args: StartTrainingArgs = {}): Promise<string | undefined> {
  const project = ctx.requireProject();
  const quiet = args.yes || args.target !== undefined;

  if (!ensureDataset(project, args.config)) {
    const what = `${datasetFile(project, args.config)} is missing`;
    if (quiet) throw new MnemoError(`No dataset to train on: ${what}.`, 'Run "Mnemo: Build Dataset" first.');
    const c = await vscode.window.showWarningMessage(`Mnemo: no dataset to train on yet (${what}). Build it from your Q&A pairs first.`, 'Build Dataset');
    if (c === 'Build Dataset') await vscode.commands.executeCommand('mnemo.buildDataset');
    return undefined;
  }

  // The settings: the project's, or a named preset under the run's own overrides (asked after the target).
  let presetId = args.preset ?? (quiet ? NO_PRESET : undefined);
  if (presetId !== undefined && presetId !== NO_PRESET && !trainingPreset(presetId)) {
    throw new MnemoError(`There is no training preset "${presetId}".`, `Presets: ${TRAINING_PRESETS.map((p) => p.id).join(', ')} (or "${NO_PRESET}" for the project's settings).`);
  }
  const overrides = (): Record<string, unknown> | undefined => {
    const preset = presetId && presetId !== NO_PRESET ? trainingPreset(presetId) : undefined;
    return preset ? { ...preset.config, ...args.config } : args.config;
  };

  let config: Record<string, unknown>;
  try {
    config = resolveTrainConfig(project, overrides());
  } catch (err) {
    if (quiet || !(err instanceof MnemoError)) throw err;
    // No model: the embedded default one is offered (src/extension/python.ts).
    if (/^No model to train/.test(err.message)) {
      const set = await offerDefaultModel(ctx, project, 'No model is set for training (mnemo.json "training.model").', () => editTrainingConfig(project));
      return set ? startTraining(ctx, live, docs, { ...args, config: { ...args.config, model: DEFAULT_MODEL.id } }) : undefined;
    }
    const c = await vscode.window.showErrorMessage(`Mnemo: ${describeError(err)}`, 'Edit Config');
    if (c === 'Edit Config') await editTrainingConfig(project);
    return undefined;
  }

  const target = args.target ?? (await pickTarget(ctx));
  if (target === undefined) return undefined;
  if (presetId === undefined) {
    presetId = await pickPreset(config);
    if (presetId === undefined) return undefined;
    config = resolveTrainConfig(project, overrides());
  }
  const label = args.label ?? (presetId !== NO_PRESET ? trainingPreset(presetId)?.label : undefined);

  if (!quiet) {
    const uri = docs.show(target, config);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.languages.setTextDocumentLanguage(doc, 'json');
    await vscode.window.showTextDocument(doc, { preview: true, preserveFocus: true });
    const choice = await vscode.window.showInformationMessage(
      `Start training ${String(config.model)} on ${target === LOCAL ? 'this machine' : target}?`,
      { modal: true, detail: summarize(config) + '\n\nThe full config.json is open in the editor. Defaults come from mnemo.json "training"; edit it to change them.' },
      'Start',
      'Edit Config',
    );
    if (choice === 'Edit Config') {
      await editTrainingConfig(project);
      return undefined;
    }
    if (choice !== 'Start') return undefined;
  }

  // A push to the Hub needs the token: from secret storage to the script's environment, nowhere else.
  const env: Record<string, string> = {};
  if (config.push_to_hub) {
    const token = await ctx.secrets.get('hfToken');
    if (!token) {
      const why = `The config pushes to the Hub (${String(config.push_to_hub)}), but no Hugging Face token is set.`;
      if (quiet) throw new MnemoError(why, 'Run "Mnemo: Set Hugging Face Token", or set push_to_hub to null.');
      const c = await vscode.window.showErrorMessage(`Mnemo: ${why}`, 'Set Hugging Face Token');
      if (c) await vscode.commands.executeCommand('mnemo.setHfToken');
      return undefined;
    }
    env.HF_TOKEN = token;
    if (ctx.settings.hubUrl !== 'https://huggingface.co') env.HF_ENDPOINT = ctx.settings.hubUrl;
  }

  // The view shows the run from its first file on (setting up), while the notification tells the setup.
  void vscode.commands.executeCommand(`${VIEW_ID}.focus`);
  const scriptsDir = args.scriptsDir ?? ctx.settings.trainingScriptsDir ?? defaultScriptsDir(ctx);
  const where = target === LOCAL ? 'this machine' : target;
  // On this machine: the same Python as evaluation (made once), and a model it can load offline.
  let localPython: string | undefined;
  let modelOverride: Record<string, unknown> = {};
  if (target === LOCAL) {
    localPython = await ensurePython(ctx, 'training');
    if (!localPython) return undefined;
    const model = await preflightModel(ctx, project, String(config.model), localPython, () => editTrainingConfig(project));
    if (!model) return undefined;
    if (model !== config.model) modelOverride = { model };
  }
  const handle = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Mnemo: starting a run on ${where}`, cancellable: true }, async (progress, token) => {
    const abort = new AbortController();
    const sub = token.onCancellationRequested(() => abort.abort());
    try {
      const hooks = live.hooks.withProgress((line) => progress.report({ message: line.length > 120 ? `${line.slice(0, 117)}…` : line }));
      return await startRun(project, { ...live.connectOptions(hooks), target, config: { ...overrides(), ...modelOverride }, scriptsDir, signal: abort.signal, label, env, purpose: args.purpose, localPython });
    } finally {
      sub.dispose();
    }
  });
  live.follow(handle);
  ctx.log.info(`Started run ${handle.record.id} on ${where}.`);
  return handle.record.id;
}

function datasetFile(project: Project, overrides?: Record<string, unknown>): string {
  const name = typeof overrides?.train_file === 'string' ? overrides.train_file : typeof project.config.training?.train_file === 'string' ? project.config.training.train_file : 'train.jsonl';
  return `data/${name}`;
}

function ensureDataset(project: Project, overrides?: Record<string, unknown>): boolean {
  return existsSync(join(project.root, datasetFile(project, overrides)));
}

/** Which settings: the project's (mnemo.json "training"), or a named preset over them. */
async function pickPreset(config: Record<string, unknown>): Promise<string | undefined> {
  if (!TRAINING_PRESETS.length) return NO_PRESET;
  const own = `LoRA r ${String(config.lora_r)}, learning rate ${String(config.learning_rate)}, ${String(config.epochs)} epoch${config.epochs === 1 ? '' : 's'}`;
  const items: (vscode.QuickPickItem & { id: string })[] = [
    { id: NO_PRESET, label: '$(settings) Project settings', description: 'mnemo.json "training"', detail: own },
    ...TRAINING_PRESETS.map((p) => ({ id: p.id, label: `$(beaker) ${p.label}`, description: 'preset', detail: p.detail })),
  ];
  const picked = await vscode.window.showQuickPick(items, { title: 'Mnemo: Start Training — which settings?', placeHolder: 'Your project\'s settings, or a preset over them' });
  return picked?.id;
}

interface TargetItem extends vscode.QuickPickItem {
  target?: string;
  action?: 'addHost';
}

async function pickTarget(ctx: Ctx): Promise<string | undefined> {
  let hosts: HostEntry[] = [];
  let problem: string | undefined;
  try {
    hosts = listHosts(sshOptions(ctx));
  } catch (err) {
    problem = describeError(err);
    ctx.log.warn(problem);
  }
  const items: TargetItem[] = [
    { label: '$(device-desktop) This machine', description: 'local', detail: 'Runs train.py here, detached: it goes on if VS Code closes.', target: LOCAL },
    ...(hosts.length ? [{ label: 'SSH hosts', kind: vscode.QuickPickItemKind.Separator } as TargetItem] : []),
    ...hosts.map((h) => ({ label: `$(remote) ${h.name}`, description: `${h.user}@${h.hostname}${h.port !== 22 ? `:${h.port}` : ''}`, detail: h.from === 'ssh-config' ? 'from your SSH config' : 'from the setting mnemo.training.hosts', target: h.name })),
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    { label: '$(add) Add an SSH host…', detail: problem ? `Your SSH config could not be read: ${problem}` : 'Hosts come from your SSH config (mnemo.ssh.configFile) and the setting mnemo.training.hosts.', action: 'addHost' },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: 'Mnemo: Start Training — where should it run?', placeHolder: 'A GPU machine over SSH, or this machine', matchOnDescription: true });
  if (!picked) return undefined;
  if (picked.action === 'addHost') {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'mnemo.training.hosts');
    return undefined;
  }
  return picked.target;
}

/** The config in a few lines, as a person checks it before spending GPU hours. */
function summarize(c: Record<string, unknown>): string {
  const method = c.method === 'full' ? 'full fine-tuning' : `LoRA r ${String(c.lora_r)}${c.lora_alpha ? `, alpha ${String(c.lora_alpha)}` : ''}`;
  const lines = [
    `model: ${String(c.model)}${c.gguf_file ? ` (${String(c.gguf_file)})` : ''}`,
    `method: ${method}`,
    `learning rate ${String(c.learning_rate)}, ${String(c.lr_scheduler)} schedule, warmup ${String(c.warmup_steps)}`,
    `${String(c.epochs)} epoch${c.epochs === 1 ? '' : 's'}, batch size ${String(c.batch_size)} x gradient accumulation ${String(c.grad_accum)}, max length ${String(c.max_length)}${c.max_steps !== -1 && c.max_steps !== undefined ? `, at most ${String(c.max_steps)} steps` : ''}`,
    `eval ${c.eval_steps ? `every ${String(c.eval_steps)} steps` : 'at the end'} on ${c.eval_file === null ? 'nothing' : `data/${String(c.eval_file)}`}; precision ${String(c.precision)}`,
  ];
  if (c.push_to_hub) lines.push(`pushes to the Hub: ${String(c.push_to_hub)}`);
  return lines.join('\n');
}

/** Opens mnemo.json at its "training" section, adding an empty one (unsaved, undoable) when there is none. */
export async function editTrainingConfig(project: Project): Promise<void> {
  const uri = vscode.Uri.file(project.configPath);
  const doc = await vscode.workspace.openTextDocument(uri);
  const editor = await vscode.window.showTextDocument(doc);
  let text = doc.getText();
  let node = findNodeAtLocation(parseTree(text) ?? { type: 'null', offset: 0, length: 0 }, ['training']);
  // A model is always written (the schema refuses an empty one): the embedded default, selected to type over.
  const hasModel = !!findNodeAtLocation(parseTree(text) ?? { type: 'null', offset: 0, length: 0 }, ['training', 'model']);
  if (!node || !hasModel) {
    const edits = modify(text, ['training', 'model'], DEFAULT_MODEL.id, { formattingOptions: { insertSpaces: true, tabSize: 2 } });
    if (edits.length) {
      await editor.edit((b) => {
        for (const e of edits) b.replace(new vscode.Range(doc.positionAt(e.offset), doc.positionAt(e.offset + e.length)), e.content);
      });
      text = doc.getText();
      node = findNodeAtLocation(parseTree(text) ?? { type: 'null', offset: 0, length: 0 }, ['training']);
    }
  }
  const model = findNodeAtLocation(parseTree(text) ?? { type: 'null', offset: 0, length: 0 }, ['training', 'model']);
  if (model?.type === 'string' && model.value === DEFAULT_MODEL.id) {
    editor.selection = new vscode.Selection(doc.positionAt(model.offset + 1), doc.positionAt(model.offset + model.length - 1));
    editor.revealRange(editor.selection, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  } else if (node) {
    const at = doc.positionAt(node.parent?.offset ?? node.offset);
    editor.selection = new vscode.Selection(at, at);
    editor.revealRange(new vscode.Range(at, at), vscode.TextEditorRevealType.AtTop);
  }
}

/** The run's train.log as a file in the project (for an SSH run, after a download). */
export function logPath(project: Project, id: string): string {
  return join(project.runsDir, id, 'train.log');
}

