#!/usr/bin/env node
/**
 * The command line over the same core as the extension: one command per stage.
 *   npm run mnemo -- <command> --project <folder> [options]
 */
import { parseArgs } from 'node:util';
import { describeError, MnemoError } from '../core/errors';
import { COMMANDS } from './commands';
import { scrubProcessOutput } from './output';

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: npm run mnemo -- <command> --project <folder> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `npm run mnemo -- <command> --help` for a command\'s options.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  scrubProcessOutput();
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`Unknown command "${name}".\n\n${usage()}`);
    return 2;
  }
  const options = { project: { type: 'string' as const, short: 'p', default: '.' }, help: { type: 'boolean' as const, short: 'h' }, ...command.options };
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options, allowPositionals: true, strict: true }));
  } catch (err) {
    console.error(`${describeError(err)}\n\n${command.help ?? ''}`);
    return 2;
  }
  if (values.help) {
    console.log(command.help ?? command.summary);
    return 0;
  }
  try {
    return (await command.run(values, positionals)) ?? 0;
  } catch (err) {
    if (err instanceof MnemoError) {
      console.error(`error: ${err.describe()}`);
      return 1;
    }
    throw err;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
      process.exit(1);
    },
  );
}
