import { ablationColumns, forgettingCell, type AblationRow, type AblationTable, type Score } from '../../core/eval';

/** A column the ablation table can be sorted by: 'score', 'label', 'kind', 'tag:<tag>' or 'setting:<key>'. */
export type SortKey = string;

export interface SortChoice {
  key: SortKey;
  label: string;
  description: string;
}

/** The columns of a table, in the order they are offered for sorting. */
export function sortChoices(table: AblationTable): SortChoice[] {
  return [
    { key: 'score', label: 'score', description: 'overall rate, best first' },
    ...table.tags.map((t) => ({ key: `tag:${t}`, label: t, description: `rate on questions tagged ${t}, best first` })),
    ...table.differing.map((k) => ({ key: `setting:${k}`, label: k, description: 'setting, ascending' })),
    { key: 'label', label: 'answer set', description: 'name, A to Z' },
    { key: 'kind', label: 'kind', description: 'base, run, API' },
  ];
}

function rate(s: Score | undefined): number {
  // A set with nothing graded on this tag sorts last.
  return s && s.graded ? s.rate : -1;
}

function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null || a === '') return 1;
  if (b === undefined || b === null || b === '') return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/** The rows sorted by `key`: rates best first (ties by interval's low end, then label), everything else ascending. */
export function sortRows(table: AblationTable, key: SortKey): AblationRow[] {
  const byLabel = (x: AblationRow, y: AblationRow) => x.meta.label.localeCompare(y.meta.label);
  const byScore = (sx: Score | undefined, sy: Score | undefined) => rate(sy) - rate(sx) || (sy?.low ?? 0) - (sx?.low ?? 0);
  const rows = [...table.rows];
  if (key === 'score') return rows.sort((x, y) => byScore(x.score.overall, y.score.overall) || byLabel(x, y));
  if (key.startsWith('tag:')) {
    const t = key.slice(4);
    return rows.sort((x, y) => byScore(x.score.byTag[t], y.score.byTag[t]) || byLabel(x, y));
  }
  if (key.startsWith('setting:')) {
    const k = key.slice(8);
    return rows.sort((x, y) => compareValues(x.settings[k], y.settings[k]) || byLabel(x, y));
  }
  if (key === 'kind') return rows.sort((x, y) => x.meta.kind.localeCompare(y.meta.kind) || byLabel(x, y));
  return rows.sort(byLabel);
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

function cell(s: Score | undefined): string {
  if (!s) return '';
  if (!s.graded) return s.total ? `${s.total} ungraded` : '';
  return `${s.correct}/${s.graded} (${pct(s.rate)}, ${pct(s.low)}–${pct(s.high)})`;
}

function escape(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The ablation report: every evaluated run and baseline, its scores per tag and the settings that differ, sorted by `key`. */
export function ablationReport(table: AblationTable, key: SortKey): string {
  const choice = sortChoices(table).find((c) => c.key === key) ?? sortChoices(table)[0];
  const out = ['# Ablation table', ''];
  if (!table.rows.length && !table.forgetting.length) {
    out.push('No answer sets yet. Run "Mnemo: Run Evaluation" on the base model, your runs and an API baseline; they appear here side by side.', '');
    return out.join('\n');
  }
  const questionFiles = [...new Set(table.rows.map((r) => r.meta.questionsPath))];
  out.push(
    `${table.rows.length} answer set${table.rows.length === 1 ? '' : 's'} on ${questionFiles.join(', ')}. Sorted by **${choice.label}** (${choice.description}); run "Mnemo: Open Ablation Table" again to sort by another column.`,
    '',
    'Scores are correct / graded answers with the rate and its 95% Wilson interval.',
    '',
  );
  const { head, scoreCols, leaks, cells } = ablationColumns(table, cell);
  out.push(`| ${head.map(escape).join(' | ')} |`, `|${head.map((_, i) => (i >= 2 && i < 2 + scoreCols ? ' ---: ' : ' --- ')).join('|')}|`);
  for (const r of sortRows(table, choice.key)) out.push(`| ${cells(r).map(escape).join(' | ')} |`);
  out.push('');
  if (leaks) out.push('**without leaked**: the score without the eval questions that near-duplicate a training question (the dataset split\'s similarity); they show memorized pairs, not recall.', '');
  if (table.forgetting.length) {
    out.push('## Forgetting (general knowledge: base model → run)', '', 'Mnemo\'s general-knowledge questions, which the base model answers right, asked again of each run ("Mnemo: Check Forgetting"). A regression is a question the run now gets wrong.', '');
    for (const f of table.forgetting) {
      out.push(`- **${escape(f.label)}**: ${forgettingCell(f)}`);
      for (const q of f.regressions) out.push(`  - ${escape(q.question)} — reference: ${escape(q.reference ?? '-')}; base: “${escape(q.baseAnswer.slice(0, 100))}”; run: “${escape(q.runAnswer.slice(0, 100))}”`);
    }
    out.push('');
  }
  if (!table.differing.length) out.push('All rows share the same settings (or only baselines were evaluated).', '');
  return out.join('\n');
}
