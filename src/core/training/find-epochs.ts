/**
 * Find Epochs (the method's recipe): a probe run at a constant learning rate for a few epochs,
 * evaluated several times per epoch, shows where the eval loss turns up and where recall peaks;
 * the advice is to train that many epochs with a cosine schedule.
 *
 * `adviseEpochs` is a pure function of the metrics stream (and the probe's config). It is robust
 * to noise: the eval losses are smoothed by a running median of three (a single spike moves
 * nothing), and a turn counts only when the loss rises above its minimum by more than the noise
 * (three times the larger of the median deviation from the smoothed curve and the noise that
 * second differences show; at least 2% of the minimum) for two evals in a row and ends above it. Recall is smoothed the same way before its peak is taken; ties go to the
 * earlier eval (training longer for the same recall buys nothing).
 */
import type { EpochAdvice, EvalEvent, MetricEvent, RecallEvent, RecallSetName, RunMark, StartEvent } from './protocol';

/** The probe's config overrides: constant lr, evals every quarter epoch, no checkpoint chosen. */
export const FIND_EPOCHS_DEFAULTS = { epochs: 4, evalsPerEpoch: 4 } as const;

export function findEpochsConfig(epochs: number = FIND_EPOCHS_DEFAULTS.epochs, evalsPerEpoch: number = FIND_EPOCHS_DEFAULTS.evalsPerEpoch): Record<string, unknown> {
  return { lr_scheduler: 'constant', epochs, evals_per_epoch: Math.max(4, evalsPerEpoch), save_best: 'none', warmup_steps: 0 };
}

interface Point {
  step: number;
  epoch: number | null;
  y: number;
}

/** Running median of three (the ends keep their own value): removes single spikes, keeps steps and turns. */
export function median3(ys: readonly number[]): number[] {
  return ys.map((y, i) => {
    if (i === 0 || i === ys.length - 1) return y;
    const w = [ys[i - 1], y, ys[i + 1]].sort((a, b) => a - b);
    return w[1];
  });
}

function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Where a loss curve turns up: the index of its (smoothed) minimum, when it stays clearly above it afterwards. */
export function lossTurn(ys: readonly number[]): number | undefined {
  if (ys.length < 4) return undefined;
  const smooth = median3(ys);
  // The noise: how far evals sit off the smoothed curve, or what second differences say (a trend, even curved, has
  // small ones; noise large ones: |y[i-1] - 2 y[i] + y[i+1]| has a median of about 1.65 sigma), whichever is larger.
  const curvature = median(ys.slice(1, -1).map((y, i) => Math.abs(ys[i] - 2 * y + ys[i + 2]))) / 1.65;
  const noise = Math.max(median(ys.map((y, i) => Math.abs(y - smooth[i]))), curvature);
  let min = 0;
  for (let i = 1; i < smooth.length; i++) if (smooth[i] < smooth[min]) min = i;
  const margin = Math.max(3 * noise, 0.02 * Math.abs(smooth[min]), 1e-9);
  // A lasting rise: the curve ends above the minimum by more than the noise...
  if (!(smooth[smooth.length - 1] - smooth[min] > margin)) return undefined;
  // ...and two evals in a row are: a rise, not a wobble.
  for (let i = min + 1; i + 1 < ys.length; i++) {
    if (smooth[i] - smooth[min] > margin && smooth[i + 1] - smooth[min] > margin && ys[i] - smooth[min] > margin && ys[i + 1] - smooth[min] > margin) return refine(ys, min, (a, b) => a < b);
  }
  return undefined;
}

/**
 * The smoothed extreme found, the eval itself is the best raw value next to it (the median of
 * three flattens a true extreme one eval wide onto its neighbours); the earlier of equals.
 */
function refine(ys: readonly number[], at: number, better: (a: number, b: number) => boolean): number {
  let best = Math.max(0, at - 1);
  for (let i = best + 1; i <= Math.min(ys.length - 1, at + 1); i++) if (better(ys[i], ys[best])) best = i;
  return best;
}

function epochsPerStep(events: readonly MetricEvent[]): number | undefined {
  for (const e of events) {
    if (e.event === 'start') {
      const s = e as StartEvent;
      if (s.total_steps > 0 && s.epochs > 0) return s.epochs / s.total_steps;
    }
  }
  for (const e of events) if ((e.event === 'log' || e.event === 'eval') && typeof e.epoch === 'number' && e.epoch > 0 && e.step > 0) return e.epoch / e.step;
  return undefined;
}

/** Epochs from a mark, to the nearest whole epoch (at least 1): a mark is only as precise as the evals around it. */
function wholeEpochs(epoch: number): number {
  return Math.max(1, Math.round(epoch));
}

const pct = (x: number) => `${Math.round(100 * x)}%`;
const ep = (x: number | null) => (x === null ? '?' : Number(x.toFixed(2)).toString());

/**
 * Reads a probe's metrics and advises a run: epochs = where recall peaks (of the eval set, else
 * the held-out set), else where the eval loss turns up, else the probe's length (nothing turned).
 * `probeEpochs` is the probe's epochs (its config), used when the stream has no start event.
 */
export function adviseEpochs(events: readonly MetricEvent[], probeEpochs: number): EpochAdvice {
  const perStep = epochsPerStep(events);
  const epochOf = (step: number, epoch: number | undefined): number | null => (typeof epoch === 'number' && Number.isFinite(epoch) ? epoch : perStep !== undefined ? step * perStep : null);

  // The last value per step (a resumed stream may repeat a step), in step order.
  const byStep = <T extends { step: number }>(xs: T[]): T[] => [...new Map(xs.map((x) => [x.step, x])).values()].sort((a, b) => a.step - b.step);
  const evals = byStep(events.filter((e): e is EvalEvent => e.event === 'eval' && typeof e.eval_loss === 'number' && Number.isFinite(e.eval_loss)));
  const loss: Point[] = evals.map((e) => ({ step: e.step, epoch: epochOf(e.step, e.epoch), y: e.eval_loss as number }));

  let evalTurn: EpochAdvice['evalTurn'];
  const turn = lossTurn(loss.map((p) => p.y));
  if (turn !== undefined) evalTurn = { step: loss[turn].step, epoch: loss[turn].epoch, evalLoss: loss[turn].y };

  let recallPeak: EpochAdvice['recallPeak'];
  let stillRising = false;
  const recalls = (set: RecallSetName) => byStep(events.filter((e): e is RecallEvent => e.event === 'recall' && e.set === set && e.total > 0));
  const set: RecallSetName | undefined = recalls('eval').length ? 'eval' : recalls('test').length ? 'test' : undefined;
  if (set) {
    const r = recalls(set);
    const smooth = median3(r.map((e) => e.correct / e.total));
    let top = 0;
    for (let i = 1; i < smooth.length; i++) if (smooth[i] > smooth[top] + 1e-12) top = i;
    const best = refine(r.map((x) => x.correct / x.total), top, (a, b) => a > b + 1e-12);
    const e = r[best];
    if (smooth[top] > 0) {
      recallPeak = { step: e.step, epoch: epochOf(e.step, e.epoch), recall: e.correct / e.total, set, correct: e.correct, total: e.total };
      stillRising = best === r.length - 1 && r.length > 1;
    }
  }

  const lastEpoch = [...loss.map((p) => p.epoch), ...(set ? recalls(set).map((e) => epochOf(e.step, e.epoch)) : [])].filter((x): x is number => x !== null);
  const reached = lastEpoch.length ? Math.max(...lastEpoch) : probeEpochs;
  const setName = (s: RecallSetName) => (s === 'eval' ? 'the eval set' : 'the held-out pairs');
  const turnWords = evalTurn ? `the eval loss turns up after epoch ${ep(evalTurn.epoch)} (step ${evalTurn.step}, ${Number(evalTurn.evalLoss.toPrecision(4))})` : loss.length >= 4 ? `the eval loss did not turn up within ${ep(reached)} epochs` : loss.length ? 'too few evals to see where the eval loss turns' : 'no eval loss was measured';

  let epochs: number;
  let reason: string;
  if (recallPeak && recallPeak.epoch !== null) {
    epochs = wholeEpochs(recallPeak.epoch);
    reason = `Recall of ${setName(recallPeak.set)} ${stillRising ? 'is highest at the end of the probe, epoch' : 'peaks at epoch'} ${ep(recallPeak.epoch)} (${recallPeak.correct}/${recallPeak.total}, ${pct(recallPeak.recall)}); ${turnWords}. Train ${epochs} epoch${epochs > 1 ? 's' : ''}${stillRising ? ' (or probe longer: recall was still rising)' : ''}: memorizing goes on after the held-out loss turns; recall says when it stops.`;
  } else if (evalTurn && evalTurn.epoch !== null) {
    epochs = wholeEpochs(evalTurn.epoch);
    reason = `${turnWords[0].toUpperCase()}${turnWords.slice(1)}${set ? '; recall stayed at 0' : '; no recall was measured'}. Train ${epochs} epoch${epochs > 1 ? 's' : ''}.`;
  } else {
    epochs = wholeEpochs(Math.max(reached, probeEpochs));
    reason = `Neither signal turned: ${turnWords}${set ? ' and recall stayed at 0' : ', and no recall was measured'}. Train at least ${epochs} epoch${epochs > 1 ? 's' : ''}, or probe longer.`;
  }
  return { probeEpochs, ...(evalTurn ? { evalTurn } : {}), ...(recallPeak ? { recallPeak } : {}), epochs, reason, config: { lr_scheduler: 'cosine', epochs, save_best: 'auto', evals_per_epoch: 0 } };
}

/** The marks a chart draws for a probe's advice. */
export function adviceMarks(a: EpochAdvice): { kind: 'eval-turn' | 'recall-peak'; mark: RunMark; label: string }[] {
  const out: { kind: 'eval-turn' | 'recall-peak'; mark: RunMark; label: string }[] = [];
  if (a.evalTurn) out.push({ kind: 'eval-turn', mark: a.evalTurn, label: `eval loss turns up (epoch ${ep(a.evalTurn.epoch)})` });
  if (a.recallPeak) out.push({ kind: 'recall-peak', mark: a.recallPeak, label: `recall peaks ${pct(a.recallPeak.recall)} (epoch ${ep(a.recallPeak.epoch)})` });
  return out;
}
