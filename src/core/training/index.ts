/**
 * Training runs: the public API of the core's runner (the Runs view, "Mnemo: Start Training" and
 * `mnemo train` / `mnemo runs` use only what this file exports).
 *
 * A run lives in runs/<id>/ of the project: run.json (the RunRecord of protocol.ts) and
 * metrics.jsonl, the one stream the views read. A handle (startRun / attachRun) appends to the
 * local metrics.jsonl exactly the bytes it reads from the target's metrics.jsonl (the file first,
 * then run.json with `metricsOffset`), and moves run.json's `state` along:
 * setting_up -> running -> done | failed | cancelled. run.json is replaced atomically (a rename),
 * so a watcher never reads half a record.
 *
 * Targets: 'local' (a detached process group on this machine, the run folder is runs/<id>/ itself)
 * or the name of an SSH host (listHosts: ~/.ssh/config aliases and hosts from settings), where the
 * run folder is <remoteRoot>/<id>/ (default ~/mnemo-runs/<id>/). The script runs detached
 * (setsid + nohup), so a dropped connection, a closed editor or a reload does not stop it; a
 * handle reconnects with backoff and resumes from the byte offset, and attachRun picks a run up
 * again from run.json after a reload.
 *
 * Secrets: `env` (e.g. HF_TOKEN) reaches the script through its environment, sent over the SSH
 * channel's stdin (never argv, files, logs, run.json or messages); key passphrases are asked for
 * through `hooks.passphrase` and kept in memory for one connection.
 */
import type { Project } from '../project';
import type { MetricEvent, RunRecord } from './protocol';
import { resolveTrainConfig as resolveConfig, TRAIN_DEFAULTS, TRAIN_KEYS } from './config';
import { listHosts as listSshHosts } from './hosts';
import { listRunRecords, readRunRecord } from './runs';
import { attach, cancelById, deleteRunFolder, downloadById, recordAdvice, start } from './runner';
import { findEpochsConfig, FIND_EPOCHS_DEFAULTS } from './find-epochs';

export type { EpochAdvice, MetricEvent, RecallEvent, RunRecord, RunState, RunTarget, ErrorKind } from './protocol';
export { adviceMarks, adviseEpochs, FIND_EPOCHS_DEFAULTS, findEpochsConfig } from './find-epochs';
export { TRAINING_PRESETS, trainingPreset, type TrainingPreset } from './presets';
export { buildRecallSet, describeRecall, formatRecall, gradeRecall, latestRecall, readRecallFile, RECALL_TAGS, recallPercent, type RecallPoint, type RecallQuestion } from './recall';
export { RUN_FILES } from './protocol';
export { shQuote, shCommand } from './quote';
export { TRAIN_DEFAULTS, TRAIN_KEYS };

/** What the core asks of the user while connecting; the extension answers with dialogs, the CLI on the terminal. */
export interface TrainingHooks {
  /**
   * A host not in known_hosts offers this key: trust it? `fingerprint` is `SHA256:...` as
   * `ssh-keygen -lf` prints it. Accepted keys are appended to known_hosts. A key that CHANGED
   * is refused without asking (`changed` is always false here; the type keeps room for a
   * future "show the warning" hook).
   */
  acceptHostKey(host: string, fingerprint: string, changed: false): Promise<boolean>;
  /** The passphrase of an encrypted private key, or undefined to skip that key. */
  passphrase(keyPath: string): Promise<string | undefined>;
  /** Progress lines (connecting, uploading, pip output, reconnecting). Never holds a secret. */
  log?(line: string): void;
}

/** A host a run can go to. */
export interface HostEntry {
  /** What the user picks and what run.json records (a Host alias, or the settings entry's name). */
  name: string;
  hostname: string;
  port: number;
  user: string;
  /** Private key files, `~` expanded (may be empty: then ssh-agent and the default keys are tried). */
  identityFiles: string[];
  from: 'ssh-config' | 'settings';
}

/** How to reach SSH hosts. Every field is optional; the defaults are OpenSSH's. */
export interface SshOptions {
  /** Default ~/.ssh/config (a missing file is no hosts). */
  sshConfigPath?: string;
  /** Default ~/.ssh/known_hosts (created when the first key is accepted). */
  knownHostsPath?: string;
  /** Hosts from the settings (mnemo.training.hosts), listed after the ssh config's. */
  settingsHosts?: Array<{ name?: string; host: string; port?: number; user?: string; identityFile?: string }>;
  /** An ssh-agent socket (SSH_AUTH_SOCK); default process.env.SSH_AUTH_SOCK. */
  agent?: string;
  /** A Python on the remote machine to use as is, instead of the venv Mnemo sets up. */
  python?: string;
  /** Where runs go on the remote machine; default ~/mnemo-runs (a leading ~/ is the remote home). */
  remoteRoot?: string;
  /** Where the remote venvs live; default ~/.cache/mnemo. */
  venvRoot?: string;
  /** Connect timeout per try, ms (default 20000). */
  readyTimeoutMs?: number;
  /** Reconnecting after a dropped connection: tries and the first delay (doubling, capped at maxDelayMs). */
  reconnect?: { attempts?: number; initialDelayMs?: number; maxDelayMs?: number };
}

/** What attach, cancel, download and delete need to reach a run's target. */
export interface ConnectOptions {
  ssh?: SshOptions;
  hooks: TrainingHooks;
  /** Cancel: how long the process group gets after TERM before KILL (default 10000 ms). */
  cancelGraceMs?: number;
}

export interface StartOptions extends ConnectOptions {
  /** 'local', or a host name from listHosts. */
  target: 'local' | string;
  /** Overrides over mnemo.json's `training` section (snake_case keys of config.json). */
  config?: Record<string, unknown>;
  /** The folder holding train.py, common.py and requirements.txt (every *.py and requirements*.txt in it is sent). */
  scriptsDir: string;
  /** Aborts setting up (before the script starts); a started run is stopped with cancel(). */
  signal?: AbortSignal;
  /** Environment for the script (e.g. HF_TOKEN): over the channel's stdin, never argv or a file. */
  env?: Record<string, string>;
  /** Local target: the Python to run (default <project>/.venv/bin/python when it exists, else python3). */
  localPython?: string;
  /** Shown in views. */
  label?: string;
  /** A Find Epochs probe (startFindEpochs sets it): its record gets the advice when it ends. */
  purpose?: RunRecord['purpose'];
  /** Download output/ and train.log as soon as the run is done (default true). */
  autoDownload?: boolean;
}

/** A live connection to one run: events as they arrive, its record as it changes. */
export interface RunHandle {
  /** The newest record (also on disk as runs/<id>/run.json). */
  readonly record: RunRecord;
  /** Metric events from now on, in file order, each once. */
  onEvent(cb: (ev: MetricEvent) => void): { dispose(): void };
  /** Every change of the record (state, offset, error, pgid). */
  onRecord(cb: (r: RunRecord) => void): { dispose(): void };
  /**
   * The final record once the run is done, failed or cancelled. Rejects (MnemoError) when the
   * target cannot be reached any more after the reconnect tries; the run itself goes on, and
   * attachRun picks it up later.
   */
  readonly finished: Promise<RunHandle['record']>;
  /** Stops the whole process group (TERM, then KILL after a grace period); state 'cancelled'. */
  cancel(): Promise<void>;
  /** Copies output/ and train.log into runs/<id>/ (SSH; a no-op locally). */
  download(): Promise<void>;
  /** Stops following without touching the run (a window closing); `finished` never settles. */
  detach(): void;
}

/** Hosts from the ssh config (aliases without wildcards) then from settings. */
export function listHosts(opts: SshOptions): HostEntry[] {
  return listSshHosts(opts);
}

/**
 * The config a run would get: TRAIN_DEFAULTS, then mnemo.json `training`, then `overrides`.
 * Throws a MnemoError naming the key on an unknown key or a wrong type, or without a model.
 */
export function resolveTrainConfig(project: Project, overrides?: Record<string, unknown>): Record<string, unknown> {
  return resolveConfig(project, overrides);
}

/** A run.json that could not be read: listed so views can show it, never thrown. */
export interface BrokenRun {
  id: string;
  error: string;
}

/** runs/*\/run.json, newest first. Broken records are left out here and listed by listBrokenRuns. */
export function listRuns(project: Project): RunRecord[] {
  return listRunRecords(project).records;
}

/** The run folders whose run.json is missing or unreadable, with why. */
export function listBrokenRuns(project: Project): BrokenRun[] {
  return listRunRecords(project).broken;
}

/** One run's record; throws a MnemoError when it is missing or broken. */
export function readRun(project: Project, id: string): RunRecord {
  return readRunRecord(project, id);
}

/** Creates runs/<id>/, uploads, sets up Python, starts the script detached and follows it. */
export function startRun(project: Project, opts: StartOptions): Promise<RunHandle> {
  return start(project, opts);
}

/**
 * Find Epochs: a probe run at a constant learning rate for `epochs` epochs (default 4), evaluated
 * (eval loss and recall) `evalsPerEpoch` times per epoch, keeping no best checkpoint. When it ends
 * its record gets the advice (adviseEpochs): how many epochs to train with a cosine schedule.
 */
export function startFindEpochs(project: Project, opts: StartOptions & { epochs?: number; evalsPerEpoch?: number }): Promise<RunHandle> {
  const epochs = opts.epochs ?? FIND_EPOCHS_DEFAULTS.epochs;
  return start(project, { ...opts, config: { ...opts.config, ...findEpochsConfig(epochs, opts.evalsPerEpoch) }, purpose: 'find-epochs', label: opts.label ?? `Find Epochs (${epochs} epochs)` });
}

/**
 * A Find Epochs probe's advice, from its metrics, written into its run.json (again when it is
 * already there: the metrics are the truth). Undefined for a run that is no probe or still live.
 */
export function adviseRun(project: Project, id: string): RunRecord | undefined {
  return recordAdvice(project, id);
}

/** Follows a run again (after a reload or a lost connection) from run.json's target and offset. */
export function attachRun(project: Project, id: string, opts: ConnectOptions): Promise<RunHandle> {
  return attach(project, id, opts);
}

/** Cancels a run without a handle (kills its process group on its target). */
export function cancelRun(project: Project, id: string, opts: ConnectOptions): Promise<RunRecord> {
  return cancelById(project, id, opts);
}

/** Downloads a run's output/ and train.log without a handle. */
export function downloadRun(project: Project, id: string, opts: ConnectOptions): Promise<RunRecord> {
  return downloadById(project, id, opts);
}

/**
 * Deletes runs/<id>/. A live run is refused (cancel it first). With `remote: true` the run's
 * folder on its SSH target is removed too.
 */
export function deleteRun(project: Project, id: string, opts: ConnectOptions & { remote?: boolean }): Promise<void> {
  return deleteRunFolder(project, id, opts);
}
