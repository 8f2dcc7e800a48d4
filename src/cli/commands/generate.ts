import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { MnemoError } from '../../core/errors';
import {
  describePlan,
  formatDuration,
  formatPreview,
  formatUsd,
  generateOffline,
  isLocalUrl,
  loadSourceChunks,
  prepareSweep,
  previewFirst,
  resolveEndpoint,
  runPreparedSweep,
  type RunProgress,
} from '../../core/generation';
import { Project } from '../../core/project';
import type { CliCommand } from './types';

/** The defaults of the mnemo.endpoint.* settings, for the command line (where there are no settings). */
const DEFAULT_ENDPOINT = { baseUrl: 'https://api.openai.com/v1', model: 'gpt-4o-mini' };

function list(value: unknown): string[] | undefined {
  return typeof value === 'string' && value.trim() ? value.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

function number(value: unknown, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new MnemoError(`--${flag} ${String(value)} is not a number of at least ${min}.`, `Write e.g. --${flag} ${min || 1}.`);
  return n;
}

function progressLine(p: RunProgress): string {
  const eta = p.etaSeconds !== undefined ? `, ETA ${formatDuration(p.etaSeconds)}` : '';
  const limited = p.rateLimited ? `, ${p.rateLimited} rate-limited (429)` : '';
  return `${p.done}/${p.total} done, ${p.failed} failed, ${p.inFlight} in flight of ${p.concurrency} allowed, ${p.retries} retries${limited}, ${formatUsd(p.spentUsd)} spent${eta}`;
}

export const generate: CliCommand = {
  name: 'generate',
  summary: 'Generate Q&A pairs: every chunk x prompt variant x temperature, with a model (or --offline without one).',
  help: [
    'npm run mnemo -- generate --project DIR [--base-url URL] [--model M] [--offline] [--yes] [--preview]',
    '                 [--concurrency N] [--budget USD] [--variants a,b] [--temperatures 0.1,0.5] [--source PATH] [--timeout SECONDS]',
    '',
    'The API key comes from the environment variable OPENAI_API_KEY (never a flag).',
    'Without --yes the plan (requests, tokens, cost, time) is printed and you are asked before any call.',
    '--preview sends only the first request and prints its prompt and raw answer; nothing is written.',
    '--offline writes qa/<source>/offline.qa with cloze and reversed statements: no model, low quality.',
    'Interrupt with Ctrl+C: finished requests are kept in .mnemo/generation/journal.jsonl and a re-run resumes.',
  ].join('\n'),
  options: {
    'base-url': { type: 'string' },
    model: { type: 'string' },
    offline: { type: 'boolean' },
    yes: { type: 'boolean', short: 'y' },
    preview: { type: 'boolean' },
    concurrency: { type: 'string' },
    budget: { type: 'string' },
    variants: { type: 'string' },
    temperatures: { type: 'string' },
    source: { type: 'string' },
    timeout: { type: 'string' },
  },
  async run(values) {
    const project = Project.load(resolve(String(values.project)));
    const sourcesWanted = list(values.source);
    const onSkip = (path: string, err: MnemoError) => console.error(`warning: skipped ${path}: ${err.describe()}`);
    if (values.offline) {
      const sources = await loadSourceChunks(project, { sources: sourcesWanted, onSkip });
      for (const f of generateOffline(project, sources)) console.log(`${f.action} ${f.path} (${f.pairs} pairs; offline generator, low-quality fallback)`);
      return 0;
    }
    const endpoint = resolveEndpoint(project, DEFAULT_ENDPOINT, { baseUrl: values['base-url'] as string | undefined, model: values.model as string | undefined });
    const apiKey = process.env.OPENAI_API_KEY;
    if (!apiKey && !isLocalUrl(endpoint.baseUrl)) {
      throw new MnemoError(`${endpoint.baseUrl} needs an API key and OPENAI_API_KEY is not set.`, 'Set it in the environment (export OPENAI_API_KEY=...), or use --offline to try the workflow without a model.');
    }
    const temperatures = list(values.temperatures)?.map((t) => number(t, 'temperatures')!);
    const concurrency = number(values.concurrency, 'concurrency', 1) ?? project.config.generation.concurrency ?? 8;
    const timeoutMs = (number(values.timeout, 'timeout', 1) ?? 120) * 1000;
    const sources = await loadSourceChunks(project, { sources: sourcesWanted, onSkip });
    const prep = await prepareSweep(project, sources, { ...endpoint, variants: list(values.variants), temperatures, concurrency, budgetUsd: number(values.budget, 'budget') });
    console.log(`Plan for ${project.root} (${endpoint.baseUrl}):`);
    for (const line of describePlan(prep.summary)) console.log(`  ${line}`);

    const ac = new AbortController();
    const onSigint = () => {
      if (ac.signal.aborted) process.exit(130);
      console.error('\nCancelling: finished requests are kept; run again to resume (Ctrl+C again to quit at once).');
      ac.abort();
    };
    process.on('SIGINT', onSigint);
    try {
      if (values.preview) {
        const p = await previewFirst(prep, { apiKey, timeoutMs, signal: ac.signal });
        console.log('\n' + formatPreview(p));
        return 0;
      }
      if (prep.summary.toSend === 0) {
        console.log('Every request is already done (journal); writing the .qa files.');
      } else if (!values.yes) {
        if (!process.stdin.isTTY) {
          console.error('Nothing was sent. Pass --yes to run the sweep (or --preview to try the first request).');
          return 2;
        }
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(`Send ${prep.summary.toSend} requests? [y/N] `);
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) {
          console.log('Nothing was sent.');
          return 0;
        }
      }
      let last = 0;
      const tty = process.stderr.isTTY;
      const outcome = await runPreparedSweep(prep, {
        apiKey,
        timeoutMs,
        signal: ac.signal,
        onProgress: (p) => {
          const now = Date.now();
          if (now - last < (tty ? 200 : 2000) && p.done + p.failed < p.total) return;
          last = now;
          if (tty) process.stderr.write(`\r${progressLine(p)}   `);
          else console.error(progressLine(p));
        },
        log: (level, message) => {
          if (level !== 'info') console.error(`${tty ? '\n' : ''}${level}: ${message}`);
        },
      });
      if (tty) process.stderr.write('\n');
      const r = outcome.result;
      console.log(`${r.done}/${r.total} requests done (${r.resumed} from earlier runs), ${r.failed} failed, ${r.retries} retries.`);
      console.log(`${r.pairs} pairs; ${r.dropped} fragments dropped${r.dropped ? ` (${Object.entries(r.droppedByReason).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}.`);
      if (r.facts.listed) console.log(`Atomic facts: ${r.facts.covered} of ${r.facts.listed} got at least one pair.`);
      console.log(`Spent ${formatUsd(r.spentUsd)}: ${r.inputTokens} input + ${r.outputTokens} output tokens in ${formatDuration(r.elapsedSeconds)}.`);
      for (const f of outcome.files) console.log(`  ${f.action.padEnd(9)} ${f.path}${f.action === 'merged' ? ` (edited by you: ${f.pairs} new pairs appended, nothing else changed)` : ''}`);
      if (r.message) console.log(r.message);
      if (r.stopped === 'cancelled') return 130;
      return r.stopped === 'fatal' || r.failed > 0 ? 1 : 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
