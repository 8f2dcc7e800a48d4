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
  | 'recall'
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
  recall: 'measuring recall',
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

/** How many answers of one tag were right. */
export interface RecallCount {
  correct: number;
  total: number;
}

/** One answer of a recall measurement: the question's id in recall.jsonl and what the model said. */
export interface RecallAnswer {
  id: string;
  answer: string;
  /** The script's verdict (grading.grade); the extension grades again with the core's rule. */
  correct?: boolean;
  finish_reason?: 'stop' | 'length';
}

/** The recall sets staged into a run (recall.jsonl): the project's eval questions, the dataset's held-out pairs. */
export type RecallSetName = 'eval' | 'test';

/**
 * After an eval, one per recall set measured: the model answered the set's questions (greedy)
 * and this is how many it got right, overall and per tag.
 */
export interface RecallEvent {
  event: 'recall';
  time?: number;
  step: number;
  epoch?: number;
  set: RecallSetName;
  correct: number;
  total: number;
  by_tag?: Record<string, RecallCount>;
  /** Absent when the script did not send them: then the script's counts are shown as they are. */
  answers?: RecallAnswer[];
  seconds?: number;
  /** Set by the parser: entries of `answers` / `by_tag` left out because they were malformed. */
  dropped?: number;
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
  /** What chose the kept checkpoint (save_best): recall of the eval set, the eval loss, or nothing (the last step). */
  best_by?: 'recall' | 'eval_loss' | null;
  /** The kept checkpoint's recall (a fraction in [0, 1]) or eval loss. */
  best_value?: number | null;
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

export type MetricEvent = StatusEvent | StartEvent | LogEvent | EvalEvent | RecallEvent | CheckpointEvent | DoneEvent | ErrorEvent;

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
  /** The recall questions staged with the run (recall.jsonl): how many per set, and what was left out. */
  recall?: { eval: number; test: number; notes?: string[] };
  /** What the run is for: 'find-epochs' is a probe run (constant lr, frequent evals) that advises how long to train. */
  purpose?: 'find-epochs';
  /** A probe's advice, written when it ends (core/training/find-epochs.ts). */
  advice?: EpochAdvice;
}

/** A point of a run's metrics that a view marks (where eval loss turns up, where recall peaks, the kept checkpoint). */
export interface RunMark {
  step: number;
  epoch: number | null;
}

/** What Find Epochs read in a probe run's metrics, and the run it advises. */
export interface EpochAdvice {
  /** The probe's epochs (constant lr). */
  probeEpochs: number;
  /** Where the eval loss stops falling and turns up (the minimum before a lasting rise); absent when it never does. */
  evalTurn?: RunMark & { evalLoss: number };
  /** Where recall of the eval set (else the held-out set) is highest. */
  recallPeak?: RunMark & { recall: number; set: RecallSetName; correct: number; total: number };
  /** Epochs to train with a cosine schedule. */
  epochs: number;
  /** Why, in a sentence or two. */
  reason: string;
  /** The config of the advised run (overrides over mnemo.json "training"). */
  config: Record<string, unknown>;
}

/** The files of a run folder, relative to runs/<id>/ locally and to remoteDir remotely. */
export const RUN_FILES = {
  record: 'run.json',
  config: 'config.json',
  metrics: 'metrics.jsonl',
  log: 'train.log',
  output: 'output',
  eval: 'eval',
  /** The recall questions (core/training/recall.ts writes it when a run starts; train.py reads it). */
  recall: 'recall.jsonl',
} as const;

// ---------------------------------------------------------------------------------------------
// The one wording of recall figures (Runs view, status bar, chart, CLI).

/** The recall of a set as a percentage, or null for an empty set. */
export function recallPercent(p: RecallCount): number | null {
  return p.total > 0 ? (100 * p.correct) / p.total : null;
}

/** "recall 12/24 (50%)" — the one wording of a recall figure (Runs view, status bar, chart, CLI). */
export function formatRecall(p: RecallCount | undefined): string | undefined {
  if (!p || p.total <= 0) return undefined;
  return `${p.correct}/${p.total} (${Math.round((100 * p.correct) / p.total)}%)`;
}

/** A short line of a run's latest recall: "recall 12/24 (50%) · held-out 3/16 (19%)". */
export function describeRecall(latest: Partial<Record<RecallSetName, RecallCount>>): string | undefined {
  const parts: string[] = [];
  const e = formatRecall(latest.eval);
  const t = formatRecall(latest.test);
  if (e) parts.push(`recall ${e}`);
  if (t) parts.push(`${e ? 'held-out' : 'held-out recall'} ${t}`);
  return parts.length ? parts.join(' · ') : undefined;
}

/** The checkpoint a run ended with, in words: "step 40, best recall 75%", "step 40, lowest eval loss 1.234", "the last step (step 80)". */
export function formatKept(kept: { step: number; by?: 'recall' | 'eval_loss' | null; value?: number | null } | undefined): string | undefined {
  if (!kept) return undefined;
  if (kept.by === 'recall') return `step ${kept.step}, best recall${typeof kept.value === 'number' ? ` ${Math.round(100 * kept.value)}%` : ''}`;
  if (kept.by === 'eval_loss') return `step ${kept.step}, lowest eval loss${typeof kept.value === 'number' ? ` ${Number(kept.value.toPrecision(4))}` : ''}`;
  return `the last step (step ${kept.step}; save_best chose none)`;
}
