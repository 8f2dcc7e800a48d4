import Ajv, { type ErrorObject } from 'ajv';
import { findNodeAtLocation, parseTree, type Node as JsonNode, type ParseError, printParseErrorCode } from 'jsonc-parser';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import schema from '../../schemas/mnemo.schema.json';
import { MnemoError } from './errors';

/** File and folder names of a Mnemo project (see DESIGN.md). */
export const PROJECT_FILE = 'mnemo.json';
export const FOLDERS = ['sources', 'qa', 'eval', 'data', 'runs', 'prompts', '.mnemo'] as const;

export interface TemperatureRange {
  count?: number;
  min?: number;
  max?: number;
}

/** mnemo.json as written by the user; every field but `context` is optional. */
export interface ProjectConfigFile {
  $schema?: string;
  name?: string;
  context: string;
  keywords?: string[];
  tokenizer?: 'o200k_base' | 'cl100k_base';
  chunking?: { tokens?: number };
  generation?: {
    baseUrl?: string;
    model?: string;
    variants?: string[];
    temperatures?: number[] | TemperatureRange;
    tokensPerQuestion?: number;
    concurrency?: number;
    maxOutputTokens?: number;
    budgetUsd?: number;
    prices?: Record<string, { input: number; output: number }>;
    filters?: Partial<GenerationFilters>;
  };
  dataset?: {
    turnsPerRow?: number;
    rowTokenBudget?: number;
    testFraction?: number;
    seed?: number;
    systemPrompt?: string;
    csv?: boolean;
    sourceTextRatio?: number;
    license?: string;
  };
  hub?: { repo?: string; private?: boolean };
  eval?: {
    questions?: string;
    judgePrompt?: string;
    judge?: { baseUrl?: string; model?: string };
    grading?: 'contains' | 'exact';
    maxNewTokens?: number;
    topK?: number;
    concurrency?: number;
    timeoutSeconds?: number;
  };
  /** Training defaults: train.py's config.json keys (snake_case), checked in src/core/training/config.ts. */
  training?: Record<string, unknown>;
}

/** mnemo.json with every default filled in: what the rest of the code reads. */
export interface ProjectConfig {
  name: string;
  context: string;
  keywords: string[];
  tokenizer: 'o200k_base' | 'cl100k_base';
  chunking: { tokens: number };
  generation: {
    baseUrl?: string;
    model?: string;
    variants: string[];
    temperatures: number[];
    tokensPerQuestion: number;
    concurrency?: number;
    maxOutputTokens: number;
    budgetUsd?: number;
    prices: Record<string, { input: number; output: number }>;
    filters: GenerationFilters;
  };
  dataset: {
    turnsPerRow: number;
    rowTokenBudget: number;
    testFraction: number;
    seed: number;
    systemPrompt?: string;
    csv: boolean;
    sourceTextRatio: number;
    license: string;
  };
  hub: { repo?: string; private: boolean };
  eval: {
    questions: string;
    /** A project file with the judge prompt (default eval/judge.md when it exists, else the built-in prompt). */
    judgePrompt?: string;
    judge: { baseUrl?: string; model?: string };
    /** The matcher that grades when no judge is configured. */
    grading: 'contains' | 'exact';
    maxNewTokens: number;
    /** Chunks put in the prompt of an API baseline with context "chunks". */
    topK: number;
    concurrency: number;
    timeoutSeconds: number;
  };
  /** mnemo.json `training` as written (defaults are filled in by resolveTrainConfig). */
  training: Record<string, unknown>;
}

/** mnemo.json `generation.filters`: which pair filters run as answers are parsed (see src/core/generation/filters.ts). */
export interface GenerationFilters {
  exampleEcho: boolean;
  ungrounded: boolean;
  /** Least share of an answer's content words and numbers found in its chunk (the context's words count as found). */
  groundedness: number;
  vacuous: boolean;
  duplicateInAnswer: boolean;
}

export const DEFAULT_FILTERS: GenerationFilters = { exampleEcho: true, ungrounded: true, groundedness: 0.5, vacuous: true, duplicateInAnswer: true };

export interface ConfigProblem {
  /** JSON pointer of the offending key, e.g. "/chunking/tokens" ("" for the whole file). */
  pointer: string;
  message: string;
  /** 0-based position of the key in mnemo.json, when it can be found. */
  line?: number;
  column?: number;
}

export class ProjectConfigError extends MnemoError {
  constructor(
    readonly configPath: string,
    readonly problems: ConfigProblem[],
  ) {
    const first = problems[0];
    const where = first.line !== undefined ? `:${first.line + 1}:${(first.column ?? 0) + 1}` : '';
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    super(`${configPath}${where}: ${first.message}${more}.`, 'Fix mnemo.json and save it; Mnemo reloads it.', configPath);
    this.name = 'ProjectConfigError';
  }
}

/** Evenly spaced temperatures from min to max inclusive (the method's 0.01..1.2 in 9 steps). */
export function temperatureGrid(count = 9, min = 0.01, max = 1.2): number[] {
  if (count <= 1) return [round(min)];
  return Array.from({ length: count }, (_, i) => round(min + ((max - min) * i) / (count - 1)));
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The capitalised words of the context phrase: what a standalone question should name. */
export function defaultKeywords(context: string): string[] {
  const words = context.match(/\b[A-Z][\p{L}\p{N}'-]*/gu) ?? [];
  return words.length ? [...new Set(words)] : context.split(/\s+/).filter((w) => w.length > 3);
}

export function withDefaults(file: ProjectConfigFile): ProjectConfig {
  const g = file.generation ?? {};
  const d = file.dataset ?? {};
  const t = g.temperatures;
  return {
    name: file.name ?? 'mnemo-project',
    context: file.context,
    keywords: file.keywords?.length ? file.keywords : defaultKeywords(file.context),
    tokenizer: file.tokenizer ?? 'o200k_base',
    chunking: { tokens: file.chunking?.tokens ?? 500 },
    generation: {
      baseUrl: g.baseUrl,
      model: g.model,
      variants: g.variants ?? ['nuanced', 'simple', 'reversed', 'atomic'],
      temperatures: Array.isArray(t) ? t : temperatureGrid(t?.count ?? 9, t?.min ?? 0.01, t?.max ?? 1.2),
      tokensPerQuestion: g.tokensPerQuestion ?? 60,
      concurrency: g.concurrency,
      maxOutputTokens: g.maxOutputTokens ?? 2048,
      budgetUsd: g.budgetUsd,
      prices: g.prices ?? {},
      filters: { ...DEFAULT_FILTERS, ...g.filters },
    },
    dataset: {
      turnsPerRow: d.turnsPerRow ?? 5,
      rowTokenBudget: d.rowTokenBudget ?? 512,
      testFraction: d.testFraction ?? 0.09,
      seed: d.seed ?? 42,
      systemPrompt: d.systemPrompt,
      csv: d.csv ?? false,
      sourceTextRatio: d.sourceTextRatio ?? 0,
      license: d.license ?? 'other',
    },
    hub: { repo: file.hub?.repo, private: file.hub?.private ?? true },
    eval: {
      questions: file.eval?.questions ?? 'eval/questions.qa',
      judgePrompt: file.eval?.judgePrompt,
      judge: { baseUrl: file.eval?.judge?.baseUrl, model: file.eval?.judge?.model },
      grading: file.eval?.grading ?? 'contains',
      maxNewTokens: file.eval?.maxNewTokens ?? 128,
      topK: file.eval?.topK ?? 3,
      concurrency: file.eval?.concurrency ?? 4,
      timeoutSeconds: file.eval?.timeoutSeconds ?? 120,
    },
    training: { ...file.training },
  };
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile<ProjectConfigFile>(schema);

/** Parses and validates mnemo.json text; problems point at the offending key. */
export function parseProjectConfig(text: string, configPath = PROJECT_FILE): ProjectConfig {
  const parseErrors: ParseError[] = [];
  const tree = parseTree(text, parseErrors, { allowTrailingComma: false, disallowComments: true });
  if (parseErrors.length || !tree) {
    const e = parseErrors[0];
    const pos = e ? lineCol(text, e.offset) : { line: 0, column: 0 };
    const what = e ? printParseErrorCode(e.error) : 'empty file';
    throw new ProjectConfigError(configPath, [{ pointer: '', message: `not valid JSON (${what})`, ...pos }]);
  }
  const value: unknown = JSON.parse(text);
  if (!validate(value)) {
    throw new ProjectConfigError(configPath, (validate.errors ?? []).map((err) => describeSchemaError(err, text, tree)));
  }
  return withDefaults(value);
}

function describeSchemaError(err: ErrorObject, text: string, tree: JsonNode): ConfigProblem {
  let pointer = err.instancePath;
  let message: string;
  if (err.keyword === 'additionalProperties') {
    const key = (err.params as { additionalProperty: string }).additionalProperty;
    pointer = `${pointer}/${key}`;
    message = `unknown key "${displayPath(pointer)}"`;
  } else if (err.keyword === 'required') {
    const key = (err.params as { missingProperty: string }).missingProperty;
    message = `missing required key "${displayPath(`${pointer}/${key}`)}"`;
  } else {
    message = `"${displayPath(pointer) || '(root)'}" ${err.message ?? 'is invalid'}`;
  }
  const segments = pointer.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
  const node = segments.length ? findNodeAtLocation(tree, segments) : undefined;
  // Point at the key itself (the property node's first child) when there is one.
  const at = node?.parent?.type === 'property' ? node.parent : node;
  return { pointer, message, ...(at ? lineCol(text, at.offset) : {}) };
}

function displayPath(pointer: string): string {
  return pointer.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? `[${s}]` : s)).join('.').replace(/\.\[/g, '[');
}

function lineCol(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return { line, column: offset - (before.lastIndexOf('\n') + 1) };
}

/** A project folder: where each stage reads and writes. */
export class Project {
  constructor(
    readonly root: string,
    readonly config: ProjectConfig,
  ) {}

  static load(root: string): Project {
    const file = join(root, PROJECT_FILE);
    if (!existsSync(file)) {
      throw new MnemoError(`${root} is not a Mnemo project: it has no ${PROJECT_FILE}.`, 'Run "Mnemo: New Project" (or `npm run mnemo -- init`) to create one.', file, 'newProject');
    }
    return new Project(root, parseProjectConfig(readFileSync(file, 'utf8'), file));
  }

  get configPath(): string {
    return join(this.root, PROJECT_FILE);
  }
  get sourcesDir(): string {
    return join(this.root, 'sources');
  }
  get qaDir(): string {
    return join(this.root, 'qa');
  }
  get evalDir(): string {
    return join(this.root, 'eval');
  }
  get dataDir(): string {
    return join(this.root, 'data');
  }
  get runsDir(): string {
    return join(this.root, 'runs');
  }
  get promptsDir(): string {
    return join(this.root, 'prompts');
  }
  get cacheDir(): string {
    return join(this.root, '.mnemo');
  }
}

export interface ScaffoldResult {
  created: string[];
  kept: string[];
}

/** Creates mnemo.json and the project folders. Never overwrites an existing file. */
export function scaffoldProject(root: string, context: string, name?: string): ScaffoldResult {
  const created: string[] = [];
  const kept: string[] = [];
  mkdirSync(root, { recursive: true });
  const configPath = join(root, PROJECT_FILE);
  if (existsSync(configPath)) {
    kept.push(PROJECT_FILE);
  } else {
    const config: ProjectConfigFile = { name: name ?? slug(context), context, chunking: { tokens: 500 } };
    writeFileSync(configPath, JSON.stringify(config, null, 2) + '\n', { flag: 'wx' });
    created.push(PROJECT_FILE);
  }
  for (const folder of FOLDERS) {
    const dir = join(root, folder);
    if (existsSync(dir)) kept.push(folder + '/');
    else {
      mkdirSync(dir, { recursive: true });
      created.push(folder + '/');
    }
  }
  const gitignore = join(root, '.gitignore');
  if (!existsSync(gitignore)) {
    writeFileSync(gitignore, '# Caches Mnemo can rebuild\n.mnemo/\n', { flag: 'wx' });
    created.push('.gitignore');
  }
  return { created, kept };
}

export function slug(text: string): string {
  return text.toLowerCase().normalize('NFKD').replace(/[^\w\s-]/g, '').trim().replace(/[\s_]+/g, '-').slice(0, 60) || 'mnemo-project';
}
