import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Loads a heavy module on first use: the tokenizer tables (~6 MB of JavaScript) and the PDF
 * reader (~1 MB). scripts/build.mjs emits each as a bundle of its own next to the main bundles
 * (dist/<bundle>.js), so loading the extension, the language server or the CLI never parses them.
 * Run from source (tsx, unit tests, test bundles), the package itself is imported.
 */
export async function loadHeavy<T>(bundle: string, specifier: string): Promise<T> {
  const file = join(__dirname, `${bundle}.js`);
  if (existsSync(file)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as T;
  }
  // A computed specifier, so that bundlers leave this import alone instead of inlining the package.
  const spec = [specifier][0];
  return (await import(spec)) as T;
}
