/**
 * What sets compared runs apart, in the words of a legend: the training settings whose values
 * differ ("lr 1e-4 vs 3e-4", "bs 1 vs 32") and, when they trained on different amounts of data,
 * how much more than the smallest ("9x data"). Editor-free, unit-tested.
 */
import { TRAIN_DEFAULTS } from '../../core/training/config';
import type { RunRecord } from '../../core/training/protocol';

/** Config keys as a legend names them, in the order they are listed. Others keep their own name. */
const SHORT: [string, string][] = [
  ['model', 'model'],
  ['method', 'method'],
  ['learning_rate', 'lr'],
  ['lr_scheduler', 'sched'],
  ['warmup_steps', 'warmup'],
  ['batch_size', 'bs'],
  ['grad_accum', 'accum'],
  ['epochs', 'epochs'],
  ['max_steps', 'max steps'],
  ['lora_r', 'r'],
  ['lora_alpha', 'alpha'],
  ['lora_dropout', 'dropout'],
  ['lora_target_modules', 'targets'],
  ['max_length', 'ctx'],
  ['over_length', 'over-length'],
  ['precision', 'precision'],
  ['neftune_alpha', 'neftune'],
  ['gradient_checkpointing', 'grad ckpt'],
  ['load_in_4bit', '4-bit'],
  ['seed', 'seed'],
  ['eval_steps', 'eval every'],
];

/** Values train.py uses for a key a run's config leaves out, so that "left out" and "the default" compare equal. */
const DEFAULTS: Record<string, unknown> = { lora_alpha: null, neftune_alpha: null, ...TRAIN_DEFAULTS };

/** Keys that differ between runs without saying anything about the training (paths, where it goes). */
const IGNORED = new Set(['output_dir', 'train_file', 'eval_file', 'push_to_hub', 'hub_private', 'logging_steps', 'save_best', 'merge', 'attn_implementation', 'gguf_file']);

/** A value as short as a legend wants it: 0.0003 -> 3e-4, a model path -> its last part. */
export function formatSetting(key: string, value: unknown): string {
  if (value === undefined) return '?';
  if (value === null) return 'none';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number') {
    if (value !== 0 && Math.abs(value) < 0.01) return value.toExponential().replace('e+', 'e').replace(/\.?0+e/, 'e');
    return String(value);
  }
  if (Array.isArray(value)) return value.map((v) => formatSetting(key, v)).join('+');
  if (typeof value === 'string') return key === 'model' ? (value.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? value) : value;
  return JSON.stringify(value);
}

export interface RunDifferences {
  /** Per run, in the order given: "lr 3e-4", "bs 32". Empty when nothing differs (or one run). */
  settings: string[][];
  /** Per run: "9x data (750 rows)" when the runs trained on different amounts of data. */
  dataHints: (string | undefined)[];
  /** One line for a header: "lr 1e-4 vs 3e-4 · bs 1 vs 32 · 1x vs 9x data". */
  summary: string;
}

/** How the runs' configs (and datasets) differ. */
export function describeDifferences(records: readonly Pick<RunRecord, 'config' | 'dataset'>[]): RunDifferences {
  const settings: string[][] = records.map(() => []);
  const parts: string[] = [];
  if (records.length > 1) {
    const keys = new Set<string>();
    for (const r of records) for (const k of Object.keys(r.config ?? {})) if (!IGNORED.has(k)) keys.add(k);
    const known = SHORT.map(([k]) => k);
    const ordered = [...known.filter((k) => keys.has(k)), ...[...keys].filter((k) => !known.includes(k)).sort()];
    for (const key of ordered) {
      const values = records.map((r) => (r.config && key in r.config ? r.config[key] : DEFAULTS[key]));
      const shown = values.map((v) => formatSetting(key, v));
      if (new Set(values.map((v) => JSON.stringify(v ?? null))).size < 2) continue;
      const name = SHORT.find(([k]) => k === key)?.[1] ?? key;
      shown.forEach((s, i) => settings[i].push(`${name} ${s}`));
      parts.push(`${name} ${[...new Set(shown)].join(' vs ')}`);
    }
  }
  const rows = records.map((r) => r.dataset?.train.rows);
  const known = rows.filter((n): n is number => typeof n === 'number' && n > 0);
  let dataHints: (string | undefined)[] = records.map(() => undefined);
  if (records.length > 1 && known.length === rows.length && new Set(known).size > 1) {
    const min = Math.min(...known);
    const ratio = (n: number) => {
      const x = n / min;
      return `${x >= 10 ? Math.round(x) : Number(x.toFixed(1))}x`;
    };
    dataHints = known.map((n) => `${ratio(n)} data (${n.toLocaleString('en-US')} rows)`);
    parts.push(`${[...new Set(known.map(ratio))].join(' vs ')} data`);
  } else if (records.length > 1 && new Set(records.map((r) => r.dataset?.train.sha256 ?? '')).size > 1 && known.length === rows.length) {
    dataHints = records.map((r) => `data ${r.dataset?.train.sha256.slice(0, 7)}`);
    parts.push('different datasets of the same size');
  }
  return { settings, dataHints, summary: parts.join(' · ') };
}
