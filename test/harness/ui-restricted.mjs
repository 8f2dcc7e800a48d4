// UI check of Restricted Mode at start: a folder opened untrusted whose runs/ holds a run its
// record calls live on an SSH host. The run is listed, and Mnemo does not reach the host the
// record names (a TCP listener counts connections): it says in its log that it will follow the
// run once the folder is trusted. Included in test/harness/ui.mjs.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { openView, workbench } from './ui.mjs';

function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

export const restrictedChecks = [
  {
    name: 'restricted mode: no reattach',
    untrusted: true,
    timeoutMs: 120_000,
    async prepare({ workspace }) {
      let connections = 0;
      const listener = createServer((socket) => {
        connections++;
        socket.destroy();
      });
      await new Promise((resolve) => listener.listen(0, '127.0.0.1', resolve));
      const port = listener.address().port;
      const id = 'r-live';
      mkdirSync(join(workspace, 'runs', id), { recursive: true });
      writeFileSync(join(workspace, 'runs', id, 'metrics.jsonl'), '');
      const now = new Date().toISOString();
      writeFileSync(join(workspace, 'runs', id, 'run.json'), JSON.stringify({ version: 1, id, created: now, startedAt: now, state: 'running', label: id, pgid: 4242, config: { model: 'HuggingFaceTB/SmolLM2-135M-Instruct', learning_rate: 1e-4 }, target: { kind: 'ssh', host: 'lab', hostname: '127.0.0.1', port, user: 'someone', remoteDir: '/tmp/mnemo-nowhere' } }));
      return { connections: () => connections, dispose: () => new Promise((resolve) => listener.close(resolve)) };
    },
    async run({ page, workspace, screenshot, prepared }) {
      await workbench(page);
      const sidebar = await openView(page, 'Mnemo');
      await sidebar.locator('.monaco-list-row', { hasText: 'r-live' }).first().waitFor({ state: 'visible', timeout: 90_000 });
      const dataDir = join(dirname(dirname(workspace)), 'data');
      const line = 'Restricted Mode: 1 live run(s) will be followed once this folder is trusted.';
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (prepared.connections()) throw new Error(`Mnemo connected to the host a run record names (${prepared.connections()} connection(s)) in an untrusted folder`);
        const logged = filesUnder(dataDir).filter((f) => /Mnemo\.log$/.test(f)).some((f) => readFileSync(f, 'utf8').includes(line));
        if (logged) break;
        if (Date.now() > deadline) throw new Error(`the Mnemo log does not say "${line}"`);
        await page.waitForTimeout(200);
      }
      await screenshot('restricted-mode');
      if (prepared.connections()) throw new Error('Mnemo connected to the host a run record names in an untrusted folder');
      return 'the live run is listed, its host not reached';
    },
  },
];
