/**
 * Metric events -> the columns the chart draws (editor-free, unit-tested). One SeriesBuilder per
 * run keeps what later batches need: how many steps make an epoch (for events without `epoch`).
 */
import type { MetricEvent } from '../../core/training/protocol';
import { emptyEval, emptyLog, type EvalColumns, type LogColumns, type NonFinitePoint } from '../../shared/chart-protocol';

export interface Columns {
  log: LogColumns;
  eval: EvalColumns;
  nonFinite: NonFinitePoint[];
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

  /** The columns of these events (sorted by step), and the non-finite values among them. */
  add(events: readonly MetricEvent[]): Columns {
    const log = emptyLog();
    const ev = emptyEval();
    const bad: NonFinitePoint[] = [];
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
      }
    }
    const li = order(log.step);
    const ei = order(ev.step);
    return {
      log: li ? { step: permute(log.step, li), epoch: permute(log.epoch, li), loss: permute(log.loss, li), lr: permute(log.lr, li), gradNorm: permute(log.gradNorm, li) } : log,
      eval: ei ? { step: permute(ev.step, ei), epoch: permute(ev.epoch, ei), loss: permute(ev.loss, ei) } : ev,
      nonFinite: bad,
    };
  }

  private epochOf(step: number): number | null {
    return this.stepsPerEpoch ? step / this.stepsPerEpoch : null;
  }
}

/** The columns of a whole run. */
export function buildColumns(events: readonly MetricEvent[]): Columns {
  return new SeriesBuilder().add(events);
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
