import type { BadLine, MetricEvent } from './protocol';

const EVENTS = new Set(['status', 'start', 'log', 'eval', 'checkpoint', 'done', 'error']);

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
  if ((ev.event === 'log' || ev.event === 'eval' || ev.event === 'checkpoint') && (typeof ev.step !== 'number' || !Number.isFinite(ev.step))) {
    return { reason: `${ev.event} event without a step` };
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
