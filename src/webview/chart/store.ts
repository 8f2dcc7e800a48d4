/**
 * The points of one run as the chart draws them, kept up to date point by point (no DOM here:
 * unit-tested under Node). Columns as received are the truth; the point arrays handed to
 * chart.js are derived for the current x axis and smoothing. Appending at the end (the live case)
 * touches only the new points; a point older than the last (a line out of order) is inserted in
 * place and the derived arrays are rebuilt once.
 */
import type { ChartRun, EvalColumns, LogColumns, NonFinitePoint } from '../../shared/chart-protocol';

/** A chart point: x on the current axis, y (null: a gap), and its step and epoch for tooltips. */
export interface ChartPoint {
  x: number;
  y: number | null;
  s: number;
  e: number | null;
}

export type XAxis = 'step' | 'epoch';

/** Debiased exponential moving average (as TensorBoard's smoothing): gaps pass through as gaps. */
export class Ema {
  private last = 0;
  private n = 0;
  constructor(readonly weight: number) {}

  next(y: number | null): number | null {
    if (y === null || !Number.isFinite(y)) return null;
    const w = this.weight;
    this.last = this.last * w + (1 - w) * y;
    this.n++;
    const debias = w >= 1 ? 1 : 1 - Math.pow(w, this.n);
    return debias > 0 ? this.last / debias : y;
  }
}

/** Index of the first element of sorted `a` greater than `v`. */
export function upperBound(a: number[], v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface RunPoints {
  raw: ChartPoint[];
  smooth: ChartPoint[];
  lr: ChartPoint[];
  grad: ChartPoint[];
  eval: ChartPoint[];
  best: ChartPoint[];
}

export class RunStore {
  readonly log: LogColumns;
  readonly ev: EvalColumns;
  readonly nonFinite: NonFinitePoint[];
  points: RunPoints;
  private ema: Ema;
  private bestLoss: number | undefined;

  constructor(
    run: Pick<ChartRun, 'log' | 'eval' | 'nonFinite'>,
    private axis: XAxis,
    private smoothing: number,
  ) {
    this.log = run.log;
    this.ev = run.eval;
    this.nonFinite = [...run.nonFinite];
    this.ema = new Ema(smoothing);
    this.points = this.derive();
  }

  get logCount(): number {
    return this.log.step.length;
  }

  get evalCount(): number {
    return this.ev.step.length;
  }

  /** The lowest eval loss so far and where. */
  get best(): ChartPoint | undefined {
    return this.points.best[0];
  }

  /** True when some point has no epoch (no start event and no epoch logged): the epoch axis cannot place it. */
  get lacksEpochs(): boolean {
    return this.log.epoch.some((e) => e === null) || this.ev.epoch.some((e) => e === null);
  }

  setAxis(axis: XAxis): void {
    this.axis = axis;
    this.points = this.derive();
  }

  setSmoothing(weight: number): void {
    this.smoothing = weight;
    this.points = this.derive();
  }

  /**
   * Adds new points. Returns 'appended' when every point went after the last (the derived arrays
   * grew in place), 'rebuilt' when one was older and the arrays were derived again (new arrays).
   */
  append(log: LogColumns, ev: EvalColumns, nonFinite: NonFinitePoint[] = []): 'appended' | 'rebuilt' {
    this.nonFinite.push(...nonFinite);
    let inOrder = true;
    for (let i = 0; i < log.step.length; i++) {
      const s = log.step[i];
      const at = this.log.step.length && s < this.log.step[this.log.step.length - 1] ? upperBound(this.log.step, s) : this.log.step.length;
      if (at < this.log.step.length) inOrder = false;
      this.log.step.splice(at, 0, s);
      this.log.epoch.splice(at, 0, log.epoch[i]);
      this.log.loss.splice(at, 0, log.loss[i]);
      this.log.lr.splice(at, 0, log.lr[i]);
      this.log.gradNorm.splice(at, 0, log.gradNorm[i]);
      if (inOrder) this.pushLog(this.log.step.length - 1);
    }
    for (let i = 0; i < ev.step.length; i++) {
      const s = ev.step[i];
      const at = this.ev.step.length && s < this.ev.step[this.ev.step.length - 1] ? upperBound(this.ev.step, s) : this.ev.step.length;
      if (at < this.ev.step.length) inOrder = false;
      this.ev.step.splice(at, 0, s);
      this.ev.epoch.splice(at, 0, ev.epoch[i]);
      this.ev.loss.splice(at, 0, ev.loss[i]);
      if (inOrder) this.pushEval(this.ev.step.length - 1);
    }
    if (inOrder) return 'appended';
    this.points = this.derive();
    return 'rebuilt';
  }

  private x(step: number, epoch: number | null): number | null {
    return this.axis === 'step' ? step : epoch;
  }

  private pushLog(i: number): void {
    const s = this.log.step[i];
    const e = this.log.epoch[i];
    const x = this.x(s, e);
    if (x === null) return;
    const p = this.points;
    p.raw.push({ x, y: this.log.loss[i], s, e });
    p.smooth.push({ x, y: this.ema.next(this.log.loss[i]), s, e });
    p.lr.push({ x, y: this.log.lr[i], s, e });
    p.grad.push({ x, y: this.log.gradNorm[i], s, e });
  }

  private pushEval(i: number): void {
    const s = this.ev.step[i];
    const e = this.ev.epoch[i];
    const x = this.x(s, e);
    if (x === null) return;
    const y = this.ev.loss[i];
    const point = { x, y, s, e };
    this.points.eval.push(point);
    if (y !== null && (this.bestLoss === undefined || y < this.bestLoss)) {
      this.bestLoss = y;
      this.points.best.length = 0;
      this.points.best.push({ ...point });
    }
  }

  private derive(): RunPoints {
    this.points = { raw: [], smooth: [], lr: [], grad: [], eval: [], best: [] };
    this.bestLoss = undefined;
    this.ema = new Ema(this.smoothing);
    for (let i = 0; i < this.log.step.length; i++) this.pushLog(i);
    for (let i = 0; i < this.ev.step.length; i++) this.pushEval(i);
    return this.points;
  }
}
