/**
 * Messages between the extension (src/extension/chart) and the chart webview (src/webview/chart),
 * declared once here and imported by both sides. The webview speaks first: `ready` when its
 * script has loaded (again after every reload of its content), and the extension answers with
 * `init`, the whole picture; only then does it send `append` and `summary` updates.
 *
 * Series travel as columns (one array per quantity), not as arrays of objects: 100,000 points are
 * ~2 MB of JSON instead of ~6 MB, and the webview turns them into chart points once.
 */
import type { RunState, ScriptState } from '../core/training/protocol';
import type { RecallPoint } from '../core/training/recall';

export type { RecallPoint };

/**
 * A step the chart marks with a vertical line: the checkpoint the run kept (and why), and a Find
 * Epochs probe's marks (where the eval loss turns up, where recall peaks).
 */
export interface ChartMark {
  kind: 'kept' | 'eval-turn' | 'recall-peak';
  step: number;
  epoch: number | null;
  label: string;
}

/** The webview panel type: `onWebviewPanel:mnemo.chart` activates the extension to restore one. */
export const CHART_VIEW_TYPE = 'mnemo.chart';

/** Training log points of a run, sorted by step. A null is a gap (a NaN or infinite value, or none logged). */
export interface LogColumns {
  step: number[];
  epoch: (number | null)[];
  loss: (number | null)[];
  lr: (number | null)[];
  gradNorm: (number | null)[];
}

/** Eval points of a run, sorted by step. */
export interface EvalColumns {
  step: number[];
  epoch: (number | null)[];
  loss: (number | null)[];
}

/** A value the script wrote as NaN or Infinity (or null): drawn as a gap and listed. */
export interface NonFinitePoint {
  step: number;
  key: 'loss' | 'eval_loss' | 'lr' | 'grad_norm';
}

/** What the header of a run says: where it is. */
export interface RunStatus {
  state: RunState;
  scriptState?: ScriptState;
  step?: number;
  totalSteps?: number;
  epoch?: number;
  error?: string;
}

/** One run as the chart shows it. */
export interface ChartRun {
  id: string;
  /** The run's label, else its id. */
  name: string;
  /** In a comparison: the settings where this run differs from the others ("lr 3e-4", "bs 32"). */
  settings: string[];
  /** In a comparison: how much data it trained on relative to the smallest ("9x data, 750 rows"). */
  dataHint?: string;
  status: RunStatus;
  log: LogColumns;
  eval: EvalColumns;
  nonFinite: NonFinitePoint[];
  /** Recall measurements (graded by the extension with the core's rule), in step order. */
  recall: RecallPoint[];
  marks: ChartMark[];
  /** Why no recall is (or will be) drawn, when none is measured. */
  recallNote?: string;
  /** A Find Epochs probe's advice, in words. */
  advice?: string;
  /** Lines of metrics.jsonl that are not events (kept out of the chart). */
  badLines: number;
  /** The first of them, for the message: "line 7: not JSON". */
  firstBadLine?: string;
}

/** Options a person sets in the panel; kept in the webview's state, so they survive a reload. */
export interface ChartViewOptions {
  xAxis: 'step' | 'epoch';
  /** EMA weight for the training loss, 0 (raw) to 0.99. */
  smoothing: number;
  showRawLoss: boolean;
  showEval: boolean;
  showLr: boolean;
  showGradNorm: boolean;
  /** Compare view: also overlay training losses (eval losses are always shown). */
  showTrain: boolean;
  /** The recall panel below the losses (per tag, over steps). */
  showRecall: boolean;
}

export const DEFAULT_VIEW_OPTIONS: ChartViewOptions = {
  xAxis: 'step',
  smoothing: 0.6,
  showRawLoss: true,
  showEval: true,
  showLr: true,
  showGradNorm: false,
  showTrain: true,
  showRecall: true,
};

/** What the webview keeps with `setState` and the serializer reads back after a window reload. */
export interface ChartPanelState {
  runIds: string[];
  options?: Partial<ChartViewOptions>;
}

/** What the webview reports about itself, on request (tests and the benchmark read it). */
export interface ChartStats {
  /** Points held per run, per series, as appended (before decimation). */
  runs: { id: string; log: number; eval: number; nonFinite: number; recall: number }[];
  /** The recall panel's legend (empty when it is hidden) and the marks drawn. */
  recallLegend: string[];
  marks: string[];
  /** Points drawn in the last frame, all datasets together (after decimation). */
  drawnPoints: number;
  /** How many times the chart was drawn, and how long the last draw took (ms). */
  updates: number;
  lastUpdateMs: number;
  /** Durations (ms) of the most recent draws, oldest first (at most 1,000). */
  recentUpdateMs: number[];
  /** The last `init`: building the point arrays, the first chart.update, and all of its handling (ms). */
  initMs: { storesMs: number; drawMs: number; totalMs: number };
  theme: 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';
  /** The colour of the training loss line, as resolved from the theme. */
  lossColor: string;
  options: ChartViewOptions;
  /** The legend's entries and the notes shown above the chart (NaN values, unreadable lines, no eval points). */
  legend: string[];
  flags: string[];
  /** The header's title and status line. */
  title: string;
  status: string;
  /** Every Content-Security-Policy violation seen in the webview (the probe's excluded). */
  cspViolations: string[];
  /** Canvas pixels that differ from the background (a blank chart has none), when asked for. */
  inkPixels?: number;
  canvas: { width: number; height: number };
}

export type ToWebview =
  /** The whole picture. `missing`: asked-for runs that no longer exist; `summary`: what sets compared runs apart. */
  | { type: 'init'; mode: 'run' | 'compare'; runs: ChartRun[]; missing?: string[]; summary?: string; options?: Partial<ChartViewOptions> }
  | { type: 'append'; runId: string; log: LogColumns; eval: EvalColumns; nonFinite: NonFinitePoint[]; recall: RecallPoint[]; marks: ChartMark[]; recallNote?: string; badLines: number; status: RunStatus }
  | { type: 'status'; runId: string; status: RunStatus; badLines: number; firstBadLine?: string; marks: ChartMark[]; advice?: string; recallNote?: string }
  | { type: 'setOptions'; options: Partial<ChartViewOptions> }
  /** Asks for ChartStats (`ink: true` also counts non-background pixels). */
  | { type: 'query'; requestId: number; ink?: boolean }
  /** Asks for the chart as a PNG data URL, drawn on the editor's background. */
  | { type: 'png'; requestId: number }
  /** Triggers a CSP violation on purpose (an inline style element) and answers whether it was caught. */
  | { type: 'cspProbe'; requestId: number };

export type FromWebview =
  | { type: 'ready' }
  /** The view options changed (for the extension's own record; the webview keeps them in its state). */
  | { type: 'options'; options: ChartViewOptions }
  | { type: 'export'; format: 'png' | 'csv' }
  /** "Train With These Settings" of a Find Epochs probe's chart. */
  | { type: 'trainWithAdvice' }
  | { type: 'cspViolation'; description: string }
  | { type: 'error'; message: string }
  | { type: 'queryResult'; requestId: number; stats: ChartStats }
  | { type: 'pngResult'; requestId: number; dataUrl: string }
  | { type: 'cspProbeResult'; requestId: number; caught: boolean; description?: string };

/** Empty columns, to fill. */
export function emptyLog(): LogColumns {
  return { step: [], epoch: [], loss: [], lr: [], gradNorm: [] };
}

export function emptyEval(): EvalColumns {
  return { step: [], epoch: [], loss: [] };
}
