/**
 * Evaluation where the model lives: eval.py run on a run's SSH host (or on a named host for the
 * base model) through the training bridge (SshBackend: the same connection code, host keys,
 * agent and passphrases; the same detached launch and byte-offset follow as training), so a
 * model trained on a remote GPU is never downloaded to be evaluated.
 *
 *   openRemoteEval(project, target, opts)  -> undefined for a local run (it answers here), else a
 *                                             RemoteEval naming the model that answers on the host
 *   remote.answer(set, spec, evalOptions)  -> AnswerRecord[], the same records as runModelEval
 *
 * On the host, the evaluation folder is <run folder>/eval/<name>/ for a run and
 * <remoteRoot>/eval/<name>/ for a base model (<name>: the local work folder's name under
 * .mnemo/eval/). It gets questions.jsonl (and context.txt), this version's eval.py, common.py and
 * requirements.txt; the run's venv (or ssh.python) runs
 *
 *   sh -c 'p="$1"; shift; "$p" eval.py "$@" >>metrics.jsonl; echo $? > exit_code' sh PYTHON ARGS...  >eval.log 2>&1
 *
 * detached (setsid + nohup). Progress is eval.py's protocol lines in metrics.jsonl, followed by byte
 * offset and copied into the local work folder. A dropped connection reconnects with backoff and
 * follows on from the offset (the script goes on meanwhile); a script that stopped without
 * finishing (killed, the host restarted) is started again with `--resume 1`: eval.py appends each
 * batch's answers as it makes them and skips the ids already answered, so no question is lost or
 * answered twice. answers.jsonl is then downloaded and graded here as any local evaluation.
 * Secrets in `env` go over the channel's stdin (never a command line or a file).
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { MnemoError } from '../errors';
import type { Project } from '../project';
import { registerSecret, scrub } from '../secrets';
import { checkEnv, SshBackend } from '../training/backends';
import { resolveHost } from '../training/hosts';
import type { ConnectOptions, HostEntry } from '../training/index';
import { MetricsReader } from '../training/metrics';
import { RUN_FILES, type RunRecord } from '../training/protocol';
import { shCommand } from '../training/quote';
import { ConnectionLost } from '../training/ssh';
import { findEvalScript, readRun, type LocalModelSpec, type ModelEvalOptions } from './model';
import type { AnswerRecord, EvalSet } from './types';

/** How to reach the host, and where a run on an SSH host answers. */
export interface RemoteEvalOptions extends ConnectOptions {
  /** 'host' (default): a run on an SSH host answers there; 'local': its downloaded outputs answer on this machine. */
  where?: 'host' | 'local';
  /** Restarts (with --resume) of a script that stopped without finishing; default 2. */
  restarts?: number;
}

/** The fixed wrapper text (the Python comes in as $1, eval.py's words after it). */
const WRAPPER = 'p="$1"; shift; "$p" eval.py "$@" >>metrics.jsonl; echo $? > exit_code';
/** What the host's evaluation folder holds besides what the script writes. */
const LOG = 'eval.log';
/** The local work folder's record of the remote evaluation (host, folder, process group). */
export const REMOTE_STATE = 'remote.json';

export interface RemoteEval {
  host: HostEntry;
  /** For a run: the model as the evaluation's meta names it (its adapter as the local runs/<id>/… path). */
  spec?: LocalModelSpec & { outputDir: string };
  answer(set: EvalSet, spec: LocalModelSpec, opts: ModelEvalOptions & { workDir: string }): Promise<AnswerRecord[]>;
}

type SshTarget = Extract<RunRecord['target'], { kind: 'ssh' }>;

function hostOfRun(t: SshTarget, opts: RemoteEvalOptions): HostEntry {
  let identityFiles: string[] = [];
  try {
    identityFiles = resolveHost(t.host, opts.ssh ?? {}).identityFiles;
  } catch {
    identityFiles = [];
  }
  return { name: t.host, hostname: t.hostname, port: t.port, user: t.user, identityFiles, from: 'settings' };
}

/** Connects, turning "cannot connect" into a message that says what was being done. */
async function connect(host: HostEntry, dir: string, opts: RemoteEvalOptions, what: string): Promise<SshBackend> {
  try {
    return await SshBackend.connect(host, dir, opts.ssh ?? {}, opts.hooks);
  } catch (err) {
    if (!(err instanceof MnemoError)) throw err;
    throw new MnemoError(`${what} runs on ${host.name}, which cannot be reached: ${err.message}`, `${err.hint ?? 'Check that `ssh ' + host.name + '` works from a terminal.'}${what.startsWith('Run ') ? ' Or evaluate its downloaded outputs on this machine (`mnemo eval --run ID --local`).' : ''}`, undefined, err.fix);
  }
}

/**
 * The remote evaluation of `target`, or undefined when it answers on this machine (a local run,
 * `where: 'local'`, a base model without `host`, an API model). For a run, checks on its host that
 * its outputs are still there.
 */
export async function openRemoteEval(project: Project, target: { kind: string; runId?: string; host?: string }, opts: RemoteEvalOptions): Promise<RemoteEval | undefined> {
  if (target.kind === 'base') {
    if (!target.host || target.host === 'local') return undefined;
    const host = resolveHost(target.host, opts.ssh ?? {});
    return { host, answer: (set, spec, o) => answerOnHost(host, undefined, set, spec, o, opts) };
  }
  if (target.kind !== 'run' || !target.runId || opts.where === 'local') return undefined;
  const run = readRun(project, target.runId);
  if (run.target.kind !== 'ssh') return undefined;
  if (run.state !== 'done') {
    throw new MnemoError(`Run "${run.id}" is ${run.state.replace('_', ' ')}, not done: it has no finished model to evaluate.`, 'Wait for the run to finish (or evaluate another run).', join(project.runsDir, run.id, RUN_FILES.record));
  }
  const t = run.target;
  const host = hostOfRun(t, opts);
  const cfg = run.config as { model?: string; gguf_file?: string; output_dir?: string };
  if (!cfg.model) throw new MnemoError('The run\'s config has no "model".', 'Every run.json names its base model in config.model; re-create the run.');
  const outRel = cfg.output_dir && !cfg.output_dir.startsWith('/') ? cfg.output_dir : RUN_FILES.output;
  const downloaded = run.downloaded && existsSync(join(project.runsDir, run.id, outRel));
  const gone = (why: string) =>
    new MnemoError(
      `Run ${run.id}'s outputs are gone from ${host.name}: ${why}, so it cannot be evaluated there.`,
      downloaded ? 'Its outputs were downloaded: evaluate them on this machine (`mnemo eval --run ID --local`).' : 'Nothing of the trained model is left to evaluate: train the run again (its config is in run.json).',
    );
  if (!t.remoteDir) throw gone('its run.json names no folder on the host');
  const backend = await connect(host, t.remoteDir, opts, `Run ${run.id}`);
  let found: { rel: string; adapter: boolean } | undefined;
  try {
    const out = posix.join(t.remoteDir, outRel);
    // Which of runModelSpec's folders holds a model on the host: an adapter first, else a full model.
    const probe = [
      shCommand('test', '-d', t.remoteDir) + ' || { echo nodir; exit 0; }',
      ...[out, posix.join(out, 'merged')].map((d) => `${shCommand('test', '-f', posix.join(d, 'adapter_config.json'))} && echo ${shCommand('adapter ' + posix.relative(t.remoteDir, d))}`),
      ...[posix.join(out, 'merged'), out].map((d) => `${shCommand('test', '-f', posix.join(d, 'config.json'))} && echo ${shCommand('model ' + posix.relative(t.remoteDir, d))}`),
      'exit 0',
    ].join('\n');
    const lines = (await backend.connection.run(probe, 'Looking for the run\'s outputs')).trim().split('\n').filter(Boolean);
    if (lines[0] === 'nodir') throw gone(`its folder ${t.remoteDir} was deleted on the host`);
    const first = lines.find((l) => l.startsWith('adapter ')) ?? lines.find((l) => l.startsWith('model '));
    if (!first) throw gone(`${out} holds neither an adapter (adapter_config.json) nor a model (config.json); it was deleted on the host`);
    found = { rel: first.slice(first.indexOf(' ') + 1), adapter: first.startsWith('adapter ') };
  } finally {
    backend.close();
  }
  const localOut = join(project.runsDir, run.id, ...found.rel.split('/'));
  const remoteOut = posix.join(t.remoteDir, found.rel);
  // A relative model folder is relative to the run folder on the host (train.py ran there).
  const model = found.adapter ? (cfg.model.startsWith('.') ? posix.join(t.remoteDir, cfg.model) : cfg.model) : remoteOut;
  const spec: LocalModelSpec & { outputDir: string } = found.adapter ? { model: cfg.model, ...(cfg.gguf_file ? { ggufFile: cfg.gguf_file } : {}), adapter: localOut, outputDir: localOut } : { model: localOut, outputDir: localOut };
  return {
    host,
    spec,
    answer: (set, s, o) => answerOnHost(host, { run, dir: t.remoteDir }, set, { ...s, model, ...(found.adapter ? { adapter: remoteOut } : { adapter: undefined, ggufFile: undefined }) }, o, opts),
  };
}

interface ScriptAnswer {
  id: string;
  answer?: string;
  error?: string;
  latency_ms?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function answerOnHost(host: HostEntry, run: { run: RunRecord; dir: string } | undefined, set: EvalSet, spec: LocalModelSpec, opts: ModelEvalOptions & { workDir: string }, ropts: RemoteEvalOptions): Promise<AnswerRecord[]> {
  const log = (line: string) => {
    ropts.hooks.log?.(scrub(line));
    opts.onLog?.(scrub(line));
  };
  const env = checkEnv(opts.env);
  // Values that look like credentials are scrubbed from every message and log line, as for training.
  for (const [k, v] of Object.entries(env)) if (/TOKEN|KEY|SECRET|PASS/i.test(k)) registerSecret(v, k === 'HF_TOKEN' ? 'Hugging Face token' : 'secret');
  const script = opts.script ?? process.env.MNEMO_EVAL_SCRIPT ?? findEvalScript();
  const scripts = dirname(script);
  const total = set.questions.length;
  mkdirSync(opts.workDir, { recursive: true });
  const questionsFile = join(opts.workDir, 'questions.jsonl');
  writeFileSync(questionsFile, set.questions.map((q) => JSON.stringify({ id: q.id, question: q.question })).join('\n') + '\n');
  const localMetrics = join(opts.workDir, RUN_FILES.metrics);
  writeFileSync(localMetrics, '');
  if (spec.contextText !== undefined) writeFileSync(join(opts.workDir, 'context.txt'), spec.contextText);

  const what = run ? `Run ${run.run.id}` : `The base model ${spec.model}`;
  let backend = await connect(host, '', ropts, what);
  const ssh = ropts.ssh ?? {};
  const cancel = () => backend.stopFollow();
  opts.signal?.addEventListener('abort', cancel, { once: true });
  let pgid: number | undefined;
  try {
    const home = await SshBackend.home(backend.connection);
    const root = run ? posix.join(run.dir, RUN_FILES.eval) : posix.join(SshBackend.absolute(ssh.remoteRoot ?? '~/mnemo-runs', home), RUN_FILES.eval);
    const dir = posix.join(root, basename(opts.workDir));
    backend = backend.withDir(dir);
    opts.onProgress?.({ phase: 'loading', done: 0, total, message: `uploading the questions to ${host.name}` });
    await backend.connection.run(shCommand('mkdir', '-p', '--', dir) + ' && ' + shCommand('rm', '-f', '--', posix.join(dir, 'answers.jsonl'), posix.join(dir, RUN_FILES.metrics), posix.join(dir, 'exit_code')), 'Preparing the evaluation folder');
    const files = ['eval.py', 'common.py', 'requirements.txt'].filter((f) => existsSync(join(scripts, f)));
    await backend.upload([...files.map((f) => ({ local: join(scripts, f), name: f })), { local: questionsFile, name: 'questions.jsonl' }, ...(spec.contextText !== undefined ? [{ local: join(opts.workDir, 'context.txt'), name: 'context.txt' }] : [])]);
    opts.signal?.throwIfAborted();

    // The run's own venv (named after the requirements it was set up with), else this version's.
    let python = ssh.python;
    if (!python) {
      const runReq = run ? (await backend.connection.exec(shCommand('cat', '--', posix.join(run.dir, 'requirements.txt')))) : undefined;
      const req = runReq && runReq.code === 0 ? runReq.stdout : existsSync(join(scripts, 'requirements.txt')) ? readFileSync(join(scripts, 'requirements.txt'), 'utf8') : '';
      const venv = `venv-${createHash('sha256').update(req).digest('hex').slice(0, 16)}`;
      python = await backend.ensureVenv(posix.join(SshBackend.absolute(ssh.venvRoot ?? '~/.cache/mnemo', home), venv), posix.join(run && runReq?.code === 0 ? run.dir : dir, 'requirements.txt'));
    }
    opts.signal?.throwIfAborted();

    const args = ['--questions', 'questions.jsonl', '--output', 'answers.jsonl', '--model', spec.model];
    if (spec.ggufFile) args.push('--gguf-file', spec.ggufFile);
    if (spec.adapter) args.push('--adapter', spec.adapter);
    if (spec.systemPrompt) args.push('--system-prompt', spec.systemPrompt);
    if (spec.contextText !== undefined) args.push('--context-file', 'context.txt');
    if (opts.maxNewTokens) args.push('--max-new-tokens', String(opts.maxNewTokens));
    if (opts.batchSize) args.push('--batch-size', String(opts.batchSize));
    if (opts.device) args.push('--device', opts.device);

    const launch = async (resume: boolean) => {
      opts.onProgress?.({ phase: 'loading', done: 0, total, message: `loading ${spec.model}${spec.adapter ? ' + adapter' : ''} on ${host.name}` });
      log(`Starting eval.py on ${host.name}:${dir}${resume ? ' with --resume 1' : ''}…`);
      pgid = await backend.launch(python, env, { wrapper: WRAPPER, args: resume ? [...args, '--resume', '1'] : args, log: LOG, what: 'eval.py' });
      writeFileSync(join(opts.workDir, REMOTE_STATE), JSON.stringify({ host: host.name, dir, pgid, resumed: resume }, null, 2) + '\n');
    };
    await launch(false);

    let offset = 0;
    const reader = new MetricsReader(0);
    let scriptError: { message: string; hint?: string; kind?: string } | undefined;
    let sawDone = false;
    const onData = (chunk: Buffer) => {
      appendFileSync(localMetrics, chunk);
      offset += chunk.length;
      for (const ev of reader.push(chunk).events) {
        const e = ev as unknown as { event: string; state?: string; message?: string; hint?: string; kind?: string; done?: number; total?: number };
        if (e.message) opts.onLog?.(e.message);
        if (e.event === 'status') {
          if (typeof e.done === 'number') opts.onProgress?.({ phase: 'answering', done: e.done, total: e.total ?? total, message: e.message });
          else opts.onProgress?.({ phase: e.state === 'loading_model' ? 'loading' : 'answering', done: 0, total, message: e.message });
        } else if (e.event === 'error') scriptError = { message: e.message ?? 'eval.py failed', hint: e.hint, kind: e.kind };
        else if (e.event === 'done') sawDone = true;
      }
    };
    const retry = { attempts: 8, initialDelayMs: 500, maxDelayMs: 15000, ...ssh.reconnect };
    let restarts = ropts.restarts ?? 2;
    for (;;) {
      try {
        await Promise.race([
          backend.follow(offset, pgid!, onData),
          new Promise<void>((_, reject) => {
            if (opts.signal?.aborted) reject(new Error('aborted'));
            opts.signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
          }),
        ]);
      } catch (err) {
        if (opts.signal?.aborted) break;
        if (!(err instanceof ConnectionLost)) throw err;
        let delay = retry.initialDelayMs;
        let ok = false;
        for (let attempt = 1; attempt <= retry.attempts && !ok; attempt++) {
          log(`Connection to ${host.name} lost; reconnecting (try ${attempt} of ${retry.attempts}) in ${Math.round(delay / 100) / 10} s…`);
          await sleep(delay);
          try {
            await backend.reconnect();
            ok = true;
            log(`Reconnected; following eval.py's progress from byte ${offset}.`);
          } catch (e) {
            if (e instanceof MnemoError && /host key|refused every key/.test(e.message)) throw e;
            delay = Math.min(delay * 2, retry.maxDelayMs);
          }
        }
        if (!ok) throw new MnemoError(`Lost the connection to ${host.name} during the evaluation and could not reconnect after ${retry.attempts} tries.`, `eval.py goes on on the host (${dir}); run the evaluation again once ${host.name} can be reached.`);
        continue;
      }
      if (sawDone || scriptError) break;
      const code = await backend.exitCode().catch(async (err: unknown) => {
        if (!(err instanceof ConnectionLost)) throw err;
        await backend.reconnect();
        return backend.exitCode();
      });
      if (code !== undefined || restarts <= 0) break;
      // Stopped without finishing (killed, the host restarted): start again, keeping what it wrote.
      restarts--;
      log(`eval.py on ${host.name} stopped without finishing; starting it again with --resume 1 (the answers it wrote are kept).`);
      await launch(true);
    }
    if (opts.signal?.aborted) {
      if (pgid !== undefined) {
        try {
          if (backend.connection.isClosed) await backend.reconnect();
          await backend.signal(pgid, 'TERM');
        } catch {
          // The host is gone: the script ends there on its own.
        }
      }
      throw new MnemoError('The evaluation was cancelled.', undefined);
    }
    // The last calls after the script ended: a connection dropping right then is reconnected once.
    const again = async <T>(call: () => Promise<T>): Promise<T> => {
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof ConnectionLost)) throw err;
        await backend.reconnect();
        return call();
      }
    };
    const tail = scrub((await again(() => backend.connection.exec(shCommand('tail', '-c', '4000', '--', posix.join(dir, LOG)) + ' 2>/dev/null'))).stdout);
    writeFileSync(join(opts.workDir, LOG), tail);
    if (!sawDone || scriptError) {
      const code = await again(() => backend.exitCode());
      const last = tail.split('\n').filter((l) => l.trim()).slice(-8).join('\n');
      const how = scriptError ? `: ${scriptError.message}` : code === undefined ? ' (it was stopped: killed by a signal, or the host restarted)' : ` (exit ${code})`;
      throw new MnemoError(`eval.py failed on ${host.name}${how.replace(/\.+$/, '')}.`, `${scriptError?.hint ? `${scriptError.hint} ` : ''}Last lines of ${dir}/${LOG}:\n${last || '(empty)'}`, join(opts.workDir, LOG), scriptError?.kind === 'missing_package' ? 'pythonSetting' : undefined);
    }
    const text = await again(() => backend.connection.run(shCommand('cat', '--', posix.join(dir, 'answers.jsonl')), 'Downloading the answers'));
    writeFileSync(join(opts.workDir, 'answers.jsonl'), text);
    const byId = new Map<string, ScriptAnswer>();
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const a = JSON.parse(line) as ScriptAnswer;
        if (typeof a.id === 'string' && !byId.has(a.id)) byId.set(a.id, a);
      } catch {
        // A torn line: that question gets an error below.
      }
    }
    return set.questions.map((q) => {
      const a = byId.get(q.id);
      const error = !a ? 'eval.py wrote no answer for this question' : a.error;
      return { questionId: q.id, question: q.question, reference: q.reference, tags: q.tags, ...(q.keys ? { keys: q.keys } : {}), answer: (a?.answer ?? '').trim(), ...(error ? { error } : {}), ...(a?.latency_ms !== undefined ? { latencyMs: a.latency_ms } : {}), verdict: { correct: null, by: 'none' } };
    });
  } finally {
    opts.signal?.removeEventListener('abort', cancel);
    backend.close();
  }
}
