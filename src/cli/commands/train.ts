import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { MnemoError } from '../../core/errors';
import { adviseRun, attachRun, FIND_EPOCHS_DEFAULTS, readRun, readRecallFile, RUN_FILES, startFindEpochs, startRun, TRAINING_PRESETS, trainingPreset, type MetricEvent, type RunHandle, type RunRecord, type SshOptions, type TrainingHooks } from '../../core/training';
import { formatKept, formatRecall } from '../../core/training/protocol';
import { gradeRecall, type RecallQuestion } from '../../core/training/recall';
import type { Project } from '../../core/project';
import { loadProject } from './shared';
import type { CliCommand } from './types';

/** The folder holding train.py: src/python from the sources (tsx) or beside the bundle (dist/../src/python). */
export function defaultScriptsDir(): string {
  const candidates = [join(__dirname, '..', '..', 'python'), join(__dirname, '..', 'src', 'python'), join(__dirname, 'python')];
  return candidates.find((d) => existsSync(join(d, 'train.py'))) ?? candidates[0];
}

/** SSH settings from flags, then the environment (MNEMO_SSH_CONFIG, MNEMO_KNOWN_HOSTS), then OpenSSH's defaults. */
export function sshOptions(values: Record<string, unknown>): SshOptions {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  return {
    sshConfigPath: str('ssh-config') ?? (process.env.MNEMO_SSH_CONFIG || undefined),
    knownHostsPath: str('known-hosts') ?? (process.env.MNEMO_KNOWN_HOSTS || undefined),
    python: str('python'),
    remoteRoot: str('remote-root'),
  };
}

function ask(question: string, hidden = false): Promise<string> {
  return new Promise((resolveAnswer) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    if (hidden) {
      // Echo nothing while a passphrase is typed.
      (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
        if (s.includes(question)) process.stderr.write(s);
      };
    }
    rl.question(question, (answer) => {
      rl.close();
      if (hidden) process.stderr.write('\n');
      resolveAnswer(answer);
    });
  });
}

/** The terminal's answers to the core's questions. Without a terminal, nothing is trusted or typed. */
export function cliHooks(values: Record<string, unknown>): TrainingHooks {
  const pinned = typeof values['trust-host-key'] === 'string' ? values['trust-host-key'] : undefined;
  return {
    async acceptHostKey(host, fingerprint) {
      if (pinned) return pinned === fingerprint;
      if (!process.stdin.isTTY) {
        console.error(`The host ${host} is not in known_hosts; its key fingerprint is ${fingerprint}.`);
        console.error(`If that is the host's key, run again with --trust-host-key ${fingerprint} (or connect once with ssh).`);
        return false;
      }
      const a = await ask(`The authenticity of ${host} can't be established.\nIts key fingerprint is ${fingerprint}.\nTrust it and remember it (yes/no)? `);
      return /^y(es)?$/i.test(a.trim());
    },
    async passphrase(keyPath) {
      if (!process.stdin.isTTY) {
        console.error(`The key ${keyPath} needs a passphrase and there is no terminal to type it: add the key to ssh-agent (ssh-add).`);
        return undefined;
      }
      const p = await ask(`Passphrase for ${keyPath}: `, true);
      return p === '' ? undefined : p;
    },
    log: (line) => console.error(line),
  };
}

/** One line per event worth a line. `questions`: the run's recall.jsonl, to grade recall answers with the core's rule. */
export function describeEvent(ev: MetricEvent, total?: number, questions?: ReadonlyMap<string, RecallQuestion>): string | undefined {
  const n = (x: number | null | undefined, d = 4) => (typeof x === 'number' ? x.toFixed(d) : 'n/a');
  switch (ev.event) {
    case 'status':
      return `[${ev.state}]${ev.message ? ' ' + ev.message : ''}`;
    case 'start':
      return `training: ${ev.total_steps} steps, ${ev.train_rows} train rows, ${ev.eval_rows} eval rows${ev.device ? `, ${ev.device}` : ''}${ev.over_length_rows ? `, ${ev.over_length_rows} rows over max_length (${ev.over_length_action ?? 'drop'})` : ''}`;
    case 'log':
      return `step ${ev.step}${total ? `/${total}` : ''}  loss ${n(ev.loss)}${ev.lr != null ? `  lr ${ev.lr.toExponential(2)}` : ''}`;
    case 'eval':
      return `eval at step ${ev.step}: eval_loss ${n(ev.eval_loss)}`;
    case 'recall': {
      const p = gradeRecall(ev, questions);
      const tags = Object.entries(p.byTag).filter(([t]) => t !== 'held-out').map(([t, c]) => `${t} ${formatRecall(c) ?? '-'}`);
      return `recall at step ${ev.step} (${ev.set === 'eval' ? 'eval set' : 'held-out pairs'}): ${formatRecall(p) ?? 'no question'}${tags.length ? `  ${tags.join(', ')}` : ''}${p.regraded ? '' : ' (as the script graded it)'}`;
    }
    case 'checkpoint':
      return `checkpoint at step ${ev.step}${ev.best ? ' (best so far)' : ''}`;
    case 'done': {
      const kept = typeof ev.best_step === 'number' ? formatKept({ step: ev.best_step, by: ev.best_by !== undefined ? ev.best_by : 'eval_loss', value: ev.best_value !== undefined ? ev.best_value : ev.best_eval_loss }) : undefined;
      return `done: saved to ${ev.output_dir}${kept ? ` (kept ${kept})` : ''}`;
    }
    case 'error':
      return `error (${ev.kind ?? 'other'}): ${ev.message}${ev.hint ? ` ${ev.hint}` : ''}`;
  }
}

/** Prints a run's events until it ends; Ctrl+C leaves it running. Returns the exit code. */
export async function follow(handle: RunHandle, json: boolean, project?: Project): Promise<number> {
  let total: number | undefined;
  const questions = project ? readRecallFile(join(project.runsDir, handle.record.id, RUN_FILES.recall))?.questions : undefined;
  handle.onEvent((ev) => {
    if (ev.event === 'start') total = ev.total_steps;
    if (json) console.log(JSON.stringify(ev));
    else {
      const line = describeEvent(ev, total, questions);
      if (line) console.log(line);
    }
  });
  const onSigint = () => {
    handle.detach();
    console.error(`\nStopped following run ${handle.record.id}; it goes on on its target.`);
    console.error(`Follow it again: npm run mnemo -- train --attach ${handle.record.id}   Cancel it: npm run mnemo -- runs --cancel ${handle.record.id}`);
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  let rec: RunRecord;
  try {
    rec = await handle.finished;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  return report(rec);
}

function report(rec: RunRecord): number {
  if (rec.advice) {
    console.error(`Find Epochs advises ${rec.advice.epochs} epoch${rec.advice.epochs > 1 ? 's' : ''} (cosine schedule). ${rec.advice.reason}`);
    console.error(`Train with these settings: npm run mnemo -- train --advice ${rec.id}`);
  }
  if (rec.state === 'done') {
    console.error(`Run ${rec.id} is done${rec.downloaded ? `; outputs in runs/${rec.id}/output` : ''}.`);
    return 0;
  }
  if (rec.state === 'failed') console.error(`error: run ${rec.id} failed: ${rec.error?.message ?? 'no reason recorded'}${rec.error?.hint ? ` ${rec.error.hint}` : ''}`);
  else console.error(`Run ${rec.id} was ${rec.state}.`);
  return 1;
}

export const train: CliCommand = {
  name: 'train',
  summary: 'Train on the dataset: start a run here or on an SSH host, follow its metrics (or --attach to a run).',
  help: [
    'npm run mnemo -- train --project DIR [--target local|HOST] [--config FILE] [--detach] [--json]',
    'npm run mnemo -- train --project DIR --attach RUN_ID',
    'npm run mnemo -- train --project DIR --find-epochs [--epochs N]   then   train --advice RUN_ID',
    '',
    'Starts train.py on data/train.jsonl (data/test.jsonl for evaluation) with the config of mnemo.json',
    '"training", overridden by --config (a JSON object of the same keys), and prints its progress. The',
    'script runs detached: Ctrl+C (or --detach) leaves it running; --attach follows it again.',
    '  --target HOST        a Host of ~/.ssh/config (default: local, with MNEMO_PYTHON, else Mnemo\'s venv in ~/.cache/mnemo, made once)',
    '  --config FILE        JSON with training keys that override mnemo.json (e.g. {"max_steps": 100})',
    '  --python PATH        the Python to use (on the host for SSH; else Mnemo sets up a venv there once)',
    '  --remote-root DIR    where runs go on the host (default ~/mnemo-runs)',
    '  --ssh-config FILE    ssh config to read hosts from (default $MNEMO_SSH_CONFIG, else ~/.ssh/config)',
    '  --known-hosts FILE   known_hosts to check host keys against (default $MNEMO_KNOWN_HOSTS, else ~/.ssh/known_hosts)',
    '  --trust-host-key FP  accept an unknown host whose key has this SHA256:... fingerprint (no terminal needed)',
    '  --scripts DIR        the folder holding train.py (default: the one shipped with Mnemo)',
    '  --label TEXT         a label for the run',
    `  --preset ID          a named preset under --config (${TRAINING_PRESETS.map((p) => `${p.id}: ${p.label}`).join('; ')})`,
    `  --find-epochs        a probe run: constant learning rate for --epochs N (default ${FIND_EPOCHS_DEFAULTS.epochs}), eval loss and recall 4 times`,
    '                       per epoch; when it ends, where the eval loss turns up and recall peaks, and the advised epochs',
    '  --advice RUN_ID      train with a Find Epochs probe\'s advice (its settings, cosine, the advised epochs)',
    '  --json               print the metric events as JSON lines',
    '',
    'HF_TOKEN from the environment reaches the script through its environment (never a flag or a file).',
    'Key passphrases are asked for on the terminal; without one, use ssh-agent.',
  ].join('\n'),
  options: {
    target: { type: 'string', default: 'local' },
    config: { type: 'string' },
    attach: { type: 'string' },
    detach: { type: 'boolean' },
    json: { type: 'boolean' },
    python: { type: 'string' },
    'remote-root': { type: 'string' },
    'ssh-config': { type: 'string' },
    'known-hosts': { type: 'string' },
    'trust-host-key': { type: 'string' },
    scripts: { type: 'string' },
    label: { type: 'string' },
    preset: { type: 'string' },
    'find-epochs': { type: 'boolean' },
    epochs: { type: 'string' },
    advice: { type: 'string' },
  },
  async run(values) {
    const project = loadProject(values);
    const hooks = cliHooks(values);
    const ssh = sshOptions(values);
    if (typeof values.attach === 'string') {
      const handle = await attachRun(project, values.attach, { hooks, ssh });
      return follow(handle, !!values.json, project);
    }
    let config: Record<string, unknown> | undefined;
    if (typeof values.config === 'string') {
      const file = resolve(values.config);
      try {
        config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      } catch (err) {
        throw new MnemoError(`Could not read the config ${file}: ${(err as Error).message}.`, 'Pass a JSON object of training keys, e.g. {"max_steps": 100}.', file);
      }
      if (!config || typeof config !== 'object' || Array.isArray(config)) throw new MnemoError(`${file} is not a JSON object.`, 'Pass a JSON object of training keys, e.g. {"max_steps": 100}.', file);
    }
    if (typeof values.preset === 'string') {
      const preset = trainingPreset(values.preset);
      if (!preset) throw new MnemoError(`There is no training preset "${values.preset}".`, `Presets: ${TRAINING_PRESETS.map((p) => p.id).join(', ')}.`);
      config = { ...preset.config, ...config };
    }
    let label = typeof values.label === 'string' ? values.label : undefined;
    if (typeof values.advice === 'string') {
      const probe = readRun(project, values.advice);
      const advice = probe.advice ?? adviseRun(project, probe.id)?.advice;
      if (!advice) throw new MnemoError(`Run ${probe.id} has no Find Epochs advice${probe.purpose === 'find-epochs' ? ' yet: it is still running' : ': it is not a Find Epochs probe'}.`, 'Run `mnemo train --find-epochs` and wait until it ends.');
      config = { ...probe.config, ...advice.config, ...config };
      label ??= `${advice.epochs} epoch${advice.epochs > 1 ? 's' : ''} (Find Epochs ${probe.id})`;
    }
    let epochs: number | undefined;
    if (values.epochs !== undefined) {
      epochs = Number(values.epochs);
      if (!values['find-epochs']) throw new MnemoError('--epochs goes with --find-epochs (the probe\'s length).', 'For a normal run, set "epochs" in mnemo.json or --config.');
      if (!Number.isFinite(epochs) || epochs <= 0) throw new MnemoError(`--epochs must be a positive number, not "${String(values.epochs)}".`, 'E.g. --epochs 4.');
    }
    const target = String(values.target);
    const env: Record<string, string> = {};
    if (process.env.HF_TOKEN) env.HF_TOKEN = process.env.HF_TOKEN;
    const begin = values['find-epochs'] ? (p: Project, o: Parameters<typeof startRun>[1]) => startFindEpochs(p, { ...o, epochs }) : startRun;
    const handle = await begin(project, {
      target,
      config,
      ssh,
      hooks,
      env,
      scriptsDir: typeof values.scripts === 'string' ? resolve(values.scripts) : defaultScriptsDir(),
      localPython: target === 'local' && typeof values.python === 'string' ? values.python : undefined,
      label,
    });
    console.error(`Started run ${handle.record.id} on ${target}.`);
    if (values.detach) {
      handle.detach();
      console.log(handle.record.id);
      return 0;
    }
    return follow(handle, !!values.json, project);
  },
};
