import type { ParseArgsConfig } from 'node:util';

export interface CliCommand {
  name: string;
  summary: string;
  help?: string;
  options?: NonNullable<ParseArgsConfig['options']>;
  /** Returns the exit code (0 when omitted). `values.project` is always set. */
  run: (values: Record<string, unknown>, positionals: string[]) => Promise<number | void> | number | void;
}
