import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { MnemoError } from '../../core/errors';
import {
  describeDropGroups,
  describeDropTotals,
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
import { checkKeyTransport } from '../../core/generation/client';
import { describeLeaks, findLeaks, scrubLeaks } from '../../core/leaks';
import { Project } from '../../core/project';
import { registerSecret } from '../../core/secrets';
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

/** Project files that hold the key (written before scrubbing existed, or by hand): named, and scrubbed when asked. */
function reportLeaks(project: Project, scrub: boolean): void {
  const leaks = findLeaks(project);
  if (!leaks.length) return;
  if (scrub) {
    const changed = scrubLeaks(project, leaks.map((l) => l.file));
    for (const f of changed) console.error(`scrubbed the key from ${f}`);
    return;
  }
  console.error(`warning: ${leaks.length} project file${leaks.length === 1 ? ' holds' : 's hold'} the API key in clear text (whole or in part); remove it before sharing the project:`);
  for (const line of describeLeaks(leaks)) console.error(`  ${line}`);
  console.error(`Run "npm run mnemo -- generate --project ${project.root} --scrub-leaks" to replace it in these files (nothing else in them changes).`);
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
    'It is never sent over plain http:// to a host other than this machine unless you allow that endpoint:',
    '  --allow-insecure-key (this run\'s endpoint) or MNEMO_ALLOW_INSECURE_KEY=http://host:port[,...].',
    'Project files (journal, logs, .qa files) holding the key are reported; --scrub-leaks replaces it in them.',
    'Without --yes the plan (requests, tokens, cost, time) is printed and you are asked before any call.',
    '--preview sends only the first request and prints its prompt and raw answer; nothing is written.',
    '--offline writes qa/<source>/offline.qa with cloze and reversed statements: no model, low quality.',
    'Interrupt with Ctrl+C or SIGTERM: finished requests are kept in .mnemo/generation/journal.jsonl, their pairs written, and a re-run resumes.',
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
    'allow-insecure-key': { type: 'boolean' },
    'scrub-leaks': { type: 'boolean' },
  },
  async run(values) {
    const project = Project.load(resolve(String(values.project)));
    const sourcesWanted = list(values.source);
    const onSkip = (path: string, err: MnemoError) => console.error(`warning: skipped ${path}: ${err.describe()}`);
    registerSecret(process.env.OPENAI_API_KEY, 'API key');
    reportLeaks(project, !!values['scrub-leaks']);
    if (values.offline) {
      const sources = await loadSourceChunks(project, { sources: sourcesWanted, onSkip });
      for (const f of generateOffline(project, sources)) console.log(`${f.action} ${f.path} (${f.pairs} pairs; offline generator, low-quality fallback)`);
      return 0;
    }
    const endpoint = resolveEndpoint(project, DEFAULT_ENDPOINT, { baseUrl: values['base-url'] as string | undefined, model: values.model as string | undefined });
    const apiKey = process.env.OPENAI_API_KEY;
    const allowInsecureKey = [...(list(process.env.MNEMO_ALLOW_INSECURE_KEY) ?? []), ...(values['allow-insecure-key'] ? [endpoint.baseUrl] : [])];
    checkKeyTransport({ baseUrl: endpoint.baseUrl, apiKey, allowInsecureKey });
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
    // SIGTERM (a service manager, `kill`, a closing terminal) stops the sweep like Ctrl+C: what finished is written.
    let stoppedBy: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      stoppedBy ??= signal;
      if (ac.signal.aborted) process.exit(signal === 'SIGTERM' ? 143 : 130);
      console.error(`\nCancelling (${signal}): finished requests are kept and written; run again to resume (${signal === 'SIGINT' ? 'Ctrl+C' : 'the signal'} again to quit at once).`);
      ac.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      if (values.preview) {
        const p = await previewFirst(prep, { apiKey, allowInsecureKey, timeoutMs, signal: ac.signal });
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
        allowInsecureKey,
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
      const totals = describeDropTotals(r.droppedByReason);
      console.log(`${r.pairs} pairs kept${totals ? `; ${totals}` : ''}.`);
      if (r.dropped) for (const line of describeDropGroups(r.dropGroups)) console.log(`  ${line}`);
      if (r.facts.listed) console.log(`Atomic facts: ${r.facts.covered} of ${r.facts.listed} got at least one pair.`);
      console.log(`Spent ${formatUsd(r.spentUsd)}: ${r.inputTokens} input + ${r.outputTokens} output tokens in ${formatDuration(r.elapsedSeconds)}.`);
      for (const f of outcome.files) console.log(`  ${f.action.padEnd(9)} ${f.path}${f.action === 'merged' ? ` (edited by you: ${f.pairs} new pairs appended, nothing else changed)` : ''}`);
      if (r.message) console.log(r.message);
      if (r.stopped === 'cancelled') return stoppedBy === 'SIGTERM' ? 143 : 130;
      return r.stopped === 'fatal' || r.failed > 0 ? 1 : 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
