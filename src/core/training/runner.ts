/**
 * The runner: sets a run up on its target, starts it detached, follows its metrics into
 * runs/<id>/metrics.jsonl and keeps run.json current. One RunHandle class serves both targets.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { localModelPath } from '../default-model';
import { MnemoError } from '../errors';
import { ensureLocalPython } from '../pyenv';
import type { Project } from '../project';
import { registerSecret, scrub } from '../secrets';
import { checkEnv, LocalBackend, pidAlive, readTail, SshBackend, type Backend } from './backends';
import { resolveTrainConfig } from './config';
import { resolveHost } from './hosts';
import type { ConnectOptions, RunHandle, StartOptions } from './index';
import { adviseEpochs } from './find-epochs';
import { MetricsReader, parseMetricLines } from './metrics';
import { RUN_FILES, type ErrorKind, type MetricEvent, type RunRecord } from './protocol';
import { isLive, newRunId, readRunRecord, runDir, writeRecord } from './runs';
import { buildRecallSet, writeRecallFile, type RecallSet } from './recall';
import { ConnectionLost } from './ssh';

/** What to do about each kind of failure the script reports (used when the script gives no hint). */
export const HINTS: Record<ErrorKind, string> = {
  oom: 'The GPU ran out of memory: lower max_length, keep gradient_checkpointing on, use batch_size 1, or load the model in 4 bits (load_in_4bit).',
  missing_package: 'A Python package is missing on the target: install requirements.txt into the Python the run uses (or let Mnemo set up its venv by not naming a Python).',
  model_not_found: 'Check the model id on the Hub (or the local path), and HF_TOKEN for a gated or private model.',
  no_gpu: 'No GPU was found: check `nvidia-smi` on the target and that torch was installed with CUDA.',
  disk_full: 'The target\'s disk is full: free space (old runs in ~/mnemo-runs, ~/.cache/huggingface) and start again.',
  bad_config: 'Fix the training config (mnemo.json "training" or the run\'s config) and start again.',
  bad_data: 'Rebuild the dataset (Mnemo: Build Dataset) and check data/train.jsonl.',
  cancelled: 'The run was cancelled.',
  other: 'See train.log for the details.',
};

/** Classifies a script's last words when it died without an error event. */
export function classifyLog(text: string): ErrorKind {
  if (/CUDA out of memory|OutOfMemoryError|out of memory/i.test(text)) return 'oom';
  if (/No module named|ModuleNotFoundError|ImportError/.test(text)) return 'missing_package';
  if (/No space left on device|Disk quota exceeded/i.test(text)) return 'disk_full';
  if (/is not a valid model identifier|Repository Not Found|RepositoryNotFoundError|does not appear to have a file named/i.test(text)) return 'model_not_found';
  if (/Found no NVIDIA driver|no CUDA GPUs are available|CUDA is not available/i.test(text)) return 'no_gpu';
  return 'other';
}

/** runs/<id>/.setup-pid: the pid of the process setting a run up. */
const SETUP_LOCK = '.setup-pid';
/**
 * runs/<id>/.follower.json ({pid, since}): the process whose handle follows the run and appends
 * its metrics (the extension's windows use the same file). A second follower would append the
 * same bytes again, so attachRun refuses while that process lives.
 */
export const FOLLOWER_FILE = '.follower.json';

/** The pid of another live process following the run, if one does. */
export function otherFollower(project: Project, id: string): number | undefined {
  try {
    const pid = (JSON.parse(readFileSync(join(runDir(project, id), FOLLOWER_FILE), 'utf8')) as { pid?: unknown }).pid;
    return typeof pid === 'number' && pid !== process.pid && pidAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

const DEFAULT_RECONNECT = { attempts: 8, initialDelayMs: 500, maxDelayMs: 15000 };

type Listener<T> = (v: T) => void;

class Handle implements RunHandle {
  private readonly eventListeners = new Set<Listener<MetricEvent>>();
  private readonly recordListeners = new Set<Listener<RunRecord>>();
  private reader: MetricsReader;
  private detached = false;
  /** Set while (and after) cancel() stops the process group; conclude() waits for it. */
  private cancelling: Promise<void> | undefined;
  private sawEnd: MetricEvent | undefined;
  private settle!: { resolve(r: RunRecord): void; reject(e: unknown): void };
  readonly finished: Promise<RunRecord>;
  private readonly localMetrics: string;

  constructor(
    private readonly project: Project,
    private current: RunRecord,
    private readonly backend: Backend | undefined,
    private readonly opts: ConnectOptions & { autoDownload?: boolean },
  ) {
    this.finished = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    // A caller that only cares about events must not crash the process on a lost connection.
    this.finished.catch(() => undefined);
    this.localMetrics = join(runDir(project, current.id), RUN_FILES.metrics);
    this.reader = new MetricsReader(current.metricsOffset ?? 0);
    if (backend) {
      writeFileSync(join(runDir(project, current.id), FOLLOWER_FILE), JSON.stringify({ pid: process.pid, since: new Date().toISOString() }) + '\n');
      const release = () => this.releaseFollower();
      this.finished.then(release, release);
    }
  }

  /** Removes the follower file when it is still this process's. */
  private releaseFollower(): void {
    const file = join(runDir(this.project, this.current.id), FOLLOWER_FILE);
    try {
      if ((JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown }).pid === process.pid) rmSync(file, { force: true });
    } catch {
      // Gone already, or not ours.
    }
  }

  get record(): RunRecord {
    return this.current;
  }

  onEvent(cb: Listener<MetricEvent>): { dispose(): void } {
    this.eventListeners.add(cb);
    return { dispose: () => this.eventListeners.delete(cb) };
  }

  onRecord(cb: Listener<RunRecord>): { dispose(): void } {
    this.recordListeners.add(cb);
    return { dispose: () => this.recordListeners.delete(cb) };
  }

  private update(patch: Partial<RunRecord>): void {
    this.current = { ...this.current, ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete (this.current as unknown as Record<string, unknown>)[k];
    writeRecord(this.project, this.current);
    for (const cb of this.recordListeners) cb(this.current);
  }

  private log(line: string): void {
    this.opts.hooks.log?.(scrub(line));
  }

  /** Bytes from the target: appended to the local file first (SSH), then the record's offset. */
  private onData = (chunk: Buffer): void => {
    if (this.detached) return;
    if (this.backend?.kind === 'ssh') appendFileSync(this.localMetrics, chunk);
    const { events } = this.reader.push(chunk);
    const offset = (this.current.metricsOffset ?? 0) + chunk.length;
    const patch: Partial<RunRecord> = { metricsOffset: offset };
    for (const ev of events) {
      if (ev.event === 'start' && !this.current.startedAt) patch.startedAt = isoTime(ev.time);
      if (ev.event === 'done' || ev.event === 'error') this.sawEnd = ev;
    }
    this.update(patch);
    for (const ev of events) for (const cb of this.eventListeners) cb(ev);
  };

  /** Follows until the script ends, reconnecting after drops; then settles the record. */
  async follow(): Promise<void> {
    const backend = this.backend;
    if (!backend || this.current.pgid === undefined) return;
    const retry = { ...DEFAULT_RECONNECT, ...this.opts.ssh?.reconnect };
    for (;;) {
      try {
        await backend.follow(this.current.metricsOffset ?? 0, this.current.pgid, this.onData);
        break;
      } catch (err) {
        if (this.detached) return;
        if (!(err instanceof ConnectionLost)) throw err;
        let delay = retry.initialDelayMs;
        let ok = false;
        for (let attempt = 1; attempt <= retry.attempts && !this.detached; attempt++) {
          this.log(`Connection lost; reconnecting (try ${attempt} of ${retry.attempts}) in ${Math.round(delay / 100) / 10} s…`);
          await sleep(delay);
          if (this.detached) return;
          try {
            await backend.reconnect();
            ok = true;
            this.log('Reconnected; following the metrics from byte ' + String(this.current.metricsOffset ?? 0) + '.');
            break;
          } catch (e) {
            // A refused host key or login will not get better by trying again.
            if (e instanceof MnemoError && /host key|refused every key/.test(e.message)) throw e;
            this.log(`Reconnecting failed: ${e instanceof Error ? e.message : String(e)}`);
            delay = Math.min(delay * 2, retry.maxDelayMs);
          }
        }
        if (this.detached) return;
        if (!ok) {
          throw new MnemoError(
            `Lost the connection to run ${this.current.id} and could not reconnect after ${retry.attempts} tries.`,
            'The run goes on on its host: reattach it from the Runs view (or `mnemo train --attach ID`) once the host can be reached.',
          );
        }
      }
    }
    if (this.detached) return;
    await this.conclude();
  }

  private async conclude(): Promise<void> {
    const backend = this.backend!;
    const end = this.sawEnd;
    const now = new Date().toISOString();
    if (end?.event === 'done') {
      this.update({ state: 'done', endedAt: isoTime(end.time) ?? now, error: undefined });
      if (backend.kind === 'local') this.update({ downloaded: true });
      else if (this.opts.autoDownload !== false) {
        try {
          await this.download();
        } catch (err) {
          this.log(`The run is done, but downloading its outputs failed: ${err instanceof Error ? err.message : String(err)} Download it again from the Runs view.`);
        }
      }
    } else if (this.cancelling || (end?.event === 'error' && end.kind === 'cancelled')) {
      await this.cancelling?.catch(() => undefined);
      this.update({ state: 'cancelled', endedAt: now, error: undefined });
    } else if (end?.event === 'error') {
      const kind = end.kind ?? 'other';
      this.update({ state: 'failed', endedAt: isoTime(end.time) ?? now, error: { message: scrub(end.message), hint: scrub(end.hint ?? HINTS[kind]), kind } });
    } else {
      const code = await backend.exitCode().catch(() => undefined);
      const tail = scrub((await backend.logTail(4000).catch(() => '')).trim());
      const last = tail.split('\n').filter((l) => l.trim() && !l.startsWith('{')).slice(-3).join(' | ');
      const kind = classifyLog(tail);
      const how = code === undefined ? 'was stopped (killed by a signal, or the machine restarted)' : `exited with code ${code}`;
      this.update({
        state: 'failed',
        endedAt: now,
        error: { message: `The training script ${how} without reporting an error.${last ? ` Last lines of train.log: ${last}` : ''}`, hint: HINTS[kind], kind },
      });
    }
    backend.close();
    if (this.current.purpose === 'find-epochs') {
      try {
        const advised = recordAdvice(this.project, this.current.id);
        if (advised) {
          this.current = advised;
          for (const cb of this.recordListeners) cb(this.current);
        }
      } catch (err) {
        this.log(`Find Epochs could not read the probe's metrics: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.settle.resolve(this.current);
  }

  async cancel(): Promise<void> {
    const backend = this.backend;
    if (!backend || !isLive(this.current) || this.current.pgid === undefined) return;
    if (this.cancelling) return this.cancelling;
    const pgid = this.current.pgid;
    this.cancelling = killGroup(backend, pgid, this.opts.cancelGraceMs ?? 10000, (l) => this.log(l));
    await this.cancelling;
    if (this.detached) {
      backend.close();
      this.update({ state: 'cancelled', endedAt: new Date().toISOString() });
    }
  }

  async download(): Promise<void> {
    const backend = this.backend;
    if (!backend || backend.kind === 'local') return;
    this.log(`Downloading output/ and train.log of run ${this.current.id}…`);
    const stats = await (backend as SshBackend).download(runDir(this.project, this.current.id));
    this.log(`Downloaded ${stats.files} file(s), ${stats.bytes} bytes.`);
    this.update({ downloaded: true });
  }

  detach(): void {
    this.detached = true;
    this.backend?.stopFollow();
    this.backend?.close();
    if (this.backend) this.releaseFollower();
  }

  start(): void {
    // Following starts on the next turn, so a caller can subscribe before the first event.
    setImmediate(() => this.run());
  }

  private run(): void {
    this.follow().catch((err: unknown) => {
      if (this.detached) return;
      this.backend?.close();
      this.settle.reject(err);
    });
  }

  /** A handle on a run that already ended: nothing to follow. */
  finishNow(): void {
    this.settle.resolve(this.current);
  }
}

async function killGroup(backend: Backend, pgid: number, graceMs: number, log: (l: string) => void): Promise<void> {
  log(`Stopping process group ${pgid} (TERM)…`);
  await backend.signal(pgid, 'TERM');
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (!(await backend.alive(pgid, true))) return;
    await sleep(200);
  }
  log(`Process group ${pgid} did not stop within ${Math.round(graceMs / 1000)} s; sending KILL.`);
  await backend.signal(pgid, 'KILL');
  for (let i = 0; i < 50 && (await backend.alive(pgid, true)); i++) await sleep(100);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function isoTime(t: number | undefined): string | undefined {
  return typeof t === 'number' && Number.isFinite(t) ? new Date(t * 1000).toISOString() : undefined;
}

function sha256File(path: string): { sha256: string; rows: number } {
  const data = readFileSync(path);
  return { sha256: createHash('sha256').update(data).digest('hex'), rows: data.toString('utf8').split('\n').filter((l) => l.trim()).length };
}

/** The files sent with every run: every *.py and requirements*.txt of the scripts folder. */
function scriptFiles(scriptsDir: string): string[] {
  if (!existsSync(join(scriptsDir, 'train.py'))) {
    throw new MnemoError(`There is no train.py in ${scriptsDir}.`, 'The extension ships it in its python/ folder; reinstall Mnemo, or point to a folder holding train.py.');
  }
  return readdirSync(scriptsDir).filter((f) => /\.py$/.test(f) || /^requirements.*\.txt$/.test(f)).filter((f) => statSync(join(scriptsDir, f)).isFile());
}

/** The Python of a local run: named, mnemo.python / MNEMO_PYTHON, else Mnemo's venv (made once; src/core/pyenv.ts). */
async function localPython(opts: StartOptions, log: (l: string) => void): Promise<string> {
  return (await ensureLocalPython(join(opts.scriptsDir, 'requirements.txt'), { given: opts.localPython, log })).python;
}

/**
 * The recall questions of a run (undefined when recall_file is null), and the system prompt they
 * are asked with: the dataset's, as eval.py asks them, unless the config names one.
 */
function recallSetFor(project: Project, config: Record<string, unknown>, testFile: string | undefined): RecallSet | undefined {
  if (config.recall_file === null || config.recall_file === undefined) return undefined;
  const name = String(config.recall_file);
  if (!name || name !== posix.basename(name) || name.includes('\\') || name === '.' || name === '..') {
    throw new MnemoError(`"recall_file" must be a file name in the run folder, not ${JSON.stringify(name)}.`, 'Use a plain name such as "recall.jsonl", or null to measure no recall.');
  }
  if (Object.values(RUN_FILES).includes(name as never) && name !== RUN_FILES.recall) throw new MnemoError(`"recall_file" cannot be ${name}: the run folder uses that name.`, 'Use "recall.jsonl".');
  if (config.recall_system_prompt === undefined && project.config.dataset.systemPrompt) config.recall_system_prompt = project.config.dataset.systemPrompt;
  return buildRecallSet(project, testFile ?? join(project.dataDir, '.no-test-split'));
}

export async function start(project: Project, opts: StartOptions): Promise<RunHandle> {
  const config = resolveTrainConfig(project, opts.config);
  const env = checkEnv(opts.env);
  // Values that look like credentials are scrubbed from every message and log line of the run.
  for (const [k, v] of Object.entries(env)) if (/TOKEN|KEY|SECRET|PASS/i.test(k)) registerSecret(v, k === 'HF_TOKEN' ? 'Hugging Face token' : 'secret');
  const train = join(project.dataDir, 'train.jsonl');
  const test = join(project.dataDir, 'test.jsonl');
  if (!existsSync(train)) throw new MnemoError('There is no dataset to train on (data/train.jsonl is missing).', 'Build the dataset first (Mnemo: Build Dataset, or `mnemo build`).');
  const hasTest = existsSync(test);
  if (!hasTest) config.eval_file = null;
  const recall = recallSetFor(project, config, hasTest ? test : undefined);
  const scripts = scriptFiles(opts.scriptsDir);
  const host = opts.target === 'local' ? undefined : resolveHost(opts.target, opts.ssh ?? {});
  const ssh = opts.ssh ?? {};
  // Connect before the run exists: a host that cannot be reached leaves no failed run behind.
  let backend: SshBackend | undefined;
  let home = '';
  if (host) {
    backend = await SshBackend.connect(host, '', ssh, opts.hooks);
    home = await SshBackend.home(backend.connection);
  }
  opts.signal?.throwIfAborted();

  const id = newRunId();
  const dir = runDir(project, id);
  mkdirSync(dir, { recursive: true });
  // Who is setting the run up (removed once it runs): attachRun leaves such a run alone while that process lives.
  writeFileSync(join(dir, SETUP_LOCK), `${process.pid}\n`);
  // Aborting while a long step runs (a pip install) closes the connection, which ends that step.
  const onAbort = () => backend?.close();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const record: RunRecord = {
    version: 1,
    id,
    created: new Date().toISOString(),
    target: host ? { kind: 'ssh', host: host.name, hostname: host.hostname, port: host.port, user: host.user, remoteDir: '' } : { kind: 'local' },
    state: 'setting_up',
    config,
    dataset: { train: sha256File(train), ...(hasTest ? { test: sha256File(test) } : {}) },
    metricsOffset: 0,
    recall: { eval: recall?.counts.eval ?? 0, test: recall?.counts.test ?? 0, ...(recall?.notes.length ? { notes: recall.notes } : {}) },
    ...(opts.label ? { label: opts.label } : {}),
    ...(opts.purpose ? { purpose: opts.purpose } : {}),
  };
  writeRecord(project, record);
  writeFileSync(join(dir, RUN_FILES.config), JSON.stringify(config, null, 2) + '\n');
  writeFileSync(join(dir, RUN_FILES.metrics), '');
  const recallName = recall?.questions.length ? (config.recall_file as string) : undefined;
  if (recallName) writeRecallFile(join(dir, recallName), recall!.questions);
  for (const note of recall?.notes ?? []) opts.hooks.log?.(note);
  const log = (l: string) => opts.hooks.log?.(scrub(l));
  const setupDone = () => {
    opts.signal?.removeEventListener('abort', onAbort);
    rmSync(join(dir, SETUP_LOCK), { force: true });
  };
  const fail = (err: unknown): never => {
    setupDone();
    const message = scrub(err instanceof Error ? err.message : String(err));
    const aborted = opts.signal?.aborted;
    writeRecord(project, { ...readRunRecord(project, id), state: aborted ? 'cancelled' : 'failed', endedAt: new Date().toISOString(), ...(aborted ? {} : { error: { message, hint: err instanceof MnemoError ? err.hint : undefined } }) });
    throw err;
  };

  if (!host) {
    try {
      for (const f of scripts) copyFileSync(join(opts.scriptsDir, f), join(dir, f));
      copyFileSync(train, join(dir, 'train.jsonl'));
      if (hasTest) copyFileSync(test, join(dir, 'test.jsonl'));
      opts.signal?.throwIfAborted();
      const backend = new LocalBackend(dir);
      const python = await localPython(opts, log);
      opts.signal?.throwIfAborted();
      // The embedded default model runs from its converted copy on this machine (src/core/default-model.ts).
      const model = localModelPath(config.model);
      if (model !== config.model) {
        config.model = model;
        writeFileSync(join(dir, RUN_FILES.config), JSON.stringify(config, null, 2) + '\n');
        writeRecord(project, { ...readRunRecord(project, id), config });
      }
      log(`Starting ${python} train.py in ${dir}…`);
      const pgid = backend.launch(python, env);
      const handle = new Handle(project, { ...record, state: 'running', pgid }, backend, opts);
      writeRecord(project, handle.record);
      setupDone();
      handle.start();
      return handle;
    } catch (err) {
      return fail(err);
    }
  }

  try {
    const remoteDir = posix.join(SshBackend.absolute(ssh.remoteRoot ?? '~/mnemo-runs', home), id);
    backend = backend!.withDir(remoteDir);
    writeRecord(project, { ...record, target: { ...(record.target as Extract<RunRecord['target'], { kind: 'ssh' }>), remoteDir } });
    opts.signal?.throwIfAborted();
    await backend.upload([
      ...scripts.map((f) => ({ local: join(opts.scriptsDir, f), name: f })),
      { local: join(dir, RUN_FILES.config), name: RUN_FILES.config },
      { local: train, name: 'train.jsonl' },
      ...(hasTest ? [{ local: test, name: 'test.jsonl' }] : []),
      ...(recallName ? [{ local: join(dir, recallName), name: recallName }] : []),
    ]);
    opts.signal?.throwIfAborted();
    let python = ssh.python;
    if (!python) {
      const req = join(opts.scriptsDir, 'requirements.txt');
      const hash = createHash('sha256').update(existsSync(req) ? readFileSync(req) : '').digest('hex').slice(0, 16);
      python = await backend.ensureVenv(posix.join(SshBackend.absolute(ssh.venvRoot ?? '~/.cache/mnemo', home), `venv-${hash}`), posix.join(remoteDir, 'requirements.txt'));
    }
    opts.signal?.throwIfAborted();
    log(`Starting ${python} train.py in ${host.name}:${remoteDir}…`);
    const pgid = await backend.launch(python, env);
    const current = readRunRecord(project, id);
    const handle = new Handle(project, { ...current, state: 'running', pgid }, backend, opts);
    writeRecord(project, handle.record);
    setupDone();
    handle.start();
    return handle;
  } catch (err) {
    backend?.close();
    return fail(err);
  }
}

/** Connects to a recorded run's target. */
async function backendFor(project: Project, record: RunRecord, opts: ConnectOptions): Promise<Backend> {
  if (record.target.kind === 'local') return new LocalBackend(runDir(project, record.id));
  const t = record.target;
  let identityFiles: string[] = [];
  try {
    identityFiles = resolveHost(t.host, opts.ssh ?? {}).identityFiles;
  } catch {
    identityFiles = [];
  }
  return SshBackend.connect({ name: t.host, hostname: t.hostname, port: t.port, user: t.user, identityFiles, from: 'settings' }, t.remoteDir, opts.ssh ?? {}, opts.hooks);
}

/** Writes a finished Find Epochs probe's advice into its run.json; undefined when the run is no probe or still live. */
export function recordAdvice(project: Project, id: string): RunRecord | undefined {
  const record = readRunRecord(project, id);
  if (record.purpose !== 'find-epochs' || isLive(record)) return undefined;
  const file = join(runDir(project, id), RUN_FILES.metrics);
  const events = existsSync(file) ? parseMetricLines(readFileSync(file, 'utf8')).events : [];
  const probeEpochs = typeof record.config.epochs === 'number' ? record.config.epochs : 1;
  const advice = adviseEpochs(events, probeEpochs);
  const next: RunRecord = { ...record, advice };
  writeRecord(project, next);
  return next;
}

export async function attach(project: Project, id: string, opts: ConnectOptions): Promise<RunHandle> {
  let record = readRunRecord(project, id);
  if (record.state === 'setting_up') {
    const lock = join(runDir(project, id), SETUP_LOCK);
    const owner = existsSync(lock) ? Number(readFileSync(lock, 'utf8').trim()) : NaN;
    if (Number.isInteger(owner) && owner !== process.pid && pidAlive(owner)) {
      throw new MnemoError(`Run ${id} is still being set up by another Mnemo process (pid ${owner}).`, 'Wait until it has started, then reattach.');
    }
    // Set-up happens inside one startRun call; a record still in it belongs to a session that ended.
    record = { ...record, state: 'failed', endedAt: new Date().toISOString(), error: { message: 'Setting up this run was interrupted before the script started (the editor or the command closed).', hint: 'Start the run again.' } };
    writeRecord(project, record);
  }
  if (!isLive(record) || record.pgid === undefined) {
    const h = new Handle(project, record, undefined, opts);
    h.finishNow();
    return h;
  }
  const follower = otherFollower(project, id);
  if (follower !== undefined) {
    throw new MnemoError(`Run ${id} is already followed by another Mnemo process (pid ${follower}, a window or \`mnemo train\`).`, 'Follow it there, or close that one first: two followers would copy its metrics twice.');
  }
  // The local metrics file is the truth of how far the copy got: it is written before run.json.
  if (record.target.kind === 'ssh') {
    const file = join(runDir(project, id), RUN_FILES.metrics);
    const size = existsSync(file) ? statSync(file).size : 0;
    if (size !== record.metricsOffset) {
      record = { ...record, metricsOffset: size };
      writeRecord(project, record);
    }
  }
  const backend = await backendFor(project, record, opts);
  const handle = new Handle(project, record, backend, opts);
  handle.start();
  return handle;
}

export async function cancelById(project: Project, id: string, opts: ConnectOptions): Promise<RunRecord> {
  const record = readRunRecord(project, id);
  if (!isLive(record)) return record;
  if (record.pgid === undefined) {
    const r: RunRecord = { ...record, state: 'cancelled', endedAt: new Date().toISOString() };
    writeRecord(project, r);
    return r;
  }
  const backend = await backendFor(project, record, opts);
  try {
    await killGroup(backend, record.pgid, opts.cancelGraceMs ?? 10000, (l) => opts.hooks.log?.(l));
  } finally {
    backend.close();
  }
  // A handle following the run (another window) records the end itself; this covers no handle.
  const now = readRunRecord(project, id);
  const r: RunRecord = isLive(now) ? { ...now, state: 'cancelled', endedAt: new Date().toISOString() } : now;
  writeRecord(project, r);
  return r;
}

export async function downloadById(project: Project, id: string, opts: ConnectOptions): Promise<RunRecord> {
  const record = readRunRecord(project, id);
  if (record.target.kind === 'local') return record;
  const backend = (await backendFor(project, record, opts)) as SshBackend;
  try {
    opts.hooks.log?.(`Downloading output/ and train.log of run ${id}…`);
    const stats = await backend.download(runDir(project, id));
    opts.hooks.log?.(`Downloaded ${stats.files} file(s), ${stats.bytes} bytes.`);
  } finally {
    backend.close();
  }
  const r = { ...readRunRecord(project, id), downloaded: true };
  writeRecord(project, r);
  return r;
}

export async function deleteRunFolder(project: Project, id: string, opts: ConnectOptions & { remote?: boolean }): Promise<void> {
  const dir = runDir(project, id);
  let record: RunRecord | undefined;
  try {
    record = readRunRecord(project, id);
  } catch {
    record = undefined; // A broken record can still be deleted.
  }
  if (record && isLive(record)) {
    throw new MnemoError(`Run ${id} is still ${record.state === 'running' ? 'running' : 'setting up'}.`, 'Cancel it first, then delete it.');
  }
  if (opts.remote && record?.target.kind === 'ssh' && record.target.remoteDir) {
    const backend = (await backendFor(project, record, opts)) as SshBackend;
    try {
      await backend.removeDir();
    } finally {
      backend.close();
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

export { readTail };
