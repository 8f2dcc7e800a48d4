/**
 * The training config (config.json given to train.py): defaults, mnemo.json's `training` section
 * and a run's own overrides, checked key by key. The keys are train.py's (snake_case); train.py's
 * dataclass refuses unknown keys, so they are refused here first, with the key named.
 */
import { MnemoError } from '../errors';
import type { Project } from '../project';

type Check = (v: unknown) => boolean;

const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown) => typeof v === 'string';
const isBool = (v: unknown) => typeof v === 'boolean';
const orNull = (c: Check): Check => (v) => v === null || c(v);
const oneOf = (...values: string[]): Check => (v) => typeof v === 'string' && values.includes(v);

/** Every key train.py accepts: what it must be (for the message) and its check. */
export const TRAIN_KEYS: Record<string, { type: string; check: Check }> = {
  model: { type: 'a Hugging Face model id or a local path', check: (v) => isStr(v) && (v as string).trim() !== '' },
  gguf_file: { type: 'a file name inside the model folder, or null', check: orNull(isStr) },
  method: { type: '"lora" or "full"', check: oneOf('lora', 'full') },
  lora_r: { type: 'a positive integer', check: (v) => isInt(v) && (v as number) > 0 },
  lora_alpha: { type: 'a number or null (2 x lora_r)', check: orNull((v) => isNum(v) && (v as number) > 0) },
  lora_dropout: { type: 'a number from 0 to 1', check: (v) => isNum(v) && (v as number) >= 0 && (v as number) < 1 },
  lora_target_modules: { type: '"all-linear" or a list of module names', check: (v) => v === 'all-linear' || (Array.isArray(v) && v.length > 0 && v.every(isStr)) },
  learning_rate: { type: 'a positive number', check: (v) => isNum(v) && (v as number) > 0 },
  lr_scheduler: { type: '"cosine", "constant" or "linear"', check: oneOf('cosine', 'constant', 'linear') },
  warmup_steps: { type: 'a whole number of steps, or a ratio below 1', check: (v) => isNum(v) && (v as number) >= 0 && (isInt(v) || (v as number) < 1) },
  epochs: { type: 'a positive number', check: (v) => isNum(v) && (v as number) > 0 },
  batch_size: { type: 'a positive integer', check: (v) => isInt(v) && (v as number) > 0 },
  grad_accum: { type: 'a positive integer', check: (v) => isInt(v) && (v as number) > 0 },
  max_length: { type: 'an integer of at least 16', check: (v) => isInt(v) && (v as number) >= 16 },
  over_length: { type: '"drop" or "truncate"', check: oneOf('drop', 'truncate') },
  fold_system: { type: 'true or false', check: isBool },
  precision: { type: '"auto", "bf16", "fp16" or "fp32"', check: oneOf('auto', 'bf16', 'fp16', 'fp32') },
  gradient_checkpointing: { type: 'true or false', check: isBool },
  neftune_alpha: { type: 'a positive number or null', check: orNull((v) => isNum(v) && (v as number) > 0) },
  logging_steps: { type: 'a positive integer', check: (v) => isInt(v) && (v as number) > 0 },
  eval_steps: { type: 'an integer (0: only at the end)', check: (v) => isInt(v) && (v as number) >= 0 },
  save_best: { type: '"auto", "recall", "eval_loss" or "none" (true is "auto", false "none")', check: (v) => isBool(v) || oneOf('auto', 'recall', 'eval_loss', 'none')(v) },
  evals_per_epoch: { type: 'an integer (0: every eval_steps steps)', check: (v) => isInt(v) && (v as number) >= 0 },
  recall_file: { type: 'a file name or null (no recall measured)', check: orNull(isStr) },
  recall_limit: { type: 'an integer (0: every question; N: the first N of each set)', check: (v) => isInt(v) && (v as number) >= 0 },
  recall_max_new_tokens: { type: 'a positive integer', check: (v) => isInt(v) && (v as number) > 0 },
  recall_batch_size: { type: 'a positive integer', check: (v) => isInt(v) && (v as number) > 0 },
  recall_system_prompt: { type: 'a string or null', check: orNull(isStr) },
  seed: { type: 'an integer', check: isInt },
  load_in_4bit: { type: 'true or false', check: isBool },
  attn_implementation: { type: '"auto", "sdpa", "eager" or "flash_attention_2"', check: oneOf('auto', 'sdpa', 'eager', 'flash_attention_2') },
  merge: { type: 'true or false', check: isBool },
  push_to_hub: { type: 'a Hub repository id (namespace/name) or null', check: orNull((v) => isStr(v) && /^[\w.-]+\/[\w.-]+$/.test(v as string)) },
  hub_private: { type: 'true or false', check: isBool },
  train_file: { type: 'a file name', check: isStr },
  eval_file: { type: 'a file name or null', check: orNull(isStr) },
  output_dir: { type: 'a folder name', check: isStr },
  max_steps: { type: 'an integer (-1: no limit)', check: (v) => isInt(v) && (v as number) >= -1 && v !== 0 },
  ddp_find_unused_parameters: { type: 'true, false or null (decided per model)', check: orNull(isBool) },
};

/** Defaults sent explicitly, so run.json shows what a run trained with. Keys whose default is null are left to train.py. */
export const TRAIN_DEFAULTS: Readonly<Record<string, unknown>> = Object.freeze({
  method: 'lora',
  lora_r: 32,
  lora_dropout: 0.05,
  lora_target_modules: 'all-linear',
  learning_rate: 1e-4,
  lr_scheduler: 'cosine',
  warmup_steps: 0,
  epochs: 1,
  batch_size: 1,
  grad_accum: 1,
  max_length: 512,
  over_length: 'drop',
  fold_system: false,
  precision: 'auto',
  gradient_checkpointing: true,
  logging_steps: 1,
  eval_steps: 50,
  save_best: 'auto',
  evals_per_epoch: 0,
  recall_file: 'recall.jsonl',
  recall_limit: 0,
  recall_max_new_tokens: 48,
  recall_batch_size: 8,
  seed: 42,
  load_in_4bit: false,
  attn_implementation: 'auto',
  merge: false,
  hub_private: true,
  train_file: 'train.jsonl',
  eval_file: 'test.jsonl',
  output_dir: 'output',
  max_steps: -1,
});

/** Checks a config (or a part of one): every key known, every value of its type. `where` names the source in messages. */
export function checkTrainConfig(config: Record<string, unknown>, where: string): void {
  for (const [key, value] of Object.entries(config)) {
    const spec = TRAIN_KEYS[key];
    if (!spec) {
      const near = Object.keys(TRAIN_KEYS).find((k) => k.replace(/_/g, '') === key.toLowerCase().replace(/[_-]/g, ''));
      throw new MnemoError(
        `${where}: unknown training key "${key}".`,
        near ? `Did you mean "${near}"?` : `Known keys: ${Object.keys(TRAIN_KEYS).join(', ')}.`,
      );
    }
    if (!spec.check(value)) throw new MnemoError(`${where}: "${key}" must be ${spec.type}, not ${JSON.stringify(value)}.`, 'Fix the value and try again.');
  }
}

export function resolveTrainConfig(project: Project, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const fromProject = project.config.training ?? {};
  checkTrainConfig(fromProject, 'mnemo.json "training"');
  checkTrainConfig(overrides, 'the run\'s config');
  const config: Record<string, unknown> = { ...TRAIN_DEFAULTS, ...fromProject, ...overrides };
  if (typeof config.model !== 'string' || !config.model.trim()) {
    throw new MnemoError('No model to train.', 'Set "training.model" in mnemo.json (a Hugging Face id such as HuggingFaceTB/SmolLM2-135M-Instruct, or a local folder), or pass one in the run\'s config.');
  }
  return config;
}
