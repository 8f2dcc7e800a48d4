import * as vscode from 'vscode';
import type { Ctx } from './ctx';
import { RESTRICTED_COMMANDS, restrictedMessage } from './restricted';

/** One command of the table: its id (as in package.json) and what it runs. */
export interface CommandSpec {
  id: string;
  // Commands receive whatever VS Code passes: tree nodes, URIs, or arguments from tests.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  run: (ctx: Ctx, ...args: any[]) => unknown;
}

/** A feature area: its commands and whatever it sets up at activation (views, watchers). */
export interface Feature {
  name: string;
  commands: CommandSpec[];
  activate?: (ctx: Ctx) => void;
}

const MANAGE_TRUST = 'Manage Workspace Trust';

/**
 * Refuses a restricted command in an untrusted folder (package.json disables it there too; this
 * covers links, keybindings and other extensions that call it anyway). Returns true when refused.
 */
function refusedUntrusted(ctx: Ctx, id: string): boolean {
  if (vscode.workspace.isTrusted || !RESTRICTED_COMMANDS.has(id)) return false;
  const title = (ctx.extension.extension.packageJSON as { contributes?: { commands?: { command: string; title: string }[] } }).contributes?.commands?.find((c) => c.command === id)?.title ?? id;
  const message = restrictedMessage(title);
  ctx.log.warn(message);
  void vscode.window.showWarningMessage(message, MANAGE_TRUST).then((choice) => {
    if (choice === MANAGE_TRUST) void vscode.commands.executeCommand('workbench.trust.manage');
  });
  return true;
}

/** Registers every command of every feature; a failing command reports itself instead of failing silently. */
export function registerCommands(ctx: Ctx, features: Feature[]): void {
  for (const feature of features) {
    for (const spec of feature.commands) {
      ctx.own(
        vscode.commands.registerCommand(spec.id, async (...args: unknown[]) => {
          if (refusedUntrusted(ctx, spec.id)) return undefined;
          try {
            return await spec.run(ctx, ...args);
          } catch (err) {
            // Not awaited: the notification stays open until the user closes it, and the command must not hang on it.
            void ctx.showError(err);
            return undefined;
          }
        }),
      );
    }
  }
}
