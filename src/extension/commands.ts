import * as vscode from 'vscode';
import type { Ctx } from './ctx';

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

/** Registers every command of every feature; a failing command reports itself instead of failing silently. */
export function registerCommands(ctx: Ctx, features: Feature[]): void {
  for (const feature of features) {
    for (const spec of feature.commands) {
      ctx.own(
        vscode.commands.registerCommand(spec.id, async (...args: unknown[]) => {
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
