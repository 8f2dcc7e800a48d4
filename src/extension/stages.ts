/**
 * The stages a project has done, as context keys: the walkthrough checks its steps off with them
 * (completionEvents onContext) and the empty views' hints follow them (viewsWelcome `when`).
 * Recomputed from the project's files when they change (debounced) and when the project changes.
 */
import * as vscode from 'vscode';
import { describeError } from '../core/errors';
import { stageState, type StageState } from '../core/stages';
import type { Feature } from './commands';
import type { Ctx } from './ctx';

/** Context keys named in package.json (walkthrough completionEvents, viewsWelcome). */
export const STAGE_CONTEXT_KEYS: Record<keyof StageState, string> = {
  hasPairs: 'mnemo.hasPairs',
  hasDataset: 'mnemo.hasDataset',
  hasTrainedRun: 'mnemo.hasTrainedRun',
  hasEvaluation: 'mnemo.hasEvaluation',
};

/** Bursts of writes (a sweep, a training run) cost one look at the files. */
const SETTLE_MS = 300;

function activate(ctx: Ctx): void {
  const last = new Map<string, boolean>();
  let timer: NodeJS.Timeout | undefined;
  let watcher: vscode.FileSystemWatcher | undefined;
  const update = () => {
    timer = undefined;
    const project = ctx.project;
    let state: StageState = { hasPairs: false, hasDataset: false, hasTrainedRun: false, hasEvaluation: false };
    try {
      if (project) state = stageState(project);
    } catch (err) {
      ctx.log.warn(`Could not tell which stages are done: ${describeError(err)}`);
    }
    for (const [k, key] of Object.entries(STAGE_CONTEXT_KEYS) as [keyof StageState, string][]) {
      if (last.get(key) === state[k]) continue;
      last.set(key, state[k]);
      void vscode.commands.executeCommand('setContext', key, state[k]);
    }
  };
  const schedule = () => {
    if (!timer) timer = setTimeout(update, SETTLE_MS);
  };
  const watch = () => {
    watcher?.dispose();
    watcher = undefined;
    const root = ctx.project?.root;
    if (root) {
      watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(root), '{qa,data,runs,eval}/**'));
      watcher.onDidCreate(schedule);
      watcher.onDidChange(schedule);
      watcher.onDidDelete(schedule);
    }
    update();
  };
  ctx.own(ctx.onDidChangeProject(watch));
  ctx.own({
    dispose: () => {
      watcher?.dispose();
      if (timer) clearTimeout(timer);
    },
  });
  watch();
}

export const stagesFeature: Feature = { name: 'stages', commands: [], activate };
