import { MnemoError } from '../errors';

/** What is wrong with a source file, in a word the Sources view can show next to it. */
export type SourceProblem = 'empty' | 'encrypted' | 'no-text' | 'damaged' | 'encoding' | 'missing' | 'unsupported' | 'unreadable' | 'cancelled';

export const PROBLEM_LABELS: Readonly<Record<SourceProblem, string>> = {
  empty: 'empty file',
  encrypted: 'encrypted',
  'no-text': 'no text layer (scanned?)',
  damaged: 'damaged PDF',
  encoding: 'not UTF-8',
  missing: 'file missing',
  unsupported: 'not supported',
  unreadable: 'cannot read',
  cancelled: 'cancelled',
};

/** A MnemoError about one source file, with the kind of problem for short displays. */
export class SourceError extends MnemoError {
  constructor(
    readonly problem: SourceProblem,
    message: string,
    hint: string | undefined,
    file: string,
  ) {
    super(message, hint, file);
    this.name = 'SourceError';
  }

  get label(): string {
    return PROBLEM_LABELS[this.problem];
  }
}
