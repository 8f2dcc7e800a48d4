/**
 * The Python and the model that training and evaluation use on this machine, asked for and made
 * in the editor: Mnemo's venv (once, with a notification saying what it costs), the embedded
 * default model (SmolLM2-135M-Instruct from PyPI, converted once), and the messages for a model
 * that cannot be had (none set, a Hub id with no network). The work is in src/core/pyenv.ts and
 * src/core/default-model.ts.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { applyEdits, modify } from 'jsonc-parser';
import * as vscode from 'vscode';
import { DEFAULT_MODEL, defaultModelReady, ensureDefaultModel, hubReachable, isHubId } from '../core/default-model';
import { MnemoError } from '../core/errors';
import type { Project } from '../core/project';
import { checkPython, ensureLocalPython, findLocalPython, localVenvDir, VENV_ESTIMATE } from '../core/pyenv';
import { shQuote } from '../core/training/quote';
import type { Ctx } from './ctx';

export const USE_DEFAULT_MODEL = `Use ${DEFAULT_MODEL.name} (small CPU model)`;
const SET_PYTHON = 'Use My Own Python';

/** Mnemo's scripts folder (train.py, eval.py, requirements.txt): beside the bundle, or the source tree. */
export function scriptsFolder(ctx: Ctx): string {
  const root = ctx.extension.extensionPath;
  const candidates = [join(root, 'dist', 'python'), join(root, 'src', 'python')];
  return candidates.find((d) => existsSync(join(d, 'requirements.txt'))) ?? candidates[1];
}

/**
 * The Python for `purpose` on this machine: the setting mnemo.python, MNEMO_PYTHON, or Mnemo's
 * venv, made here (with a notification) when it does not exist yet. Undefined when the user
 * declined or it failed (the failure is shown).
 */
export async function ensurePython(ctx: Ctx, purpose: 'training' | 'evaluation', scriptsDir = scriptsFolder(ctx)): Promise<string | undefined> {
  const requirements = join(scriptsDir, 'requirements.txt');
  const found = findLocalPython(requirements, ctx.settings.python);
  if (found) return (await usable(ctx, found.python, found.source === 'given' ? 'the setting mnemo.python' : found.source === 'MNEMO_PYTHON' ? 'MNEMO_PYTHON' : 'Mnemo\'s venv', purpose, requirements)) ? found.python : undefined;
  const choice = await vscode.window.showInformationMessage(
    `Mnemo: ${purpose} on this machine needs Python with torch, transformers and peft. Set it up now in ${localVenvDir(requirements).replace(homedir(), '~')}? It is ${VENV_ESTIMATE}.`,
    'Set Up Python',
    SET_PYTHON,
  );
  if (choice === SET_PYTHON) {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'mnemo.python');
    return undefined;
  }
  if (choice !== 'Set Up Python') return undefined;
  try {
    const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Mnemo: setting up Python (${VENV_ESTIMATE})` }, (progress) =>
      ensureLocalPython(requirements, {
        given: ctx.settings.python,
        log: (line) => {
          ctx.log.info(line);
          progress.report({ message: line.length > 100 ? `${line.slice(0, 97)}…` : line });
        },
      }),
    );
    ctx.log.info(`Python for training and evaluation: ${r.python}`);
    return r.python;
  } catch (err) {
    await showWithFix(ctx, err, [SET_PYTHON, () => vscode.commands.executeCommand('workbench.action.openSettings', 'mnemo.python')]);
    return undefined;
  }
}

/**
 * Whether a Python starts and has every package the scripts import. One message otherwise,
 * naming all the missing packages, with the fix as a button.
 */
async function usable(ctx: Ctx, python: string, where: string, purpose: string, requirements: string): Promise<boolean> {
  let missing: string[];
  try {
    missing = (await checkPython(python, where)).missing;
  } catch (err) {
    await showWithFix(ctx, err, [SET_PYTHON, () => vscode.commands.executeCommand('workbench.action.openSettings', 'mnemo.python')]);
    return false;
  }
  if (!missing.length) return true;
  const list = missing.length === 1 ? missing[0] : `${missing.slice(0, -1).join(', ')} and ${missing[missing.length - 1]}`;
  const install = `"${python}" -m pip install -r "${requirements}"`;
  const c = await vscode.window.showErrorMessage(
    `Mnemo: ${purpose} needs Python packages that ${python} (from ${where}) does not have: ${list}. Install them into it (${install}), or clear ${where} to let Mnemo set up its own Python.`,
    'Install Them',
  );
  if (c === 'Install Them') {
    // In a terminal: pip's progress and questions stay where the user sees them.
    const t = vscode.window.createTerminal({ name: 'Mnemo: Python packages' });
    t.show();
    t.sendText(`${shQuote(python)} -m pip install -r ${shQuote(requirements)}`);
  }
  return false;
}

/** An error with one fixing action as a button, and Show Logs. */
async function showWithFix(ctx: Ctx, err: unknown, fix: [string, () => Thenable<unknown>]): Promise<void> {
  const text = err instanceof MnemoError ? err.describe() : err instanceof Error ? err.message : String(err);
  ctx.log.error(text);
  const c = await vscode.window.showErrorMessage(`Mnemo: ${text}`, fix[0], 'Show Logs');
  if (c === fix[0]) await fix[1]();
  else if (c === 'Show Logs') ctx.log.show();
}

/** Writes training.model into mnemo.json (through the open editor when it is open, so nothing unsaved is lost). */
export async function setProjectModel(project: Project, model: string): Promise<void> {
  const uri = vscode.Uri.file(project.configPath);
  const open = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === uri.fsPath);
  const text = open ? open.getText() : readFileSync(project.configPath, 'utf8');
  const edits = modify(text, ['training', 'model'], model, { formattingOptions: { insertSpaces: true, tabSize: 2 } });
  if (open) {
    const edit = new vscode.WorkspaceEdit();
    for (const e of edits) edit.replace(uri, new vscode.Range(open.positionAt(e.offset), open.positionAt(e.offset + e.length)), e.content);
    await vscode.workspace.applyEdit(edit);
    await open.save();
  } else writeFileSync(project.configPath, applyEdits(text, edits));
}

/** The default model's converted copy, made (once, with a notification) with `python`. False when it failed (shown). */
export async function ensureDefaultModelCopy(ctx: Ctx, python: string, scriptsDir = scriptsFolder(ctx)): Promise<boolean> {
  if (defaultModelReady()) return true;
  try {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Mnemo: preparing ${DEFAULT_MODEL.name} (98 MB from PyPI, converted once, about a minute)` }, (progress) =>
      ensureDefaultModel(python, scriptsDir, {
        log: (line) => {
          ctx.log.info(line);
          progress.report({ message: line.length > 100 ? `${line.slice(0, 97)}…` : line });
        },
      }),
    );
    return true;
  } catch (err) {
    await showWithFix(ctx, err, [SET_PYTHON, () => vscode.commands.executeCommand('workbench.action.openSettings', 'mnemo.python')]);
    return false;
  }
}

/**
 * No model is set: says so, and offers the embedded default model (and editing mnemo.json).
 * 'set' when the default model is now the project's.
 */
export async function offerDefaultModel(ctx: Ctx, project: Project, why: string, editConfig: () => Promise<void>): Promise<'set' | undefined> {
  const online = await hubReachable(ctx.settings.hubUrl, 3000);
  const where = online ? '' : ` This machine cannot reach ${ctx.settings.hubUrl}, so a model has to be on this machine already;`;
  const c = await vscode.window.showWarningMessage(
    `Mnemo: ${why}${where} ${DEFAULT_MODEL.label} ships with Mnemo's Python packages and needs no download.`,
    { detail: DEFAULT_MODEL.detail },
    USE_DEFAULT_MODEL,
    'Edit Config',
  );
  if (c === 'Edit Config') await editConfig();
  if (c !== USE_DEFAULT_MODEL) return undefined;
  await setProjectModel(project, DEFAULT_MODEL.id);
  ctx.log.info(`mnemo.json: training.model set to ${DEFAULT_MODEL.id} (the embedded default model).`);
  return 'set';
}

/** Whether a Hub model is in the local Hugging Face cache ($HF_HOME/hub or ~/.cache/huggingface/hub). */
function inHubCache(model: string): boolean {
  const home = process.env.HF_HUB_CACHE ?? join(process.env.HF_HOME ?? join(homedir(), '.cache', 'huggingface'), 'hub');
  return existsSync(join(home, `models--${model.replace('/', '--')}`));
}

/**
 * Before a local run or evaluation: the model can be had. The default model is prepared; a Hub id
 * that is neither cached nor reachable gets one message with the way out. Returns the model to
 * use (the default one when the user picked it), undefined: do not start.
 */
export async function preflightModel(ctx: Ctx, project: Project, model: string, python: string, editConfig: () => Promise<void>, scriptsDir = scriptsFolder(ctx)): Promise<string | undefined> {
  if (model === DEFAULT_MODEL.id) return (await ensureDefaultModelCopy(ctx, python, scriptsDir)) ? model : undefined;
  if (!isHubId(model) || inHubCache(model) || (await hubReachable(ctx.settings.hubUrl, 4000))) return model;
  const c = await vscode.window.showErrorMessage(
    `Mnemo: the model ${model} is not on this machine, and ${ctx.settings.hubUrl} cannot be reached to download it (no network?). Use ${DEFAULT_MODEL.name}, which ships with Mnemo, or a model folder on this machine.`,
    USE_DEFAULT_MODEL,
    'Edit Config',
  );
  if (c === 'Edit Config') await editConfig();
  if (c !== USE_DEFAULT_MODEL) return undefined;
  await setProjectModel(project, DEFAULT_MODEL.id);
  return (await ensureDefaultModelCopy(ctx, python, scriptsDir)) ? DEFAULT_MODEL.id : undefined;
}
