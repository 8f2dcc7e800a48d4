// UI checks of the walkthrough and the webviews' Content-Security-Policy. Included in
// test/harness/ui.mjs.
// - walkthrough: opened from the palette on the example project with pairs and a dataset written
//   before the window opened: "Create a project", "Add a source", "Generate" and "Build the
//   dataset" are checked, training is not; a finished run written while the window is open checks
//   "Train a model" off; the subtitle is not cut off.
// - webview csp: the chart's HTML, read inside VS Code's webview frames, has the strict policy.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openView, runCommand, widenSidebar, workbench } from './ui.mjs';

const STEPS = ['Create a project', 'Add a source document', 'Check the chunks', 'Generate Q&A pairs', 'Curate the pairs', 'Build the dataset', 'Train a model', 'Evaluate it', 'Compare runs'];

function writeRun(workspace, id, state) {
  const dir = join(workspace, 'runs', id);
  mkdirSync(dir, { recursive: true });
  const now = new Date().toISOString();
  const line = (e) => JSON.stringify(e) + '\n';
  let metrics = line({ event: 'start', total_steps: 40, epochs: 1, train_rows: 60, eval_rows: 6 });
  for (let step = 1; step <= 40; step++) metrics += line({ event: 'log', step, epoch: step / 40, loss: +(2.4 * Math.exp(-step / 15) + 0.3).toFixed(4), lr: 1e-4 });
  metrics += line({ event: 'done', output_dir: 'output' });
  writeFileSync(join(dir, 'metrics.jsonl'), metrics);
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ version: 1, id, created: now, target: { kind: 'local' }, state, label: id, config: { model: 'HuggingFaceTB/SmolLM2-135M-Instruct', learning_rate: 1e-4 }, startedAt: now }));
}

/** The steps of the open walkthrough: title -> checked. */
async function stepStates(page) {
  const out = {};
  for (const step of await page.locator('button.getting-started-step').all()) {
    const title = ((await step.locator('.step-title').first().textContent()) ?? '').trim();
    if (title) out[title] = (await step.getAttribute('aria-checked')) === 'true';
  }
  return out;
}

async function waitForStep(page, title, checked, timeout = 30_000) {
  const step = page.locator('button.getting-started-step', { has: page.locator('.step-title', { hasText: title }) });
  await step.and(page.locator(`[aria-checked="${checked}"]`)).waitFor({ state: 'attached', timeout });
}

export const walkthroughChecks = [
  {
    name: 'walkthrough',
    timeoutMs: 180_000,
    prepare({ workspace }) {
      // The folder sits inside a git repository, as the demo's copy does (.tmp/demo/ in this one):
      // VS Code must not ask about the repository in the parent folders.
      execFileSync('git', ['init', '-q', dirname(workspace)]);
      mkdirSync(join(workspace, 'qa', 'rulebook'), { recursive: true });
      writeFileSync(join(workspace, 'qa', 'rulebook', 'hand.qa'), '@source: sources/rulebook.pdf\n\nQ: In Cairnrun, how many points is a Crown worth?\nA: Five points.\n');
      mkdirSync(join(workspace, 'data'), { recursive: true });
      writeFileSync(join(workspace, 'data', 'train.jsonl'), JSON.stringify({ messages: [{ role: 'user', content: 'In Cairnrun, how many points is a Crown worth?' }, { role: 'assistant', content: 'Five points.' }] }) + '\n');
    },
    async run({ page, workspace, screenshot }) {
      await workbench(page);
      // The extension is up once the Sources view lists the example's source.
      const sidebar = await openView(page, 'Mnemo');
      await sidebar.locator('.monaco-list-row', { hasText: 'rulebook.pdf' }).first().waitFor({ state: 'visible', timeout: 90_000 });
      // The Runs view's hint follows the dataset: there is one, so it offers Start Training only.
      const runsWelcome = sidebar.locator('.welcome-view-content', { hasText: 'No training runs yet' });
      await runsWelcome.waitFor({ state: 'visible', timeout: 30_000 }).catch(async () => {
        await sidebar.locator('.pane-header', { hasText: 'Runs' }).click();
        await runsWelcome.waitFor({ state: 'visible', timeout: 30_000 });
      });
      if (await sidebar.locator('.welcome-view-content', { hasText: 'No dataset yet' }).count()) throw new Error('the Runs view still says "No dataset yet" with data/train.jsonl built');
      await widenSidebar(page, 380);
      await screenshot('walkthrough-runs-hint', sidebar);

      await runCommand(page, 'Welcome: Open Walkthrough...');
      const pick = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Get started with Mnemo' }).first();
      await pick.waitFor({ state: 'visible' });
      await pick.click();
      await page.locator('button.getting-started-step').first().waitFor({ state: 'visible', timeout: 30_000 });
      for (const t of ['Create a project', 'Add a source document', 'Generate Q&A pairs', 'Build the dataset']) await waitForStep(page, t, true);
      const before = await stepStates(page);
      const titles = Object.keys(before);
      if (JSON.stringify(titles) !== JSON.stringify(STEPS)) throw new Error(`steps ${JSON.stringify(titles)}, expected ${JSON.stringify(STEPS)}`);
      for (const t of ['Train a model', 'Evaluate it', 'Compare runs']) if (before[t]) throw new Error(`"${t}" is checked before it was done`);
      // The subtitle is shown whole: its element is as wide as its text needs.
      const subtitle = page.locator('.getting-started-category .category-description, .getting-started-detail-title .subtitle, .category-description-container .category-description').first();
      const clipped = await subtitle.evaluate((el) => el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1).catch(() => undefined);
      if (clipped) throw new Error(`the walkthrough's subtitle is cut off: "${await subtitle.textContent()}"`);
      await page.mouse.move(1300, 850);
      await screenshot('walkthrough');

      // A run finishes while the window is open: its step checks itself off.
      writeRun(workspace, 'first-run', 'done');
      await waitForStep(page, 'Train a model', true, 60_000);
      await page.locator('button.getting-started-step', { has: page.locator('.step-title', { hasText: 'Compare runs' }) }).scrollIntoViewIfNeeded();
      await screenshot('walkthrough-trained');
      const after = await stepStates(page);
      // By now (the session is 20 s old and the Git extension has looked for repositories), no prompt about the parent repository.
      const prompts = await page.locator('.notifications-toasts .notification-toast', { hasText: /parent folders/ }).count();
      if (prompts) throw new Error('VS Code asks about the git repository found in the parent folders');
      return `checked: ${Object.entries(after).filter(([, v]) => v).map(([k]) => k).join(', ')}`;
    },
  },
  {
    name: 'webview csp',
    timeoutMs: 150_000,
    prepare({ workspace }) {
      writeRun(workspace, 'csp-run', 'done');
    },
    async run({ page }) {
      await workbench(page);
      const sidebar = await openView(page, 'Mnemo');
      const run = sidebar.locator('.monaco-list-row', { hasText: 'csp-run' }).first();
      await run.waitFor({ state: 'visible', timeout: 90_000 });
      await run.click();
      // The chart's own document, inside VS Code's webview frames.
      const frame = page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
      await frame.locator('canvas#chart').waitFor({ state: 'attached', timeout: 60_000 });
      const html = await frame.locator('html').evaluate((el) => ({
        csp: [...el.ownerDocument.querySelectorAll('meta[http-equiv="Content-Security-Policy"]')].map((m) => m.getAttribute('content')),
        // VS Code adds one script of its own to every webview (acquireVsCodeApi, id _vscodeApiScript); the rest is the page's.
        scripts: [...el.ownerDocument.querySelectorAll('script:not(#_vscodeApiScript)')].map((s) => ({ src: s.getAttribute('src'), nonce: s.nonce || s.getAttribute('nonce'), inline: !s.getAttribute('src') && s.textContent.trim() !== '', html: s.outerHTML.slice(0, 120) })),
        handlers: [...el.querySelectorAll('*')].flatMap((n) => [...n.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${n.tagName}[${a.name}]`)),
        links: [...el.ownerDocument.querySelectorAll('link[href], img[src]')].map((l) => l.getAttribute('href') ?? l.getAttribute('src')),
      }));
      if (html.csp.length !== 1) throw new Error(`the chart page has ${html.csp.length} CSP meta tags`);
      const policy = Object.fromEntries(html.csp[0].split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([k, ...v]) => [k, v]));
      const fail = (why) => {
        throw new Error(`${why}: ${html.csp[0]}`);
      };
      if (policy['default-src']?.join(' ') !== "'none'") fail("default-src is not 'none'");
      const scriptSrc = policy['script-src'] ?? [];
      if (scriptSrc.length !== 1 || !/^'nonce-[A-Za-z0-9+/=]{22,}'$/.test(scriptSrc[0])) fail('script-src is not one nonce');
      const nonce = scriptSrc[0].slice(7, -1);
      // Besides the nonce, only the webview's own resources (webview.cspSource: 'self' and VS Code's resource host).
      for (const [k, v] of Object.entries(policy)) {
        if (k === 'script-src' || k === 'default-src') continue;
        if (v.some((s) => !["'none'", "'self'", 'https://*.vscode-cdn.net'].includes(s))) fail(`${k} allows ${v.join(' ')}`);
      }
      if (!html.scripts.length) throw new Error('no script on the chart page');
      for (const s of html.scripts) {
        if (s.inline) throw new Error(`an inline script on the chart page: ${s.html}`);
        if (s.nonce !== nonce) throw new Error(`script ${s.src} lacks the page's nonce`);
        if (!/^https:\/\/[^/]*vscode-cdn\.net\/|^vscode-webview-resource:|^https:\/\/file\+/.test(s.src ?? '') && !/\/dist\/webview\//.test(s.src ?? '')) throw new Error(`script from ${s.src}`);
      }
      if (html.handlers.length) throw new Error(`inline event handlers: ${html.handlers.join(', ')}`);
      return `CSP ${Object.keys(policy).join(', ')}; ${html.scripts.length} script(s) by nonce`;
    },
  },
];
