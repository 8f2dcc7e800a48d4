/**
 * Prompt variants: templates with {{placeholders}}, one file per variant in the project's
 * prompts/ folder (prompts/<variant>.md). A variant without a file uses the built-in template.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MnemoError } from '../errors';

/** The placeholders a template may use. */
export const PLACEHOLDERS = {
  context: 'What the documents are about (mnemo.json "context"), e.g. "Cairnrun rules".',
  questions: 'How many pairs to ask for: one per tokensPerQuestion tokens of the chunk (at least 1).',
  chunk: 'The chunk text. Put it between <chunk> and </chunk> so the model can tell text from instructions.',
  source: 'The source file the chunk comes from, e.g. "sources/rulebook.pdf".',
} as const;

export type Placeholder = keyof typeof PLACEHOLDERS;

const RULES = `Rules for every pair:
- The question stands alone: it names {{context}} (for example "In {{context}}, ..."), so it makes sense to someone who has not read the text.
- The answer is correct according to the text and keeps its meaning, names and numbers, but says it in your own words: do not copy sentences verbatim.
- Plain text only: no numbering, no bullets, no markdown, no bold, no headings.
- Write each pair as a line starting with "Q: " and a line starting with "A: ", with one blank line between pairs. Write nothing before the first pair or after the last one.`;

const EXAMPLE = `Example of the format (about a different text):
Q: In Rivermark chess rules, how many squares may a ferry move in one turn?
A: A ferry may travel no more than three squares in a single turn.`;

const CHUNK = `<chunk>
{{chunk}}
</chunk>`;

/** The built-in variants: the method's two styles, an entity-preserving reversal, and atomic facts. */
export const BUILTIN_PROMPTS: Record<string, string> = {
  nuanced: `You write question-and-answer pairs that teach a language model the facts of a document by heart. The document is about {{context}}.

Read the text between <chunk> and </chunk>, then write {{questions}} question-and-answer pairs that cover all of it. Ask about the details that matter: conditions, exceptions, numbers, sequences, who may do what and when. Answer in one or two full sentences that keep the nuance of the text (the "unless", "only if", "at most").

${RULES}

${EXAMPLE}

${CHUNK}
`,
  simple: `You write question-and-answer pairs that teach a language model the facts of a document by heart. The document is about {{context}}.

Read the text between <chunk> and </chunk>, then write {{questions}} simple question-and-answer pairs that cover all of it. Each question asks for one fact; each answer is short and direct.

${RULES}

${EXAMPLE}

${CHUNK}
`,
  reversed: `You write question-and-answer pairs that teach a language model the facts of a document by heart, in both directions. The document is about {{context}}.

Models that learn "A leads to B" often cannot recall "B comes from A". Read the text between <chunk> and </chunk>, then write {{questions}} question-and-answer pairs that cover all of it, where every answer, and about half of the questions, put the facts in the opposite order to the text: start from what the text says last and lead back to what it says first (if the text says "a player who handles the stone concedes a Free Cast", ask "In {{context}}, what does a player concede a Free Cast for?" and answer "Handling the stone is what concedes a Free Cast."). Keep every name, term and number exactly as the text writes it; only the order changes.

${RULES}

${EXAMPLE}

${CHUNK}
`,
  atomic: `You write question-and-answer pairs that teach a language model the facts of a document by heart. The document is about {{context}}.

Read the text between <chunk> and </chunk>. First list its atomic facts, each a single short statement, on lines "FACT 1: ...", "FACT 2: ...", and so on. After each fact line, write two or three question-and-answer pairs that ask for that fact in different ways (different wording, different direction), about {{questions}} pairs or more in all, so that every fact is covered.

${RULES}
- Fact lines ("FACT n: ...") are the only other lines allowed.

Example of the format (about a different text):
FACT 1: A ferry may move at most three squares per turn.
Q: In Rivermark chess rules, how many squares may a ferry move in one turn?
A: A ferry may travel no more than three squares in a single turn.

Q: In Rivermark chess rules, which piece is limited to three squares per turn?
A: The ferry is the piece that may move at most three squares each turn.

${CHUNK}
`,
};

export interface PromptTemplate {
  variant: string;
  text: string;
  /** Where it came from: the project's prompts/<variant>.md, or the built-in default. */
  origin: 'file' | 'builtin';
  file?: string;
}

export function promptFile(promptsDir: string, variant: string): string {
  return join(promptsDir, `${variant}.md`);
}

/** Loads each variant's template: the project's file when there is one, else the built-in. */
export function loadPromptTemplates(promptsDir: string, variants: string[]): PromptTemplate[] {
  return variants.map((variant) => {
    if (!/^[\w.-]+$/.test(variant)) {
      throw new MnemoError(`Prompt variant "${variant}" is not a usable name.`, 'Use letters, digits, "-", "_" or "." in generation.variants in mnemo.json.');
    }
    const file = promptFile(promptsDir, variant);
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8');
      checkTemplate(text, file);
      return { variant, text, origin: 'file' as const, file };
    }
    const builtin = BUILTIN_PROMPTS[variant];
    if (builtin === undefined) {
      throw new MnemoError(
        `Prompt variant "${variant}" has no template: ${file} does not exist and there is no built-in "${variant}".`,
        `Create prompts/${variant}.md (run "Mnemo: Edit Prompt Variants" for examples), or use one of: ${Object.keys(BUILTIN_PROMPTS).join(', ')}.`,
        file,
      );
    }
    return { variant, text: builtin, origin: 'builtin' as const };
  });
}

/** A template must show the model the chunk, and may only use known placeholders. */
export function checkTemplate(text: string, file = 'template'): void {
  const used = [...text.matchAll(/\{\{\s*([\w.-]+)\s*\}\}/g)].map((m) => m[1]);
  const unknown = used.filter((p) => !(p in PLACEHOLDERS));
  if (unknown.length) {
    throw new MnemoError(`${file} uses unknown placeholder ${unknown.map((u) => `{{${u}}}`).join(', ')}.`, `Known placeholders: ${Object.keys(PLACEHOLDERS).map((p) => `{{${p}}}`).join(', ')}.`, file);
  }
  if (!used.includes('chunk')) {
    throw new MnemoError(`${file} never shows the model the text: it has no {{chunk}} placeholder.`, 'Add the chunk, e.g. "<chunk>\\n{{chunk}}\\n</chunk>", to the template.', file);
  }
}

/** Fills a template's placeholders (in one pass, so text inside the chunk is never re-expanded). */
export function renderPrompt(template: string, values: Record<Placeholder, string | number>): string {
  return template.replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (whole, name: string) => (name in values ? String(values[name as Placeholder]) : whole));
}

/** Writes the built-in templates into prompts/ for editing; never overwrites a file. Returns the files written. */
export function writeBuiltinPrompts(promptsDir: string): { written: string[]; kept: string[] } {
  mkdirSync(promptsDir, { recursive: true });
  const written: string[] = [];
  const kept: string[] = [];
  for (const [variant, text] of Object.entries(BUILTIN_PROMPTS)) {
    const file = promptFile(promptsDir, variant);
    try {
      writeFileSync(file, text, { flag: 'wx' });
      written.push(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      kept.push(file);
    }
  }
  return { written, kept };
}
