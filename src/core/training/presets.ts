/**
 * Named training presets offered by "Mnemo: Start Training" (and `mnemo train --preset ID`):
 * overrides over mnemo.json "training", in one table so the figures that justify them can change
 * them in one place. A preset names only what it changes; the rest is the project's config.
 */
export interface TrainingPreset {
  /** What `--preset` and the command's `preset` argument take. */
  id: string;
  label: string;
  /** One line on what it does and why (shown in the pick). */
  detail: string;
  config: Record<string, unknown>;
}

/**
 * The presets. "Memorize (small model)": the method's defaults (LoRA r 32, lr 1e-4, 1 epoch) are
 * tuned for 7B+ models; a ~100M model needs a higher rate, a larger rank and more passes over the
 * pairs to recall them (issue 18, item 8). Set its values (and its detail) from bench:memorization's
 * figures (the README table says which setting won): the ones here are a starting point, NOT measured.
 */
export const TRAINING_PRESETS: readonly TrainingPreset[] = [
  {
    id: 'memorize-small',
    label: 'Memorize (small model)',
    detail: 'LoRA r 64, learning rate 5e-4, 4 epochs: more rate, rank and passes than the defaults, for small models.',
    config: { method: 'lora', lora_r: 64, learning_rate: 5e-4, epochs: 4, save_best: 'auto' },
  },
];

/** A preset by id; undefined for none. */
export function trainingPreset(id: string): TrainingPreset | undefined {
  return TRAINING_PRESETS.find((p) => p.id === id);
}
