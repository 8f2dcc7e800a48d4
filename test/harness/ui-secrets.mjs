// UI checks of secrets. Included in the list of test/harness/ui.mjs.
// - clear-text key consent: an endpoint on plain http:// at this machine's non-loopback address, a
//   key set through the palette, then "Generate Pairs": the modal asks before the key is sent;
//   Cancel sends nothing; "Send Over HTTP and Remember" lets the sweep run and is remembered (the
//   next sweep goes straight to the plan).
// - secrets journey: sentinel secrets typed where a person types them (API key and Hub token in
//   their password boxes, the SSH key's passphrase in its box), then the journey: a sweep against a
//   server that echoes the key back, the dataset built and pushed to a local Hub, a run trained on a
//   real OpenSSH server with the encrypted key. Every command line on this machine is recorded
//   while it runs (/proc/<pid>/cmdline). Then every file of the project, the remote run folder,
//   VS Code's logs and data of the session, the harness's logs, the sshd log and the recorded
//   command lines are searched for any 8 characters of a sentinel: none may be found.
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from './vscode.mjs';
import { openView, runCommand, widenSidebar, workbench } from './ui.mjs';

/** A TypeScript module of test/servers, through tsx (the harness itself is plain JavaScript). */
async function tsModule(path) {
  const { tsImport } = await import('tsx/esm/api');
  return tsImport(join(repoRoot, path), import.meta.url);
}

function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    let st;
    try {
      st = statSync(p);
    } catch {
      return [];
    }
    return st.isDirectory() ? filesUnder(p) : st.isFile() ? [p] : [];
  });
}

/** Records the command line of every process on this machine, polling /proc, until stopped. */
function recordCommandLines() {
  const seen = new Set();
  const poll = () => {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const line = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ').trim();
        if (line) seen.add(line);
      } catch {
        /* gone */
      }
    }
  };
  const timer = setInterval(poll, 100);
  poll();
  return {
    stop() {
      clearInterval(timer);
      poll();
      return [...seen];
    },
  };
}

/** Types a secret into the password box a command opens from the palette. */
async function typeSecret(page, command, secret, saved) {
  await runCommand(page, command);
  const input = page.locator('.quick-input-widget input[type="password"]');
  await input.waitFor({ state: 'visible' });
  await input.fill(secret);
  await input.press('Enter');
  await page.locator('.notifications-toasts', { hasText: saved }).first().waitFor({ state: 'visible', timeout: 30_000 });
}

function lanAddress() {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

/** A minimal chat-completions server on 0.0.0.0 that records the Authorization header of every request. */
async function startServer() {
  const auth = [];
  const waiters = [];
  const server = createServer((req, res) => {
    auth.push(String(req.headers.authorization ?? ''));
    for (const w of waiters.splice(0)) w();
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url?.startsWith('/v1/models')) return res.end(JSON.stringify({ object: 'list', data: [{ id: 'ui-model', object: 'model' }] }));
      res.end(
        JSON.stringify({
          id: 'c',
          object: 'chat.completion',
          created: 0,
          model: 'ui-model',
          choices: [{ index: 0, message: { role: 'assistant', content: 'Q: In Cairnrun rules, how many stones make a cairn?\nA: A cairn is made of seven stones.' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 50, completion_tokens: 20, total_tokens: 70 },
        }),
      );
    });
  });
  await new Promise((resolve) => server.listen(0, '0.0.0.0', resolve));
  return {
    auth,
    port: server.address().port,
    /** Resolves when a request with this Authorization arrives (or has arrived); rejects after `ms`. */
    waitForAuth(value, ms) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no request with the key arrived in ${ms} ms (saw ${auth.length} requests)`)), ms);
        const check = () => {
          if (auth.includes(value)) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      });
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

export const secretsChecks = [
  {
    name: 'clear-text key consent',
    timeoutMs: 180_000,
    async run({ page, workspace, screenshot }) {
      const lan = lanAddress();
      if (!lan) return 'skipped: this machine has no non-loopback IPv4 address';
      const server = await startServer();
      const key = `sk-ui-${randomBytes(16).toString('hex')}`;
      const origin = `http://${lan}:${server.port}`;
      try {
        const config = JSON.parse(readFileSync(join(workspace, 'mnemo.json'), 'utf8'));
        config.generation = { ...config.generation, baseUrl: `${origin}/v1`, model: 'ui-model', variants: ['nuanced'], temperatures: [0.2] };
        writeFileSync(join(workspace, 'mnemo.json'), JSON.stringify(config, null, 2) + '\n');
        await workbench(page);
        // The extension is up once its view lists the example's source.
        const sidebar = await openView(page, 'Mnemo');
        await sidebar.locator('.monaco-list-row', { hasText: 'rulebook.pdf' }).first().waitFor({ state: 'visible', timeout: 90_000 });

        await runCommand(page, 'Mnemo: Set API Key');
        const input = page.locator('.quick-input-widget input[type="password"]');
        await input.waitFor({ state: 'visible' });
        await input.fill(key);
        await input.press('Enter');
        await page.locator('.notifications-toasts', { hasText: 'API key saved in secret storage' }).waitFor({ state: 'visible', timeout: 30_000 });

        const dialog = page.locator('.monaco-dialog-box');
        const consent = dialog.filter({ hasText: `send the API key to ${origin} in clear text?` });
        await runCommand(page, 'Mnemo: Generate Pairs');
        await consent.waitFor({ state: 'visible', timeout: 60_000 });
        await screenshot('secrets-clear-text-consent');
        await consent.locator('.monaco-button', { hasText: 'Cancel' }).click();
        await consent.waitFor({ state: 'hidden' });
        if (server.auth.some((a) => a.includes(key))) throw new Error('the key was sent although the user cancelled');

        await runCommand(page, 'Mnemo: Generate Pairs');
        await consent.waitFor({ state: 'visible', timeout: 60_000 });
        await consent.locator('.monaco-button', { hasText: 'Send Over HTTP and Remember' }).click();
        const plan = dialog.filter({ hasText: 'Generate Q&A:' });
        await plan.waitFor({ state: 'visible', timeout: 60_000 });
        await plan.locator('.monaco-button', { hasText: 'Run All' }).click();
        await server.waitForAuth(`Bearer ${key}`, 60_000);
        await page.locator('.notifications-toasts', { hasText: /requests done/ }).first().waitFor({ state: 'visible', timeout: 60_000 });

        // Remembered: the next sweep (the journal removed, so there is something to send) goes straight to the plan.
        rmSync(join(workspace, '.mnemo', 'generation', 'journal.jsonl'));
        const sent = server.auth.length;
        await runCommand(page, 'Mnemo: Generate Pairs');
        await plan.waitFor({ state: 'visible', timeout: 60_000 });
        if (await consent.isVisible()) throw new Error('the consent was asked again');
        await screenshot('secrets-remembered-plan');
        await plan.locator('.monaco-button', { hasText: 'Cancel' }).click();
        if (server.auth.length !== sent) throw new Error('requests were sent although the plan was cancelled');
        return `consent asked once for ${origin.replace(lan, '<lan>')}; remembered`;
      } finally {
        await server.close();
      }
    },
  },
  {
    name: 'secrets journey',
    timeoutMs: 300_000,
    async prepare({ workspace }) {
      const sentinels = {
        key: `sk-mnemoSENTINEL-${randomBytes(16).toString('hex')}`,
        token: `hf_SENTINEL${randomBytes(12).toString('hex')}`,
        passphrase: `pp-SENTINEL-${randomBytes(12).toString('hex')}`,
      };
      const { startEchoServer, sentinelHits } = await tsModule('test/servers/secret-echo-server.ts');
      const { startSshd, TEST_HOST_ALIAS } = await tsModule('test/servers/sshd.ts');
      const { HubServer } = await tsModule('test/servers/hub-server.ts');
      const echo = await startEchoServer();
      const hub = await HubServer.start([{ name: 'me', token: sentinels.token, write: ['me'] }]);
      const sshd = await startSshd({ passphrase: sentinels.passphrase });
      const scripts = mkdtempSync(join(tmpdir(), 'mnemo-ui-secrets-scripts-'));
      copyFileSync(join(repoRoot, 'test/fixtures/fake-train.py'), join(scripts, 'fake_train.py'));
      writeFileSync(join(scripts, 'train.py'), 'import os, runpy\nos.environ.setdefault("MNEMO_FAKE_DELAY", "0.05")\nrunpy.run_path("fake_train.py", run_name="__main__")\n');
      mkdirSync(join(workspace, '.vscode'), { recursive: true });
      writeFileSync(
        join(workspace, '.vscode/settings.json'),
        JSON.stringify({ 'mnemo.ssh.configFile': sshd.sshConfig, 'mnemo.ssh.knownHostsFile': sshd.knownHosts, 'mnemo.training.python': '/usr/bin/python3', 'mnemo.training.scriptsDir': scripts, 'mnemo.hub.url': hub.url }, null, 2),
      );
      const config = JSON.parse(readFileSync(join(workspace, 'mnemo.json'), 'utf8'));
      config.chunking = { tokens: 1500 };
      config.generation = { ...config.generation, baseUrl: `${echo.url}`, model: 'echo-model', variants: ['nuanced'], temperatures: [0.2] };
      config.hub = { repo: 'me/cairnrun-qa' };
      config.training = { model: 'HuggingFaceTB/SmolLM2-135M-Instruct', max_steps: 30, eval_steps: 10 };
      writeFileSync(join(workspace, 'mnemo.json'), JSON.stringify(config, null, 2) + '\n');
      return {
        sentinels,
        sentinelHits,
        echo,
        hub,
        sshd,
        alias: TEST_HOST_ALIAS,
        async dispose() {
          await echo.close();
          await hub.stop();
          await sshd.stop();
          rmSync(scripts, { recursive: true, force: true });
        },
      };
    },
    async run({ page, workspace, screenshot, prepared }) {
      const { sentinels, sentinelHits, echo, hub, sshd, alias } = prepared;
      const commandLines = recordCommandLines();
      await workbench(page);
      const sidebar = await openView(page, 'Mnemo');
      await sidebar.locator('.monaco-list-row', { hasText: 'rulebook.pdf' }).first().waitFor({ state: 'visible', timeout: 90_000 });
      await widenSidebar(page, 520);

      await typeSecret(page, 'Mnemo: Set API Key', sentinels.key, 'API key saved in secret storage');
      await typeSecret(page, 'Mnemo: Set Hugging Face Token', sentinels.token, 'Hugging Face token saved in secret storage');

      // A step's toast is not always shown as a toast (VS Code queued it, or put it in the notification
      // center): the build and the push are waited for by what they do, not by their toasts.
      const until = async (what, done, ms = 60_000) => {
        const end = Date.now() + ms;
        while (!done()) {
          if (Date.now() > end) {
            await runCommand(page, 'Notifications: Show Notifications');
            const shown = await page.locator('.notifications-center').innerText().catch(() => '(no notification center)');
            throw new Error(`${what} did not happen in ${ms / 1000} s; notifications: ${shown.replace(/\s+/g, ' ').slice(0, 1500)}`);
          }
          await page.waitForTimeout(250);
        }
      };

      // The sweep, against a server that echoes the key in 429s, 500s, headers and answers.
      const dialog = page.locator('.monaco-dialog-box');
      await runCommand(page, 'Mnemo: Generate Pairs');
      const plan = dialog.filter({ hasText: 'Generate Q&A:' });
      await plan.waitFor({ state: 'visible', timeout: 60_000 });
      await plan.locator('.monaco-button', { hasText: 'Run All' }).click();
      await page.locator('.notifications-toasts', { hasText: /requests done/ }).first().waitFor({ state: 'visible', timeout: 90_000 });
      if (!echo.auth.includes(`Bearer ${sentinels.key}`)) throw new Error('the key never reached the endpoint');

      // The dataset, built and pushed to the local Hub with the token.
      await runCommand(page, 'Mnemo: Build Dataset');
      await until('the dataset build', () => existsSync(join(workspace, 'data', 'train.jsonl')) && existsSync(join(workspace, 'data', 'README.md')));
      await runCommand(page, 'Mnemo: Push Dataset to Hub');
      const repo = page.locator('.quick-input-widget', { hasText: 'Push dataset to the Hugging Face Hub' });
      await repo.waitFor({ state: 'visible' });
      await repo.locator('input').press('Enter');
      await until('the push to the local Hub', () => hub.commits.length > 0);

      // A run on the SSH host, with the encrypted key's passphrase typed in its box.
      await runCommand(page, 'Mnemo: Start Training');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: alias }).first().click();
      const settings = page.locator('.quick-input-widget', { hasText: 'which settings?' });
      await settings.waitFor({ state: 'visible', timeout: 30_000 });
      await settings.locator('.quick-input-list .monaco-list-row', { hasText: 'Project settings' }).first().click();
      await dialog.filter({ hasText: 'Start training' }).locator('.monaco-button', { hasText: /^Start$/ }).click();
      const box = page.locator('.quick-input-widget', { hasText: 'Passphrase for id_ed25519' });
      await box.waitFor({ state: 'visible', timeout: 60_000 });
      await box.locator('input[type="password"]').fill(sentinels.passphrase);
      await box.locator('input[type="password"]').press('Enter');
      const runOf = () => {
        const dir = join(workspace, 'runs');
        for (const id of existsSync(dir) ? readdirSync(dir) : []) {
          try {
            const r = JSON.parse(readFileSync(join(dir, id, 'run.json'), 'utf8'));
            if (r.state === 'done' || r.state === 'failed') return r;
          } catch {
            /* not yet */
          }
        }
        return undefined;
      };
      const deadline = Date.now() + 120_000;
      let record;
      while (!(record = runOf())) {
        if (Date.now() > deadline) throw new Error('the run did not finish in 120 s');
        await page.waitForTimeout(250);
      }
      if (record.state !== 'done') throw new Error(`the run ${record.state}: ${JSON.stringify(record.error ?? {})}`);
      await runCommand(page, 'Mnemo: Show Logs');
      await screenshot('secrets-journey');

      // The search: everything this session wrote, on this machine and on the host.
      const lines = commandLines.stop();
      const dataDir = join(dirname(dirname(workspace)), 'data');
      const resultsLogs = join(process.env.MNEMO_TEST_RESULTS_DIR ?? join(repoRoot, 'test-results'), 'logs');
      const files = [...filesUnder(workspace), ...filesUnder(record.target?.remoteDir ?? '/nonexistent'), ...filesUnder(dataDir).filter((f) => !/\/(CachedData|CachedProfilesData|extensions)\//.test(f)), ...filesUnder(resultsLogs).filter((f) => f.includes('secrets-journey'))];
      const secrets = Object.values(sentinels);
      const hits = files.flatMap((f) => sentinelHits(readFileSync(f, 'latin1'), secrets).map((h) => `${f}: ${h}`));
      hits.push(...sentinelHits(sshd.log(), secrets).map((h) => `sshd log: ${h}`));
      hits.push(...lines.flatMap((l) => sentinelHits(l, secrets).map((h) => `command line "${l.slice(0, 80)}": ${h}`)));
      if (hits.length) throw new Error(`sentinels found:\n${hits.slice(0, 20).join('\n')}`);
      if (!files.some((f) => /Mnemo\.log$/.test(f))) throw new Error(`the Mnemo log is not among the ${files.length} files searched`);
      return `searched ${files.length} files, the sshd log and ${lines.length} command lines: no sentinel`;
    },
  },
];
