/** The files of a built dataset: JSONL splits, optional CSV, the dataset card and the build report. */
import { basename } from 'node:path';
import { dropGroupsMarkdown } from '../generation/drops';
import { MESSAGE_OVERHEAD, ROW_OVERHEAD } from './build';
import type { ChatRow, DatasetReport, RowStats } from './types';

export const DATA_FILES = { train: 'train.jsonl', test: 'test.jsonl', trainCsv: 'train.csv', testCsv: 'test.csv', card: 'README.md', report: 'report.md' } as const;

export function toJsonl(rows: readonly ChatRow[]): string {
  return rows.map((r) => JSON.stringify(r) + '\n').join('');
}

/** One CSV field, quoted when it must be (RFC 4180: quotes doubled; commas, quotes and line ends force quoting). */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The method's original layout: a single `messages` column holding each row's messages as JSON. */
export function toCsv(rows: readonly ChatRow[]): string {
  return ['messages', ...rows.map((r) => csvField(JSON.stringify(r.messages)))].join('\r\n') + '\r\n';
}

/** The Hub's size category for a row count. */
export function sizeCategory(n: number): string {
  if (n < 1_000) return 'n<1K';
  if (n < 10_000) return '1K<n<10K';
  if (n < 100_000) return '10K<n<100K';
  if (n < 1_000_000) return '100K<n<1M';
  return '1M<n<10M';
}

/** A YAML scalar: plain when safe, otherwise double-quoted (JSON strings are valid YAML). */
function yaml(value: string): string {
  return /^[A-Za-z0-9][\w .\-/<>]*$/.test(value) && !/[:#]/.test(value) && !/^(true|false|null|yes|no|on|off)$/i.test(value) ? value : JSON.stringify(value);
}

/** The dataset card: the Hub's YAML metadata, then what the data is and how it was made. */
export function datasetCard(report: DatasetReport, options: { language?: string; csv: boolean }): string {
  const s = report.settings;
  const rows = report.train.rows + report.test.rows;
  const y: string[] = ['---', `pretty_name: ${yaml(s.context || s.name)}`, `license: ${yaml(s.license)}`];
  if (options.language) y.push('language:', `- ${options.language}`);
  y.push('task_categories:', '- question-answering', '- text-generation');
  y.push('tags:', '- mnemo', '- synthetic', '- memorization', '- conversational');
  y.push('size_categories:', `- ${sizeCategory(rows)}`);
  y.push('configs:', '- config_name: default', '  data_files:', '  - split: train', `    path: ${DATA_FILES.train}`, '  - split: test', `    path: ${DATA_FILES.test}`);
  y.push('---');

  const gen = report.generation;
  const list = (xs: string[]) => (xs.length ? xs.map((x) => `\`${x}\``).join(', ') : '(not recorded)');
  const body: string[] = [
    `# ${s.context || s.name}`,
    '',
    `Chat rows for fine-tuning a model to answer questions about ${s.context ? `*${s.context}*` : 'its source documents'} from memory, made with Mnemo from synthetic question–answer pairs that were curated by hand.`,
    '',
    '## Format',
    '',
    `Each line of \`${DATA_FILES.train}\` and \`${DATA_FILES.test}\` is one row in the "messages" format: ${s.systemPrompt ? 'a system message, then ' : ''}up to ${s.turnsPerRow} user/assistant turns, each a standalone question and its answer.`,
    `Rows are at most ${s.rowTokenBudget} tokens (\`${s.tokenizer}\`, counting ${MESSAGE_OVERHEAD} tokens of chat formatting per message and ${ROW_OVERHEAD} per row).`,
  ];
  if (report.sourceRows) body.push(`${report.sourceRows} training rows ask for a passage of a source document and answer with its text.`);
  if (options.csv) body.push(`\`${DATA_FILES.trainCsv}\` and \`${DATA_FILES.testCsv}\` hold the same rows as a single \`messages\` column of JSON.`);
  body.push(
    '',
    '## Splits',
    '',
    '| split | rows | pairs | tokens per row (min / median / max) |',
    '|---|---:|---:|---|',
    splitLine('train', report.train),
    splitLine('test', report.test),
    '',
    `Questions that are near-duplicates of each other (${report.groups.count} groups) are kept on the same side of the split, so the test split measures recall of facts, not of reworded twins. Split seed: ${s.seed}; test fraction: ${s.testFraction}.`,
    '',
    '## Source documents',
    '',
  );
  if (report.sources.length) {
    body.push('| document | sha256 |', '|---|---|');
    for (const d of report.sources) body.push(`| ${mdCell(basename(d.path))} | ${d.sha256 ? `\`${d.sha256}\`` : '(not readable)'} |`);
  } else body.push('(none recorded)');
  body.push(
    '',
    '## Generation',
    '',
    `- Prompt variants: ${list(gen.variants)}`,
    `- Temperatures: ${list(gen.temperatures)}`,
    `- Models: ${list(gen.models)}`,
    `- Pairs read: ${report.pairsIn}; exact duplicates removed: ${report.dropped.filter((d) => d.reason === 'duplicate').length}; pairs too long for a row: ${report.dropped.filter((d) => d.reason === 'over-budget').length}`,
    '',
  );
  return y.join('\n') + '\n\n' + body.join('\n');
}

/** A warning when the dataset holds offline (low-quality) pairs, else undefined. */
export function offlineWarning(report: DatasetReport): string | undefined {
  const o = report.offline;
  if (!o.pairs) return undefined;
  const total = report.train.pairs + report.test.pairs;
  return `${o.pairs} of ${total} pairs come from the offline generator (${o.files.length} file${o.files.length === 1 ? '' : 's'}): cloze statements made without a model, a low-quality fallback to try the workflow. Generate pairs with a model (or reject the offline files' pairs) before training a model you mean to use.`;
}

function splitLine(name: string, r: RowStats): string {
  return `| ${name} | ${r.rows} | ${r.pairs} | ${r.tokens.min} / ${r.tokens.median} / ${r.tokens.max} |`;
}

function mdCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The build report: what went in, what came out, and everything that was left out and why. */
export function reportMarkdown(report: DatasetReport): string {
  const s = report.settings;
  const dups = report.dropped.filter((d) => d.reason === 'duplicate');
  const over = report.dropped.filter((d) => d.reason === 'over-budget');
  const out: string[] = [
    `# Dataset report: ${s.name}`,
    '',
    `Settings: ${s.turnsPerRow} turns per row, ${s.rowTokenBudget} tokens per row (${s.tokenizer}), test fraction ${s.testFraction}, seed ${s.seed}${s.systemPrompt ? ', with a system prompt' : ''}${s.sourceTextRatio ? `, source text ratio ${s.sourceTextRatio}` : ''}.`,
    '',
    '## Rows',
    '',
    '| split | rows | pairs | tokens per row (min / median / max) | tokens |',
    '|---|---:|---:|---|---:|',
    `| train | ${report.train.rows} | ${report.train.pairs} | ${report.train.tokens.min} / ${report.train.tokens.median} / ${report.train.tokens.max} | ${report.train.tokens.total} |`,
    `| test | ${report.test.rows} | ${report.test.pairs} | ${report.test.tokens.min} / ${report.test.tokens.median} / ${report.test.tokens.max} | ${report.test.tokens.total} |`,
    '',
    `- .qa files read: ${report.files.read}; pairs read: ${report.pairsIn}; pairs in the dataset: ${report.train.pairs + report.test.pairs}.`,
    `- Near-duplicate groups: ${report.groups.count} (largest: ${report.groups.largest} pair${report.groups.largest === 1 ? '' : 's'}); each group is on one side of the split.`,
  ];
  if (s.sourceTextRatio) out.push(`- Source-text rows (train): ${report.sourceRows}${report.sourceRowsNote ? ` (${report.sourceRowsNote})` : ''}.`);
  if (report.offline.pairs) {
    out.push('', '## Low-quality pairs', '', `**Warning:** ${offlineWarning(report)}`, '', ...report.offline.files.map((f) => `- ${f}`));
  }
  out.push('', '## Left out', '');
  if (!report.files.skipped.length && !report.dropped.length && !report.files.problems.length) out.push('Nothing: every active pair is in the dataset.', '');
  if (report.files.skipped.length) {
    out.push(`### Files not read (${report.files.skipped.length})`, '');
    for (const f of report.files.skipped) out.push(`- \`${f.file}\`: ${f.reason}`);
    out.push('');
  }
  if (report.files.problems.length) {
    const ps = report.files.problems;
    out.push(`### Problems in .qa files (${ps.length})`, '', 'These keep a pair out until fixed (the Problems view shows them too).', '');
    for (const p of ps.slice(0, 200)) out.push(`- \`${p.file}:${p.line + 1}\`: ${mdCell(p.message)}`);
    if (ps.length > 200) out.push(`- … and ${ps.length - 200} more`);
    out.push('');
  }
  if (over.length) {
    out.push(`### Pairs longer than a row (${over.length})`, '', `Each needs more than ${s.rowTokenBudget} tokens in a row of its own; shorten the answer or raise \`dataset.rowTokenBudget\` in mnemo.json. They were not cut.`, '');
    for (const d of over) out.push(`- \`${d.pair.file}:${d.pair.line + 1}\` (${d.tokens} tokens): ${mdCell(short(d.pair.question))}`);
    out.push('');
  }
  if (dups.length) {
    out.push(`### Exact duplicates removed (${dups.length})`, '', 'Same question and answer (case, spacing and punctuation aside) as a pair kept earlier.', '');
    for (const d of dups.slice(0, 200)) out.push(`- \`${d.pair.file}:${d.pair.line + 1}\` duplicates \`${d.keptFile}:${(d.keptLine ?? 0) + 1}\`: ${mdCell(short(d.pair.question))}`);
    if (dups.length > 200) out.push(`- … and ${dups.length - 200} more`);
    out.push('');
  }
  if (report.generationDrops?.length) {
    out.push(
      '## Dropped during generation',
      '',
      'Pairs the sweeps did not write, per prompt variant and temperature (the latest answer of each chunk, from `.mnemo/generation/journal.jsonl`, where every dropped pair is kept with its reason). `example-echo`, `vacuous`, `ungrounded` and `duplicate-in-answer` are the pair filters (`generation.filters` in mnemo.json); the other columns are fragments the parser could not read as a pair.',
      '',
      ...dropGroupsMarkdown(report.generationDrops),
      '',
    );
  }
  out.push('## Coverage', '');
  if (!report.coverage.length) out.push('No source information in the .qa files.');
  for (const c of report.coverage) {
    const counts = [...c.pairsPerChunk.values()].sort((a, b) => a - b);
    const chunksWith = c.pairsPerChunk.size;
    const of = c.chunkCount !== undefined ? ` of ${c.chunkCount}` : '';
    out.push(`### ${c.source}`, '');
    out.push(`- Chunks with pairs: ${chunksWith}${of}; pairs per chunk (min / median / max): ${counts.length ? `${counts[0]} / ${counts[Math.floor((counts.length - 1) / 2)]} / ${counts[counts.length - 1]}` : '-'}.`);
    if (c.chunkCount === undefined) out.push('- Chunks with no pair: unknown (the source\'s chunks were not available).');
    else out.push(`- Chunks with no pair: ${c.uncovered.length ? c.uncovered.join(', ') : 'none'}.`);
    if (c.withoutChunk) out.push(`- Pairs without \`@chunk\`: ${c.withoutChunk}.`);
    out.push('');
  }
  return out.join('\n').replace(/\n+$/, '\n');
}

function short(text: string, n = 100): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length > n ? one.slice(0, n - 1) + '…' : one;
}
