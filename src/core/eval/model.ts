/**
 * Answering with a local model through src/python/eval.py: the base model, or a run's fine-tuned
 * model (base + LoRA adapter, or a merged / fully fine-tuned folder). Greedy decoding, batched,
 * with the training chat template. eval.py reads a questions JSONL and writes an answers JSONL,
 * and reports on stdout in the metrics protocol (status / error / done lines).
 *
 * Runs locally as a child process. (Running it on the SSH target of a run needs the training
 * bridge's "run a script in a run folder" call: see README, Evaluation.)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { localModelPath } from '../default-model';
import { MnemoError } from '../errors';
import { ensureLocalPython } from '../pyenv';
import type { Project } from '../project';
import { parseMetricLine } from '../training/metrics';
import { RUN_FILES, type RunRecord } from '../training/protocol';
import type { AnswerRecord, EvalProgress, EvalSet } from './types';

/** The model eval.py loads: a base (HF id or folder, maybe a GGUF file in it) and an optional adapter. */
export interface LocalModelSpec {
  model: string;
  ggufFile?: string;
  /** A peft adapter folder (adapter_config.json) applied on top of `model`. */
  adapter?: string;
  /** mnemo.json dataset.systemPrompt: the training rows' system message, if any. */
  systemPrompt?: string;
  /** A text the model reads in its prompt (the whole document: the ceiling); its prefix is cached once. */
  contextText?: string;
}

export interface ModelEvalOptions {
  /** Python with torch, transformers (and peft for adapters): default $MNEMO_PYTHON, else Mnemo's venv (src/core/pyenv.ts; made once). */
  python?: string;
  /** eval.py; found next to the code when not given. */
  script?: string;
  /** Where questions.jsonl, answers.jsonl and eval.log go (default .mnemo/eval/<name>/). */
  workDir?: string;
  maxNewTokens?: number;
  batchSize?: number;
  /** 'cpu', 'cuda', 'auto' (default). */
  device?: string;
  /** Extra environment for the script (HF_HUB_OFFLINE, thread counts...). Keys are never logged. */
  env?: Record<string, string>;
  signal?: AbortSignal;
  onProgress?: (p: EvalProgress) => void;
  /** Every line eval.py writes (stdout and stderr). */
  onLog?: (line: string) => void;
}

/** Finds eval.py: in the source tree (src/python), or next to the bundle (dist/python). */
export function findEvalScript(): string {
  const candidates = [join(__dirname, '..', '..', 'python', 'eval.py'), join(__dirname, 'python', 'eval.py'), join(__dirname, '..', 'python', 'eval.py'), join(__dirname, '..', 'src', 'python', 'eval.py')];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new MnemoError('eval.py was not found next to Mnemo\'s code.', 'Reinstall the extension, or pass the script\'s path.', candidates[0]);
  return found;
}

/** A run's record (run.json), or a message naming the run when it is missing or unreadable. */
export function readRun(project: Project, runId: string): RunRecord {
  const file = join(project.runsDir, runId, RUN_FILES.record);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new MnemoError(code === 'ENOENT' ? `There is no run "${runId}" (no ${file}).` : `The run record ${file} cannot be read (${code ?? (err as Error).message}).`, 'Pick a run listed in the Runs view (its folder name under runs/).', file);
  }
}

/** The base model of the project: mnemo.json `training.model`, when there is a training section. */
export function projectBaseModel(project: Project): { model?: string; ggufFile?: string } {
  const t = (project.config as unknown as { training?: { model?: string; gguf_file?: string } }).training;
  return { model: t?.model, ggufFile: t?.gguf_file };
}

/**
 * What a run's fine-tuned model is: its config's base model plus the adapter in runs/<id>/output
 * (or the merged / full model there). The outputs must be on this machine.
 */
export function runModelSpec(project: Project, runId: string): LocalModelSpec & { outputDir: string } {
  const run = readRun(project, runId);
  const cfg = run.config as { model?: string; gguf_file?: string; output_dir?: string; merge?: boolean };
  const runDir = join(project.runsDir, runId);
  if (run.state !== 'done') {
    throw new MnemoError(`Run "${runId}" is ${run.state.replace('_', ' ')}, not done: it has no finished model to evaluate.`, 'Wait for the run to finish (or evaluate another run).', join(runDir, RUN_FILES.record));
  }
  const out = join(runDir, cfg.output_dir && !isAbsolute(cfg.output_dir) ? cfg.output_dir : RUN_FILES.output);
  const candidates = [join(out, 'merged'), out];
  for (const dir of [out, ...candidates]) {
    if (existsSync(join(dir, 'adapter_config.json'))) return { model: resolveModel(project, cfg.model), ggufFile: cfg.gguf_file, adapter: dir, outputDir: dir };
  }
  for (const dir of candidates) {
    if (existsSync(join(dir, 'config.json'))) return { model: dir, outputDir: dir };
  }
  throw new MnemoError(
    `Run "${runId}" has no model on this machine: ${out} holds neither an adapter (adapter_config.json) nor a model (config.json).`,
    run.target.kind === 'ssh' ? 'Download the run\'s outputs first (Runs view), then evaluate again.' : 'The run may have failed before saving: see its train.log.',
    out,
  );
}

function resolveModel(project: Project, model: string | undefined): string {
  if (!model) throw new MnemoError('The run\'s config has no "model".', 'Every run.json names its base model in config.model; re-create the run.');
  // A relative local folder is relative to the project.
  return model.startsWith('.') ? resolve(project.root, model) : model;
}

interface ScriptAnswer {
  id: string;
  answer?: string;
  error?: string;
  latency_ms?: number;
}

/**
 * Answers the set with a local model through eval.py. A question the script could not answer
 * gets `error`; the script failing as a whole (no Python, a missing package, a model that does
 * not load) is a MnemoError with the script's own message and hint.
 */
export async function runModelEval(set: EvalSet, spec: LocalModelSpec, opts: ModelEvalOptions & { workDir: string }): Promise<AnswerRecord[]> {
  // MNEMO_EVAL_SCRIPT: a stand-in speaking eval.py's protocol (the CLI tests use one).
  const script = opts.script ?? process.env.MNEMO_EVAL_SCRIPT ?? findEvalScript();
  // The same Python as training on this machine: named (the mnemo.python setting), MNEMO_PYTHON, else Mnemo's venv.
  const python = (await ensureLocalPython(join(dirname(script), 'requirements.txt'), { given: opts.python, log: opts.onLog })).python;
  // The embedded default model's Hub id is its converted copy on this machine (src/core/default-model.ts).
  spec = { ...spec, model: localModelPath(spec.model) };
  mkdirSync(opts.workDir, { recursive: true });
  const questionsFile = join(opts.workDir, 'questions.jsonl');
  const answersFile = join(opts.workDir, 'answers.jsonl');
  writeFileSync(questionsFile, set.questions.map((q) => JSON.stringify({ id: q.id, question: q.question })).join('\n') + '\n');
  const args = [script, '--questions', questionsFile, '--output', answersFile, '--model', spec.model];
  if (spec.ggufFile) args.push('--gguf-file', spec.ggufFile);
  if (spec.adapter) args.push('--adapter', spec.adapter);
  if (spec.systemPrompt) args.push('--system-prompt', spec.systemPrompt);
  if (spec.contextText !== undefined) {
    const contextFile = join(opts.workDir, 'context.txt');
    writeFileSync(contextFile, spec.contextText);
    args.push('--context-file', contextFile);
  }
  if (opts.maxNewTokens) args.push('--max-new-tokens', String(opts.maxNewTokens));
  if (opts.batchSize) args.push('--batch-size', String(opts.batchSize));
  if (opts.device) args.push('--device', opts.device);
  const total = set.questions.length;
  opts.onProgress?.({ phase: 'loading', done: 0, total, message: `loading ${spec.model}${spec.adapter ? ' + adapter' : ''}` });

  const log: string[] = [];
  let scriptError: { message: string; hint?: string; kind?: string } | undefined;
  const code = await new Promise<number | null>((resolveExit, reject) => {
    const child = spawn(python, args, { cwd: dirname(script), env: { ...process.env, PYTHONUNBUFFERED: '1', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: process.platform !== 'win32' });
    const kill = () => {
      try {
        if (child.pid && process.platform !== 'win32') process.kill(-child.pid, 'SIGTERM');
        else child.kill('SIGTERM');
      } catch {
        // Already gone.
      }
    };
    opts.signal?.addEventListener('abort', kill, { once: true });
    const onLines = (stream: NodeJS.ReadableStream, isStdout: boolean) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        rest += chunk;
        const lines = rest.split('\n');
        rest = lines.pop()!;
        for (const line of lines) handle(line, isStdout);
      });
      stream.on('end', () => rest && handle(rest, isStdout));
    };
    const handle = (line: string, isStdout: boolean) => {
      log.push(line);
      opts.onLog?.(line);
      if (!isStdout) return;
      const ev = parseMetricLine(line);
      if (!ev.event) return;
      const e = ev.event as unknown as { event: string; state?: string; message?: string; hint?: string; kind?: string; done?: number; total?: number };
      if (e.event === 'status') {
        if (typeof e.done === 'number') opts.onProgress?.({ phase: 'answering', done: e.done, total: e.total ?? total, message: e.message });
        else opts.onProgress?.({ phase: e.state === 'loading_model' ? 'loading' : 'answering', done: 0, total, message: e.message });
      } else if (e.event === 'error') scriptError = { message: e.message ?? 'eval.py failed', hint: e.hint, kind: e.kind };
    };
    onLines(child.stdout, true);
    onLines(child.stderr, false);
    child.on('error', (err) => {
      opts.signal?.removeEventListener('abort', kill);
      const c = (err as NodeJS.ErrnoException).code;
      reject(new MnemoError(c === 'ENOENT' ? `Python was not found ("${python}").` : `Python ("${python}") could not be started: ${err.message}.`, 'Name a Python with torch and transformers in the setting mnemo.python (or MNEMO_PYTHON), or leave both empty to let Mnemo set up its own.'));
    });
    child.on('close', (c) => {
      opts.signal?.removeEventListener('abort', kill);
      resolveExit(c);
    });
  });
  writeFileSync(join(opts.workDir, 'eval.log'), log.join('\n') + '\n');
  if (opts.signal?.aborted) throw new MnemoError('The evaluation was cancelled.', undefined);
  if (code !== 0 || scriptError) {
    const tail = log.filter((l) => l.trim()).slice(-5).join('\n');
    const err = scriptError as { message: string; hint?: string; kind?: string } | undefined;
    throw new MnemoError(`eval.py failed${err ? `: ${err.message.replace(/[.\s]+$/, '')}` : ` (exit ${code})`}.`, err?.hint ?? `Its last lines:\n${tail}`, join(opts.workDir, 'eval.log'), err?.kind === 'missing_package' ? 'pythonSetting' : undefined);
  }
  const byId = new Map<string, ScriptAnswer>();
  for (const line of readFileSync(answersFile, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const a = JSON.parse(line) as ScriptAnswer;
      if (typeof a.id === 'string') byId.set(a.id, a);
    } catch {
      // A torn line: that question gets an error below.
    }
  }
  return set.questions.map((q) => {
    const a = byId.get(q.id);
    const error = !a ? 'eval.py wrote no answer for this question' : a.error;
    return { questionId: q.id, question: q.question, reference: q.reference, tags: q.tags, ...(q.keys ? { keys: q.keys } : {}), answer: (a?.answer ?? '').trim(), ...(error ? { error } : {}), ...(a?.latency_ms !== undefined ? { latencyMs: a.latency_ms } : {}), verdict: { correct: null, by: 'none' } };
  });
}
