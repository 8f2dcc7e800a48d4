import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { MnemoError } from '../../core/errors';
import { attachRun, startRun, type MetricEvent, type RunHandle, type RunRecord, type SshOptions, type TrainingHooks } from '../../core/training';
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

/** One line per event worth a line. */
export function describeEvent(ev: MetricEvent, total?: number): string | undefined {
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
    case 'checkpoint':
      return `checkpoint at step ${ev.step}${ev.best ? ' (best so far)' : ''}`;
    case 'done':
      return `done: saved to ${ev.output_dir}${ev.best_eval_loss != null ? ` (best eval_loss ${n(ev.best_eval_loss)} at step ${ev.best_step})` : ''}`;
    case 'error':
      return `error (${ev.kind ?? 'other'}): ${ev.message}${ev.hint ? ` ${ev.hint}` : ''}`;
  }
}

/** Prints a run's events until it ends; Ctrl+C leaves it running. Returns the exit code. */
export async function follow(handle: RunHandle, json: boolean): Promise<number> {
  let total: number | undefined;
  handle.onEvent((ev) => {
    if (ev.event === 'start') total = ev.total_steps;
    if (json) console.log(JSON.stringify(ev));
    else {
      const line = describeEvent(ev, total);
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
    '',
    'Starts train.py on data/train.jsonl (data/test.jsonl for evaluation) with the config of mnemo.json',
    '"training", overridden by --config (a JSON object of the same keys), and prints its progress. The',
    'script runs detached: Ctrl+C (or --detach) leaves it running; --attach follows it again.',
    '  --target HOST        a Host of ~/.ssh/config (default: local, with the project\'s .venv Python or python3)',
    '  --config FILE        JSON with training keys that override mnemo.json (e.g. {"max_steps": 100})',
    '  --python PATH        the Python to use (on the host for SSH; else Mnemo sets up a venv there once)',
    '  --remote-root DIR    where runs go on the host (default ~/mnemo-runs)',
    '  --ssh-config FILE    ssh config to read hosts from (default $MNEMO_SSH_CONFIG, else ~/.ssh/config)',
    '  --known-hosts FILE   known_hosts to check host keys against (default $MNEMO_KNOWN_HOSTS, else ~/.ssh/known_hosts)',
    '  --trust-host-key FP  accept an unknown host whose key has this SHA256:... fingerprint (no terminal needed)',
    '  --scripts DIR        the folder holding train.py (default: the one shipped with Mnemo)',
    '  --label TEXT         a label for the run',
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
  },
  async run(values) {
    const project = loadProject(values);
    const hooks = cliHooks(values);
    const ssh = sshOptions(values);
    if (typeof values.attach === 'string') {
      const handle = await attachRun(project, values.attach, { hooks, ssh });
      return follow(handle, !!values.json);
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
    const target = String(values.target);
    const env: Record<string, string> = {};
    if (process.env.HF_TOKEN) env.HF_TOKEN = process.env.HF_TOKEN;
    const handle = await startRun(project, {
      target,
      config,
      ssh,
      hooks,
      env,
      scriptsDir: typeof values.scripts === 'string' ? resolve(values.scripts) : defaultScriptsDir(),
      localPython: target === 'local' && typeof values.python === 'string' ? values.python : undefined,
      label: typeof values.label === 'string' ? values.label : undefined,
    });
    console.error(`Started run ${handle.record.id} on ${target}.`);
    if (values.detach) {
      handle.detach();
      console.log(handle.record.id);
      return 0;
    }
    return follow(handle, !!values.json);
  },
};
