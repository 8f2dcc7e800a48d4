import type { BadLine, MetricEvent, RecallAnswer, RecallCount, RecallEvent } from './protocol';

const EVENTS = new Set(['status', 'start', 'log', 'eval', 'recall', 'checkpoint', 'done', 'error']);

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/**
 * Checks a recall event: its counts must make sense (else the line is bad, with why). Malformed
 * entries of `answers` and `by_tag` are left out and counted in `dropped`; the rest is kept.
 */
function checkRecall(ev: Record<string, unknown>): string | undefined {
  if (ev.set !== 'eval' && ev.set !== 'test') return `recall event with an unknown set ${JSON.stringify(ev.set)} (expected "eval" or "test")`;
  if (!isCount(ev.correct) || !isCount(ev.total) || ev.correct > ev.total) return 'recall event without whole counts (correct <= total)';
  let dropped = 0;
  if (ev.by_tag !== undefined) {
    if (!ev.by_tag || typeof ev.by_tag !== 'object' || Array.isArray(ev.by_tag)) return 'recall event whose by_tag is not an object';
    const tags: Record<string, RecallCount> = {};
    for (const [tag, c] of Object.entries(ev.by_tag as Record<string, unknown>)) {
      const count = c as Partial<RecallCount> | null;
      if (tag && count && typeof count === 'object' && isCount(count.correct) && isCount(count.total) && count.correct <= count.total) tags[tag] = { correct: count.correct, total: count.total };
      else dropped++;
    }
    ev.by_tag = tags;
  }
  if (ev.answers !== undefined) {
    if (!Array.isArray(ev.answers)) return 'recall event whose answers are not a list';
    const answers: RecallAnswer[] = [];
    for (const a of ev.answers as unknown[]) {
      const x = a as Partial<RecallAnswer> | null;
      if (x && typeof x === 'object' && typeof x.id === 'string' && x.id && typeof x.answer === 'string') answers.push(x as RecallAnswer);
      else dropped++;
    }
    ev.answers = answers;
  }
  if (dropped) (ev as Partial<RecallEvent>).dropped = dropped;
  return undefined;
}

/**
 * Parses one line of the metrics protocol. Python's json module writes NaN/Infinity as bare
 * literals, which JSON.parse refuses: they are read as null (a gap in the chart), and the event
 * is marked `nonFinite` so views can flag it.
 */
export function parseMetricLine(text: string): { event?: MetricEvent & { nonFinite?: boolean }; reason?: string } {
  const trimmed = text.trim();
  if (!trimmed) return { reason: 'empty line' };
  let value: unknown;
  let nonFinite = false;
  try {
    value = JSON.parse(trimmed);
  } catch {
    // Bare NaN / Infinity / -Infinity outside strings.
    const replaced = trimmed.replace(/("(?:[^"\\]|\\.)*")|-?\b(?:NaN|Infinity)\b/g, (_m, str: string | undefined) => (str ? str : 'null'));
    if (replaced === trimmed) return { reason: 'not JSON' };
    try {
      value = JSON.parse(replaced);
      nonFinite = true;
    } catch {
      return { reason: 'not JSON' };
    }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { reason: 'not a JSON object' };
  const ev = value as Record<string, unknown>;
  if (typeof ev.event !== 'string' || !EVENTS.has(ev.event)) return { reason: `unknown event ${JSON.stringify(ev.event)}` };
  if ((ev.event === 'log' || ev.event === 'eval' || ev.event === 'recall' || ev.event === 'checkpoint') && (typeof ev.step !== 'number' || !Number.isFinite(ev.step))) {
    return { reason: `${ev.event} event without a step` };
  }
  if (ev.event === 'recall') {
    const why = checkRecall(ev);
    if (why) return { reason: why };
  }
  for (const key of ['loss', 'eval_loss', 'lr', 'grad_norm']) {
    if (key in ev && ev[key] === null) nonFinite = true;
  }
  const out = ev as unknown as MetricEvent & { nonFinite?: boolean };
  if (nonFinite) out.nonFinite = true;
  return { event: out };
}

/** Parses a whole metrics text; a last line without its newline is incomplete and left out. */
export function parseMetricLines(text: string, firstLine = 1): { events: MetricEvent[]; bad: BadLine[]; rest: string } {
  const events: MetricEvent[] = [];
  const bad: BadLine[] = [];
  const end = text.lastIndexOf('\n');
  const complete = end < 0 ? '' : text.slice(0, end);
  const rest = end < 0 ? text : text.slice(end + 1);
  if (complete) {
    complete.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      const r = parseMetricLine(line);
      if (r.event) events.push(r.event);
      else bad.push({ line: firstLine + i, text: line.length > 200 ? line.slice(0, 200) + '…' : line, reason: r.reason ?? 'bad line' });
    });
  }
  return { events, bad, rest };
}

/**
 * Incremental reader of a growing metrics stream: feed it bytes as they arrive (from a local file
 * or a remote tail) and it hands back whole events, holding a partial last line until its newline
 * comes. `offset` counts the bytes consumed up to the last complete line, so a reader restarted
 * at `offset` neither loses nor doubles a line.
 */
export class MetricsReader {
  private pending: Buffer = Buffer.alloc(0);
  private line = 1;
  /** Bytes of the stream up to and including the last complete line. */
  offset: number;

  constructor(offset = 0) {
    this.offset = offset;
  }

  push(chunk: Buffer | string): { events: MetricEvent[]; bad: BadLine[] } {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.pending = this.pending.length ? Buffer.concat([this.pending, buf]) : buf;
    const end = this.pending.lastIndexOf(0x0a);
    if (end < 0) return { events: [], bad: [] };
    const complete = this.pending.subarray(0, end + 1);
    this.pending = Buffer.from(this.pending.subarray(end + 1));
    this.offset += complete.length;
    const text = complete.toString('utf8');
    const r = parseMetricLines(text, this.line);
    this.line += (text.match(/\n/g) ?? []).length;
    return { events: r.events, bad: r.bad };
  }

  /** The bytes of an unfinished last line, if any. */
  get partial(): string {
    return this.pending.toString('utf8');
  }
}
