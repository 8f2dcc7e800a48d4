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
 * tuned for 7B+ models. On SmolLM2-135M-Instruct (bench:memorization, chunks 2-5 of the example
 * rule book, 1 torch thread; the README's memorization table) they recalled nothing: 9x at lr 1e-4
 * for 1 epoch scored 0/11 on the public questions and 0/26 on the held-out pairs, as the base model
 * did, while lr 1e-3 for 3 epochs scored 4/11 and 3/26. save_best 'auto' keeps the checkpoint that
 * recalls best, not the one with the lowest held-out loss: in the 1x run trained for 159 steps that
 * loss rose to 6.24 while its recall rose.
 */
export const TRAINING_PRESETS: readonly TrainingPreset[] = [
  {
    id: 'memorize-small',
    label: 'Memorize (small model)',
    detail: 'LoRA r 32, learning rate 1e-3, 3 epochs, kept by recall: what made SmolLM2-135M recall the rule book (the defaults taught it nothing). Costs general knowledge: see the forgetting check.',
    config: { method: 'lora', lora_r: 32, lora_alpha: 64, learning_rate: 1e-3, epochs: 3, lr_scheduler: 'cosine', save_best: 'auto' },
  },
];

/** A preset by id; undefined for none. */
export function trainingPreset(id: string): TrainingPreset | undefined {
  return TRAINING_PRESETS.find((p) => p.id === id);
}
