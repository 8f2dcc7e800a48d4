import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { buildProjectDataset, builtFiles, DATA_FILES, datasetIsStale, offlineWarning, summary, type DatasetReport } from '../../core/dataset';
import { describeError, MnemoError } from '../../core/errors';
import { pushDataset, REPO_PATTERN, type PushResult } from '../../core/hub';
import { slug } from '../../core/project';
import type { Feature } from '../commands';
import type { Ctx } from '../ctx';
import { consentToKeyTransport } from '../security';

export const COMMANDS = {
  buildDataset: 'mnemo.buildDataset',
  pushDataset: 'mnemo.pushDataset',
  setHfToken: 'mnemo.setHfToken',
  openDatasetReport: 'mnemo.openDatasetReport',
} as const;

/** What mnemo.buildDataset returns (for tests and other commands). */
export interface BuildDatasetResult {
  summary: string;
  report: DatasetReport;
  reportPath: string;
  written: string[];
}

/** Arguments mnemo.pushDataset accepts, so tests and scripts run it without prompts. The token comes from secret storage unless given. */
export interface PushDatasetArgs {
  repo?: string;
  hubUrl?: string;
  private?: boolean;
  token?: string;
}

async function buildDataset(ctx: Ctx, args?: { quiet?: boolean }): Promise<BuildDatasetResult> {
  const project = ctx.requireProject();
  const { build, written } = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Mnemo: building the dataset…' }, () => buildProjectDataset(project));
  const line = summary(build);
  ctx.log.info(`Dataset built: ${line} Files: ${written.join(', ')}`);
  for (const d of build.report.dropped.filter((x) => x.reason === 'over-budget')) {
    ctx.log.warn(`${d.pair.file}:${d.pair.line + 1}: pair of ${d.tokens} tokens is longer than a row (${project.config.dataset.rowTokenBudget}); left out, not cut.`);
  }
  for (const s of build.report.files.skipped) ctx.log.warn(`${s.file}: ${s.reason}; left out of the dataset.`);
  const reportPath = join(project.dataDir, DATA_FILES.report);
  const offline = offlineWarning(build.report);
  if (offline) ctx.log.warn(`Dataset: ${offline} Files: ${build.report.offline.files.join(', ')}`);
  if (!args?.quiet && offline) {
    void vscode.window.showWarningMessage(`Mnemo: dataset built: ${line} ${offline}`, 'Open Report', 'Generate Q&A').then((choice) => {
      if (choice === 'Open Report') void vscode.commands.executeCommand(COMMANDS.openDatasetReport);
      if (choice === 'Generate Q&A') void vscode.commands.executeCommand('mnemo.generate');
    });
  } else if (!args?.quiet) {
    void vscode.window.showInformationMessage(`Mnemo: dataset built: ${line}`, 'Open Report', 'Push to Hub').then((choice) => {
      if (choice === 'Open Report') void vscode.commands.executeCommand(COMMANDS.openDatasetReport);
      if (choice === 'Push to Hub') void vscode.commands.executeCommand(COMMANDS.pushDataset);
    });
  }
  return { summary: line, report: build.report, reportPath, written };
}

async function openReport(ctx: Ctx): Promise<vscode.Uri> {
  const project = ctx.requireProject();
  const path = join(project.dataDir, DATA_FILES.report);
  if (!existsSync(path)) throw new MnemoError('There is no dataset report yet.', 'Build the dataset first: "Mnemo: Build Dataset".', path);
  const uri = vscode.Uri.file(path);
  await vscode.window.showTextDocument(uri, { preview: false });
  return uri;
}

async function setHfToken(ctx: Ctx, value?: unknown): Promise<boolean> {
  let token = typeof value === 'string' ? value.trim() : undefined;
  if (token === undefined) {
    token = (
      await vscode.window.showInputBox({
        title: 'Hugging Face token',
        prompt: 'A token with write access (huggingface.co/settings/tokens). It is kept in VS Code secret storage only.',
        password: true,
        ignoreFocusOut: true,
        validateInput: (v) => (v.trim() && !v.trim().startsWith('hf_') ? 'Hugging Face tokens start with "hf_".' : undefined),
      })
    )?.trim();
  }
  if (!token) return false;
  await ctx.secrets.store('hfToken', token);
  ctx.log.info('Hugging Face token saved in secret storage.');
  if (typeof value !== 'string') void vscode.window.showInformationMessage('Mnemo: Hugging Face token saved in secret storage.');
  return true;
}

async function pushDatasetCommand(ctx: Ctx, args: PushDatasetArgs = {}): Promise<PushResult | undefined> {
  const project = ctx.requireProject();
  const interactive = args.repo === undefined;
  if (interactive && datasetIsStale(project)) {
    const choice = await vscode.window.showWarningMessage('Mnemo: Q&A files changed since the dataset was built.', 'Build, Then Push', 'Push As Is');
    if (!choice) return undefined;
    if (choice === 'Build, Then Push') await buildDataset(ctx, { quiet: true });
  }
  const files = builtFiles(project);
  let token = args.token ?? (await ctx.secrets.get('hfToken'));
  if (!token) {
    const choice = await vscode.window.showWarningMessage('Mnemo: pushing needs a Hugging Face token with write access.', 'Set Hugging Face Token');
    if (choice !== 'Set Hugging Face Token' || !(await setHfToken(ctx))) return undefined;
    token = await ctx.secrets.get('hfToken');
    if (!token) return undefined;
  }
  let repo = args.repo;
  if (interactive) {
    repo = (
      await vscode.window.showInputBox({
        title: 'Push dataset to the Hugging Face Hub',
        prompt: `Dataset repository, namespace/name (created ${project.config.hub.private ? 'private' : 'public'} if missing)`,
        value: project.config.hub.repo ?? slug(project.config.name),
        ignoreFocusOut: true,
        validateInput: (v) => (REPO_PATTERN.test(v.trim()) ? undefined : 'Use namespace/name: letters, digits, "-", "_" and ".".'),
      })
    )?.trim();
  }
  if (!repo) return undefined;
  const hubUrl = args.hubUrl ?? ctx.settings.hubUrl;
  const allowInsecureToken = await consentToKeyTransport(ctx, hubUrl, token, 'Hugging Face token');
  if (!allowInsecureToken) return undefined;
  const target = repo;
  const hfToken = token;
  let result: PushResult;
  try {
    result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Mnemo: pushing the dataset to ${target}` }, (progress) =>
      pushDataset({
        repo: target,
        token: hfToken,
        hubUrl,
        private: args.private ?? project.config.hub.private,
        files,
        allowInsecureToken,
        log: (line) => {
          ctx.log.info(line);
          progress.report({ message: line });
        },
      }),
    );
  } catch (err) {
    // Logged as well as shown, so a failed push can be read later; core messages never hold the token.
    ctx.log.error(`Push to ${target} failed: ${describeError(err)}`);
    throw err;
  }
  void vscode.window.showInformationMessage(`Mnemo: ${result.created ? 'created and pushed' : 'pushed'} ${result.repo}.`, 'Open Dataset Page').then((choice) => {
    if (choice) void vscode.env.openExternal(vscode.Uri.parse(result.url));
  });
  return result;
}

export const datasetFeature: Feature = {
  name: 'dataset',
  commands: [
    { id: COMMANDS.buildDataset, run: (ctx, args) => buildDataset(ctx, args && typeof args === 'object' && !(args instanceof vscode.Uri) ? args : undefined) },
    { id: COMMANDS.pushDataset, run: (ctx, args) => pushDatasetCommand(ctx, args && typeof args === 'object' && !(args instanceof vscode.Uri) ? (args as PushDatasetArgs) : {}) },
    { id: COMMANDS.setHfToken, run: (ctx, value) => setHfToken(ctx, value) },
    { id: COMMANDS.openDatasetReport, run: (ctx) => openReport(ctx) },
  ],
};
