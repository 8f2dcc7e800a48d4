import { resolve } from 'node:path';
import { scaffoldProject } from '../../core/project';
import type { CliCommand } from './types';

export const init: CliCommand = {
  name: 'init',
  summary: 'Create mnemo.json and the project folders (never overwrites a file).',
  help: 'npm run mnemo -- init --project DIR --context "Cairnrun rules"',
  options: { context: { type: 'string' } },
  run(values) {
    const root = resolve(String(values.project));
    const context = typeof values.context === 'string' && values.context.trim() ? values.context.trim() : undefined;
    if (!context) {
      console.error('init needs --context "<what the documents are about>", e.g. --context "Cairnrun rules".');
      return 2;
    }
    const r = scaffoldProject(root, context);
    console.log(`created: ${r.created.join(', ') || '(nothing)'}\nkept: ${r.kept.join(', ') || '(nothing)'}`);
  },
};
