/**
 * The training metrics protocol (script -> extension) and the run record (runs/<id>/run.json).
 *
 * train.py (and eval.py, and the stand-in scripts of the tests) write one JSON object per line to
 * `metrics.jsonl` in the run's folder and to stdout. Every event carries `time` (Unix seconds).
 * The chart, the status bar, the Runs view and the CLI read this one stream through
 * `parseMetricLines` / `MetricsReader`, and a run opened later replays the file.
 *
 * This file is the contract between the Python side, the core (bridge, backends) and the
 * extension (Runs view, chart): change it only with all three in mind.
 */

/** What the script is doing; `status` events move a run through these. */
export type ScriptState =
  | 'starting'
  | 'loading_model'
  | 'tokenizing'
  | 'training'
  | 'evaluating'
  | 'saving'
  | 'merging'
  | 'pushing';

/** What each script state is called in views (the Runs view, the chart's header, the status bar). */
export const SCRIPT_STATE_LABELS: Readonly<Record<ScriptState, string>> = {
  starting: 'starting',
  loading_model: 'loading the model',
  tokenizing: 'tokenizing',
  training: 'training',
  evaluating: 'evaluating',
  saving: 'saving',
  merging: 'merging',
  pushing: 'pushing to the Hub',
};

/** The label of a script state, undefined for none or one this version does not know. */
export function scriptStateLabel(state: string | undefined): string | undefined {
  return state ? (SCRIPT_STATE_LABELS as Record<string, string>)[state] : undefined;
}

export interface StatusEvent {
  event: 'status';
  state: ScriptState;
  time?: number;
  /** Optional human-readable detail ("loading HuggingFaceTB/SmolLM2-135M-Instruct"). */
  message?: string;
}

/** Sent once, after tokenizing and before the first step. */
export interface StartEvent {
  event: 'start';
  time?: number;
  total_steps: number;
  epochs: number;
  train_rows: number;
  eval_rows: number;
  /** Rows longer than max_length: dropped or cut, as configured; never silent. */
  over_length_rows?: number;
  over_length_action?: 'drop' | 'truncate';
  /** Rows left with no assistant token (after truncation): always dropped. */
  empty_rows?: number;
  /** The same counts for the eval rows. */
  eval_over_length_rows?: number;
  eval_empty_rows?: number;
  /** Tokens of the training rows, and of those the assistant tokens the loss is computed on. */
  train_tokens?: number;
  target_tokens?: number;
  method?: 'lora' | 'full';
  trainable_params?: number;
  total_params?: number;
  device?: string;
  dtype?: string;
  world_size?: number;
}

/** A training log point (every `logging_steps`). Non-finite numbers are written as null. */
export interface LogEvent {
  event: 'log';
  time?: number;
  step: number;
  epoch?: number;
  loss: number | null;
  lr?: number | null;
  grad_norm?: number | null;
  /** Assistant + prompt tokens processed per second since the last log point. */
  tokens_per_s?: number;
  /** Tokens processed since the start. */
  tokens_seen?: number;
}

export interface EvalEvent {
  event: 'eval';
  time?: number;
  step: number;
  epoch?: number;
  eval_loss: number | null;
}

export interface CheckpointEvent {
  event: 'checkpoint';
  time?: number;
  step: number;
  path: string;
  /** True when this checkpoint has the lowest eval loss so far (kept as the best). */
  best?: boolean;
}

export interface DoneEvent {
  event: 'done';
  time?: number;
  /** Where the adapter (or full model) was saved, relative to the run folder on the target. */
  output_dir: string;
  merged_dir?: string;
  best_step?: number;
  best_eval_loss?: number | null;
  hub_url?: string;
}

/** Why a script failed; `kind` lets the editor show the right advice. */
export type ErrorKind =
  | 'oom'
  | 'missing_package'
  | 'model_not_found'
  | 'no_gpu'
  | 'disk_full'
  | 'bad_config'
  | 'bad_data'
  | 'cancelled'
  | 'other';

export interface ErrorEvent {
  event: 'error';
  time?: number;
  message: string;
  hint?: string;
  kind?: ErrorKind;
}

export type MetricEvent = StatusEvent | StartEvent | LogEvent | EvalEvent | CheckpointEvent | DoneEvent | ErrorEvent;

/** A line that is not an event: kept for the log, never charted. */
export interface BadLine {
  line: number;
  text: string;
  reason: string;
}

/** Where a run executes. The record keeps enough to reattach after a reload or a reconnect. */
export type RunTarget =
  | { kind: 'local' }
  | {
      kind: 'ssh';
      /** The name the user picked: a Host alias of ~/.ssh/config or a host from settings. */
      host: string;
      hostname: string;
      port: number;
      user: string;
      /** The run's folder on the remote machine (absolute). */
      remoteDir: string;
    };

/** The state of a run as the editor sees it. */
export type RunState = 'setting_up' | 'running' | 'done' | 'failed' | 'cancelled';

/** runs/<id>/run.json */
export interface RunRecord {
  version: 1;
  id: string;
  /** ISO time of creation. */
  created: string;
  target: RunTarget;
  state: RunState;
  /** The training config as sent to train.py (config.json in the run folder). */
  config: Record<string, unknown>;
  /** What the run trained on: the dataset files' sha256 and row counts. */
  dataset?: { train: { sha256: string; rows: number }; test?: { sha256: string; rows: number } };
  /** Process group id of the detached script on its target (kill -- -pgid cancels it). */
  pgid?: number;
  startedAt?: string;
  endedAt?: string;
  /** Bytes of the target's metrics.jsonl already copied into the local runs/<id>/metrics.jsonl. */
  metricsOffset?: number;
  /** Whether outputs (adapter, logs) were downloaded into runs/<id>/output/. */
  downloaded?: boolean;
  error?: { message: string; hint?: string; kind?: ErrorKind };
  /** Free-form label shown in views ("bs 1, 9x"). */
  label?: string;
}

/** The files of a run folder, relative to runs/<id>/ locally and to remoteDir remotely. */
export const RUN_FILES = {
  record: 'run.json',
  config: 'config.json',
  metrics: 'metrics.jsonl',
  log: 'train.log',
  output: 'output',
  eval: 'eval',
} as const;
