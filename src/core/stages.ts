/**
 * Which stages of the workflow a project has done, from its files: pairs under qa/, a built
 * dataset, a finished run, an answer set. The walkthrough checks its steps off with these, and
 * the empty views say what comes next. Cheap: names and sizes, one small run.json per run.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Project } from './project';
import { listRuns, RUN_FILES } from './training';

export interface StageState {
  /** A non-empty .qa file under qa/. */
  hasPairs: boolean;
  /** data/train.jsonl, not empty. */
  hasDataset: boolean;
  /** A run that finished training (state "done"). */
  hasTrainedRun: boolean;
  /** An answer set: eval/results/*.json or runs/<id>/eval/*.json. */
  hasEvaluation: boolean;
}

function nonEmpty(path: string): boolean {
  try {
    const s = statSync(path);
    return s.isFile() && s.size > 0;
  } catch {
    return false;
  }
}

function entries(dir: string): import('node:fs').Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** True when `dir` or a folder below it (hidden ones left out) holds a non-empty file ending in `ext`. */
function holds(dir: string, ext: string, depth = 4): boolean {
  for (const e of entries(dir)) {
    const p = join(dir, e.name);
    if (e.isFile() && e.name.endsWith(ext) && nonEmpty(p)) return true;
    if (e.isDirectory() && depth > 0 && !e.name.startsWith('.') && holds(p, ext, depth - 1)) return true;
  }
  return false;
}

export function stageState(project: Project): StageState {
  const runs = listRuns(project);
  return {
    hasPairs: holds(project.qaDir, '.qa'),
    hasDataset: nonEmpty(join(project.dataDir, 'train.jsonl')),
    hasTrainedRun: runs.some((r) => r.state === 'done'),
    hasEvaluation: holds(join(project.evalDir, 'results'), '.json', 0) || runs.some((r) => holds(join(project.runsDir, r.id, RUN_FILES.eval), '.json', 0)),
  };
}
