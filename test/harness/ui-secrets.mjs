// UI check of the clear-text consent: an endpoint on plain http:// at this machine's non-loopback
// address, a key set through the palette, then "Generate Pairs": the modal asks before the key is
// sent; Cancel sends nothing; "Send Over HTTP and Remember" lets the sweep run and is remembered
// (the next sweep goes straight to the plan). Included in the list of test/harness/ui.mjs.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { openView, runCommand, workbench } from './ui.mjs';

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
];
