/**
 * The LLM judge: sees the question, the reference and the answer, and replies in a strict format
 *   VERDICT: CORRECT            (or INCORRECT)
 *   REASON: <one line>
 * at temperature 0. An off-format reply is asked again (up to `retries` times), then the answer
 * is left ungraded: an unreadable verdict is never counted as correct.
 *
 * The prompt is a template: eval/judge.md in the project (mnemo.json `eval.judgePrompt` names
 * another file), else the built-in one. Placeholders: {{question}}, {{reference}}, {{answer}},
 * {{context}}.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MnemoError } from '../errors';
import type { ChatClient } from '../generation/client';
import { classifyError } from '../generation/client';
import type { Project } from '../project';
import type { JudgeVerdict } from './types';

export const JUDGE_PLACEHOLDERS = ['question', 'reference', 'answer', 'context'] as const;

export const DEFAULT_JUDGE_PROMPT = `You grade answers to questions about {{context}}. You see a question, the reference answer (which is correct) and a model's answer.

The model's answer is CORRECT when it gives the same facts as the reference: the same numbers, names and conditions, in any wording or order. Extra detail is fine unless it contradicts the reference. It is INCORRECT when it gets a fact wrong, leaves out a fact the question asks for, contradicts the reference, is empty, or does not answer. Rule numbers cited in the reference need not be repeated.

<question>
{{question}}
</question>

<reference>
{{reference}}
</reference>

<answer>
{{answer}}
</answer>

Reply with exactly two lines and nothing else:
VERDICT: CORRECT or VERDICT: INCORRECT
REASON: one short sentence saying why
`;

/** The default project file of the judge prompt. */
export const JUDGE_PROMPT_FILE = join('eval', 'judge.md');

export interface JudgePrompt {
  template: string;
  /** The project file it came from, or undefined for the built-in one. */
  file?: string;
  sha256: string;
}

export function checkJudgeTemplate(text: string, file = 'judge prompt'): void {
  const used = [...text.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]);
  const unknown = used.filter((p) => !(JUDGE_PLACEHOLDERS as readonly string[]).includes(p));
  if (unknown.length) throw new MnemoError(`${file} uses unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((p) => `{{${p}}}`).join(', ')}.`, `Use only ${JUDGE_PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')}.`, file);
  for (const need of ['question', 'reference', 'answer']) {
    if (!used.includes(need)) throw new MnemoError(`${file} has no {{${need}}}: the judge would not see it.`, `Add {{${need}}} to the template.`, file);
  }
}

/** The project's judge prompt (eval/judge.md or mnemo.json eval.judgePrompt), else the built-in one. */
export function loadJudgePrompt(project: Project): JudgePrompt {
  const rel = project.config.eval.judgePrompt ?? JUDGE_PROMPT_FILE;
  const file = join(project.root, rel);
  if (existsSync(file)) {
    const template = readFileSync(file, 'utf8');
    checkJudgeTemplate(template, file);
    return { template, file, sha256: sha(template) };
  }
  if (project.config.eval.judgePrompt) throw new MnemoError(`The judge prompt ${file} (mnemo.json eval.judgePrompt) does not exist.`, `Create it, or remove "eval.judgePrompt" to use the built-in prompt.`, file);
  return { template: DEFAULT_JUDGE_PROMPT, sha256: sha(DEFAULT_JUDGE_PROMPT) };
}

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function renderJudgePrompt(template: string, values: { question: string; reference: string; answer: string; context: string }): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, key: string) => (key in values ? values[key as keyof typeof values] : m));
}

/** Reads a judge reply; undefined when it is not in the required format. */
export function parseJudgeReply(text: string): { correct: boolean; reason: string } | undefined {
  const lines = text.replace(/\r\n?/g, '\n').trim().split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length !== 2) return undefined;
  const v = /^VERDICT:\s*(CORRECT|INCORRECT)\.?$/i.exec(lines[0]);
  const r = /^REASON:\s*(\S.*)$/i.exec(lines[1]);
  if (!v || !r) return undefined;
  return { correct: v[1].toUpperCase() === 'CORRECT', reason: r[1].trim() };
}

export interface JudgeOptions {
  client: ChatClient;
  model: string;
  prompt: JudgePrompt;
  /** mnemo.json `context`, e.g. "Cairnrun rules". */
  context: string;
  /** Off-format replies asked again (default 2: three requests at most). */
  retries?: number;
  timeoutMs?: number;
  maxTokens?: number;
  signal?: AbortSignal;
}

/** One judgement. Never throws for a bad reply or a failed request: the verdict is then null, with the reason. */
export async function judgeAnswer(opts: JudgeOptions, item: { question: string; reference: string; answer: string }): Promise<JudgeVerdict> {
  const prompt = renderJudgePrompt(opts.prompt.template, { ...item, context: opts.context });
  const attemptsMax = 1 + (opts.retries ?? 2);
  let raw = '';
  let attempts = 0;
  let lastFailure = '';
  const signal = opts.signal ?? new AbortController().signal;
  while (attempts < attemptsMax) {
    attempts++;
    try {
      const res = await opts.client.complete({ model: opts.model, prompt, temperature: 0, maxTokens: opts.maxTokens ?? 120 }, { signal, timeoutMs: opts.timeoutMs ?? 60_000 });
      raw = res.text;
      const parsed = parseJudgeReply(raw);
      if (parsed) return { ...parsed, attempts };
      lastFailure = 'off-format';
    } catch (err) {
      const f = classifyError(err);
      if (f.kind === 'cancelled') throw f;
      lastFailure = f.message;
      // A refused key or an unknown model will not get better by asking again.
      if (f.fatal) break;
    }
  }
  return lastFailure === 'off-format'
    ? { correct: null, reason: `the judge replied off-format ${attempts} time${attempts > 1 ? 's' : ''}`, raw: raw.slice(0, 2000), attempts }
    : { correct: null, reason: `the judge failed: ${lastFailure}`, attempts };
}
