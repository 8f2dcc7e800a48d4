/**
 * Generation commands: the endpoint (choose, key, test), the sweep (plan, preview, run, cancel),
 * the offline generator and the prompt variants. The work is in src/core/generation.
 */
import { join } from 'node:path';
import * as vscode from 'vscode';
import { MnemoError } from '../../core/errors';
import {
  checkBaseUrl,
  describeDropGroups,
  describeDropTotals,
  describePlan,
  ENDPOINT_PRESETS,
  formatPreview,
  formatUsd,
  generateForChunks,
  generateOffline,
  isLocalUrl,
  loadSourceChunks,
  prepareSweep,
  previewFirst,
  promptFile,
  resolveEndpoint,
  runPreparedSweep,
  testConnection,
  writeBuiltinPrompts,
  type ChunkRegeneration,
  type ConnectionReport,
  type Endpoint,
  type PreparedSweep,
  type PreviewResult,
  type SweepOutcome,
  type WrittenFile,
} from '../../core/generation';
import type { Project } from '../../core/project';
import type { Feature } from '../commands';
import type { Ctx } from '../ctx';
import { clearTextOrigin, originAllowed } from '../../core/secrets';
import { consentToKeyTransport } from '../security';
import { GenerationState } from './run';

const states = new WeakMap<Ctx, GenerationState>();
function state(ctx: Ctx): GenerationState {
  let s = states.get(ctx);
  if (!s) {
    s = ctx.own(new GenerationState(ctx));
    states.set(ctx, s);
  }
  return s;
}

/** What "Generate Q&A" accepts: a Sources view node, a path (+ chunk number), or options from tests and the walkthrough. */
export interface GenerateArgs {
  /** Skip the plan dialog and run at once. */
  yes?: boolean;
  source?: string;
  sources?: string[];
  chunks?: number[];
  variants?: string[];
  temperatures?: number[];
  concurrency?: number;
  budgetUsd?: number;
}

/** Reads whatever VS Code or a caller passed: a tree node with `.path`/`.source`/`.chunk`, a string path and a chunk number, or GenerateArgs. */
export function normalizeGenerateArgs(args: unknown[]): GenerateArgs {
  const [first, second] = args;
  const out: GenerateArgs = {};
  const chunkNumber = (c: unknown): number | undefined => (typeof c === 'number' ? c : c && typeof c === 'object' && typeof (c as { n?: unknown }).n === 'number' ? (c as { n: number }).n : undefined);
  if (typeof first === 'string') {
    out.source = first;
    const n = chunkNumber(second);
    if (n !== undefined) out.chunks = [n];
  } else if (first instanceof vscode.Uri) {
    out.source = first.fsPath;
  } else if (first && typeof first === 'object') {
    const o = first as Record<string, unknown>;
    Object.assign(out, pick(o));
    // Tree nodes: SourceNode {path}, ChunkNode {path, source: ChunkedSource, chunk: Chunk}.
    const src = typeof o.source === 'string' ? o.source : o.source && typeof o.source === 'object' && typeof (o.source as { path?: unknown }).path === 'string' ? (o.source as { path: string }).path : typeof o.path === 'string' ? o.path : undefined;
    if (src) out.source = src;
    const n = chunkNumber(o.chunk);
    if (n !== undefined) out.chunks = [n];
  }
  // Options may follow a path or node: ('sources/a.pdf', 3, { yes: true }). Arrays (a tree's selection) are not options.
  for (const extra of args.slice(1)) if (extra && typeof extra === 'object' && !Array.isArray(extra) && !('n' in extra)) Object.assign(out, pick(extra as Record<string, unknown>));
  return out;
}

function pick(o: Record<string, unknown>): GenerateArgs {
  const out: GenerateArgs = {};
  if (typeof o.yes === 'boolean') out.yes = o.yes;
  if (Array.isArray(o.sources)) out.sources = o.sources.map(String);
  if (Array.isArray(o.chunks)) out.chunks = o.chunks.map(Number);
  if (Array.isArray(o.variants)) out.variants = o.variants.map(String);
  if (Array.isArray(o.temperatures)) out.temperatures = o.temperatures.map(Number);
  if (typeof o.concurrency === 'number') out.concurrency = o.concurrency;
  if (typeof o.budgetUsd === 'number') out.budgetUsd = o.budgetUsd;
  return out;
}

function endpointOf(ctx: Ctx, project: Project): Endpoint {
  return resolveEndpoint(project, { baseUrl: ctx.settings.endpointBaseUrl, model: ctx.settings.endpointModel });
}

/** The API key, or an error that offers the ways forward. A local endpoint needs none. */
async function apiKeyFor(ctx: Ctx, endpoint: Endpoint): Promise<string | undefined> {
  const key = await ctx.secrets.get('apiKey');
  if (key || isLocalUrl(endpoint.baseUrl)) return key;
  const choice = await vscode.window.showErrorMessage(
    `Mnemo: ${endpoint.baseUrl} needs an API key, and none is set.`,
    { detail: 'Set a key (kept in VS Code secret storage), choose a local endpoint (Ollama, vLLM, LM Studio), or try the workflow with the offline generator.' },
    'Set API Key',
    'Choose Endpoint',
    'Generate Offline',
  );
  if (choice === 'Set API Key') await vscode.commands.executeCommand('mnemo.setApiKey');
  if (choice === 'Choose Endpoint') await vscode.commands.executeCommand('mnemo.chooseEndpoint');
  if (choice === 'Generate Offline') await vscode.commands.executeCommand('mnemo.generateOffline');
  return undefined;
}

async function prepare(ctx: Ctx, project: Project, args: GenerateArgs, endpoint: Endpoint): Promise<PreparedSweep> {
  const sources = args.source ? [args.source] : args.sources;
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Mnemo: planning the sweep' }, async () => {
    const chunks = await loadSourceChunks(project, { sources, chunks: args.chunks, onSkip: (path, err) => skipped(ctx, path, err) });
    return prepareSweep(project, chunks, {
      ...endpoint,
      variants: args.variants,
      temperatures: args.temperatures,
      concurrency: args.concurrency ?? project.config.generation.concurrency ?? ctx.settings.generationConcurrency,
      budgetUsd: args.budgetUsd,
    });
  });
}

function skipped(ctx: Ctx, path: string, err: MnemoError): void {
  ctx.log.warn(`Generation: skipped ${path}: ${err.describe()}`);
  void vscode.window.showWarningMessage(`Mnemo: ${path} was skipped: ${err.message}`, 'Show Logs').then((c) => c && ctx.log.show());
}

function logRun(ctx: Ctx) {
  return (level: 'info' | 'warn' | 'error', message: string) => ctx.log[level](`Generation: ${message}`);
}

/** "Mnemo: Generate Q&A": plan, cost and time first, then Run All or Preview First Chunk. Returns the outcome (for tests). */
async function generate(ctx: Ctx, ...raw: unknown[]): Promise<SweepOutcome | PreviewResult | undefined> {
  const project = ctx.requireProject();
  const gen = state(ctx);
  if (gen.running) {
    const c = await vscode.window.showWarningMessage('Mnemo: a sweep is already running.', 'Cancel It');
    if (c) gen.cancel();
    return undefined;
  }
  const args = normalizeGenerateArgs(raw);
  const endpoint = endpointOf(ctx, project);
  const apiKey = await apiKeyFor(ctx, endpoint);
  if (apiKey === undefined && !isLocalUrl(endpoint.baseUrl)) return undefined;
  if (!(await consentToKeyTransport(ctx, endpoint.baseUrl, apiKey))) return undefined;
  const prep = await prepare(ctx, project, args, endpoint);
  const lines = describePlan(prep.summary);
  ctx.log.info(`Generation plan (${endpoint.baseUrl}):\n  ${lines.join('\n  ')}`);
  if (!args.yes && prep.summary.toSend > 0) {
    const choice = await vscode.window.showInformationMessage(
      `Generate Q&A: ${prep.summary.toSend} requests${prep.summary.estCostUsd !== undefined ? `, about ${formatUsd(prep.summary.estCostUsd)}` : ''}?`,
      { modal: true, detail: lines.join('\n') },
      'Run All',
      'Preview First Chunk',
    );
    if (choice === 'Preview First Chunk') return runPreview(ctx, prep, apiKey);
    if (choice !== 'Run All') return undefined;
  }
  return runSweepWithUi(ctx, prep, apiKey, `generating ${prep.summary.toSend} requests`);
}

async function runSweepWithUi(ctx: Ctx, prep: PreparedSweep, apiKey: string | undefined, title: string): Promise<SweepOutcome> {
  const outcome = await state(ctx).run(title, (signal, onProgress) =>
    runPreparedSweep(prep, { apiKey, allowInsecureKey: ctx.settings.endpointAllowInsecureKey, timeoutMs: ctx.settings.requestTimeoutSeconds * 1000, signal, onProgress, log: logRun(ctx) }),
  );
  reportOutcome(ctx, outcome);
  return outcome;
}

function reportOutcome(ctx: Ctx, { result: r, files }: SweepOutcome): void {
  const totals = describeDropTotals(r.droppedByReason);
  const dropped = totals ? ` ${totals[0].toUpperCase()}${totals.slice(1)}; per variant and temperature in the log.` : '';
  const merged = files.filter((f) => f.action === 'merged');
  const mergedNote = merged.length ? ` ${merged.length} file(s) you edited were kept as they are; only new pairs were appended.` : '';
  const facts = r.facts.listed ? ` Atomic facts: ${r.facts.covered} of ${r.facts.listed} got a pair.` : '';
  const summary = `${r.done}/${r.total} requests done, ${r.pairs} pairs in ${files.length} file(s), ${formatUsd(r.spentUsd)} spent (${r.inputTokens} + ${r.outputTokens} tokens).${dropped}${facts}${mergedNote}`;
  ctx.log.info(`Generation ${r.stopped}: ${summary}${r.message ? ` ${r.message}` : ''}`);
  for (const f of files) ctx.log.info(`  ${f.action} ${f.path}`);
  if (r.dropGroups.length) ctx.log.info(`Pairs kept and dropped per variant and temperature:\n  ${describeDropGroups(r.dropGroups).join('\n  ')}`);
  const show = (p: Thenable<string | undefined>) =>
    void p.then((c) => {
      if (c === 'Show Logs') ctx.log.show();
      if (c === 'Open Q&A Folder') void vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(files[0] ? join(ctx.requireProject().root, files[0].path) : ctx.requireProject().qaDir));
    });
  if (r.stopped === 'completed' && r.failed === 0) show(vscode.window.showInformationMessage(`Mnemo: ${summary}`, 'Open Q&A Folder', 'Show Logs'));
  else if (r.stopped === 'cancelled') show(vscode.window.showInformationMessage(`Mnemo: generation cancelled. ${summary} Run "Generate Pairs" again to resume.`, 'Show Logs'));
  else show(vscode.window.showWarningMessage(`Mnemo: ${r.message ?? `${r.failed} request(s) failed.`} ${summary}`, 'Show Logs'));
}

async function runPreview(ctx: Ctx, prep: PreparedSweep, apiKey: string | undefined): Promise<PreviewResult> {
  const result = await state(ctx).run('previewing the first chunk', (signal) => previewFirst(prep, { apiKey, allowInsecureKey: ctx.settings.endpointAllowInsecureKey, timeoutMs: ctx.settings.requestTimeoutSeconds * 1000, signal }));
  await state(ctx).showReadonly(`Preview ${result.request.variant} t${result.request.temperature}.md`, formatPreview(result));
  return result;
}

/** "Preview Generation for First Chunk": one request; shows the full prompt and raw response; writes nothing. */
async function previewFirstChunk(ctx: Ctx, ...raw: unknown[]): Promise<PreviewResult | undefined> {
  const project = ctx.requireProject();
  const args = normalizeGenerateArgs(raw);
  const endpoint = endpointOf(ctx, project);
  const apiKey = await apiKeyFor(ctx, endpoint);
  if (apiKey === undefined && !isLocalUrl(endpoint.baseUrl)) return undefined;
  if (!(await consentToKeyTransport(ctx, endpoint.baseUrl, apiKey))) return undefined;
  const prep = await prepare(ctx, project, { ...args, chunks: args.chunks ?? [1], sources: args.sources, source: args.source }, endpoint);
  return runPreview(ctx, prep, apiKey);
}

/** "Generate Q&A Offline": no model, no key; cloze and reversed statements, labelled as a low-quality fallback. */
async function generateOfflineCommand(ctx: Ctx, ...raw: unknown[]): Promise<WrittenFile[]> {
  const project = ctx.requireProject();
  const args = normalizeGenerateArgs(raw);
  const files = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Mnemo: generating offline (no model)' }, async () => {
    const sources = await loadSourceChunks(project, { sources: args.source ? [args.source] : args.sources, chunks: args.chunks, onSkip: (path, err) => skipped(ctx, path, err) });
    return generateOffline(project, sources);
  });
  const pairs = files.reduce((s, f) => s + f.pairs, 0);
  for (const f of files) ctx.log.info(`Offline generator: ${f.action} ${f.path} (${f.pairs} pairs)`);
  void vscode.window.showInformationMessage(
    `Mnemo: ${pairs} offline pairs in ${files.map((f) => f.path).join(', ')}. These are a low-quality fallback (cloze and reversed statements, no model) for trying the workflow; generate with a model for a real dataset.`,
  );
  return files;
}

/** "Edit Prompt Variants": writes the built-in templates into prompts/ (never overwriting) and opens them. */
async function editPrompts(ctx: Ctx): Promise<string[]> {
  const project = ctx.requireProject();
  const { written } = writeBuiltinPrompts(project.promptsDir);
  const first = project.config.generation.variants[0] ?? 'nuanced';
  const file = promptFile(project.promptsDir, first);
  const target = vscode.Uri.file(file);
  try {
    await vscode.window.showTextDocument(target);
  } catch {
    await vscode.window.showTextDocument(vscode.Uri.file(promptFile(project.promptsDir, 'nuanced')));
  }
  void vscode.commands.executeCommand('revealInExplorer', target);
  void vscode.window.showInformationMessage(
    `Mnemo: prompt variants are the files in prompts/ (${written.length ? `${written.length} written, ` : ''}existing files left as they were). Placeholders: {{context}}, {{questions}}, {{chunk}}, {{source}}. Add a file and its name to generation.variants in mnemo.json for a new variant.`,
  );
  return written;
}

/** "Choose Endpoint": a preset (OpenAI, Ollama, vLLM, LM Studio) or a custom URL, then the model. `{baseUrl, model}` skips the questions. */
async function chooseEndpoint(ctx: Ctx, arg?: { baseUrl?: string; model?: string }): Promise<Endpoint | undefined> {
  let baseUrl = arg?.baseUrl;
  let model = arg?.model;
  if (!baseUrl) {
    const items = [
      ...ENDPOINT_PRESETS.map((p) => ({ label: p.label, description: p.baseUrl, detail: p.needsKey ? 'Needs an API key (Mnemo: Set API Key).' : 'A local server: no key needed.', preset: p })),
      { label: 'Custom URL…', description: 'Any OpenAI-compatible server', detail: undefined, preset: undefined },
    ];
    const pick = await vscode.window.showQuickPick(items, { title: 'Mnemo: Choose Endpoint', placeHolder: `Current: ${ctx.settings.endpointBaseUrl}` });
    if (!pick) return undefined;
    if (pick.preset) {
      baseUrl = pick.preset.baseUrl;
      model ??= pick.preset.model;
    } else {
      baseUrl = await vscode.window.showInputBox({ title: 'Mnemo: Endpoint base URL', prompt: 'The OpenAI-compatible base URL, usually ending in /v1.', value: ctx.settings.endpointBaseUrl, ignoreFocusOut: true, validateInput: (v) => { try { checkBaseUrl(v); return undefined; } catch (e) { return (e as Error).message; } } });
      if (!baseUrl) return undefined;
    }
    if (!arg?.model) {
      model = await vscode.window.showInputBox({ title: 'Mnemo: Model', prompt: 'The model that writes the Q&A pairs (as the endpoint names it).', value: model ?? ctx.settings.endpointModel, ignoreFocusOut: true });
      if (!model) return undefined;
    }
  }
  baseUrl = checkBaseUrl(baseUrl);
  await ctx.settings.update('endpoint.baseUrl', baseUrl);
  if (model) await ctx.settings.update('endpoint.model', model);
  const g = ctx.project?.config.generation;
  const overridden = g?.baseUrl || g?.model ? ` Note: mnemo.json sets ${[g.baseUrl && `generation.baseUrl (${g.baseUrl})`, g.model && `generation.model (${g.model})`].filter(Boolean).join(' and ')}, which this project uses instead.` : '';
  void vscode.window.showInformationMessage(`Mnemo: endpoint set to ${baseUrl}${model ? `, model ${model}` : ''}.${overridden}`, 'Test Connection').then((c) => c && vscode.commands.executeCommand('mnemo.testConnection'));
  return { baseUrl, model: model ?? ctx.settings.endpointModel };
}

/** "Set API Key": kept in VS Code secret storage only. A string argument (tests) skips the prompt; an empty one deletes the key. */
async function setApiKey(ctx: Ctx, key?: string): Promise<boolean> {
  const value =
    typeof key === 'string'
      ? key
      : await vscode.window.showInputBox({ title: 'Mnemo: Set API Key', prompt: 'The key for the generation endpoint. It is kept in VS Code secret storage, never in files or settings. Leave empty to remove it.', password: true, ignoreFocusOut: true });
  if (value === undefined) return false;
  if (!value.trim()) {
    await ctx.secrets.delete('apiKey');
    void vscode.window.showInformationMessage('Mnemo: API key removed.');
    return true;
  }
  await ctx.secrets.store('apiKey', value.trim());
  ctx.log.info('API key stored in secret storage.');
  if (typeof key !== 'string') void vscode.window.showInformationMessage('Mnemo: API key saved in secret storage.', 'Test Connection').then((c) => c && vscode.commands.executeCommand('mnemo.testConnection'));
  return true;
}

/** "Test Connection": lists the models and asks the configured one for one token; says exactly what failed. */
async function testConnectionCommand(ctx: Ctx): Promise<ConnectionReport> {
  const project = ctx.project;
  const endpoint = project ? endpointOf(ctx, project) : { baseUrl: ctx.settings.endpointBaseUrl, model: ctx.settings.endpointModel };
  const apiKey = await ctx.secrets.get('apiKey');
  const report = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Mnemo: testing ${endpoint.baseUrl}` }, () =>
    testConnection({ ...endpoint, apiKey, allowInsecureKey: ctx.settings.endpointAllowInsecureKey, timeoutMs: Math.min(30_000, ctx.settings.requestTimeoutSeconds * 1000) }),
  );
  ctx.log.info(`Test connection: ${report.message}${report.models.length ? ` Models: ${report.models.join(', ')}` : ''}`);
  if (report.ok) void vscode.window.showInformationMessage(`Mnemo: ${report.message}`);
  else {
    // Refused because the key would go in clear text: offer the consent that a sweep would ask for.
    const origin = apiKey ? clearTextOrigin(endpoint.baseUrl) : undefined;
    const allow = origin && !originAllowed(origin, ctx.settings.endpointAllowInsecureKey) ? ['Allow This Endpoint…'] : [];
    void vscode.window.showErrorMessage(`Mnemo: ${report.message}`, ...allow, 'Choose Endpoint', 'Set API Key').then(async (c) => {
      if (c === 'Allow This Endpoint…' && (await consentToKeyTransport(ctx, endpoint.baseUrl, apiKey))) void vscode.commands.executeCommand('mnemo.testConnection');
      if (c === 'Choose Endpoint') void vscode.commands.executeCommand('mnemo.chooseEndpoint');
      if (c === 'Set API Key') void vscode.commands.executeCommand('mnemo.setApiKey');
    });
  }
  return report;
}

/**
 * For "Regenerate This Chunk" (curation): new requests for some chunks of one source, over the
 * project's variants and temperatures (or those given), with the same progress UI and cancel as
 * a sweep. Pristine .qa files get the chunk's pairs replaced; files the user edited keep every
 * line and get only new pairs appended under the chunk's @chunk.
 */
export async function regenerateChunks(ctx: Ctx, source: string, chunkNs: number[], opts: { variants?: string[]; temperatures?: number[] } = {}): Promise<ChunkRegeneration | undefined> {
  const project = ctx.requireProject();
  const gen = state(ctx);
  if (gen.running) throw new MnemoError('A sweep is already running.', 'Wait for it to finish, or cancel it ("Mnemo: Cancel Generation"), then regenerate.');
  const endpoint = endpointOf(ctx, project);
  const apiKey = await apiKeyFor(ctx, endpoint);
  if (apiKey === undefined && !isLocalUrl(endpoint.baseUrl)) return undefined;
  if (!(await consentToKeyTransport(ctx, endpoint.baseUrl, apiKey))) return undefined;
  const outcome = await gen.run(`regenerating chunk ${chunkNs.join(', ')} of ${source}`, (signal, onProgress) =>
    generateForChunks(project, source, chunkNs, {
      ...endpoint,
      ...opts,
      concurrency: project.config.generation.concurrency ?? ctx.settings.generationConcurrency,
      apiKey,
      allowInsecureKey: ctx.settings.endpointAllowInsecureKey,
      timeoutMs: ctx.settings.requestTimeoutSeconds * 1000,
      signal,
      onProgress,
      log: logRun(ctx),
    }),
  );
  reportOutcome(ctx, outcome);
  return outcome;
}

export const generationFeature: Feature = {
  name: 'generation',
  commands: [
    { id: 'mnemo.generate', run: generate },
    { id: 'mnemo.generateOffline', run: generateOfflineCommand },
    { id: 'mnemo.previewFirstChunk', run: previewFirstChunk },
    { id: 'mnemo.cancelGeneration', run: (ctx) => state(ctx).cancel() },
    { id: 'mnemo.editPrompts', run: editPrompts },
    { id: 'mnemo.chooseEndpoint', run: chooseEndpoint },
    { id: 'mnemo.setApiKey', run: setApiKey },
    { id: 'mnemo.testConnection', run: testConnectionCommand },
  ],
  activate: (ctx) => {
    state(ctx);
  },
};
