/** Ids of the Runs view, its item kinds (contextValue, used in package.json menus) and the training commands. */
export const VIEW_ID = 'mnemo.runs';

/**
 * A run's contextValue is `run-<state>-<local|ssh>`, e.g. `run-running-ssh`, so that menus can
 * match on both: `viewItem =~ /^run-(setting_up|running)-/` (cancel, reattach),
 * `viewItem =~ /^run-.*-ssh$/` (download).
 */
export function runContextValue(state: string, target: 'local' | 'ssh'): string {
  return `run-${state}-${target}`;
}

/** Read-only documents Mnemo shows for training (the resolved config before a run starts). */
export const TRAIN_CONFIG_SCHEME = 'mnemo-train-config';

export const COMMANDS = {
  startTraining: 'mnemo.startTraining',
  refreshRuns: 'mnemo.training.refresh',
  openLog: 'mnemo.training.openLog',
  cancelRun: 'mnemo.training.cancel',
  reattachRun: 'mnemo.training.reattach',
  downloadRun: 'mnemo.training.download',
  deleteRun: 'mnemo.training.delete',
  findEpochs: 'mnemo.training.findEpochs',
  trainWithAdvice: 'mnemo.training.trainWithAdvice',
  /** Registered by the chart feature (issue 9); the Runs view only links to it. */
  openChart: 'mnemo.training.openChart',
} as const;
