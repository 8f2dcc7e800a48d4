// `npm run bench:activation`: how long Mnemo's activate() takes in the real VS Code (1.100.3, node
// extension host), on the example project, with the release bundle; and how big the .vsix is.
//
// Each run is a fresh VS Code (server, user data, workspace copy) opened in headless Chromium; the
// figure is what activate() itself measures and logs ("Mnemo activated in X ms"), read from the
// extension's log file. Also reported: the time from opening the page to that log line (the
// workbench loading, then the extension host starting: mostly VS Code, not Mnemo).
//   RUNS=5 (default)
// Builds the release bundle (as `npm run package` does) and rebuilds the development one at the end.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, makeWorkspace, repoRoot, startServer, stopAllServers } from '../test/harness/vscode.mjs';

const runs = Number(process.env.RUNS ?? 5);
const tmp = mkdtempSync(join(tmpdir(), 'mnemo-bench-activation-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function findLog(dir) {
  // <user-data-dir>/logs/<time>/exthost1/mnemo.mnemo/Mnemo.log (a LogOutputChannel's file)
  const out = [];
  const walk = (d) => {
    let entries = [];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.log')) out.push(p);
    }
  };
  walk(dir);
  for (const f of out) {
    const m = /Mnemo activated in ([\d.]+) ms/.exec(readFileSync(f, 'utf8'));
    if (m) return Number(m[1]);
  }
  return undefined;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x) => Math.round(x * 10) / 10;

let exitCode = 0;
try {
  console.log('Release build and .vsix…');
  execFileSync(process.execPath, ['scripts/build.mjs', '--production'], { cwd: repoRoot, stdio: 'inherit' });
  const vsix = join(tmp, 'mnemo.vsix');
  execFileSync(process.execPath, [join(repoRoot, 'node_modules/@vscode/vsce/vsce'), 'package', '--no-dependencies', '--out', vsix], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const vsixBytes = statSync(vsix).size;
  console.log(`.vsix: ${vsixBytes} bytes (${(vsixBytes / 1024 / 1024).toFixed(2)} MiB)`);

  const browser = await launchBrowser();
  const activation = [];
  const toActivated = [];
  try {
    for (let i = 0; i < runs; i++) {
      const dir = join(tmp, `run-${i}`);
      const workspace = makeWorkspace(join(dir, 'cairnrun'), 'project');
      const server = await startServer({ dataDir: join(dir, 'data'), logFile: join(dir, 'server.log') });
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const opened = performance.now();
        await page.goto(server.url({ folder: workspace }));
        const deadline = Date.now() + 120_000;
        let ms;
        while ((ms = findLog(join(dir, 'data/user/logs'))) === undefined) {
          if (Date.now() > deadline) throw new Error(`run ${i + 1}: no "Mnemo activated in" line within 120 s (see ${join(dir, 'server.log')})`);
          await sleep(50);
        }
        const total = performance.now() - opened;
        activation.push(ms);
        toActivated.push(total);
        console.log(`run ${i + 1}: activate() ${ms.toFixed(1)} ms; page opened -> activated ${Math.round(total)} ms`);
      } finally {
        await context.close();
        await server.stop();
      }
    }
  } finally {
    await browser.close();
  }
  console.log(`activate(): median ${round(median(activation))} ms, min ${round(Math.min(...activation))}, max ${round(Math.max(...activation))} over ${runs} runs (VS Code 1.100.3, node extension host, release bundle)`);
  console.log(`page opened -> Mnemo activated: median ${Math.round(median(toActivated))} ms`);
  console.log(JSON.stringify({ activation_ms: round(median(activation)), activation_ms_min: round(Math.min(...activation)), activation_ms_max: round(Math.max(...activation)), open_to_activated_ms: Math.round(median(toActivated)), runs, vsix_bytes: vsixBytes }));
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  exitCode = 1;
} finally {
  await stopAllServers();
  rmSync(tmp, { recursive: true, force: true });
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: repoRoot, stdio: 'inherit' });
}
process.exit(exitCode);
