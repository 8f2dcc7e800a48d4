// The Python environment the tests and benchmarks use: .venv at the repository root with the exact
// pins of src/python/requirements-ci.txt. Made on first use (a few minutes: torch from PyPI pulls
// NVIDIA's CUDA libraries, several GB, even for CPU use) and made again only when the pins change.
//   node scripts/python-env.mjs          (npm test runs it before the tests)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const venv = join(root, '.venv');
const python = join(venv, 'bin', 'python');
const requirements = join(root, 'src', 'python', 'requirements-ci.txt');
const stamp = join(venv, '.mnemo-requirements.sha256');

const wanted = createHash('sha256').update(readFileSync(requirements)).digest('hex');
if (existsSync(python) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === wanted) {
  console.log(`python: .venv is up to date with src/python/requirements-ci.txt`);
  process.exit(0);
}

const started = Date.now();
const base = process.env.MNEMO_PYTHON ?? 'python3';
console.log(`python: making .venv from src/python/requirements-ci.txt with ${base} (a few minutes, once)…`);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
try {
  if (!existsSync(python)) run(base, ['-m', 'venv', venv]);
  run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', requirements]);
} catch (err) {
  console.error(
    `python: could not make .venv (${err instanceof Error ? err.message.split('\n')[0] : String(err)}). ` +
      `It needs Python 3.10+ with venv (Debian: apt-get install python3 python3-venv) and access to PyPI; ` +
      `MNEMO_PYTHON names another interpreter.`,
  );
  // A half-made venv would pass the existence check next time: start over then.
  rmSync(stamp, { force: true });
  process.exit(1);
}
writeFileSync(stamp, wanted + '\n');
const version = execFileSync(python, ['--version'], { encoding: 'utf8' }).trim();
console.log(`python: ${version}, .venv made in ${Math.round((Date.now() - started) / 1000)} s`);
