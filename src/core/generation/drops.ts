/**
 * What a sweep dropped, per prompt variant and temperature: the settings that produce the most
 * junk are what a user tunes. The sweep summary (CLI, extension) and data/report.md show it.
 */
import { isFilterReason } from './filters';
import { formatTemperature } from './plan';
import type { DropReason, JournalEntry } from './types';

/** The parser's reasons first, then the filters', in the order tables show them. */
export const DROP_REASONS: readonly DropReason[] = ['example-echo', 'vacuous', 'ungrounded', 'duplicate-in-answer', 'truncated', 'missing-answer', 'missing-question', 'stray-text', 'refusal', 'bad-json', 'empty'];

/** One variant x temperature of a sweep: pairs kept, and what was dropped by reason. */
export interface DropGroup {
  variant: string;
  temperature: number;
  /** Answers (finished requests) counted. */
  answers: number;
  /** Pairs kept (written to .qa files). */
  pairs: number;
  dropped: Partial<Record<DropReason, number>>;
}

/** Counts kept and dropped pairs per variant x temperature, as answers arrive. */
export class DropTally {
  private readonly groups = new Map<string, DropGroup>();

  add(variant: string, temperature: number, pairs: number, dropped: readonly { reason: DropReason }[]): void {
    const id = `${variant}\u0000${formatTemperature(temperature)}`;
    let g = this.groups.get(id);
    if (!g) this.groups.set(id, (g = { variant, temperature, answers: 0, pairs: 0, dropped: {} }));
    g.answers++;
    g.pairs += pairs;
    for (const d of dropped) g.dropped[d.reason] = (g.dropped[d.reason] ?? 0) + 1;
  }

  /** Groups by variant, then temperature. */
  groupsSorted(): DropGroup[] {
    return [...this.groups.values()].sort((a, b) => a.variant.localeCompare(b.variant) || a.temperature - b.temperature);
  }
}

/**
 * The drop table of a journal: the latest answer of each source x chunk x variant x temperature x
 * model (a regenerated chunk counts once, as it is now), skipping answers of chunks no longer in
 * `currentChunkIds` when that is given.
 */
export function journalDropGroups(entries: Iterable<JournalEntry>, currentChunkIds?: ReadonlySet<string>): DropGroup[] {
  const latest = new Map<string, JournalEntry>();
  for (const e of entries) {
    if (e.status !== 'done') continue;
    if (currentChunkIds && !currentChunkIds.has(e.chunkId)) continue;
    const id = JSON.stringify([e.source, e.chunk, e.variant, formatTemperature(e.temperature), e.model]);
    const prev = latest.get(id);
    if (!prev || prev.at <= e.at) latest.set(id, e);
  }
  const tally = new DropTally();
  for (const e of latest.values()) tally.add(e.variant, e.temperature, e.pairs?.length ?? 0, e.dropped ?? []);
  return tally.groupsSorted();
}

/** The reasons that occur in some group, in DROP_REASONS order. */
export function reasonsIn(groups: readonly DropGroup[]): DropReason[] {
  return DROP_REASONS.filter((r) => groups.some((g) => g.dropped[r]));
}

/** One line per group: "nuanced t=0.600: 41 pairs kept; dropped example-echo 12, vacuous 3". */
export function describeDropGroups(groups: readonly DropGroup[]): string[] {
  return groups.map((g) => {
    const dropped = DROP_REASONS.filter((r) => g.dropped[r]).map((r) => `${r} ${g.dropped[r]}`);
    return `${g.variant} t=${formatTemperature(g.temperature)}: ${g.pairs} pair${g.pairs === 1 ? '' : 's'} kept; ${dropped.length ? `dropped ${dropped.join(', ')}` : 'nothing dropped'}`;
  });
}

/** "filters dropped 12 pairs (example-echo 9, vacuous 3); the parser dropped 2 fragments (truncated 2)", or "" when nothing was dropped. */
export function describeDropTotals(byReason: Partial<Record<DropReason, number>>): string {
  const part = (filter: boolean, what: string, unit: string) => {
    const reasons = DROP_REASONS.filter((r) => isFilterReason(r) === filter && byReason[r]);
    const n = reasons.reduce((s, r) => s + (byReason[r] ?? 0), 0);
    return n ? `${what} ${n} ${unit}${n === 1 ? '' : 's'} (${reasons.map((r) => `${r} ${byReason[r]}`).join(', ')})` : '';
  };
  return [part(true, 'filters dropped', 'pair'), part(false, 'the parser dropped', 'fragment')].filter(Boolean).join('; ');
}

/** A Markdown table: a row per variant x temperature, a column per reason that occurs. */
export function dropGroupsMarkdown(groups: readonly DropGroup[]): string[] {
  const reasons = reasonsIn(groups);
  const head = ['variant', 'temperature', 'answers', 'pairs kept', ...reasons];
  const rows = groups.map((g) => [g.variant, formatTemperature(g.temperature), String(g.answers), String(g.pairs), ...reasons.map((r) => String(g.dropped[r] ?? 0))]);
  const total = ['**all**', '', String(sum(groups, (g) => g.answers)), String(sum(groups, (g) => g.pairs)), ...reasons.map((r) => String(sum(groups, (g) => g.dropped[r] ?? 0)))];
  return [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`, ...[...rows, total].map((r) => `| ${r.join(' | ')} |`)];
}

function sum<T>(xs: readonly T[], f: (x: T) => number): number {
  return xs.reduce((s, x) => s + f(x), 0);
}
