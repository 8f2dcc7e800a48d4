/**
 * Training: the Runs view (every run of runs/, live), "Mnemo: Start Training" and the run actions
 * (open log, cancel, reattach, download, delete). The runner is src/core/training; this layer
 * picks the target, shows the config, answers the core's questions (host keys, passphrases) and
 * keeps live runs followed across reloads.
 */
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import { describeError, MnemoError } from '../../core/errors';
import { adviseRun, cancelRun, deleteRun, downloadRun, FIND_EPOCHS_DEFAULTS, findEpochsConfig, type RunRecord } from '../../core/training';
import type { CommandSpec, Feature } from '../commands';
import type { Ctx } from '../ctx';
import { VscodeTrainingHooks } from './hooks';
import { COMMANDS, TRAIN_CONFIG_SCHEME, VIEW_ID } from './ids';
import { LiveRuns } from './live';
import { isLive, RunsModel, setRunsModel } from './model';
import { RunNode } from './nodes';
import { RunsTreeProvider } from './provider';
import { logPath, startTraining, TrainConfigDocuments, type StartTrainingArgs } from './start';

export { getRunsModel, RunsModel, type RunSnapshot } from './model';
export type { RunTreeSnapshot } from './provider';
export type { StartTrainingArgs } from './start';

/** What the extension's API exposes of the Runs view (tests read the tree through it). */
export interface RunsView {
  model: RunsModel;
  provider: RunsTreeProvider;
  treeView: vscode.TreeView<unknown>;
  live: LiveRuns;
}

let view: RunsView | undefined;
const configDocs = new TrainConfigDocuments();

/** The Runs view once the feature is active. */
export function getRunsView(): RunsView | undefined {
  return view;
}

function need(): RunsView {
  if (!view) throw new MnemoError('The Runs view is not ready yet.', 'Open a Mnemo project folder.');
  return view;
}

/** A run a command was given (a view item, or an id from scripts and tests), or one picked from the list. */
async function runArg(arg: unknown, what: string, filter: (r: RunRecord) => boolean = () => true): Promise<RunRecord | undefined> {
  const { model } = need();
  const id = arg instanceof RunNode ? arg.id : typeof arg === 'string' ? arg : arg && typeof arg === 'object' && typeof (arg as { id?: unknown }).id === 'string' ? (arg as { id: string }).id : undefined;
  if (id !== undefined) {
    const snap = model.get(id);
    if (!snap) throw new MnemoError(`There is no run "${id}" in runs/.`, 'Pick a run in the Runs view.');
    return snap.record;
  }
  const runs = model.list().filter(filter);
  if (!runs.length) {
    void vscode.window.showInformationMessage(`Mnemo: no run to ${what}.`);
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    runs.map((r) => {
      const snap = model.get(r.id);
      const item = snap ? new RunNode(snap).toTreeItem() : undefined;
      return { label: r.label ?? r.id, description: typeof item?.description === 'string' ? item.description : r.state, record: r };
    }),
    { title: `Mnemo: ${what} which run?` },
  );
  return picked?.record;
}

/** Asks before something that cannot be undone; `{ confirm: false }` in the arguments skips it. */
async function confirm(options: unknown, message: string, detail: string, ...actions: string[]): Promise<string | undefined> {
  if (options && typeof options === 'object' && (options as { confirm?: unknown }).confirm === false) return (options as { action?: string }).action ?? actions[0];
  return vscode.window.showWarningMessage(message, { modal: true, detail }, ...actions);
}

async function cancel(ctx: Ctx, arg: unknown, options?: unknown): Promise<RunRecord | undefined> {
  const record = await runArg(arg, 'cancel', (r) => isLive(r.state));
  if (!record) return undefined;
  if (!isLive(record.state)) {
    void vscode.window.showInformationMessage(`Mnemo: run ${record.id} is not running (${record.state}).`);
    return record;
  }
  const where = record.target.kind === 'local' ? 'this machine' : record.target.host;
  const ok = await confirm(options, `Cancel run ${record.id}?`, `The training on ${where} is stopped (its whole process group). What it saved so far stays in its folder.`, 'Cancel Run');
  if (ok !== 'Cancel Run') return undefined;
  const result = await stopRun(ctx, record);
  ctx.log.info(`Cancelled run ${record.id}.`);
  return result;
}

/** How long a followed run may take to record its end after its process group is gone. */
const SETTLE_MS = 15_000;

/** Stops a live run and returns its final record (a followed run records its own end: wait for it). */
async function stopRun(ctx: Ctx, record: RunRecord): Promise<RunRecord> {
  const { live, model } = need();
  const handle = live.handle(record.id);
  let result: RunRecord;
  if (handle) {
    await handle.cancel();
    let timer: NodeJS.Timeout | undefined;
    result = await Promise.race([handle.finished.catch(() => handle.record), new Promise<RunRecord>((resolve) => (timer = setTimeout(() => resolve(handle.record), SETTLE_MS)))]);
    clearTimeout(timer);
  } else {
    result = await cancelRun(ctx.requireProject(), record.id, live.connectOptions());
  }
  model.poke(record.id);
  return result;
}

async function reattach(ctx: Ctx, arg: unknown): Promise<RunRecord | undefined> {
  const record = await runArg(arg, 'reattach', (r) => isLive(r.state));
  if (!record) return undefined;
  const { live } = need();
  const handle = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Mnemo: reattaching run ${record.id}` }, (progress) =>
    live.attach(ctx.requireProject(), record.id, live.hooks.withProgress((line) => progress.report({ message: line }))),
  );
  ctx.log.info(`Reattached run ${record.id} (${handle.record.state}).`);
  return handle.record;
}

async function download(ctx: Ctx, arg: unknown): Promise<RunRecord | undefined> {
  const record = await runArg(arg, 'download', (r) => r.target.kind === 'ssh');
  if (!record) return undefined;
  if (record.target.kind === 'local') {
    void vscode.window.showInformationMessage(`Mnemo: run ${record.id} ran on this machine; its outputs are already in runs/${record.id}/.`);
    return record;
  }
  const { live, model } = need();
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Mnemo: downloading the outputs of run ${record.id}` }, async (progress) => {
    const hooks = live.hooks.withProgress((line) => progress.report({ message: line }));
    const handle = live.handle(record.id);
    if (handle) {
      await handle.download();
      return handle.record;
    }
    return downloadRun(ctx.requireProject(), record.id, live.connectOptions(hooks));
  });
  model.poke(record.id);
  ctx.log.info(`Downloaded the outputs of run ${record.id} into runs/${record.id}/.`);
  void vscode.window.showInformationMessage(`Mnemo: the outputs of run ${record.id} are in runs/${record.id}/${isLive(result.state) ? ' (as far as it got: it is still running)' : ''}.`);
  return result;
}

async function remove(ctx: Ctx, arg: unknown, options?: unknown): Promise<boolean> {
  const record = await runArg(arg, 'delete');
  if (!record) return false;
  const project = ctx.requireProject();
  const here = 'Delete';
  const both = record.target.kind === 'ssh' ? `Delete Here and on ${record.target.host}` : undefined;
  const detail = `${isLive(record.state) ? 'It is still running: it is cancelled first. ' : ''}Its folder runs/${record.id}/ (record, metrics, log, downloaded outputs) is deleted.${both ? ` "${both}" also deletes its folder on the remote machine.` : ''}`;
  const choice = await confirm(options, `Delete run ${record.id}?`, detail, ...(both ? [here, both] : [here]));
  if (choice !== here && choice !== both) return false;
  const { live, model } = need();
  if (isLive(record.state)) await stopRun(ctx, record);
  await deleteRun(project, record.id, { ...live.connectOptions(), remote: choice === both });
  model.refresh();
  ctx.log.info(`Deleted run ${record.id}${choice === both ? ' here and on its machine' : ''}.`);
  return true;
}

async function openLog(ctx: Ctx, arg: unknown): Promise<string | undefined> {
  const record = await runArg(arg, 'open the log of');
  if (!record) return undefined;
  const project = ctx.requireProject();
  const path = logPath(project, record.id);
  if (!existsSync(path) && record.target.kind === 'ssh') {
    // An SSH run's log stays on its machine until downloaded.
    await download(ctx, record.id);
  }
  if (!existsSync(path)) {
    void vscode.window.showInformationMessage(`Mnemo: run ${record.id} has no log yet (runs/${record.id}/train.log).`);
    return undefined;
  }
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(path));
  await vscode.window.showTextDocument(doc, { preview: true });
  return path;
}

/** What "Mnemo: Find Epochs" accepts from scripts and tests: the probe's epochs (asked for otherwise), and Start Training's arguments. */
export interface FindEpochsArgs extends StartTrainingArgs {
  epochs?: number;
  evalsPerEpoch?: number;
}

/** "Mnemo: Find Epochs": a probe run (constant lr, N epochs, evals every quarter epoch, no best checkpoint) whose end advises the epochs. */
async function findEpochs(ctx: Ctx, args: FindEpochsArgs = {}): Promise<string | undefined> {
  let epochs = args.epochs;
  if (epochs === undefined) {
    const answer = await vscode.window.showInputBox({
      title: 'Mnemo: Find Epochs',
      prompt: 'Epochs of the probe run (constant learning rate, eval loss and recall 4 times per epoch). When it ends, Mnemo marks where the eval loss turns up and where recall peaks, and advises a run.',
      value: String(FIND_EPOCHS_DEFAULTS.epochs),
      validateInput: (v) => (/^\d+(\.\d+)?$/.test(v.trim()) && Number(v) > 0 && Number(v) <= 50 ? undefined : 'A number of epochs from 1 to 50.'),
    });
    if (answer === undefined) return undefined;
    epochs = Number(answer.trim());
  }
  if (!(typeof epochs === 'number' && Number.isFinite(epochs) && epochs > 0)) throw new MnemoError(`Find Epochs needs a positive number of epochs, not ${JSON.stringify(epochs)}.`, 'Pass e.g. { "epochs": 4 }.');
  const { evalsPerEpoch, ...start } = args;
  delete start.epochs;
  return startTraining(ctx, need().live, configDocs, { ...start, config: { ...start.config, ...findEpochsConfig(epochs, evalsPerEpoch) }, purpose: 'find-epochs', label: start.label ?? `Find Epochs (${epochs} epochs)` });
}

/** "Train With These Settings": a normal run with a probe's advice (cosine, the advised epochs), the config shown before it starts. */
async function trainWithAdvice(ctx: Ctx, arg: unknown, options?: StartTrainingArgs): Promise<string | undefined> {
  const record = await runArg(arg, 'train with the advice of', (r) => r.purpose === 'find-epochs');
  if (!record) return undefined;
  const advised = record.advice ?? adviseRun(ctx.requireProject(), record.id)?.advice;
  if (!advised) throw new MnemoError(`Run ${record.id} has no Find Epochs advice${record.purpose === 'find-epochs' ? ' yet: it is still running' : ': it is not a Find Epochs probe'}.`, 'Run "Mnemo: Find Epochs" and wait until it ends.');
  const opts = options && typeof options === 'object' ? options : {};
  // The probe's own settings (its model, rate, rank, preset), with the advised schedule and epochs.
  return startTraining(ctx, need().live, configDocs, { ...opts, config: { ...record.config, ...advised.config, ...opts.config }, preset: opts.preset ?? 'none', label: opts.label ?? `${advised.epochs} epoch${advised.epochs > 1 ? 's' : ''} (Find Epochs ${record.id})` });
}

const commands: CommandSpec[] = [
  { id: COMMANDS.findEpochs, run: (ctx, args?: FindEpochsArgs) => findEpochs(ctx, args && typeof args === 'object' && !(args instanceof RunNode) ? args : {}) },
  { id: COMMANDS.trainWithAdvice, run: (ctx, arg, options) => trainWithAdvice(ctx, arg, options as StartTrainingArgs | undefined) },
  { id: COMMANDS.startTraining, run: (ctx, args?: StartTrainingArgs) => startTraining(ctx, need().live, configDocs, args && typeof args === 'object' && !(args instanceof RunNode) ? args : {}) },
  {
    id: COMMANDS.refreshRuns,
    run: () => {
      need().model.refresh();
      return need().provider.snapshot();
    },
  },
  { id: COMMANDS.openLog, run: (ctx, arg) => openLog(ctx, arg) },
  { id: COMMANDS.cancelRun, run: (ctx, arg, options) => cancel(ctx, arg, options) },
  { id: COMMANDS.reattachRun, run: (ctx, arg) => reattach(ctx, arg) },
  { id: COMMANDS.downloadRun, run: (ctx, arg) => download(ctx, arg) },
  { id: COMMANDS.deleteRun, run: (ctx, arg, options) => remove(ctx, arg, options) },
];

function activate(ctx: Ctx): void {
  const model = ctx.own(new RunsModel(ctx));
  const provider = ctx.own(new RunsTreeProvider(model));
  const treeView = ctx.own(vscode.window.createTreeView(VIEW_ID, { treeDataProvider: provider }));
  provider.setVisible(treeView.visible);
  ctx.own(treeView.onDidChangeVisibility((e) => provider.setVisible(e.visible)));
  const live = ctx.own(new LiveRuns(ctx, model, new VscodeTrainingHooks(ctx.log)));
  ctx.own(vscode.workspace.registerTextDocumentContentProvider(TRAIN_CONFIG_SCHEME, configDocs));
  view = { model, provider, treeView: treeView as vscode.TreeView<unknown>, live };
  setRunsModel(model);
  ctx.own({
    dispose: () => {
      view = undefined;
      setRunsModel(undefined);
    },
  });
  // A reload must not lose a run: follow again every run the records call live. Not awaited:
  // reaching a machine takes seconds, activation must not.
  // In Restricted Mode the records' hosts are the folder's word: runs are followed once it is trusted.
  const reattach = () => {
    const project = ctx.project;
    if (project && model.list().some((r) => isLive(r.state))) {
      setTimeout(() => void live.reattachAll(project).catch((err: unknown) => ctx.log.error(`Reattaching runs failed: ${describeError(err)}`)), 0);
    }
  };
  if (vscode.workspace.isTrusted) reattach();
  else {
    const waiting = model.list().filter((r) => isLive(r.state)).length;
    if (waiting) ctx.log.info(`Restricted Mode: ${waiting} live run(s) will be followed once this folder is trusted.`);
    ctx.own(vscode.workspace.onDidGrantWorkspaceTrust(reattach));
  }
}

export const trainingFeature: Feature = {
  name: 'training',
  activate,
  commands,
};
