/**
 * The stages a project has done, as context keys: the walkthrough checks its steps off with them
 * (completionEvents onContext) and the empty views' hints follow them (viewsWelcome `when`).
 * Recomputed from the project's files when they change (debounced) and when the project changes.
 *
 * VS Code (1.100) registers a walkthrough's completion events late: when its service starts,
 * which can be after activation set the keys, or only when the walkthrough is first opened. An
 * `onContext` event already true then is never counted (nor is an `onView` or `onCommand` that
 * came before), so "Create a project" stayed unchecked with a project open. Each stage done is
 * therefore also marked with `welcome.markStepComplete` (the walkthrough's own "Mark Done"),
 * again whenever a tab opens (the walkthrough may have just been registered); it does nothing to
 * a step already done.
 */
import { join } from 'node:path';
import * as vscode from 'vscode';
import { describeError } from '../core/errors';
import { stageState, type StageState } from '../core/stages';
import { watchTree } from '../core/watch';
import type { Feature } from './commands';
import type { Ctx } from './ctx';
import { getSourcesView } from './sources';

/** Context keys named in package.json (walkthrough completionEvents, viewsWelcome). */
export const STAGE_CONTEXT_KEYS: Record<keyof StageState, string> = {
  hasPairs: 'mnemo.hasPairs',
  hasDataset: 'mnemo.hasDataset',
  hasTrainedRun: 'mnemo.hasTrainedRun',
  hasEvaluation: 'mnemo.hasEvaluation',
};

/** Bursts of writes (a sweep, a training run) cost one look at the files. */
const SETTLE_MS = 300;

/** The walkthrough (package.json contributes.walkthroughs) and the step each stage checks off. */
const WALKTHROUGH = 'mnemo.start';
type Stage = keyof StageState | 'projectOpen' | 'hasSources' | 'hasChunks';
const STEP_OF: Record<Stage, string> = {
  projectOpen: 'newProject',
  hasSources: 'addSource',
  hasChunks: 'chunks',
  hasPairs: 'generate',
  hasDataset: 'dataset',
  hasTrainedRun: 'train',
  hasEvaluation: 'evaluate',
};

function activate(ctx: Ctx): void {
  const last = new Map<string, boolean>();
  let timer: NodeJS.Timeout | undefined;
  let watcher: vscode.Disposable | undefined;
  /** Steps marked done in this window's walkthrough (ids as VS Code names them). */
  const marked = new Set<string>();
  let done = new Set<Stage>();
  const markSteps = () => {
    for (const stage of done) {
      const id = `${ctx.extension.extension.id}#${WALKTHROUGH}#${STEP_OF[stage]}`;
      if (marked.has(id)) continue;
      // Refused while the walkthrough is not registered yet ("unknown step"): tried again on the next tab or change.
      Promise.resolve(vscode.commands.executeCommand('welcome.markStepComplete', id)).then(
        () => marked.add(id),
        () => undefined,
      );
    }
  };
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
    const sources = getSourcesView()?.model.all ?? [];
    const all: Record<Stage, boolean> = {
      ...state,
      projectOpen: !!project,
      hasSources: sources.some((i) => !!i.entry.kind),
      hasChunks: sources.some((i) => i.state.status === 'ready' && i.state.source.chunks.length > 0),
    };
    done = new Set((Object.keys(all) as Stage[]).filter((k) => all[k]));
    markSteps();
  };
  const schedule = () => {
    if (!timer) timer = setTimeout(update, SETTLE_MS);
  };
  const watch = () => {
    watcher?.dispose();
    watcher = undefined;
    const root = ctx.project?.root;
    if (root) {
      // One tree watch per stage folder (src/core/watch.ts): the editor's watcher misses files in folders made after it started.
      const trees = ['qa', 'data', 'runs', 'eval'].map((dir) => watchTree(join(root, dir), schedule, { depth: 3 }));
      watcher = { dispose: () => trees.forEach((t) => t.dispose()) };
    }
    update();
  };
  ctx.own(ctx.onDidChangeProject(watch));
  const sourcesModel = getSourcesView()?.model;
  if (sourcesModel) ctx.own(sourcesModel.onDidChange(schedule));
  // The walkthrough registers its steps a few seconds after its page or the Welcome page opens at the latest.
  const retries = new Set<NodeJS.Timeout>();
  const markSoon = () => {
    markSteps();
    for (const ms of [1000, 3000, 7000]) {
      const t = setTimeout(() => {
        retries.delete(t);
        markSteps();
      }, ms);
      retries.add(t);
    }
  };
  ctx.own(vscode.window.tabGroups.onDidChangeTabs((e) => e.opened.length && markSoon()));
  ctx.own({ dispose: () => retries.forEach((t) => clearTimeout(t)) });
  ctx.own({
    dispose: () => {
      watcher?.dispose();
      if (timer) clearTimeout(timer);
    },
  });
  watch();
  markSoon();
}

export const stagesFeature: Feature = { name: 'stages', commands: [], activate };
