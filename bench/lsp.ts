/**
 * Language server benchmark, through the real server process (dist/server.js over stdio):
 *   - folder: start on a project whose qa/ holds 200 files, until every file's diagnostics are published;
 *   - full: open a 20,000-pair file (in qa/, so it joins the duplicate index), until its diagnostics arrive: a file
 *     this large gets its structure problems first and all its diagnostics in a second publish (STAGED_CHARS);
 *     both times are printed, and full_ms is the time to all of them;
 *   - edit: a one-line edit in that file, until its new diagnostics arrive (median of 15 edits).
 * Prints the server's resident memory, and its CPU time next to wall times (other load on the
 * machine inflates wall times, not CPU time). Run: npm run bench:lsp
 * MNEMO_BENCH_NODE_ARGS adds Node flags to the server; MNEMO_BENCH_PROFILE=DIR writes its CPU profile there;
 * MNEMO_QA_TIMING=1 makes the server print how long each check and publish took.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { STAGED_CHARS } from '../src/server/workspace';
import { fileUri, REPO, rulebookPath, startServer } from '../test/unit/server-client';

const VOCAB = 'stone cairn gate warden herald carrier clasp tap moor hearth still narrows watch arbiter pennant bench cast mark crown knock kettle drop jumper helm sash ring pillar line zone field team player whistle horn restart possession score'.split(' ');
let seed = 7;
function rnd(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
  return seed;
}
function phrase(n: number): string {
  return Array.from({ length: n }, () => VOCAB[rnd() % VOCAB.length] + (rnd() % 50)).join(' ');
}

/** A generated .qa file: realistic shape, a few problems (2% not standalone, some duplicates). */
function qaFile(pairs: number, temperature: string): string {
  const out = ['@source: sources/rulebook.md', '@variant: nuanced', `@temperature: ${temperature}`, '@model: bench', ''];
  let last = '';
  for (let i = 0; i < pairs; i++) {
    if (i % 8 === 0) out.push(`@chunk: ${((i / 8) % 12) + 1}`); // rulebook.md has 13 chunks
    const q = i % 97 === 5 ? last : `${i % 50 === 3 ? '' : 'In Cairnrun, '}what about the ${phrase(8)}?`;
    last = q;
    out.push(`Q: ${q}`, `A: The ${phrase(18)}.`, '');
  }
  return out.join('\n');
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** CPU time (user + system) the process has used, in ms: unlike wall time, not inflated by other load on the machine. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  if (!existsSync(join(REPO, 'dist/server.js'))) throw new Error('dist/server.js is missing: run `npm run build` first.');
  const root = mkdtempSync(join(tmpdir(), 'mnemo-bench-lsp-'));
  try {
    mkdirSync(join(root, 'sources'));
    mkdirSync(join(root, 'qa'));
    copyFileSync(rulebookPath(), join(root, 'sources/rulebook.md'));
    writeFileSync(join(root, 'mnemo.json'), JSON.stringify({ context: 'Cairnrun rules', keywords: ['Cairnrun'] }));
    for (let f = 0; f < 200; f++) writeFileSync(join(root, `qa/rulebook-v${f % 4}-t${String(f).padStart(3, '0')}.qa`), qaFile(100, (0.01 + (f % 9) * 0.149).toFixed(2)));

    let t0 = performance.now();
    // MNEMO_BENCH_PROFILE=dir writes a CPU profile of the server there.
    const server = await startServer(root, { bundle: true, checkLines: false, nodeArgs: [...(process.env.MNEMO_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), ...(process.env.MNEMO_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.MNEMO_BENCH_PROFILE}`] : [])] });
    await server.ready;
    const folderMs = performance.now() - t0;
    const published = [...server.diagnostics.keys()].length;
    console.log(`folder: 200 files x 100 pairs checked and published in ${folderMs.toFixed(0)} ms (${published} files published)`);

    const pid = server.child.pid!;
    // A one-line edit in one file of the folder: its diagnostics (the index spans all 200 files).
    const small = qaFile(100, '0.45');
    writeFileSync(join(root, 'qa/rulebook-v0-t000.qa'), small);
    const smallUri = fileUri(join(root, 'qa/rulebook-v0-t000.qa'));
    const smallLines = small.split('\n');
    server.open(smallUri, small, 1);
    await server.waitDiagnostics(smallUri);
    const folderEdits: number[] = [];
    for (let k = 0; k < 15; k++) {
      const line = smallLines.findIndex((l, i) => i > 10 + k * 15 && l.startsWith('Q: '));
      const old = smallLines[line];
      smallLines[line] = `Q: In Cairnrun, what about the folder edit ${phrase(6)}?`;
      server.diagnostics.delete(smallUri);
      t0 = performance.now();
      server.change(smallUri, k + 2, [{ range: { start: { line, character: 0 }, end: { line, character: old.length } }, text: smallLines[line] }]);
      await server.waitDiagnostics(smallUri, () => server.versions.get(smallUri) === k + 2);
      folderEdits.push(performance.now() - t0);
    }
    const folderEditMs = median(folderEdits);
    console.log(`folder edit: one-line edit in one of the 200 files -> its diagnostics, median ${folderEditMs.toFixed(1)} ms`);
    server.close(smallUri);

    const big = qaFile(20_000, '0.45');
    const uri = fileUri(join(root, 'qa/big.qa'));
    const publishes = big.length >= STAGED_CHARS ? 2 : 1;
    let c0 = cpuMs(pid);
    // Times are taken as each publish arrives (two may arrive in one read).
    let firstAt = 0;
    let firstCpu = 0;
    let fullAt = 0;
    let fullCpu = 0;
    let seen = 0;
    const firstP = server.waitDiagnostics(uri, () => {
      firstAt = performance.now();
      firstCpu = cpuMs(pid) - c0;
      return true;
    });
    const allP = server.waitDiagnostics(uri, () => {
      if (++seen < publishes) return false;
      fullAt = performance.now();
      fullCpu = cpuMs(pid) - c0;
      return true;
    }, 60_000);
    t0 = performance.now();
    server.open(uri, big, 1);
    const first = await firstP;
    const all = await allP;
    const firstMs = firstAt - t0;
    const fullMs = fullAt - t0;
    if (publishes === 2) console.log(`first: 20,000-pair file (${(big.length / 1e6).toFixed(1)} MB) -> its ${first.length} structure problems in ${firstMs.toFixed(0)} ms (server CPU ${firstCpu.toFixed(0)} ms)`);
    console.log(`full: 20,000-pair file (${(big.length / 1e6).toFixed(1)} MB) -> all ${all.length} diagnostics in ${fullMs.toFixed(0)} ms (server CPU ${fullCpu.toFixed(0)} ms)`);

    const lines = big.split('\n');
    const edits: number[] = [];
    c0 = cpuMs(pid);
    for (let k = 0; k < 15; k++) {
      const line = 5 + 3 * (1000 + k * 1200) + 1; // a Q: line in the middle of the file
      const old = lines[line];
      const next = `Q: In Cairnrun, what about the edited ${phrase(6)}?`;
      lines[line] = next;
      server.diagnostics.delete(uri);
      t0 = performance.now();
      server.change(uri, k + 2, [{ range: { start: { line, character: 0 }, end: { line, character: old.length } }, text: next }]);
      await server.waitDiagnostics(uri, () => server.versions.get(uri) === k + 2);
      edits.push(performance.now() - t0);
    }
    const editCpu = (cpuMs(pid) - c0) / edits.length;
    const editMs = median(edits);
    console.log(`edit: one-line edit -> diagnostics, median ${editMs.toFixed(1)} ms (min ${Math.min(...edits).toFixed(1)}, max ${Math.max(...edits).toFixed(1)}; server CPU ${editCpu.toFixed(1)} ms per edit)`);
    console.log(`load average while measuring: ${loadavg().map((x) => x.toFixed(2)).join(' ')} on ${cpus().length} CPUs`);
    const rss = rssMb(server.child.pid!);
    console.log(`server RSS: ${rss.toFixed(0)} MB`);
    await server.stop();
    console.log(JSON.stringify({ first_ms: Math.round(firstMs), first_cpu_ms: Math.round(firstCpu), full_ms: Math.round(fullMs), edit_ms: Math.round(editMs * 10) / 10, server_rss_mb: Math.round(rss), folder_full_ms: Math.round(folderMs), folder_edit_ms: Math.round(folderEditMs * 10) / 10, full_cpu_ms: Math.round(fullCpu), edit_cpu_ms: Math.round(editCpu * 10) / 10 }));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
