/** Shared by the training tests: a project with a dataset, a scripts folder holding the fake trainer, waiting on a handle. */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Project } from '../../src/core/project';
import type { RunHandle, TrainingHooks } from '../../src/core/training';
import { parseMetricLines } from '../../src/core/training/metrics';
import type { MetricEvent } from '../../src/core/training/protocol';

export const FAKE_TRAIN = join(__dirname, '..', 'fixtures', 'fake-train.py');

export function trainingProject(name = 'mnemo-train-'): Project {
  const root = mkdtempSync(join(tmpdir(), name));
  writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', training: { model: 'fake/model', eval_steps: 5 } }));
  mkdirSync(join(root, 'data'));
  const row = (q: string, a: string) => JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] }) + '\n';
  writeFileSync(join(root, 'data', 'train.jsonl'), row('In Cairnrun, how far?', 'Nine metres.') + row('In Cairnrun, who casts?', 'The captain — é.'));
  writeFileSync(join(root, 'data', 'test.jsonl'), row('In Cairnrun, how long?', 'Ten minutes.'));
  return Project.load(root);
}

/** A scripts folder whose train.py is the fake trainer (plus an empty requirements.txt). */
export function fakeScripts(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-scripts-'));
  copyFileSync(FAKE_TRAIN, join(dir, 'train.py'));
  writeFileSync(join(dir, 'common.py'), '# not used by the fake\n');
  writeFileSync(join(dir, 'requirements.txt'), '');
  return dir;
}

export interface RecordingHooks extends TrainingHooks {
  lines: string[];
  asked: Array<{ host: string; fingerprint: string }>;
  passphrasesAsked: string[];
}

export function hooks(o: { accept?: boolean; passphrases?: Array<string | undefined> } = {}): RecordingHooks {
  const h: RecordingHooks = {
    lines: [],
    asked: [],
    passphrasesAsked: [],
    acceptHostKey: (host, fingerprint) => {
      h.asked.push({ host, fingerprint });
      return Promise.resolve(o.accept ?? false);
    },
    passphrase: (keyPath) => {
      h.passphrasesAsked.push(keyPath);
      return Promise.resolve(o.passphrases?.shift());
    },
    log: (line) => h.lines.push(line),
  };
  return h;
}

export function eventsOf(file: string): MetricEvent[] {
  return parseMetricLines(readFileSync(file, 'utf8')).events;
}

/** Resolves when the handle has seen an event matching `pred` (checked on every record change). */
export function untilEvent(handle: RunHandle, pred: (ev: MetricEvent) => boolean): Promise<MetricEvent> {
  return new Promise((resolve, reject) => {
    const sub = handle.onEvent((ev) => {
      if (pred(ev)) {
        sub.dispose();
        resolve(ev);
      }
    });
    handle.finished.then(
      (r) => reject(new Error(`the run ended (${r.state}) before the event came`)),
      (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))),
    );
  });
}

/** Resolves when `pred` holds, checked after each hook log line and each record change. */
export function until(handle: RunHandle | undefined, h: RecordingHooks, pred: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (pred()) return resolve();
    const origLog = h.log!;
    let done = false;
    const check = () => {
      if (!done && pred()) {
        done = true;
        h.log = origLog;
        sub?.dispose();
        resolve();
      }
    };
    h.log = (line) => {
      origLog(line);
      check();
    };
    const sub = handle?.onRecord(check);
  });
}

export const isStep = (n: number) => (ev: MetricEvent) => ev.event === 'log' && ev.step === n;
