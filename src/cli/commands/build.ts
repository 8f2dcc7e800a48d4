import { relative, resolve } from 'node:path';
import { buildProjectDataset, DATA_FILES, offlineWarning, summary } from '../../core/dataset';
import { Project } from '../../core/project';
import type { CliCommand } from './types';

export const build: CliCommand = {
  name: 'build',
  summary: 'Build the dataset: curated pairs -> data/train.jsonl, data/test.jsonl, the card and a report.',
  help: [
    'npm run mnemo -- build --project DIR [--report]',
    '',
    'Reads qa/**/*.qa and writes data/train.jsonl, data/test.jsonl, data/README.md (the dataset card)',
    'and data/report.md (what went in, what was left out and why). Settings: "dataset" in mnemo.json.',
    '  --report   also print the report',
  ].join('\n'),
  options: { report: { type: 'boolean' } },
  async run(values) {
    const project = Project.load(resolve(String(values.project)));
    const { build: built, written } = await buildProjectDataset(project);
    console.log(summary(built));
    const offline = offlineWarning(built.report);
    if (offline) console.log(`warning: ${offline}`);
    for (const f of written) console.log(`wrote ${relative(project.root, f)}`);
    if (values.report) console.log('\n' + built.files.get(DATA_FILES.report));
    const left = built.report.dropped.length + built.report.files.skipped.length;
    if (left) console.log(`Some pairs or files were left out: see data/${DATA_FILES.report}.`);
  },
};
