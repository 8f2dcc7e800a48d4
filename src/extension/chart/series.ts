/**
 * Metric events -> the columns the chart draws (editor-free, unit-tested). One SeriesBuilder per
 * run keeps what later batches need: how many steps make an epoch (for events without `epoch`).
 */
import { adviceMarks } from '../../core/training/find-epochs';
import type { MetricEvent, RunRecord } from '../../core/training/protocol';
import { formatKept, gradeRecall, type RecallQuestion } from '../../core/training/recall';
import { emptyEval, emptyLog, type ChartMark, type EvalColumns, type LogColumns, type NonFinitePoint, type RecallPoint } from '../../shared/chart-protocol';

export interface Columns {
  log: LogColumns;
  eval: EvalColumns;
  nonFinite: NonFinitePoint[];
  recall: RecallPoint[];
}

/** A number, or null for anything else (NaN/Infinity arrive as null from the metrics parser). */
function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** True when the event has this key and its value is not a finite number: a NaN or Infinity the script wrote. */
function nonFinite(ev: object, key: string): boolean {
  const v = (ev as Record<string, unknown>)[key];
  return key in ev && v !== undefined && num(v) === null;
}

/** Indexes of `steps` in ascending step order, stable; undefined when already sorted (the usual case). */
function order(steps: number[]): number[] | undefined {
  for (let i = 1; i < steps.length; i++) {
    if (steps[i] < steps[i - 1]) return steps.map((_, j) => j).sort((a, b) => steps[a] - steps[b] || a - b);
  }
  return undefined;
}

function permute<T>(values: T[], idx: number[] | undefined): T[] {
  return idx ? idx.map((i) => values[i]) : values;
}

export class SeriesBuilder {
  /** Steps per epoch, from the start event (total_steps / epochs) or a log point that had both. */
  private stepsPerEpoch: number | undefined;

  /** `questions`: the run's recall.jsonl, to grade recall answers with the core's rule. */
  constructor(readonly questions?: ReadonlyMap<string, RecallQuestion>) {}

  /** The columns of these events (sorted by step), and the non-finite values among them. */
  add(events: readonly MetricEvent[]): Columns {
    const log = emptyLog();
    const ev = emptyEval();
    const bad: NonFinitePoint[] = [];
    const recall: RecallPoint[] = [];
    for (const e of events) {
      if (e.event === 'start') {
        if (e.total_steps > 0 && e.epochs > 0) this.stepsPerEpoch = e.total_steps / e.epochs;
      } else if (e.event === 'log') {
        const epoch = num(e.epoch);
        if (epoch !== null && epoch > 0 && e.step > 0 && this.stepsPerEpoch === undefined) this.stepsPerEpoch = e.step / epoch;
        log.step.push(e.step);
        log.epoch.push(epoch ?? this.epochOf(e.step));
        log.loss.push(num(e.loss));
        log.lr.push(num(e.lr));
        log.gradNorm.push(num(e.grad_norm));
        if (nonFinite(e, 'loss')) bad.push({ step: e.step, key: 'loss' });
        if (nonFinite(e, 'lr')) bad.push({ step: e.step, key: 'lr' });
        if (nonFinite(e, 'grad_norm')) bad.push({ step: e.step, key: 'grad_norm' });
      } else if (e.event === 'eval') {
        ev.step.push(e.step);
        ev.epoch.push(num(e.epoch) ?? this.epochOf(e.step));
        ev.loss.push(num(e.eval_loss));
        if (nonFinite(e, 'eval_loss')) bad.push({ step: e.step, key: 'eval_loss' });
      } else if (e.event === 'recall') {
        recall.push(gradeRecall(e, this.questions, num(e.epoch) ?? this.epochOf(e.step)));
      }
    }
    recall.sort((a, b) => a.step - b.step);
    const li = order(log.step);
    const ei = order(ev.step);
    return {
      log: li ? { step: permute(log.step, li), epoch: permute(log.epoch, li), loss: permute(log.loss, li), lr: permute(log.lr, li), gradNorm: permute(log.gradNorm, li) } : log,
      eval: ei ? { step: permute(ev.step, ei), epoch: permute(ev.epoch, ei), loss: permute(ev.loss, ei) } : ev,
      nonFinite: bad,
      recall,
    };
  }

  /** The epoch of a step, when the run told how many steps make one. */
  epochOf(step: number): number | null {
    return this.stepsPerEpoch ? step / this.stepsPerEpoch : null;
  }
}

/** The columns of a whole run. */
export function buildColumns(events: readonly MetricEvent[], questions?: ReadonlyMap<string, RecallQuestion>): Columns {
  return new SeriesBuilder(questions).add(events);
}

/** The marks of a run: the checkpoint it kept (and why), a Find Epochs probe's turn and peak. */
export function runMarks(record: RunRecord, kept: { step: number; by?: 'recall' | 'eval_loss' | null; value?: number | null } | undefined, epochOf: (step: number) => number | null): ChartMark[] {
  const marks: ChartMark[] = [];
  if (kept && kept.by) marks.push({ kind: 'kept', step: kept.step, epoch: epochOf(kept.step), label: `kept: ${formatKept(kept)}` });
  if (record.advice) for (const m of adviceMarks(record.advice)) marks.push({ kind: m.kind, step: m.mark.step, epoch: m.mark.epoch ?? epochOf(m.mark.step), label: m.label });
  return marks;
}

/** Why a run has no recall to draw, or undefined when it has (or may get) some. */
export function recallNote(record: RunRecord, points: number, hasLog: boolean): string | undefined {
  if (points) return undefined;
  const r = record.recall;
  if (!r) return undefined;
  if (!r.eval && !r.test) {
    if (record.config.recall_file === null) return 'No recall measured: recall_file is null in the run\'s config.';
    return 'No recall measured: the project has no eval questions with reference answers (eval/questions.qa) and no held-out pairs (data/test.jsonl).';
  }
  return hasLog ? `Recall (${[r.eval ? `${r.eval} eval questions` : '', r.test ? `${r.test} held-out pairs` : ''].filter(Boolean).join(', ')}) appears after the first evaluation.` : undefined;
}

/** The lowest eval loss and where it was (the first of equals). */
export function bestEval(ev: EvalColumns): { step: number; epoch: number | null; loss: number } | undefined {
  let best: { step: number; epoch: number | null; loss: number } | undefined;
  for (let i = 0; i < ev.step.length; i++) {
    const l = ev.loss[i];
    if (l !== null && (!best || l < best.loss)) best = { step: ev.step[i], epoch: ev.epoch[i], loss: l };
  }
  return best;
}
