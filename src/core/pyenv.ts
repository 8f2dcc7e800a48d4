/**
 * The Python that runs train.py and eval.py, on this machine or an SSH host: one venv per set of
 * requirements (src/python/requirements.txt), made once under a cache folder
 * (`~/.cache/mnemo/venv-<16 hex of the file's sha256>`, as on an SSH host) and reused while the
 * file is unchanged. Both targets share this code; they differ only in how a shell command runs.
 *
 * Which Python on this machine, first match wins (training and evaluation alike):
 *   1. a Python named for the call (`mnemo train --python`, a test)
 *   2. the setting `mnemo.python` (the extension passes it as 1.)
 *   3. the environment variable MNEMO_PYTHON
 *   4. Mnemo's venv for the current requirements.txt, made on first use
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, posix } from 'node:path';
import { MnemoError } from './errors';
import { shCommand } from './training/quote';

/** Runs one POSIX sh script, output (stdout and stderr together) line by line; resolves with its exit code and output. */
export type Shell = (script: string, onLine: (line: string) => void) => Promise<{ code: number | null; output: string }>;

/** What making a venv costs, for the notification (torch from PyPI brings NVIDIA's CUDA libraries). */
export const VENV_ESTIMATE = 'about 5.6 GB to download and install (torch, transformers, peft), 5 to 12 minutes, once';

/** The per-user cache folder: $XDG_CACHE_HOME/mnemo, else ~/.cache/mnemo (where the SSH target keeps its venvs too). */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME?.trim();
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.cache'), 'mnemo');
}

/** venv-<16 hex>: the venv folder name for a requirements file's text (the same name here and on a host). */
export function venvName(requirements: string | Buffer): string {
  return `venv-${createHash('sha256').update(requirements).digest('hex').slice(0, 16)}`;
}

/** The sh script that makes the venv under a temporary name and renames it when pip succeeded (never a half venv). */
export function venvScript(venvDir: string, requirementsFile: string, basePython = 'python3'): string {
  const tmp = `${venvDir}.tmp-${process.pid}-${Date.now()}`;
  return [
    shCommand('mkdir', '-p', '--', posix.dirname(venvDir)),
    shCommand('rm', '-rf', '--', tmp),
    shCommand(basePython, '-m', 'venv', tmp),
    shCommand(posix.join(tmp, 'bin', 'python'), '-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', '-r', requirementsFile),
    shCommand('mv', '-T', '--', tmp, venvDir) + ' || { ' + shCommand('rm', '-rf', '--', tmp) + '; exit 1; }',
  ].join(' && ');
}

export interface EnsureVenvOptions {
  /** The venv folder (from venvName). */
  venvDir: string;
  /** The requirements file, as the shell sees it. */
  requirementsFile: string;
  /** "this machine" or the host's name, for messages. */
  where: string;
  /** The setting that names a ready Python instead (for the hint). */
  pythonSetting: string;
  basePython?: string;
  log?: (line: string) => void;
}

/**
 * The venv's Python: reused when it exists, else made with `shell` (pip's output goes to `log`).
 * `exists` tells whether a Python file is there. Failures name what to do.
 */
export async function ensureVenv(shell: Shell, exists: (python: string) => Promise<boolean>, opts: EnsureVenvOptions): Promise<string> {
  const python = posix.join(opts.venvDir, 'bin', 'python');
  if (await exists(python)) {
    opts.log?.(`Using the Python environment ${opts.venvDir}.`);
    return python;
  }
  opts.log?.(`Setting up Python on ${opts.where} (once): ${VENV_ESTIMATE}…`);
  opts.log?.(`pip install -r requirements.txt into ${opts.venvDir}`);
  const r = await shell(`{ ${venvScript(opts.venvDir, opts.requirementsFile, opts.basePython)}; } 2>&1`, (l) => l.trim() && opts.log?.(`pip: ${l}`));
  if (r.code !== 0) throw venvFailure(r.output, opts);
  return python;
}

/** The message for a venv that could not be made, from the last lines of its output. */
export function venvFailure(output: string, opts: Pick<EnsureVenvOptions, 'where' | 'pythonSetting' | 'basePython'>): MnemoError {
  const out = output.trim().split('\n').slice(-6).join('\n');
  const base = opts.basePython ?? 'python3';
  if (/No module named venv|ensurepip is not available/i.test(out)) {
    return new MnemoError(`Python on ${opts.where} cannot create a virtual environment: ${out.split('\n').pop()}`, `Install python3-venv on ${opts.where} (Debian/Ubuntu: apt install python3-venv), or name a Python to use in the settings (${opts.pythonSetting}).`);
  }
  if (out.split('\n').some((l) => l.includes(`${base}: `) && /not found|No such file or directory/.test(l))) {
    return new MnemoError(`There is no Python on ${opts.where} to make a virtual environment with ("${base}" was not found).`, `Install Python 3.10 or newer (Debian/Ubuntu: apt install python3 python3-venv), or name a Python to use in the settings (${opts.pythonSetting}).`);
  }
  return new MnemoError(`Setting up Python on ${opts.where} failed (pip install -r requirements.txt): ${out}`, `Check ${opts.where === 'this machine' ? 'this machine\'s' : 'the host\'s'} network access to PyPI and its free disk space, or name a ready Python in the settings (${opts.pythonSetting}).`);
}

/** Runs sh scripts on this machine. */
export const localShell: Shell = (script, onLine) =>
  new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let rest = '';
    const onData = (d: Buffer) => {
      const text = rest + d.toString('utf8');
      output += d.toString('utf8');
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) onLine(l);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      if (rest) onLine(rest);
      resolve({ code, output });
    });
  });

/** Where a Python came from, for logs and messages. */
export type PythonSource = 'given' | 'MNEMO_PYTHON' | 'venv';

/**
 * The Python of steps 1 to 3 (see the top of this file), or Mnemo's venv when it exists already;
 * undefined when it has to be made (ensureLocalPython makes it).
 */
export function findLocalPython(requirementsFile: string, given?: string, env: NodeJS.ProcessEnv = process.env): { python: string; source: PythonSource } | undefined {
  if (given?.trim()) return { python: given.trim(), source: 'given' };
  if (env.MNEMO_PYTHON?.trim()) return { python: env.MNEMO_PYTHON.trim(), source: 'MNEMO_PYTHON' };
  const venv = localVenvDir(requirementsFile, env);
  const python = join(venv, 'bin', 'python');
  return existsSync(python) ? { python, source: 'venv' } : undefined;
}

/** Mnemo's venv folder on this machine for a requirements file. */
export function localVenvDir(requirementsFile: string, env: NodeJS.ProcessEnv = process.env): string {
  let text: Buffer | string = '';
  try {
    text = readFileSync(requirementsFile);
  } catch {
    // No file: the venv of an empty set of requirements (pip installs nothing).
  }
  return join(userCacheDir(env), venvName(text));
}

/** The Python to run scripts with on this machine, making Mnemo's venv (minutes, once) when nothing else is named. */
export async function ensureLocalPython(requirementsFile: string, opts: { given?: string; env?: NodeJS.ProcessEnv; log?: (line: string) => void; shell?: Shell; basePython?: string } = {}): Promise<{ python: string; source: PythonSource }> {
  const found = findLocalPython(requirementsFile, opts.given, opts.env);
  if (found) return found;
  const venvDir = localVenvDir(requirementsFile, opts.env);
  const python = await ensureVenv(opts.shell ?? localShell, (p) => Promise.resolve(existsSync(p)), {
    venvDir,
    requirementsFile,
    where: 'this machine',
    pythonSetting: 'mnemo.python, or MNEMO_PYTHON',
    basePython: opts.basePython,
    log: opts.log,
  });
  return { python, source: 'venv' };
}

/** The packages train.py and eval.py import (requirements.txt, by import name). */
export const REQUIRED_MODULES = ['torch', 'transformers', 'peft', 'accelerate', 'safetensors'] as const;

/**
 * Looks at a Python before a run: that it starts, and which of the required packages it lacks
 * (all of them, not the first one an import trips on). `where` says where the Python was named.
 */
export async function checkPython(python: string, where: string, modules: readonly string[] = REQUIRED_MODULES): Promise<{ version: string; missing: string[] }> {
  const code = `import importlib.util as u, json, sys; print(json.dumps({"version": sys.version.split()[0], "missing": [m for m in ${JSON.stringify(modules)} if u.find_spec(m) is None]}))`;
  const r = await new Promise<{ code: number | null; out: string; err?: NodeJS.ErrnoException }>((resolve) => {
    const child = spawn(python, ['-c', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.on('error', (err) => resolve({ code: null, out, err }));
    child.on('close', (c) => resolve({ code: c, out }));
  });
  if (r.err) {
    const why = r.err.code === 'ENOENT' ? 'was not found' : r.err.code === 'EACCES' ? 'is not executable' : `could not be started (${r.err.code ?? r.err.message})`;
    throw new MnemoError(`The Python "${python}" (${where}) ${why}.`, `Name a Python 3.10 or newer with torch, transformers and peft in the setting mnemo.python, or leave it (and MNEMO_PYTHON) empty to let Mnemo set up its own.`, undefined, 'pythonSetting');
  }
  try {
    const last = r.out.trim().split('\n').pop() ?? '';
    return JSON.parse(last) as { version: string; missing: string[] };
  } catch {
    throw new MnemoError(`The Python "${python}" (${where}) did not run: ${r.out.trim().split('\n').slice(-2).join(' ') || `exit ${r.code}`}`, 'Name another Python in the setting mnemo.python, or leave it empty to let Mnemo set up its own.', undefined, 'pythonSetting');
  }
}
