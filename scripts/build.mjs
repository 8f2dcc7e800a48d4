// Bundles one entry per runtime with esbuild: extension host, language server, CLI, webviews,
// and the integration-test suite that runs inside VS Code.
// Usage: node scripts/build.mjs [--watch] [--production]
import * as esbuild from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  // ssh2 runs in pure JS without its optional native helpers; vscode is provided by the host.
  external: ['vscode', 'cpu-features', '*.node'],
  // Prefer ES module builds: some packages' UMD "main" (jsonc-parser) hides its requires from the bundler.
  mainFields: ['module', 'main'],
  // An `import` picks a package's ES module build, and tinyglobby's (through fdir's) calls
  // createRequire(import.meta.url), which is undefined in a CommonJS bundle: take its CommonJS build.
  alias: { tinyglobby: './node_modules/tinyglobby/dist/index.cjs' },
  logLevel: 'warning',
  absWorkingDir: root,
};

const webviewDir = join(root, 'src/webview');
// A webview of several files keeps them in a folder: src/webview/<name>/main.ts -> dist/webview/<name>.js (and .css).
const webviewEntries = existsSync(webviewDir)
  ? readdirSync(webviewDir, { withFileTypes: true }).flatMap((d) => {
      if (d.isFile() && d.name.endsWith('.ts') && !d.name.endsWith('.d.ts')) return [{ in: join('src/webview', d.name), out: d.name.slice(0, -3) }];
      if (d.isDirectory() && existsSync(join(webviewDir, d.name, 'main.ts'))) return [{ in: join('src/webview', d.name, 'main.ts'), out: d.name }];
      return [];
    })
  : [];

// Integration tests: the mocha runner (index) and one bundle per suite file, all in out/test/suite/,
// where index.js finds them. mocha stays external: the runner loads it from node_modules.
const suiteDir = join(root, 'test/integration/suite');
const suiteEntries = { 'test/suite/index': 'test/integration/suite/index.ts' };
if (existsSync(suiteDir)) {
  for (const f of readdirSync(suiteDir)) if (f.endsWith('.test.ts')) suiteEntries[`test/suite/${f.slice(0, -3)}`] = join('test/integration/suite', f);
}

const builds = [
  { ...node, entryPoints: { extension: 'src/extension/main.ts', server: 'src/server/server.ts', cli: 'src/cli/main.ts' }, outdir: 'dist' },
  { ...node, entryPoints: suiteEntries, outdir: 'out', sourcemap: true, minify: false, external: [...node.external, 'mocha'] },
  // Heavy modules loaded on first use (src/core/sources/lazy.ts) get bundles of their own, so that
  // loading the extension, server or CLI does not parse ~6 MB of tokenizer tables and pdf.js.
  {
    ...node,
    entryPoints: {
      'tokenizer-o200k_base': 'node_modules/gpt-tokenizer/esm/encoding/o200k_base.js',
      'tokenizer-cl100k_base': 'node_modules/gpt-tokenizer/esm/encoding/cl100k_base.js',
      'pdf-reader': 'node_modules/pdf-parse/dist/pdf-parse/esm/index.js',
    },
    outdir: 'dist',
    sourcemap: false,
  },
];
if (webviewEntries.length) {
  builds.push({ bundle: true, platform: 'browser', target: 'es2022', format: 'iife', sourcemap: !production, minify: production, entryPoints: webviewEntries, outdir: 'dist/webview', absWorkingDir: root, logLevel: 'warning' });
}

function copyAssets() {
  // pdf.js loads its worker from a file next to the bundle.
  const worker = join(root, 'node_modules/pdf-parse/dist/pdf-parse/cjs/pdf.worker.mjs');
  mkdirSync(join(root, 'dist'), { recursive: true });
  if (existsSync(worker)) cpSync(worker, join(root, 'dist/pdf.worker.mjs'));
}

if (watch) {
  for (const b of builds) {
    const ctx = await esbuild.context(b);
    await ctx.watch();
  }
  copyAssets();
  console.log('watching…');
} else {
  // A release build starts from an empty dist/, so that no stale file (a source map) is packaged.
  if (production) rmSync(join(root, 'dist'), { recursive: true, force: true });
  await Promise.all(builds.map((b) => esbuild.build(b)));
  copyAssets();
}
