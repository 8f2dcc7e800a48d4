// A real VS Code for tests, UI checks, the demo and benchmarks: VS Code's own server (from
// code-server, installed on demand by scripts/install-vscode.mjs) plus a headless Chromium that
// opens its web workbench. The extension under development runs in the server's node extension
// host, as on desktop. See ../shared/notes/real-vscode-offline.md for the facts this rests on.
import { spawn } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureVSCode } from '../../scripts/install-vscode.mjs';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const exampleProject = join(repoRoot, 'examples/cairnrun');

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** User settings of every session: no welcome page or tips in the way of tests and screenshots. */
export const DEFAULT_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'workbench.enableExperiments': false,
  // The demo's workspace (.tmp/demo/cairnrun) sits inside this repository: no "a git repository
  // was found in the parent folders" prompt at start.
  'git.openRepositoryInParentFolders': 'never',
};

/** Writes DEFAULT_SETTINGS (and `settings`) as the user settings of a VS Code user data folder. */
export function writeUserSettings(userDataDir, settings = {}) {
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  writeFileSync(join(userDataDir, 'User/settings.json'), JSON.stringify({ ...DEFAULT_SETTINGS, ...settings }, null, 2));
}

/** A free TCP port on 127.0.0.1 (asked of the OS, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Copies the example project (without its extraction cache) to `dest`, or makes an empty folder.
 * @param {'project'|'empty'} kind
 */
export function makeWorkspace(dest, kind) {
  if (kind === 'project') {
    cpSync(exampleProject, dest, { recursive: true, filter: (src) => basename(src) !== '.mnemo' || src === exampleProject });
  } else {
    mkdirSync(dest, { recursive: true });
  }
  return dest;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts VS Code's server on a free port (or `port`), with its own user, server and extensions
 * folders under `dataDir`. `env` reaches the extension host. Output goes to `logFile`.
 * Returns { port, host, url(folder, payload), stop(), exited, pid, version }.
 */
export async function startServer({ dataDir, logFile, env = {}, port, host = '127.0.0.1', readyTimeoutMs = 90_000, settings = {}, workspaceTrust = false }) {
  const vscode = ensureVSCode();
  port ??= await freePort();
  // code-server's VS Code keeps the browser's user settings on the server, in the user data folder.
  writeUserSettings(join(dataDir, 'user'), settings);
  if (logFile) mkdirSync(dirname(logFile), { recursive: true });
  const args = [
    vscode.serverMain,
    '--host', host,
    '--port', String(port),
    '--without-connection-token',
    '--accept-server-license-terms',
    '--disable-telemetry',
    // workspaceTrust: folders open in Restricted Mode unless trusted (the *.untrusted.test.ts suites).
    ...(workspaceTrust ? [] : ['--disable-workspace-trust']),
    '--user-data-dir', join(dataDir, 'user'),
    '--server-data-dir', join(dataDir, 'server'),
    '--extensions-dir', join(dataDir, 'extensions'),
  ];
  // detached: the server gets a process group of its own, so that stopping it also stops the
  // helpers it starts (extension host, file watcher, pty host).
  const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = logFile ? createWriteStream(logFile) : undefined;
  let tail = '';
  const onData = (d) => {
    log?.write(d);
    tail = (tail + d.toString()).slice(-20_000);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exitInfo;
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exitInfo = { code, signal }))));

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const kill = (sig) => {
      try {
        process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    kill('SIGTERM');
    await Promise.race([exited, sleep(3000)]);
    // The group may outlive its leader (an extension host finishing up): always sweep it.
    kill('SIGKILL');
    await Promise.race([exited, sleep(2000)]);
    log?.end();
  };
  liveServers.add(stop);
  groups.add(child.pid);
  exited.then(() => groups.delete(child.pid));
  exited.then(() => liveServers.delete(stop));

  const base = `http://${host}:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exitInfo) throw new Error(`VS Code's server exited before it was ready (code ${exitInfo.code}, signal ${exitInfo.signal}).\n${tail.slice(-3000)}`);
    // It logs a taken port and stays up without listening.
    if (/EADDRINUSE/.test(tail)) {
      await stop();
      throw new Error(`Port ${port} on ${host} is taken (EADDRINUSE).`);
    }
    try {
      const res = await fetch(`${base}/version`, { signal: AbortSignal.timeout(2000) });
      if (res.status < 500) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`VS Code's server did not answer on ${base} within ${readyTimeoutMs / 1000} s.\n${tail.slice(-3000)}`);
    }
    await sleep(200);
  }

  const remote = (p) => `vscode-remote://${host}:${port}${p}`;
  return {
    port,
    host,
    pid: child.pid,
    version: vscode.version,
    exited,
    stop,
    /** URI of a local path as the workbench sees it (the server's file system). */
    remote,
    /**
     * Workbench URL opening `folder` with the extension under development loaded, and the tests
     * module when `testsPath` is given.
     */
    url({ folder, extensionPath = repoRoot, testsPath }) {
      const payload = [['extensionDevelopmentPath', remote(extensionPath)]];
      if (testsPath) payload.push(['extensionTestsPath', remote(testsPath)]);
      return `${base}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    },
  };
}

/** Stops of every server still running, for exit paths (signals, uncaught errors). */
export const liveServers = new Set();
/** Process groups of running servers: killed on any exit of this process, whatever the path. */
const groups = new Set();
process.on('exit', () => {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});
export async function stopAllServers() {
  await Promise.all([...liveServers].map((stop) => stop()));
}

/** Headless Debian Chromium driven by Playwright. */
export async function launchBrowser() {
  const executablePath = process.env.MNEMO_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`Chromium not found at ${executablePath}. Install Debian's chromium (apt-get install -y chromium) or set MNEMO_CHROMIUM.`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}
