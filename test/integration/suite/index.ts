// Loaded by VS Code's extension host as extensionTestsPath: runs the mocha suites (TDD ui:
// `suite`/`test`) inside the real VS Code and writes their results where the launcher
// (test/harness/run.mjs) reads them, because the extension host exits 0 whatever happens.
//
// Environment (set by the launcher on VS Code's server process, inherited by the extension host):
//   MNEMO_TEST_RESULTS  file to write the results JSON to (required by the launcher; optional here)
//   MNEMO_TEST_FILES    comma-separated suite bundles to run (e.g. "sources.test.js"); default: all
//   MNEMO_TEST_GREP     mocha grep over full test titles
//   MNEMO_TEST_TIMEOUT_MS  per-test time limit (default 60000)
// Progress goes, one JSON object per line, to `${MNEMO_TEST_RESULTS}.events`, so that the launcher
// can print results as they come and tell which test was running when a session timed out.
import { appendFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';
import * as vscode from 'vscode';

interface TestResult {
  title: string;
  fullTitle: string;
  file: string | undefined;
  state: 'passed' | 'failed' | 'pending';
  durationMs: number | undefined;
  error?: { message: string; stack?: string; actual?: string; expected?: string };
}

export interface SuiteResults {
  vscodeVersion: string;
  files: string[];
  passed: number;
  failed: number;
  pending: number;
  tests: TestResult[];
  /** Set when the runner itself failed (a suite file that does not load, for example). */
  runnerError?: string;
}

function describe(err: unknown): TestResult['error'] {
  if (err instanceof Error) {
    const e = err as Error & { actual?: unknown; expected?: unknown; showDiff?: boolean };
    return {
      message: e.message,
      stack: e.stack,
      ...(e.showDiff !== false && 'actual' in e && 'expected' in e ? { actual: safeString(e.actual), expected: safeString(e.expected) } : {}),
    };
  }
  return { message: String(err) };
}

function safeString(v: unknown): string {
  try {
    return typeof v === 'string' ? v : JSON.stringify(v, null, 2);
  } catch {
    return String(v);
  }
}

export async function run(): Promise<void> {
  const resultsPath = process.env.MNEMO_TEST_RESULTS;
  const eventsPath = resultsPath ? `${resultsPath}.events` : undefined;
  const emit = (event: object): void => {
    if (eventsPath) appendFileSync(eventsPath, JSON.stringify(event) + '\n');
  };
  const results: SuiteResults = { vscodeVersion: vscode.version, files: [], passed: 0, failed: 0, pending: 0, tests: [] };
  const write = (): void => {
    if (!resultsPath) return;
    writeFileSync(`${resultsPath}.tmp`, JSON.stringify(results, null, 2));
    renameSync(`${resultsPath}.tmp`, resultsPath); // the launcher never sees half a file
  };
  emit({ event: 'start', vscodeVersion: vscode.version });

  try {
    const wanted = (process.env.MNEMO_TEST_FILES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const all = readdirSync(__dirname).filter((f) => f.endsWith('.test.js')).sort();
    const missing = wanted.filter((f) => !all.includes(f));
    if (missing.length) throw new Error(`Suite bundles not found in ${__dirname}: ${missing.join(', ')} (did the build run?)`);
    results.files = wanted.length ? wanted : all;

    const mocha = new Mocha({
      ui: 'tdd',
      color: false,
      timeout: Number(process.env.MNEMO_TEST_TIMEOUT_MS ?? 60_000),
      // The launcher reports; mocha's own reporter would print to a console nobody reads.
      reporter: class extends Mocha.reporters.Base {},
      ...(process.env.MNEMO_TEST_GREP ? { grep: process.env.MNEMO_TEST_GREP } : {}),
    });
    for (const f of results.files) mocha.addFile(join(__dirname, f));

    await new Promise<void>((resolve) => {
      const runner = mocha.run(() => resolve());
      const record = (test: Mocha.Runnable, state: TestResult['state'], err?: unknown): void => {
        const r: TestResult = { title: test.title, fullTitle: test.fullTitle(), file: test.file?.split(/[\\/]/).pop(), state, durationMs: test.duration };
        if (err !== undefined) r.error = describe(err);
        results.tests.push(r);
        results[state]++;
        emit({ event: 'test', ...r });
      };
      runner.on('test', (test) => emit({ event: 'begin', fullTitle: test.fullTitle() }));
      runner.on('pass', (test) => record(test, 'passed'));
      runner.on('pending', (test) => record(test, 'pending'));
      // Also fires for failing hooks ("before all" hook ...), which must count as failures.
      runner.on('fail', (test, err) => record(test, 'failed', err));
    });
  } catch (err) {
    results.runnerError = err instanceof Error ? (err.stack ?? err.message) : String(err);
    emit({ event: 'runnerError', message: results.runnerError });
  }
  emit({ event: 'end', passed: results.passed, failed: results.failed });
  write();
}
