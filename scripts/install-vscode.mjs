// Installs a real VS Code (1.100.3, as code-server 4.100.3 from npm) into .code-server/, for the
// integration tests, UI checks, the demo and the activation benchmark on machines that cannot
// download VS Code from Microsoft (no internet besides package registries). Kept out of the
// project's dependencies so that `npm ci` stays small and needs no native toolchain.
//
// Needs the Debian packages libkrb5-dev, ripgrep, g++, make, python3 (.ci/run installs them).
// Idempotent: a stamp file records a finished install; a second run returns at once.
//
// Usage: node scripts/install-vscode.mjs [--force]
//   As a module: `import { ensureVSCode } from './install-vscode.mjs'` -> { serverMain, version, dir }
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const CODE_SERVER_VERSION = '4.100.3';
/** @vscode/ripgrep version inside code-server and the ripgrep release it downloads from GitHub. */
const RIPGREP_PKG_VERSION = '1.15.11';
const RIPGREP_ARCHIVE = 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const installDir = process.env.MNEMO_CODE_SERVER_DIR ?? join(root, '.code-server');
const stampFile = join(installDir, '.installed');
const codeServerDir = join(installDir, 'node_modules/code-server');
const vscodeDir = join(codeServerDir, 'lib/vscode');

function installed() {
  if (!existsSync(stampFile)) return undefined;
  const stamp = readFileSync(stampFile, 'utf8').trim();
  if (stamp !== CODE_SERVER_VERSION) return undefined;
  return describe();
}

function describe() {
  const product = JSON.parse(readFileSync(join(vscodeDir, 'product.json'), 'utf8'));
  const pkg = JSON.parse(readFileSync(join(vscodeDir, 'package.json'), 'utf8'));
  return { dir: installDir, vscodeDir, serverMain: join(vscodeDir, 'out/server-main.js'), version: pkg.version, commit: product.commit };
}

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim() || undefined;
}

function fail(message) {
  const err = new Error(message);
  err.name = 'InstallVSCodeError';
  throw err;
}

/** Installs code-server if the stamp is missing; returns where VS Code's server is. */
export function ensureVSCode({ force = false, log = (m) => console.error(m) } = {}) {
  if (!force) {
    const have = installed();
    if (have) return have;
  }
  const missing = [];
  if (!existsSync('/usr/include/gssapi/gssapi.h') && !existsSync('/usr/include/krb5.h')) missing.push('libkrb5-dev');
  const rg = which('rg');
  if (!rg) missing.push('ripgrep');
  for (const [cmd, pkg] of [['g++', 'g++'], ['make', 'make'], ['python3', 'python3']]) if (!which(cmd)) missing.push(pkg);
  if (missing.length) fail(`Installing VS Code (code-server ${CODE_SERVER_VERSION}) needs the Debian packages: ${missing.join(' ')}.\nInstall them with: apt-get install -y ${missing.join(' ')}  (or run .ci/run, which does).`);

  log(`Installing VS Code (code-server ${CODE_SERVER_VERSION}) into ${installDir} — about a minute, once…`);
  if (force) rmSync(installDir, { recursive: true, force: true });
  rmSync(stampFile, { force: true });
  mkdirSync(installDir, { recursive: true });
  // A project of its own, so that its install never touches the project's node_modules or lockfile.
  writeFileSync(join(installDir, 'package.json'), JSON.stringify({ name: 'mnemo-vscode-for-tests', private: true, description: 'VS Code (code-server) used by Mnemo tests; installed by scripts/install-vscode.mjs' }, null, 2) + '\n');

  // @vscode/ripgrep downloads from GitHub unless it finds the archive in its cache under the
  // temp folder: give it Debian's rg, packed the way the release archive is.
  const tmp = join(installDir, 'tmp');
  const cache = join(tmp, `vscode-ripgrep-cache-${RIPGREP_PKG_VERSION}`);
  mkdirSync(cache, { recursive: true });
  const tar = spawnSync('tar', ['-czf', join(cache, RIPGREP_ARCHIVE), '-C', dirname(rg), '--transform', 's,.*,rg,', '--', 'rg'], { stdio: 'inherit' });
  if (tar.status !== 0) fail('Could not pack ripgrep for the VS Code install.');

  const env = {
    ...process.env,
    TMPDIR: tmp,
    // node-pty's postinstall runs `npx node-gyp`, which would wait on a prompt without a terminal.
    npm_config_yes: 'true',
    // As root, code-server's postinstall refuses to run without it.
    npm_config_unsafe_perm: 'true',
    // npm 11 skips dependency install scripts unless approved. code-server's postinstall (and the
    // `npm install` it runs inside lib/vscode) builds VS Code's native modules, so this one pinned
    // install must run them; the environment variable reaches that nested npm too.
    npm_config_dangerously_allow_all_scripts: 'true',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    npm_config_update_notifier: 'false',
  };
  // node-gyp builds against the running Node's headers; without a nodedir it downloads them from
  // nodejs.org. Debian-style installs ship them under <prefix>/include/node: use those.
  const prefix = dirname(dirname(process.execPath));
  if (!env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_version.h'))) env.npm_config_nodedir = prefix;
  const started = Date.now();
  const npm = spawnSync('npm', ['install', '--no-save', '--no-package-lock', `code-server@${CODE_SERVER_VERSION}`], { cwd: installDir, env, stdio: 'inherit' });
  if (npm.status !== 0) fail(`npm install code-server@${CODE_SERVER_VERSION} failed (exit ${npm.status}). See the output above.`);

  // Check the postinstall really ran: VS Code's own modules, its native ones built, ripgrep in place.
  const checks = [
    join(vscodeDir, 'out/server-main.js'),
    join(vscodeDir, 'node_modules'),
    join(vscodeDir, 'node_modules/@vscode/spdlog/build/Release/spdlog.node'),
    join(vscodeDir, 'node_modules/node-pty/build/Release/pty.node'),
    join(vscodeDir, 'node_modules/@vscode/ripgrep/bin/rg'),
  ];
  const absent = checks.filter((p) => !existsSync(p));
  if (absent.length) fail(`code-server installed but its postinstall did not finish; missing:\n  ${absent.join('\n  ')}\nRun again with --force after fixing the cause shown above.`);
  writeFileSync(stampFile, CODE_SERVER_VERSION + '\n');
  const info = describe();
  log(`VS Code ${info.version} ready in ${Math.round((Date.now() - started) / 1000)} s.`);
  return info;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const info = ensureVSCode({ force: process.argv.includes('--force') });
    console.log(`VS Code ${info.version} (${info.commit?.slice(0, 10)}) at ${info.vscodeDir}`);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
}
