import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cancelRun, deleteRun, downloadRun, listBrokenRuns, listRuns, RUN_FILES, type RunRecord } from '../../core/training';
import { parseMetricLines } from '../../core/training/metrics';
import { describeRecall } from '../../core/training/protocol';
import { latestRecall, readRecallFile } from '../../core/training/recall';
import { loadProject } from './shared';
import { cliHooks, sshOptions } from './train';
import type { CliCommand } from './types';

/** What a run's metrics add up to: last step of how many, last losses. */
export function progress(file: string, recallFile?: string): { step?: number; total?: number; loss?: number | null; evalLoss?: number | null; recall?: string } {
  if (!existsSync(file)) return {};
  const out: ReturnType<typeof progress> = {};
  const events = parseMetricLines(readFileSync(file, 'utf8')).events;
  // The latest recall, graded with the core's rule (the Runs view shows the same line).
  const recall = describeRecall(latestRecall(events, recallFile ? readRecallFile(recallFile)?.questions : undefined));
  if (recall) out.recall = recall;
  for (const ev of events) {
    if (ev.event === 'start') out.total = ev.total_steps;
    if (ev.event === 'log') {
      out.step = ev.step;
      out.loss = ev.loss;
    }
    if (ev.event === 'eval') out.evalLoss = ev.eval_loss;
  }
  return out;
}

function where(r: RunRecord): string {
  return r.target.kind === 'local' ? 'local' : r.target.host;
}

export const runs: CliCommand = {
  name: 'runs',
  summary: 'List training runs (state, target, step, losses); cancel, download or delete one.',
  help: [
    'npm run mnemo -- runs --project DIR [--json]',
    'npm run mnemo -- runs --project DIR --cancel ID | --download ID | --delete ID [--remote]',
    '',
    'Lists runs/*/run.json, newest first. --cancel stops a run\'s whole process group on its target;',
    '--download copies its output/ and train.log; --delete removes runs/ID (and with --remote its folder',
    'on the host). SSH options as for `train`: --ssh-config, --known-hosts, --trust-host-key.',
  ].join('\n'),
  options: {
    json: { type: 'boolean' },
    cancel: { type: 'string' },
    download: { type: 'string' },
    delete: { type: 'string' },
    remote: { type: 'boolean' },
    'ssh-config': { type: 'string' },
    'known-hosts': { type: 'string' },
    'trust-host-key': { type: 'string' },
  },
  async run(values) {
    const project = loadProject(values);
    const opts = { hooks: cliHooks(values), ssh: sshOptions(values) };
    if (typeof values.cancel === 'string') {
      const r = await cancelRun(project, values.cancel, opts);
      console.log(`Run ${r.id}: ${r.state}.`);
      return r.state === 'cancelled' ? 0 : 1;
    }
    if (typeof values.download === 'string') {
      const r = await downloadRun(project, values.download, opts);
      console.log(`Run ${r.id}: outputs in runs/${r.id}/${RUN_FILES.output}.`);
      return 0;
    }
    if (typeof values.delete === 'string') {
      await deleteRun(project, values.delete, { ...opts, remote: !!values.remote });
      console.log(`Deleted run ${values.delete}${values.remote ? ' (and its folder on the host)' : ''}.`);
      return 0;
    }
    const records = listRuns(project);
    const broken = listBrokenRuns(project);
    const rows = records.map((r) => ({ record: r, progress: progress(join(project.runsDir, r.id, RUN_FILES.metrics), join(project.runsDir, r.id, RUN_FILES.recall)) }));
    if (values.json) {
      console.log(JSON.stringify({ runs: rows.map((x) => ({ ...x.record, progress: x.progress })), broken }, null, 2));
      return 0;
    }
    if (!records.length && !broken.length) {
      console.log('No runs yet. Start one with `npm run mnemo -- train`.');
      return 0;
    }
    const n = (x: number | null | undefined) => (typeof x === 'number' ? x.toFixed(4) : '-');
    const table = rows.map(({ record: r, progress: p }) => [
      r.id,
      r.state,
      where(r),
      p.step !== undefined ? `${p.step}${p.total ? `/${p.total}` : ''}` : '-',
      n(p.loss),
      n(p.evalLoss),
      p.recall ?? '-',
      r.created.slice(0, 19).replace('T', ' '),
    ]);
    const head = ['run', 'state', 'target', 'step', 'loss', 'eval_loss', 'recall', 'created'];
    const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
    console.log(line(head));
    for (const row of table) console.log(line(row));
    for (const r of records) if (r.state === 'failed' && r.error) console.log(`  ${r.id}: ${r.error.message}${r.error.hint ? ` ${r.error.hint}` : ''}`);
    for (const r of records) if (r.advice) console.log(`  ${r.id}: Find Epochs advises ${r.advice.epochs} epoch${r.advice.epochs > 1 ? 's' : ''}: ${r.advice.reason} (train --advice ${r.id})`);
    for (const b of broken) console.log(`  ${b.id}: run.json cannot be read (${b.error})`);
    return 0;
  },
};
