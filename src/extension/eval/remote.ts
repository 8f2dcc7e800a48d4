/**
 * Run Evaluation on the machine the model lives on (src/core/eval/remote.ts): a run trained on an
 * SSH host answers there, through the same SSH settings and the same host key / passphrase
 * dialogs as training. A run on this machine, and the base model, answer here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RemoteEvalOptions } from '../../core/eval/remote';
import type { Project } from '../../core/project';
import { RUN_FILES, type RunRecord } from '../../core/training/protocol';
import type { Ctx } from '../ctx';
import { VscodeTrainingHooks } from '../training/hooks';
import { sshOptions } from '../training/live';

let hooks: { ctx: Ctx; hooks: VscodeTrainingHooks } | undefined;

/** The SSH host a run lives on (its run.json target), or undefined for a run on this machine. */
export function runHost(project: Project, runId: string): string | undefined {
  try {
    const r = JSON.parse(readFileSync(join(project.runsDir, runId, RUN_FILES.record), 'utf8')) as RunRecord;
    return r.target?.kind === 'ssh' ? r.target.host : undefined;
  } catch {
    return undefined;
  }
}

/** How evaluation reaches SSH hosts: the training settings and dialogs (passphrases kept for this window). */
export function remoteEvalOptions(ctx: Ctx, report?: (line: string) => void): RemoteEvalOptions {
  if (hooks?.ctx !== ctx) hooks = { ctx, hooks: new VscodeTrainingHooks(ctx.log) };
  return { ssh: sshOptions(ctx), hooks: report ? hooks.hooks.withProgress(report) : hooks.hooks.forPurpose('to evaluate on the host') };
}
