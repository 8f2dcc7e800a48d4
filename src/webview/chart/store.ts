/**
 * The points of one run as the chart draws them, kept up to date point by point (no DOM here:
 * unit-tested under Node). Columns as received are the truth; the point arrays handed to
 * chart.js are derived for the current x axis and smoothing, and decimated as they grow: each
 * series keeps at most MAX_BUCKETS buckets of consecutive points and draws each bucket's first,
 * lowest, highest and last point (min-max decimation, as chart.js's plugin does, but
 * incremental), so a new point costs O(1) and a draw handles a few thousand points whether the run
 * has 100 or 1,000,000. Buckets hold indexes into the columns; point objects are made only for
 * what is drawn. Appending at the end (the live case) touches only the last bucket; a point older
 * than the last (a line out of order) is inserted in place and the derived arrays are rebuilt once.
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

/** Buckets per series before two neighbours are merged: up to 4 points each (first, lowest, highest, last). */
export const MAX_BUCKETS = 512;

/** Indexes (into the series' columns) of a bucket's points worth drawing; -1 for none. */
interface Bucket {
  n: number;
  first: number;
  last: number;
  min: number;
  max: number;
  /** The first point without a value: the line breaks there. */
  gap: number;
}

/**
 * A series decimated as it grows, over points known by index (ascending = drawing order). `out`
 * is the array chart.js draws; it is changed only through push and splice with explicit counts,
 * which chart.js observes on its data arrays to keep its elements in step.
 */
export class DecimatedSeries {
  readonly out: ChartPoint[] = [];
  private buckets: Bucket[] = [];
  /** Points per bucket: 1 until MAX_BUCKETS are full, then doubled each time they fill again. */
  private size = 1;
  /** Where the last bucket's points start in `out`. */
  private lastStart = 0;
  /** Points added. */
  count = 0;

  constructor(
    private readonly point: (i: number) => ChartPoint,
    private readonly y: (i: number) => number | null,
  ) {}

  /** Adds the point at index i (greater than every index added before) and updates `out`. */
  push(i: number): void {
    this.add(i);
    if (this.out.length > this.lastStart) this.out.splice(this.lastStart, this.out.length - this.lastStart);
    this.out.push(...this.emit(this.buckets[this.buckets.length - 1]));
  }

  /** Adds many points, then builds `out` once (opening a chart). */
  pushAll(indexes: Iterable<number>): void {
    for (const i of indexes) this.add(i);
    this.rebuildOut();
  }

  private add(i: number): void {
    this.count++;
    let b = this.buckets[this.buckets.length - 1];
    if (!b || b.n >= this.size) {
      if (this.buckets.length >= MAX_BUCKETS) {
        this.coarsen();
        b = this.buckets[this.buckets.length - 1];
      }
      if (!b || b.n >= this.size) {
        b = { n: 0, first: i, last: i, min: -1, max: -1, gap: -1 };
        this.buckets.push(b);
        this.lastStart = this.out.length;
      }
    }
    b.n++;
    b.last = i;
    const y = this.y(i);
    if (y === null) {
      if (b.gap < 0) b.gap = i;
    } else {
      if (b.min < 0 || y < (this.y(b.min) as number)) b.min = i;
      if (b.max < 0 || y > (this.y(b.max) as number)) b.max = i;
    }
  }

  private emit(b: Bucket): ChartPoint[] {
    const idx = [b.first, b.min, b.max, b.gap, b.last].filter((i, k, all) => i >= 0 && all.indexOf(i) === k).sort((a, c) => a - c);
    return idx.map(this.point);
  }

  /** Merges neighbouring buckets: twice the points per bucket, half the buckets. */
  private coarsen(): void {
    const merged: Bucket[] = [];
    const pick = (a: number, c: number, better: (x: number, y: number) => boolean) => (a < 0 ? c : c < 0 ? a : better(this.y(c) as number, this.y(a) as number) ? c : a);
    for (let k = 0; k < this.buckets.length; k += 2) {
      const a = this.buckets[k];
      const c = this.buckets[k + 1];
      if (!c) merged.push(a);
      else
        merged.push({
          n: a.n + c.n,
          first: a.first,
          last: c.last,
          min: pick(a.min, c.min, (x, y) => x < y),
          max: pick(a.max, c.max, (x, y) => x > y),
          gap: a.gap >= 0 ? a.gap : c.gap,
        });
    }
    this.buckets = merged;
    this.size *= 2;
    this.rebuildOut();
  }

  private rebuildOut(): void {
    const points: ChartPoint[] = [];
    const n = this.buckets.length;
    for (let k = 0; k < n - 1; k++) for (const p of this.emit(this.buckets[k])) points.push(p);
    this.lastStart = points.length;
    if (n) for (const p of this.emit(this.buckets[n - 1])) points.push(p);
    this.out.splice(0, this.out.length);
    // In slices: push(...a) with 100,000 arguments would overflow the stack.
    for (let k = 0; k < points.length; k += 10_000) this.out.push(...points.slice(k, k + 10_000));
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

/** The arrays chart.js draws (decimated), per series. */
export interface RunPoints {
  raw: ChartPoint[];
  smooth: ChartPoint[];
  lr: ChartPoint[];
  grad: ChartPoint[];
  eval: ChartPoint[];
  best: ChartPoint[];
}

/** Which derived series to keep: deriving 100,000 points of a series nobody shows costs time. */
export interface SeriesWanted {
  raw: boolean;
  smooth: boolean;
  lr: boolean;
  grad: boolean;
}

export const ALL_SERIES: SeriesWanted = { raw: true, smooth: true, lr: true, grad: true };

type SeriesName = 'raw' | 'smooth' | 'lr' | 'grad' | 'eval';

export class RunStore {
  readonly log: LogColumns;
  readonly ev: EvalColumns;
  readonly nonFinite: NonFinitePoint[];
  points!: RunPoints;
  private series!: Record<SeriesName, DecimatedSeries>;
  /** The smoothed training loss, per log point. */
  private smoothed: (number | null)[] = [];
  private ema!: Ema;
  private bestIndex = -1;

  constructor(
    run: Pick<ChartRun, 'log' | 'eval' | 'nonFinite'>,
    private axis: XAxis,
    private smoothing: number,
    private wanted: SeriesWanted = ALL_SERIES,
  ) {
    this.log = run.log;
    this.ev = run.eval;
    this.nonFinite = [...run.nonFinite];
    this.derive();
  }

  get logCount(): number {
    return this.log.step.length;
  }

  get evalCount(): number {
    return this.ev.step.length;
  }

  /** Points in the arrays chart.js draws (after decimation), all series together. */
  get drawnCount(): number {
    return Object.values(this.points).reduce((n, a) => n + a.length, 0);
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
    this.derive();
  }

  /** Keeps only these series (an empty array for the others); derives again when one is added. */
  setWanted(wanted: SeriesWanted): void {
    const w = this.wanted;
    const added = (wanted.raw && !w.raw) || (wanted.smooth && !w.smooth) || (wanted.lr && !w.lr) || (wanted.grad && !w.grad);
    this.wanted = { ...wanted };
    if (added) this.derive();
  }

  setSmoothing(weight: number): void {
    this.smoothing = weight;
    this.derive();
  }

  /**
   * Adds new points. Returns 'appended' when every point went after the last (the derived arrays
   * changed in place), 'rebuilt' when one was older and the arrays were derived again (new arrays).
   */
  append(log: LogColumns, ev: EvalColumns, nonFinite: NonFinitePoint[] = []): 'appended' | 'rebuilt' {
    this.nonFinite.push(...nonFinite);
    let inOrder = true;
    for (let i = 0; i < log.step.length; i++) {
      // An older step goes in its place (splice at the end is a push); once one does, the derived arrays are rebuilt.
      if (insertRow(this.log, log, i) < this.log.step.length - 1) inOrder = false;
      if (inOrder) this.addLog(this.log.step.length - 1, false);
    }
    for (let i = 0; i < ev.step.length; i++) {
      if (insertRow(this.ev, ev, i) < this.ev.step.length - 1) inOrder = false;
      if (inOrder) this.addEval(this.ev.step.length - 1, false);
    }
    if (inOrder) return 'appended';
    this.derive();
    return 'rebuilt';
  }

  private logX(i: number): number | null {
    return this.axis === 'step' ? this.log.step[i] : this.log.epoch[i];
  }

  private evalX(i: number): number | null {
    return this.axis === 'step' ? this.ev.step[i] : this.ev.epoch[i];
  }

  /** A log point of one series: only for points with an x on this axis. */
  private logPoint(y: (number | null)[]): (i: number) => ChartPoint {
    return (i) => ({ x: this.logX(i) as number, y: y[i], s: this.log.step[i], e: this.log.epoch[i] });
  }

  private evalPoint = (i: number): ChartPoint => ({ x: this.evalX(i) as number, y: this.ev.loss[i], s: this.ev.step[i], e: this.ev.epoch[i] });

  private addLog(i: number, bulk: boolean): boolean {
    const w = this.wanted;
    this.smoothed[i] = w.smooth ? this.ema.next(this.log.loss[i]) : null;
    if (this.logX(i) === null) return false;
    if (bulk) return true;
    const p = this.series;
    if (w.raw) p.raw.push(i);
    if (w.smooth) p.smooth.push(i);
    if (w.lr) p.lr.push(i);
    if (w.grad) p.grad.push(i);
    return true;
  }

  private addEval(i: number, bulk: boolean): boolean {
    if (this.evalX(i) === null) return false;
    const y = this.ev.loss[i];
    if (y !== null && (this.bestIndex < 0 || y < (this.ev.loss[this.bestIndex] as number))) {
      this.bestIndex = i;
      this.points.best.splice(0, this.points.best.length);
      this.points.best.push(this.evalPoint(i));
    }
    if (!bulk) this.series.eval.push(i);
    return true;
  }

  /** Derives every wanted series from the columns (new arrays: the chart's datasets are made again). */
  private derive(): void {
    const L = this.log;
    this.smoothed = new Array<number | null>(L.step.length);
    const series: Record<SeriesName, DecimatedSeries> = {
      raw: new DecimatedSeries(this.logPoint(L.loss), (i) => L.loss[i]),
      smooth: new DecimatedSeries(this.logPoint(this.smoothed), (i) => this.smoothed[i]),
      lr: new DecimatedSeries(this.logPoint(L.lr), (i) => L.lr[i]),
      grad: new DecimatedSeries(this.logPoint(L.gradNorm), (i) => L.gradNorm[i]),
      eval: new DecimatedSeries(this.evalPoint, (i) => this.ev.loss[i]),
    };
    this.series = series;
    this.points = { raw: series.raw.out, smooth: series.smooth.out, lr: series.lr.out, grad: series.grad.out, eval: series.eval.out, best: [] };
    this.bestIndex = -1;
    this.ema = new Ema(this.smoothing);
    const logIdx: number[] = [];
    for (let i = 0; i < L.step.length; i++) if (this.addLog(i, true)) logIdx.push(i);
    const evalIdx: number[] = [];
    for (let i = 0; i < this.ev.step.length; i++) if (this.addEval(i, true)) evalIdx.push(i);
    const w = this.wanted;
    if (w.raw) series.raw.pushAll(logIdx);
    if (w.smooth) series.smooth.pushAll(logIdx);
    if (w.lr) series.lr.pushAll(logIdx);
    if (w.grad) series.grad.pushAll(logIdx);
    series.eval.pushAll(evalIdx);
  }
}

/** Inserts row i of `from` into the step-sorted columns `into` (after equal steps); returns where it went. */
function insertRow<T extends { step: number[] }>(into: T, from: T, i: number): number {
  const s = from.step[i];
  const at = into.step.length && s < into.step[into.step.length - 1] ? upperBound(into.step, s) : into.step.length;
  for (const key of Object.keys(into) as (keyof T)[]) (into[key] as unknown[]).splice(at, 0, (from[key] as unknown[])[i]);
  return at;
}
