/** Comparing answer sets: question by question (for diffs), and all runs side by side (ablations). */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Project } from '../project';
import { RUN_FILES } from '../training/protocol';
import { normalizeText } from './match';
import { scoreAnswerSet } from './score';
import { listAnswerSets, readAnswerSet } from './store';
import type { AblationRow, AblationTable, AnswerRecord, AnswerSet, AnswerSetEntry, AnswerSetMeta, Change, Comparison, ComparisonRow, ForgettingRow, Score } from './types';

function changeOf(a: AnswerRecord | undefined, b: AnswerRecord | undefined): Change {
  if (!a) return 'only-b';
  if (!b) return 'only-a';
  const x = a.verdict.correct;
  const y = b.verdict.correct;
  if (x === null || y === null) return 'ungraded';
  if (x && y) return 'both-correct';
  if (!x && !y) return 'both-wrong';
  return y ? 'fixed' : 'broken';
}

/** Question by question: what moved from set a (before) to set b (after). */
export function compareAnswerSets(a: AnswerSet, b: AnswerSet): Comparison {
  const inB = new Map(b.answers.map((x) => [x.questionId, x]));
  const rows: ComparisonRow[] = [];
  const row = (x: AnswerRecord | undefined, y: AnswerRecord | undefined): ComparisonRow => {
    const q = (x ?? y)!;
    return {
      questionId: q.questionId,
      question: q.question,
      reference: q.reference,
      tags: q.tags,
      a: x,
      b: y,
      change: changeOf(x, y),
      answerChanged: !!x && !!y && normalizeText(x.answer) !== normalizeText(y.answer),
    };
  };
  for (const x of a.answers) rows.push(row(x, inB.get(x.questionId)));
  const inA = new Set(a.answers.map((x) => x.questionId));
  for (const y of b.answers) if (!inA.has(y.questionId)) rows.push(row(undefined, y));
  const counts = { fixed: 0, broken: 0, 'both-correct': 0, 'both-wrong': 0, ungraded: 0, 'only-a': 0, 'only-b': 0 } as Record<Change, number>;
  for (const r of rows) counts[r.change]++;
  return { a: a.meta, b: b.meta, rows, counts, scoreA: scoreAnswerSet(a), scoreB: scoreAnswerSet(b) };
}

function verdictWord(a: AnswerRecord): string {
  const v = a.verdict;
  const what = v.correct === null ? 'ungraded' : v.correct ? 'correct' : 'wrong';
  if (v.by === 'user') {
    // The user's own verdict: what it overrules says more than its reason ("set by the user").
    const auto = v.auto && v.auto.correct !== null && v.auto.correct !== v.correct ? `; the ${v.auto.by} said ${v.auto.correct ? 'correct' : 'wrong'}` : '';
    return `${what} (user${auto})`;
  }
  return `${what} (${v.by}${v.reason ? `: ${v.reason.replace(/\s+/g, ' ')}` : ''})`;
}

function block(text: string, marker: 'Q' | 'A'): string[] {
  // Continuation lines that would read as markers or metadata are indented so the .qa reads back the same.
  // Blank lines would end the pair: an answer's paragraphs are joined (the diff shows the words).
  const lines = text.replace(/\r\n?/g, '\n').replace(/\n\s*\n/g, '\n').split('\n');
  return lines.map((l, i) => (i === 0 ? `${marker}: ${l}` : /^(Q:|A:|@|#)/.test(l) ? `  ${l}` : l));
}

/**
 * An answer set as a read-only `.qa` text for diffs: a header comment with what answered and the
 * score, then per question (in the set's order, or `order` when given so two sets line up) the
 * reference and the verdict as comments, the question and the model's answer. Questions missing
 * from the set get a comment line in their place.
 */
export function answerSetToQa(set: AnswerSet, order?: string[]): string {
  const score = scoreAnswerSet(set).overall;
  const m = set.meta;
  const out: string[] = [
    `# ${m.label}`,
    `# ${m.kind}${m.runId ? ` ${m.runId}` : ''} · model ${m.model}${m.context && m.context !== 'none' ? ` · context ${m.context}` : ''} · graded by ${m.grading}`,
    `# score ${score.correct}/${score.graded}${score.ungraded ? ` (${score.ungraded} ungraded)` : ''}`,
    '',
  ];
  const byId = new Map(set.answers.map((a) => [a.questionId, a]));
  for (const id of order ?? set.answers.map((a) => a.questionId)) {
    const a = byId.get(id);
    if (!a) {
      out.push(`# (question ${id} is not in this set)`, '');
      continue;
    }
    out.push(`@id: ${a.questionId}`);
    out.push(`# reference: ${(a.reference ?? '(none)').replace(/\s*\n\s*/g, ' ')}`);
    out.push(`# verdict: ${verdictWord(a)}${a.error ? ` · error: ${a.error}` : ''}`);
    out.push(...block(a.question, 'Q'));
    out.push(...block(a.answer || '(no answer)', 'A'));
    out.push('');
  }
  return out.join('\n');
}

type Flat = Record<string, string | number | boolean | null>;

function flatten(value: unknown, prefix: string, out: Flat): void {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    out[prefix] = value;
  } else if (Array.isArray(value)) {
    out[prefix] = value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(',');
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  }
}

/** Keys of run.json that describe a run's settings (not its state). */
const RUN_SETTING_KEYS = ['config', 'dataset', 'label'] as const;
/** Config keys that name files or places, not settings worth comparing. */
const IGNORED = /^(train_file|eval_file|output_dir|push_to_hub|hub_private|logging_steps|eval_steps|save_best)$|sha256$/;

function runSettings(project: Project, runId: string): Flat {
  const out: Flat = {};
  const file = join(project.runsDir, runId, RUN_FILES.record);
  if (!existsSync(file)) return out;
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    for (const key of RUN_SETTING_KEYS) {
      if (record[key] === undefined) continue;
      if (key === 'config') flatten(record[key], '', out);
      else flatten(record[key], key, out);
    }
  } catch {
    // A run.json being written or damaged: the row still shows its scores.
  }
  for (const k of Object.keys(out)) if (IGNORED.test(k)) delete out[k];
  return out;
}

function baselineSettings(meta: AnswerSetMeta): Flat {
  const out: Flat = { model: meta.model };
  if (meta.context) out.context = meta.context;
  if (meta.topK) out.top_k = meta.topK;
  return out;
}

/**
 * Every evaluated run and baseline side by side: score overall and per tag, and the settings of
 * each run (its training config and dataset); `differing` lists the settings that vary.
 */
export function ablationTable(project: Project, onProblem?: (path: string, message: string) => void): AblationTable {
  const entries = listAnswerSets(project, onProblem);
  const rows: AblationRow[] = entries.filter((e) => e.meta.purpose !== 'forgetting').map((e) => ({
    path: e.path,
    meta: e.meta,
    score: e.score,
    settings: e.meta.kind === 'run' && e.meta.runId ? runSettings(project, e.meta.runId) : baselineSettings(e.meta),
  }));
  const keys = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r.settings)) keys.add(k);
  // A setting differs when rows that have it disagree, or when some runs have it and others do not
  // (baselines have no training settings: their absence is not a difference).
  const runs = rows.filter((r) => r.meta.kind === 'run');
  const differing = [...keys]
    .filter((k) => {
      const values = new Set(rows.filter((r) => r.settings[k] !== undefined).map((r) => JSON.stringify(r.settings[k])));
      return values.size > 1 || (runs.some((r) => r.settings[k] !== undefined) && runs.some((r) => r.settings[k] === undefined));
    })
    .sort();
  const tags = [...new Set(rows.flatMap((r) => Object.keys(r.score.byTag)))].sort();
  return { rows, forgetting: forgettingRows(project, entries, onProblem), differing, tags };
}

/**
 * The forgetting check of every run that has one: its general-knowledge set against the base
 * model's (the base set whose model is the run's config.model), regressions per question.
 */
export function forgettingRows(project: Project, entries: AnswerSetEntry[], onProblem?: (path: string, message: string) => void): ForgettingRow[] {
  const forgetting = entries.filter((e) => e.meta.purpose === 'forgetting');
  const bases = new Map(forgetting.filter((e) => e.meta.kind === 'base').map((e) => [e.meta.model, e]));
  const out: ForgettingRow[] = [];
  for (const e of forgetting.filter((x) => x.meta.kind === 'run' && x.meta.runId)) {
    const runId = e.meta.runId!;
    const model = runSettings(project, runId).model;
    // As runBaseModel (index.ts) resolves it: a relative folder is relative to the project.
    const baseEntry = typeof model === 'string' ? bases.get(model.startsWith('.') ? resolve(project.root, model) : model) : undefined;
    try {
      const run = readAnswerSet(e.path);
      const row: ForgettingRow = { runId, label: e.meta.label, path: e.path, after: e.score.overall, regressions: [] };
      if (baseEntry) {
        const base = readAnswerSet(baseEntry.path);
        const cmp = compareAnswerSets(base, run);
        row.basePath = baseEntry.path;
        row.before = baseEntry.score.overall;
        row.drop = Math.round((row.before.rate - row.after.rate) * 1000) / 10;
        row.regressions = cmp.rows.filter((r) => r.change === 'broken').map((r) => ({ questionId: r.questionId, question: r.question, reference: r.reference, baseAnswer: r.a?.answer ?? '', runAnswer: r.b?.answer ?? '' }));
      }
      out.push(row);
    } catch (err) {
      onProblem?.(e.path, err instanceof Error ? err.message : String(err));
    }
  }
  return out;
}

/** The ablation table as Markdown, sorted by overall rate (best first). */
/**
 * The ablation table's columns, one layout for every renderer (the CLI's Markdown, the editor's
 * report): the header, how many score columns follow the label and kind, and each row's cells, its
 * scores written by `cell`.
 */
export function ablationColumns(
  table: AblationTable,
  cell: (s: Score | undefined) => string,
): { head: string[]; scoreCols: number; leaks: boolean; cells: (r: AblationRow) => string[] } {
  const leaks = table.rows.some((r) => r.score.leaked > 0);
  const forgetting = new Map(table.forgetting.map((f) => [f.runId, f]));
  const head = ['answer set', 'kind', 'score', ...(leaks ? ['without leaked'] : []), ...table.tags, ...(forgetting.size ? ['forgetting'] : []), ...table.differing];
  const cells = (r: AblationRow): string[] => {
    const f = r.meta.runId ? forgetting.get(r.meta.runId) : undefined;
    return [
      r.meta.label,
      r.meta.kind,
      cell(r.score.overall),
      ...(leaks ? [r.score.withoutLeaks ? `${cell(r.score.withoutLeaks)} (${r.score.leaked} left out)` : cell(r.score.overall)] : []),
      ...table.tags.map((t) => cell(r.score.byTag[t])),
      ...(forgetting.size ? [f ? forgettingCell(f) : ''] : []),
      ...table.differing.map((k) => String(r.settings[k] ?? '')),
    ];
  };
  return { head, scoreCols: 1 + (leaks ? 1 : 0) + table.tags.length, leaks, cells };
}

export function ablationMarkdown(table: AblationTable): string {
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const cell = (s: { correct: number; graded: number; low: number; high: number } | undefined) => (s ? `${s.correct}/${s.graded} [${pct(s.low)}–${pct(s.high)}]` : '');
  const rows = [...table.rows].sort((x, y) => y.score.overall.rate - x.score.overall.rate);
  const { head, leaks, cells } = ablationColumns(table, cell);
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${cells(r).map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
  if (leaks) lines.push('', '"without leaked": the score without the eval questions that near-duplicate a training question (the dataset split\'s similarity).');
  if (table.forgetting.length) {
    lines.push('', '### Forgetting (general knowledge, base model → run)', '');
    for (const f of table.forgetting) {
      lines.push(`- ${f.label}: ${forgettingCell(f)}`);
      for (const q of f.regressions) lines.push(`  - ${q.question} (reference: ${q.reference ?? '-'}) — base: "${oneLine(q.baseAnswer)}"; run: "${oneLine(q.runAnswer)}"`);
    }
  }
  return lines.join('\n') + '\n';
}

function oneLine(text: string, max = 120): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** "2 regressions (55/55 → 53/55, -3.6 points)", or the run's score alone without the base model's answers. */
export function forgettingCell(f: ForgettingRow): string {
  if (!f.before || f.drop === undefined) return `${f.after.correct}/${f.after.graded} (no base answers to compare)`;
  const n = f.regressions.length;
  return `${n ? `${n} regression${n === 1 ? '' : 's'}` : 'no regression'} (${f.before.correct}/${f.before.graded} → ${f.after.correct}/${f.after.graded}, ${f.drop > 0 ? '-' : f.drop < 0 ? '+' : '±'}${Math.abs(f.drop)} points)`;
}
