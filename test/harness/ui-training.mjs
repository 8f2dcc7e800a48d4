// UI checks of training: "Mnemo: Start Training" from the palette against a real OpenSSH server
// on 127.0.0.1 (an unknown host key accepted in the modal that shows its fingerprint), the run
// stepping in the Runs view, a window reload in the middle of it, and the same run stepping on
// after the reload. Included in the list of test/harness/ui.mjs.
/* global document, getComputedStyle -- inside page.waitForFunction, run in the browser */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './vscode.mjs';
import { openView, runCommand, widenSidebar, workbench } from './ui.mjs';

/** test/servers/sshd.ts, through tsx (the harness itself is plain JavaScript). */
async function startSshd(options) {
  const { tsImport } = await import('tsx/esm/api');
  const mod = await tsImport(join(repoRoot, 'test/servers/sshd.ts'), import.meta.url);
  return { sshd: await mod.startSshd(options), alias: mod.TEST_HOST_ALIAS };
}

/** Processes of a group still running (zombies aside: this machine's init may never reap them). */
function liveInGroup(pgid) {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
        const [state, , pg] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return Number(pg) === pgid && state !== 'Z';
      } catch {
        return false;
      }
    });
}

/** The Runs view's pane in the Mnemo side bar, shown and expanded. */
async function runsPane(page) {
  const sidebar = page.locator('#workbench\\.parts\\.sidebar');
  const header = sidebar.locator('.pane-header', { hasText: /^Runs/ });
  // After a reload the side bar comes back by itself, a moment later: clicking the container then would close it.
  const shown = await header.waitFor({ state: 'visible', timeout: 15_000 }).then(
    () => true,
    () => false,
  );
  if (!shown) await openView(page, 'Mnemo');
  await header.waitFor({ state: 'visible' });
  if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
  return sidebar;
}

const STEPS = 400;
const PASSPHRASE = 'correct horse battery staple';

/** Answers the passphrase box, which must be a password field. */
async function enterPassphrase(page, screenshot) {
  const box = page.locator('.quick-input-widget', { hasText: 'Passphrase for id_ed25519' });
  await box.waitFor({ state: 'visible', timeout: 60_000 });
  const input = box.locator('input[type="password"]');
  if (!(await input.isVisible())) throw new Error('the passphrase box is not a password field');
  await input.fill(PASSPHRASE);
  if (screenshot) await screenshot('training-passphrase');
  await input.press('Enter');
}

export const trainingChecks = [
  {
    name: 'training run survives a reload',
    timeoutMs: 240_000,
    // Before the window opens: the test sshd, the settings that point at it, the run's data.
    async prepare({ workspace }) {
      // An unknown host, and a user key with a passphrase: both questions come up in the UI.
      const { sshd, alias } = await startSshd({ trustHost: false, passphrase: PASSPHRASE });
      const scripts = mkdtempSync(join(tmpdir(), 'mnemo-ui-scripts-'));
      // The stand-in trainer as train.py, a step every 0.25 s; the machine's own Python, no venv.
      copyFileSync(join(repoRoot, 'test/fixtures/fake-train.py'), join(scripts, 'fake_train.py'));
      writeFileSync(join(scripts, 'train.py'), 'import os, runpy\nos.environ.setdefault("MNEMO_FAKE_DELAY", "0.25")\nrunpy.run_path("fake_train.py", run_name="__main__")\n');
      mkdirSync(join(workspace, '.vscode'), { recursive: true });
      writeFileSync(
        join(workspace, '.vscode/settings.json'),
        JSON.stringify({ 'mnemo.ssh.configFile': sshd.sshConfig, 'mnemo.ssh.knownHostsFile': sshd.knownHosts, 'mnemo.training.python': '/usr/bin/python3', 'mnemo.training.scriptsDir': scripts }, null, 2),
      );
      const config = JSON.parse(readFileSync(join(workspace, 'mnemo.json'), 'utf8'));
      config.training = { model: 'HuggingFaceTB/SmolLM2-135M-Instruct', max_steps: STEPS, eval_steps: 20 };
      writeFileSync(join(workspace, 'mnemo.json'), JSON.stringify(config, null, 2) + '\n');
      const row = (i) => JSON.stringify({ messages: [{ role: 'user', content: `In Cairnrun rules, what is rule ${i}?` }, { role: 'assistant', content: `Rule ${i}.` }] });
      writeFileSync(join(workspace, 'data/train.jsonl'), Array.from({ length: 12 }, (_, i) => row(i)).join('\n') + '\n');
      writeFileSync(join(workspace, 'data/test.jsonl'), row(99) + '\n');
      return {
        sshd,
        alias,
        // Nothing of the run may outlive the check.
        async dispose() {
          try {
            for (const id of existsSync(join(workspace, 'runs')) ? readdirSync(join(workspace, 'runs')) : []) {
              const file = join(workspace, 'runs', id, 'run.json');
              if (!existsSync(file)) continue;
              const now = JSON.parse(readFileSync(file, 'utf8'));
              if (now?.pgid && liveInGroup(now.pgid).length) process.kill(-now.pgid, 'SIGKILL');
              if (now?.target?.remoteDir) rmSync(now.target.remoteDir, { recursive: true, force: true });
            }
          } catch {
            /* best effort */
          }
          await sshd.stop();
          rmSync(scripts, { recursive: true, force: true });
        },
      };
    },
    async run({ page, workspace, screenshot, prepared }) {
      const { sshd, alias } = prepared;
      await workbench(page);
      await openView(page, 'Mnemo');
      await widenSidebar(page, 620);

      // From the palette: the target, the config, then the unknown host's key.
      await runCommand(page, 'Mnemo: Start Training');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: alias }).first().click();
      // Which settings: the project's, or a named preset ("Memorize (small model)").
      const settings = page.locator('.quick-input-widget', { hasText: 'which settings?' });
      await settings.waitFor({ state: 'visible', timeout: 30_000 });
      await settings.locator('.quick-input-list .monaco-list-row', { hasText: 'Memorize (small model)' }).first().waitFor({ state: 'visible' });
      await screenshot('training-start-presets');
      await settings.locator('.quick-input-list .monaco-list-row', { hasText: 'Project settings' }).first().click();
      const dialog = page.locator('.monaco-dialog-box');
      await dialog.filter({ hasText: 'Start training HuggingFaceTB/SmolLM2-135M-Instruct' }).waitFor({ state: 'visible', timeout: 30_000 });
      await screenshot('training-start-config');
      await dialog.locator('.monaco-button', { hasText: /^Start$/ }).click();
      const hostKey = dialog.filter({ hasText: 'Trust its host key?' });
      await hostKey.waitFor({ state: 'visible', timeout: 30_000 });
      const shown = await hostKey.textContent();
      if (!shown.includes(sshd.hostFingerprint)) throw new Error(`the host key dialog does not show the fingerprint ${sshd.hostFingerprint}: "${shown}"`);
      await screenshot('training-host-key');
      await hostKey.locator('.monaco-button', { hasText: 'Trust and Connect' }).click();
      await enterPassphrase(page, screenshot);

      // The run steps in the Runs view.
      const sidebar = await runsPane(page);
      const stepping = sidebar.locator('.monaco-list-row', { hasText: new RegExp(`training step \\d+/${STEPS}`) }).first();
      await stepping.waitFor({ state: 'visible', timeout: 60_000 });
      const runs = readdirSync(join(workspace, 'runs')).filter((n) => existsSync(join(workspace, 'runs', n, 'run.json')));
      if (runs.length !== 1) throw new Error(`expected one run folder, found ${runs.join(', ') || 'none'}`);
      const id = runs[0];
      if (!readFileSync(sshd.knownHosts, 'utf8').includes(sshd.hostKeyLine.split(' ')[1])) throw new Error('the accepted host key was not added to known_hosts');
      const step = async () => {
        const text = (await sidebar.locator('.monaco-list-row', { hasText: id }).first().locator('.label-description').textContent()) ?? '';
        return Number(new RegExp(`step (\\d+)/${STEPS}`).exec(text)?.[1] ?? -1);
      };
      const before = await step();
      await screenshot('runs-view-before-reload');
      const follower = () => {
        try {
          return JSON.parse(readFileSync(join(workspace, 'runs', id, '.follower.json'), 'utf8')).pid;
        } catch {
          return undefined;
        }
      };
      const firstFollower = follower();
      if (!firstFollower) throw new Error('the window that started the run does not mark itself as following it');

      // Reload the window in the middle of the run: the extension host goes, the run does not.
      await page.reload();
      await workbench(page);
      // The new window reattaches, and asks for the key's passphrase again: it was kept in the old window's memory only.
      await enterPassphrase(page);
      const after = await runsPane(page);
      const item = after.locator('.monaco-list-row', { hasText: id }).first();
      await item.waitFor({ state: 'visible', timeout: 60_000 });
      // Stepping on past where it was: reattached from run.json and followed from its offset.
      const target = before + 8;
      await page.waitForFunction(
        ({ id, target, steps }) => {
          const row = [...document.querySelectorAll('#workbench\\.parts\\.sidebar .monaco-list-row')].find((r) => r.textContent.includes(id));
          const m = row && new RegExp(`training step (\\d+)/${steps}`).exec(row.textContent);
          return m && Number(m[1]) >= target;
        },
        { id, target, steps: STEPS },
        { timeout: 90_000, polling: 250 },
      );
      // The new window's extension host follows it now (the old one is gone).
      const deadline = Date.now() + 30_000;
      while (!(follower() && follower() !== firstFollower)) {
        if (Date.now() > deadline) throw new Error(`after the reload the run is still marked as followed by ${follower()} (before: ${firstFollower})`);
        await page.waitForTimeout(250);
      }
      const description = (await item.locator('.label-description').textContent())?.trim() ?? '';
      if (!/training step \d+\/\d+ · \d+(m \d+)?s · loss \d\.\d{3}/.test(description)) throw new Error(`the run's description is "${description}"`);
      await page.mouse.move(1000, 700);
      await screenshot('runs-view');
      // The tooltip: the config and the target.
      // A live row is redrawn every 2 s, which can drop a hover that was about to open: hover again.
      const tooltip = page.locator('.monaco-hover', { hasText: 'learning rate' }).first();
      for (let attempt = 1; ; attempt++) {
        await page.mouse.move(1000, 700);
        await item.hover();
        try {
          await tooltip.waitFor({ state: 'visible', timeout: 6_000 });
          break;
        } catch (err) {
          if (attempt === 4) throw err;
        }
      }
      // Fully faded in, for a readable screenshot.
      await page.waitForFunction(() => [...document.querySelectorAll('.monaco-hover')].some((h) => h.textContent.includes('learning rate') && getComputedStyle(h).opacity === '1'), undefined, { timeout: 5000 });
      await screenshot('runs-view-tooltip');
      await page.mouse.move(1000, 700);

      // Every step once in the local copy of the metrics, across the reload.
      const steps = readFileSync(join(workspace, 'runs', id, 'metrics.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((e) => e.event === 'log')
        .map((e) => e.step);
      if (steps.some((s, i) => s !== i + 1)) throw new Error(`steps in metrics.jsonl are not 1..n once each: ${steps.join(',')}`);

      // Cancel from the item's context menu.
      await item.click({ button: 'right' });
      const menuItem = page.getByRole('menuitem', { name: 'Cancel Run' });
      await menuItem.waitFor({ state: 'visible' });
      await menuItem.hover();
      await page.keyboard.press('Enter');
      await dialog.filter({ hasText: `Cancel run ${id}?` }).locator('.monaco-button', { hasText: 'Cancel Run' }).click();
      await after.locator('.monaco-list-row', { hasText: 'cancelled at step' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      return `step ${before} before the reload, ${steps.length} after; ${description}`;
    },
  },
];
