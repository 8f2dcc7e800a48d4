// `npm run demo`: a real VS Code (1.100.3) in your browser, on a copy of the example project,
// with Mnemo loaded from this repository (the extension under development). Runs until Ctrl+C.
//
//   MNEMO_DEMO_PORT   port (default 8680)       MNEMO_DEMO_HOST  host (default 127.0.0.1)
//   --fresh           start again from a new copy of examples/cairnrun (default: keep the last
//                     demo's workspace, .tmp/demo/cairnrun, so your work survives a restart)
// The workspace and VS Code's data live in .tmp/demo/. Opening the port to other machines
// (MNEMO_DEMO_HOST=0.0.0.0) exposes a VS Code without a password: do it only on a trusted network.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { applyEdits, modify } from 'jsonc-parser';
import { join } from 'node:path';
import { makeWorkspace, repoRoot, startServer, stopAllServers } from '../test/harness/vscode.mjs';
import { ensureVSCode } from './install-vscode.mjs';

/** DEFAULT_MODEL.id of src/core/default-model.ts. */
const DEFAULT_MODEL_ID = 'HuggingFaceTB/SmolLM2-135M-Instruct';

const port = Number(process.env.MNEMO_DEMO_PORT ?? 8680);
const host = process.env.MNEMO_DEMO_HOST ?? '127.0.0.1';
const demoDir = join(repoRoot, '.tmp/demo');
const workspace = join(demoDir, 'cairnrun');

if (!existsSync(join(repoRoot, 'dist/extension.js'))) {
  console.error('dist/extension.js is missing: run `npm run demo` (it builds first) or `npm run build`.');
  process.exit(1);
}
try {
  ensureVSCode();
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
if (process.argv.includes('--fresh')) rmSync(demoDir, { recursive: true, force: true });
if (!existsSync(workspace)) {
  mkdirSync(demoDir, { recursive: true });
  makeWorkspace(workspace, 'project');
}

// Training and evaluation offline: the Python and the embedded default model (scripts/demo-prepare.ts;
// minutes on the first start, about a second after). The demo's copy of the project trains
// SmolLM2-135M-Instruct unless its mnemo.json names another model.
const preparedFile = join(demoDir, 'prepared.json');
try {
  execFileSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/demo-prepare.ts'), preparedFile], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
} catch {
  console.error('demo: preparing Python and the default model failed (above). The editor still starts; training and evaluation will say what is missing.');
}
const prepared = existsSync(preparedFile) ? JSON.parse(readFileSync(preparedFile, 'utf8')) : undefined;
const configFile = join(workspace, 'mnemo.json');
try {
  const text = readFileSync(configFile, 'utf8');
  const config = JSON.parse(text);
  if (prepared && !config.training?.model) {
    writeFileSync(configFile, applyEdits(text, modify(text, ['training', 'model'], DEFAULT_MODEL_ID, { formattingOptions: { insertSpaces: true, tabSize: 2 } })));
  }
} catch {
  // A mnemo.json the user broke: the editor shows what is wrong with it.
}

let stopping = false;
const stop = async (sig) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${sig}: stopping VS Code…`);
  await stopAllServers();
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

let server;
try {
  server = await startServer({ dataDir: join(demoDir, 'vscode-data'), logFile: join(demoDir, 'server.log'), port, host, settings: prepared ? { 'mnemo.python': prepared.python } : {} });
} catch (err) {
  const msg = err instanceof Error ? err.message : String(err);
  console.error(/EADDRINUSE/.test(msg) ? `Port ${port} is taken. Pick another: MNEMO_DEMO_PORT=${port + 1} npm run demo` : msg);
  process.exit(1);
}
const url = server.url({ folder: workspace });
console.log(`
Mnemo demo: VS Code ${server.version} with Mnemo loaded, on the example project (${workspace}).
Open this URL in a browser:

  ${url}

Then click the Mnemo icon in the activity bar. Server log: ${join(demoDir, 'server.log')}
Ctrl+C stops it.`);

const { code, signal } = await server.exited;
if (!stopping) {
  console.error(`VS Code's server stopped by itself (code ${code}, signal ${signal}); see ${join(demoDir, 'server.log')}.`);
  process.exit(1);
}
