import { build } from './build';
import { check } from './check';
import { chunks } from './chunks';
import { evalCommand } from './eval';
import { extract } from './extract';
import { generate } from './generate';
import { init } from './init';
import { push } from './push';
import { runs } from './runs';
import { train } from './train';
import type { CliCommand } from './types';

/** Every CLI command, one per stage. Each stage's command lives in its own file. */
export const COMMANDS: CliCommand[] = [init, extract, chunks, generate, check, build, push, train, runs, evalCommand];
