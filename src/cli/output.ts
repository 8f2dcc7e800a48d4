/**
 * The command line's last line of defence: everything written to stdout and stderr goes through
 * the secrets registry, so a secret a message forgot to scrub is not printed (and not captured in
 * a CI log or a terminal's scrollback).
 */
import { scrub, secretRegistry } from '../core/secrets';

const SCRUBBED = Symbol.for('mnemo.scrubbedOutput');

export function scrubProcessOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const s = stream as NodeJS.WriteStream & { [SCRUBBED]?: boolean };
    if (s[SCRUBBED]) continue;
    s[SCRUBBED] = true;
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (secretRegistry.size) {
        if (typeof chunk === 'string') chunk = scrub(chunk);
        else if (chunk instanceof Uint8Array) chunk = Buffer.from(scrub(Buffer.from(chunk).toString('utf8')), 'utf8');
      }
      return write(chunk, ...rest);
    }) as typeof stream.write;
  }
}
