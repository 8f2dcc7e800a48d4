// Integration tests in a real VS Code: `npm run test:integration [-- options]`.
//
// Every test/integration/suite/<name>.test.ts (bundled by scripts/build.mjs into
// out/test/suite/<name>.test.js) runs in a VS Code session of its own: a fresh server, user data
// and workspace, so suites never see each other's state. The workspace is a copy of
// examples/cairnrun, or an empty folder for files named <name>.empty.test.ts (<name>.untrusted.test.ts:
// opened untrusted, in Restricted Mode). Then the UI checks
// of test/harness/ui.mjs run, each in a session of its own too.
//
// Inside the extension host, tests can read:
//   MNEMO_TEST_WORKSPACE  the workspace folder (a throwaway copy: change it freely)
//   MNEMO_TEST_TMP        a scratch folder for the session
//   MNEMO_EXAMPLE_PROJECT the pristine examples/cairnrun (read only: copy it, never modify it)
//   MNEMO_REPO_ROOT       the repository
//
// Options:
//   --grep <regex>     mocha grep over full test titles (also filters UI checks by name)
//   --files <a,b>      only suite files whose name contains one of these
//   --no-ui / --ui-only
//   --launcher <code-server|electron>  (or MNEMO_VSCODE_LAUNCHER) electron = @vscode/test-electron,
//                      which downloads desktop VS Code: for machines with internet. No UI checks there.
//   --timeout <s>      time limit per session (default 300, or MNEMO_TEST_SESSION_TIMEOUT_S)
//   --keep             keep the temporary workspaces and data folders
// MNEMO_TEST_RESULTS_DIR: where logs and screenshots go (default test-results/).
// Logs of every session: test-results/logs/. Screenshots: test-results/screenshots/.
// The run fails (exit 1) on any failed test, failed session, time-out, or when no test ran.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CODE_SERVER_VERSION, ensureVSCode } from '../../scripts/install-vscode.mjs';
import { exampleProject, launchBrowser, makeWorkspace, repoRoot, startServer, stopAllServers, writeUserSettings } from './vscode.mjs';

const { values: opts } = parseArgs({
  options: {
    grep: { type: 'string' },
    files: { type: 'string' },
    'no-ui': { type: 'boolean', default: false },
    'ui-only': { type: 'boolean', default: false },
    launcher: { type: 'string', default: process.env.MNEMO_VSCODE_LAUNCHER ?? 'code-server' },
    timeout: { type: 'string', default: process.env.MNEMO_TEST_SESSION_TIMEOUT_S ?? '300' },
    keep: { type: 'boolean', default: false },
  },
});
const sessionTimeoutMs = Number(opts.timeout) * 1000;
const grep = opts.grep ? new RegExp(opts.grep) : undefined;
// Several people may run subsets at once: only this run's own files are replaced, never the folders.
const resultsDir = process.env.MNEMO_TEST_RESULTS_DIR ?? join(repoRoot, 'test-results');
const logsDir = join(resultsDir, 'logs');
const screenshotsDir = join(resultsDir, 'screenshots');
mkdirSync(logsDir, { recursive: true });
mkdirSync(screenshotsDir, { recursive: true });
const tmpRoot = mkdtempSync(join(tmpdir(), 'mnemo-it-'));
// Training and evaluation in the sessions use the repository's .venv (npm test makes it), never a
// venv of their own in ~/.cache/mnemo (5.6 GB): MNEMO_PYTHON reaches every extension host.
process.env.MNEMO_PYTHON ??= existsSync(join(repoRoot, '.venv/bin/python')) ? join(repoRoot, '.venv/bin/python') : 'python3';

/** Every outcome, in order: { group, title, state: 'passed'|'failed', ms, error } */
const outcomes = [];
let vscodeVersion;
const c = process.stdout.isTTY ? { g: (s) => `\x1b[32m${s}\x1b[0m`, r: (s) => `\x1b[31m${s}\x1b[0m`, d: (s) => `\x1b[2m${s}\x1b[0m` } : { g: (s) => s, r: (s) => s, d: (s) => s };

function report(o) {
  outcomes.push(o);
  const ms = o.ms !== undefined ? c.d(` (${Math.round(o.ms)} ms)`) : '';
  if (o.state === 'passed') console.log(`  ${c.g('✓')} ${o.title}${ms}`);
  else if (o.state === 'pending') console.log(`  ${c.d('-')} ${o.title} ${c.d('(pending)')}`);
  else {
    console.log(`  ${c.r('✗')} ${o.title}${ms}`);
    if (o.error) console.log(indent(o.error, 6));
  }
}
const indent = (s, n) => String(s).split('\n').map((l) => ' '.repeat(n) + l).join('\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sessionName = (s) => s.replace(/[^a-zA-Z0-9.-]+/g, '-');

function formatError(e) {
  if (!e) return '';
  let s = e.stack && e.stack.includes(e.message) ? e.stack : `${e.message}\n${e.stack ?? ''}`;
  // Keep the frames of our own code; VS Code's and mocha's are noise.
  s = s.split('\n').filter((l, i) => i === 0 || !/^\s+at /.test(l) || (!/node_modules|extensionHostProcess|\bnode:/.test(l))).slice(0, 14).join('\n');
  if (e.expected !== undefined && e.actual !== undefined) s += `\nexpected: ${e.expected}\nactual:   ${e.actual}`;
  return s;
}

function logTail(file, lines = 30) {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

// ---------------------------------------------------------------------------------------------
// Suites

function discoverSuites() {
  const dir = join(repoRoot, 'test/integration/suite');
  let files = readdirSync(dir).filter((f) => f.endsWith('.test.ts')).sort();
  if (opts.files) {
    const parts = opts.files.split(',').map((s) => s.trim()).filter(Boolean);
    files = files.filter((f) => parts.some((p) => f.includes(p)));
  }
  return files.map((f) => ({
    file: f,
    bundle: f.replace(/\.ts$/, '.js'),
    workspace: f.endsWith('.empty.test.ts') ? 'empty' : 'project',
    // <name>.untrusted.test.ts: the folder opens untrusted (Restricted Mode), workspace trust on.
    untrusted: f.endsWith('.untrusted.test.ts'),
  }));
}

/** User settings of a session whose folder opens untrusted (Restricted Mode), without asking. */
const UNTRUSTED_SETTINGS = { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never', 'security.workspace.trust.banner': 'never' };

/** One suite file in one fresh VS Code session. Reports its tests; a broken session is a failure. */
async function runSuite(browser, suite) {
  const id = sessionName(suite.file.replace(/\.test\.ts$/, ''));
  const dir = join(tmpRoot, id);
  const workspace = makeWorkspace(join(dir, 'workspace', suite.workspace === 'project' ? 'cairnrun' : 'project'), suite.workspace);
  const scratch = join(dir, 'tmp');
  mkdirSync(scratch, { recursive: true });
  const resultsFile = join(dir, 'results.json');
  const eventsFile = `${resultsFile}.events`;
  const serverLog = join(logsDir, `${id}.server.log`);
  const browserLog = join(logsDir, `${id}.browser.log`);
  console.log(`\n${suite.file} ${c.d(`(workspace: ${suite.workspace === 'project' ? 'copy of examples/cairnrun' : 'empty folder'})`)}`);

  const env = {
    MNEMO_TEST_RESULTS: resultsFile,
    MNEMO_TEST_FILES: suite.bundle,
    MNEMO_TEST_WORKSPACE: workspace,
    MNEMO_TEST_TMP: scratch,
    MNEMO_EXAMPLE_PROJECT: exampleProject,
    MNEMO_REPO_ROOT: repoRoot,
    ...(opts.grep ? { MNEMO_TEST_GREP: opts.grep } : {}),
  };
  const testsPath = join(repoRoot, 'out/test/suite/index.js');
  // A session that broke: say why, with the end of VS Code's logs (they tell why it hung or died).
  const failSession = (why) => report({ group: suite.file, title: `${suite.file}: ${why}`, state: 'failed', error: [`server log (${serverLog}):`, logTail(serverLog, 25), `browser log (${browserLog}):`, logTail(browserLog, 15)].join('\n') });

  let server;
  let context;
  let electron;
  try {
    if (opts.launcher === 'electron') {
      electron = runWithTestElectron({ workspace, testsPath, env, dataDir: join(dir, 'data') });
    } else {
      const trust = suite.untrusted ? { workspaceTrust: true, settings: UNTRUSTED_SETTINGS } : {};
      server = await startServer({ dataDir: join(dir, 'data'), logFile: serverLog, env, ...trust });
      context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const page = await context.newPage();
      const lines = [];
      page.on('console', (m) => lines.push(`[${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => lines.push(`[pageerror] ${e.message}`));
      page.on('crash', () => lines.push('[crash] the page crashed'));
      const flush = () => writeFileSync(browserLog, lines.join('\n') + '\n');
      context.on('close', flush);
      await page.goto(server.url({ folder: workspace, testsPath }));
      server.flushBrowserLog = flush;
    }

    // Follow the progress file; the results file appears when the runner is done.
    const deadline = Date.now() + sessionTimeoutMs;
    let offset = 0;
    let current;
    let started = false;
    const startTimeoutMs = Math.min(sessionTimeoutMs, 180_000);
    const startDeadline = Date.now() + startTimeoutMs;
    let reported = 0;
    const drainEvents = () => {
      if (!existsSync(eventsFile)) return;
      const text = readFileSync(eventsFile, 'utf8');
      const complete = text.slice(offset, text.lastIndexOf('\n') + 1);
      offset += complete.length;
      for (const line of complete.split('\n').filter(Boolean)) {
        const ev = JSON.parse(line);
        if (ev.event === 'start') {
          started = true;
          if (!vscodeVersion) {
            vscodeVersion = ev.vscodeVersion;
            console.log(`  ${c.d(`running in VS Code ${vscodeVersion}`)}`);
          }
        } else if (ev.event === 'begin') current = ev.fullTitle;
        else if (ev.event === 'test') {
          current = undefined;
          reported++;
          report({ group: suite.file, title: ev.fullTitle, state: ev.state, ms: ev.durationMs, error: ev.error && formatError(ev.error) });
        }
      }
    };
    for (;;) {
      drainEvents();
      if (existsSync(resultsFile)) {
        drainEvents(); // the runner writes its last events before the results file
        break;
      }
      if (server && (await Promise.race([server.exited.then(() => true), sleep(0).then(() => false)]))) {
        failSession(`VS Code's server exited while the tests ran${current ? ` (during "${current}")` : ''}`);
        return;
      }
      if (electron?.done && !existsSync(resultsFile)) {
        await sleep(500);
        if (!existsSync(resultsFile)) {
          failSession(`VS Code exited (${electron.done}) without writing results`);
          return;
        }
      }
      if (!started && Date.now() > startDeadline) {
        failSession(`the extension host did not start the tests within ${startTimeoutMs / 1000} s`);
        return;
      }
      if (Date.now() > deadline) {
        failSession(`timed out after ${sessionTimeoutMs / 1000} s${current ? ` during "${current}"` : ''}`);
        return;
      }
      await sleep(150);
    }
    const results = JSON.parse(readFileSync(resultsFile, 'utf8'));
    vscodeVersion ??= results.vscodeVersion;
    if (reported !== results.tests.length) failSession(`the runner recorded ${results.tests.length} results but reported ${reported} as it ran`);
    if (results.runnerError) {
      const [first, ...rest] = results.runnerError.split('\n');
      report({ group: suite.file, title: `${suite.file}: the test runner failed: ${first}`, state: 'failed', error: formatError({ message: first, stack: [first, ...rest].join('\n') }) });
    } else if (results.tests.length === 0) {
      if (opts.grep) console.log(`  ${c.d('(no test matched --grep)')}`);
      else failSession('no tests found in this file');
    }
  } catch (err) {
    failSession(`harness error: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    server?.flushBrowserLog?.();
    await context?.close().catch(() => {});
    await server?.stop();
    await electron?.stop();
  }
}

/** The same suite in desktop VS Code via @vscode/test-electron (needs internet for the download). */
function runWithTestElectron({ workspace, testsPath, env, dataDir }) {
  const state = { done: undefined, stop: async () => {} };
  writeUserSettings(join(dataDir, 'user'));
  import('@vscode/test-electron')
    .then(({ runTests }) =>
      runTests({
        extensionDevelopmentPath: repoRoot,
        extensionTestsPath: testsPath,
        extensionTestsEnv: env,
        launchArgs: [workspace, '--disable-workspace-trust', '--disable-extensions', `--user-data-dir=${join(dataDir, 'user')}`, `--extensions-dir=${join(dataDir, 'extensions')}`],
      }),
    )
    .then(
      (code) => (state.done = `exit code ${code}`),
      (err) => (state.done = `failed: ${err instanceof Error ? err.message : String(err)}`),
    );
  return state;
}

// ---------------------------------------------------------------------------------------------
// UI checks

async function runUiChecks(browser) {
  const { checks } = await import('./ui.mjs');
  const selected = checks.filter((ch) => !grep || grep.test(`ui: ${ch.name}`));
  for (const check of selected) {
    const id = sessionName(`ui-${check.name}`);
    const dir = join(tmpRoot, id);
    const kind = check.workspace ?? 'project';
    const workspace = makeWorkspace(join(dir, 'workspace', kind === 'project' ? 'cairnrun' : 'project'), kind);
    const serverLog = join(logsDir, `${id}.server.log`);
    rmSync(join(screenshotsDir, `FAILED-${id}.png`), { force: true });
    const title = `ui: ${check.name}`;
    console.log(`\n${title} ${c.d(`(workspace: ${kind === 'project' ? 'copy of examples/cairnrun' : 'empty folder'})`)}`);
    let server;
    let context;
    let prepared;
    const started = performance.now();
    try {
      // What the window must find when it opens (settings, files): written before it loads, not
      // after, so that nothing depends on how soon a file watcher reports a new folder.
      prepared = check.prepare ? await check.prepare({ workspace }) : undefined;
      const trust = check.untrusted ? { workspaceTrust: true, settings: UNTRUSTED_SETTINGS } : {};
      server = await startServer({ dataDir: join(dir, 'data'), logFile: serverLog, env: { MNEMO_TEST_WORKSPACE: workspace, MNEMO_REPO_ROOT: repoRoot }, ...trust });
      context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      const screenshot = async (name, target) => {
        const path = join(screenshotsDir, `${name}.png`);
        await (target ?? page).screenshot({ path });
        return path;
      };
      await page.goto(server.url({ folder: workspace }));
      const note = await Promise.race([
        check.run({ page, workspace, screenshot, server, prepared }),
        sleep(check.timeoutMs ?? 120_000).then(() => {
          throw new Error(`timed out after ${(check.timeoutMs ?? 120_000) / 1000} s`);
        }),
      ]);
      report({ group: 'ui', title: typeof note === 'string' && note ? `${title}: ${note}` : title, state: 'passed', ms: performance.now() - started });
    } catch (err) {
      let shot = '';
      try {
        const pages = context?.pages() ?? [];
        if (pages[0]) shot = `\nscreenshot: ${await pages[0].screenshot({ path: join(screenshotsDir, `FAILED-${id}.png`) }).then(() => join(screenshotsDir, `FAILED-${id}.png`))}`;
      } catch {
        /* no page to show */
      }
      report({ group: 'ui', title, state: 'failed', ms: performance.now() - started, error: `${err instanceof Error ? (err.stack ?? err.message) : String(err)}${shot}\nserver log: ${serverLog}` });
    } finally {
      await context?.close().catch(() => {});
      await server?.stop();
      await prepared?.dispose?.();
    }
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const suites = opts['ui-only'] ? [] : discoverSuites();
  const missing = suites.filter((s) => !existsSync(join(repoRoot, 'out/test/suite', s.bundle)));
  if (missing.length) throw new Error(`Not built: ${missing.map((s) => s.bundle).join(', ')}. Run \`npm run test:integration\` (it builds first) or \`node scripts/build.mjs\`.`);
  if (!existsSync(join(repoRoot, 'dist/extension.js'))) throw new Error('dist/extension.js is missing: run `node scripts/build.mjs` first.');

  if (opts.launcher !== 'electron') {
    const vscode = ensureVSCode();
    console.log(`VS Code ${vscode.version} (code-server ${CODE_SERVER_VERSION}) from ${vscode.vscodeDir}`);
  }
  const browser = opts.launcher === 'electron' ? undefined : await launchBrowser();
  try {
    for (const suite of suites) await runSuite(browser, suite);
    if (!opts['no-ui']) {
      if (browser) await runUiChecks(browser);
      else console.log('\nUI checks need the code-server launcher; not run with --launcher electron.');
    }
  } finally {
    await browser?.close().catch(() => {});
  }
}

let exitCode = 1;
const cleanup = async () => {
  await stopAllServers();
  if (!opts.keep) rmSync(tmpRoot, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping VS Code…`);
    void cleanup().finally(() => process.exit(130));
  });
}
try {
  await main();
  const passed = outcomes.filter((o) => o.state === 'passed').length;
  const failed = outcomes.filter((o) => o.state === 'failed').length;
  const pending = outcomes.filter((o) => o.state === 'pending').length;
  console.log('');
  if (failed) {
    console.log(c.r('Failures:'));
    for (const o of outcomes.filter((x) => x.state === 'failed')) console.log(`  ✗ ${o.title}`);
    console.log('');
  }
  if (vscodeVersion) console.log(`VS Code ${vscodeVersion}`);
  if (passed + failed === 0) console.log(c.r(opts.grep ? `No test matched --grep ${opts.grep}.` : 'No test ran.'));
  console.log(`integration: ${passed} passed, ${failed} failed${pending ? `, ${pending} pending` : ''}`);
  exitCode = failed === 0 && passed > 0 ? 0 : 1;
} catch (err) {
  console.error(c.r(`integration: harness failed: ${err instanceof Error ? err.message : String(err)}`));
  exitCode = 1;
} finally {
  await cleanup();
}
if (opts.keep) console.log(`kept: ${tmpRoot}`);
process.exit(exitCode);
