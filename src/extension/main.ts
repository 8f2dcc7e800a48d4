import * as vscode from 'vscode';
import { chartFeature } from './chart';
import { registerCommands, type Feature } from './commands';
import { Ctx } from './ctx';
import { datasetFeature } from './dataset';
import { evalFeature } from './eval';
import { generationFeature } from './generation';
import { securityFeature } from './security';
import { projectFeature } from './project';
import { qaFeature } from './qa';
import { getSourcesView, sourcesFeature, type SourcesView } from './sources';
import { stagesFeature } from './stages';
import { getRunsView, trainingFeature, type RunsView } from './training';

/** Every feature of the extension, in the order they are set up. */
export const FEATURES: Feature[] = [projectFeature, sourcesFeature, generationFeature, securityFeature, qaFeature, datasetFeature, evalFeature, trainingFeature, chartFeature, stagesFeature];

export interface MnemoApi {
  ctx: Ctx;
  /** Milliseconds activate() took, for the activation benchmark. */
  activationMs: number;
  /** The Sources view's model and tree provider (tests read the tree through it). */
  sources?: SourcesView;
  /** The Runs view's model (the one metrics stream) and tree provider. */
  runs?: RunsView;
}

export function activate(context: vscode.ExtensionContext): MnemoApi | undefined {
  const started = performance.now();
  const ctx = new Ctx(context);
  context.subscriptions.push(ctx);
  try {
    registerCommands(ctx, FEATURES);
    ctx.reloadProject();
    for (const feature of FEATURES) feature.activate?.(ctx);
  } catch (err) {
    ctx.log.error(`Mnemo failed to activate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    void vscode.window.showErrorMessage(`Mnemo failed to start: ${err instanceof Error ? err.message : String(err)}`, 'Show Logs').then((c) => c && ctx.log.show());
    return undefined;
  }
  const activationMs = performance.now() - started;
  ctx.log.info(`Mnemo activated in ${activationMs.toFixed(1)} ms`);
  return { ctx, activationMs, sources: getSourcesView(), runs: getRunsView() };
}

export function deactivate(): void {
  // Everything is owned by context.subscriptions.
}
