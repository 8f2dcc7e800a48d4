/**
 * What Mnemo leaves off in Restricted Mode (a folder VS Code does not trust). A project's files
 * choose where keys and tokens go (endpoints, the Hub), which machines are reached over SSH and
 * which Python runs: in a folder whose authors are not trusted, none of that happens. Reading the
 * project, its checks, curation and building the dataset (files in, files out) stay on.
 *
 * No vscode import: the manifest test checks this list against package.json (`enablement`).
 */

/** Commands that send secrets, reach other machines or run programs: refused until the folder is trusted. */
export const RESTRICTED_COMMANDS: ReadonlySet<string> = new Set([
  'mnemo.generate',
  'mnemo.generateOffline',
  'mnemo.previewFirstChunk',
  'mnemo.qa.regenerateChunk',
  'mnemo.testConnection',
  'mnemo.pushDataset',
  'mnemo.startTraining',
  'mnemo.training.findEpochs',
  'mnemo.training.trainWithAdvice',
  'mnemo.training.reattach',
  'mnemo.training.download',
  'mnemo.training.cancel',
  'mnemo.training.delete',
  'mnemo.runEvaluation',
  'mnemo.eval.checkForgetting',
]);

/** The `enablement` clause of each restricted command in package.json. */
export const TRUSTED_WHEN = 'isWorkspaceTrusted';

/** The message a restricted command gives when it is called in an untrusted folder. */
export function restrictedMessage(title: string): string {
  return `Mnemo: "${title}" is off in Restricted Mode. This folder is not trusted, and this command would send your keys to addresses, connect to machines or run programs that the folder's files choose. Trust the folder (Manage Workspace Trust) to use it.`;
}
