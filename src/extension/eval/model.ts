import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import * as vscode from 'vscode';
import { forgettingRows, listAnswerSets, loadEvalSet, RESULTS_DIR, type AnswerSetEntry, type ForgettingRow } from '../../core/eval';
import type { Project } from '../../core/project';
import { watchTree } from '../../core/watch';
import type { Ctx } from '../ctx';

/** An eval set file under eval/, with its question count or why it cannot be used. */
export interface EvalSetInfo {
  /** Absolute path. */
  path: string;
  /** Project-relative, with '/' (what answer sets store as `questionsPath`). */
  rel: string;
  questions?: number;
  tags?: string[];
  problems?: number;
  error?: string;
}

export interface EvalSnapshot {
  evalSets: EvalSetInfo[];
  answerSets: AnswerSetEntry[];
  /** The forgetting check of each run that has one (regressions against the base model). */
  forgetting: ForgettingRow[];
  /** Answer set files that could not be read. */
  unreadable: { path: string; message: string }[];
}

/** Every .qa file under eval/ (results and hidden folders aside), sorted, eval/questions.qa first. */
export function findEvalSets(project: Project): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (!e.name.startsWith('.') && p !== join(project.root, RESULTS_DIR)) walk(p);
      } else if (e.name.endsWith('.qa')) out.push(p);
    }
  };
  walk(project.evalDir);
  const main = join(project.root, project.config.eval.questions);
  return out.sort((a, b) => (a === main ? -1 : b === main ? 1 : a.localeCompare(b)));
}

/**
 * What the Evaluations view shows: eval sets and saved answer sets, read from disk on demand and
 * again whenever a file under eval/ or runs/<id>/eval/ changes.
 */
export class EvalModel implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private cached: EvalSnapshot | undefined;
  private readonly subs: vscode.Disposable[] = [this.changed];
  private watchers: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ctx: Ctx) {
    this.subs.push(ctx.onDidChangeProject(() => this.watch()));
    this.watch();
  }

  private watch(): void {
    for (const w of this.watchers.splice(0)) w.dispose();
    const root = this.ctx.project?.root;
    if (root) {
      const base = vscode.Uri.file(root);
      for (const glob of ['eval/**', 'runs/*/eval/*.json']) {
        const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(base, glob));
        this.watchers.push(w, w.onDidCreate(() => this.refreshSoon()), w.onDidChange(() => this.refreshSoon()), w.onDidDelete(() => this.refreshSoon()));
      }
      // The editor's watcher misses files in folders made after it started (a first run's eval/): see src/core/watch.ts.
      const runs = join(root, 'runs');
      // Under runs/: a run folder, its eval/ folder or an answer set in it (not metrics.jsonl appended during a run).
      const isEvalPath = (p: string) => /^[^\\/]+([\\/]eval([\\/][^\\/]+\.json)?)?$/.test(relative(runs, p));
      this.watchers.push(
        watchTree(join(root, 'eval'), () => this.refreshSoon()),
        watchTree(runs, (paths) => paths.some(isEvalPath) && this.refreshSoon(), { depth: 2, skip: (name) => name.startsWith('.') || name === 'output' }),
      );
    }
    this.refresh();
  }

  /** Forgets what was read; the view asks again. */
  refresh(): void {
    clearTimeout(this.timer);
    this.cached = undefined;
    this.changed.fire();
  }

  private refreshSoon(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 200);
  }

  snapshot(): EvalSnapshot {
    if (this.cached) return this.cached;
    const project = this.ctx.project;
    if (!project) return { evalSets: [], answerSets: [], forgetting: [], unreadable: [] };
    const unreadable: EvalSnapshot['unreadable'] = [];
    const answerSets = listAnswerSets(project, (path, message) => {
      unreadable.push({ path, message });
      this.ctx.log.warn(`Evaluations: ${message}`);
    });
    const evalSets = findEvalSets(project).map((path): EvalSetInfo => {
      const rel = relative(project.root, path).split(sep).join('/');
      try {
        const set = loadEvalSet(path);
        return { path, rel, questions: set.questions.length, tags: [...new Set(set.questions.flatMap((q) => q.tags))].sort(), problems: set.problems.length };
      } catch (err) {
        return { path, rel, error: err instanceof Error ? err.message : String(err) };
      }
    });
    const forgetting = forgettingRows(project, answerSets, (path, message) => this.ctx.log.warn(`Evaluations: ${path}: ${message}`));
    this.cached = { evalSets, answerSets, forgetting, unreadable };
    return this.cached;
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers) w.dispose();
    for (const s of this.subs) s.dispose();
  }
}
