/**
 * What the chart reads of the training feature: the one metrics stream of the project's runs
 * (RunsModel, src/extension/training/model.ts). The chart never reads metrics files itself.
 */
import type { MetricEvent, RunRecord } from '../../core/training/protocol';
import { getRunsModel, type RunSnapshot } from '../training/model';
import type * as vscode from 'vscode';

export type { RunSnapshot };

/** The part of RunsModel the chart and the status bar use. */
export interface RunsFeed {
  readonly onDidChange: vscode.Event<string | undefined>;
  readonly onDidAppend: vscode.Event<{ runId: string; events: MetricEvent[] }>;
  list(): RunRecord[];
  get(id: string): RunSnapshot | undefined;
  active(): RunSnapshot | undefined;
}

/** The project's runs, or undefined before the training feature is active (no project open). */
export function runsFeed(): RunsFeed | undefined {
  return getRunsModel();
}
