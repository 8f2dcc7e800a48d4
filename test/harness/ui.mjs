// UI checks: what a person sees in the real VS Code, driven by Playwright. Run by
// test/harness/run.mjs after the suites; each counts as one test in its closing line.
//
// To add a check, append to `checks`:
//   {
//     name: 'qa view shows pairs',          // shown as "ui: <name>"; --grep matches it
//     workspace: 'project',                 // 'project' (copy of examples/cairnrun, default) or 'empty'
//     timeoutMs: 120_000,                   // optional
//     untrusted: true,                      // optional: the folder opens untrusted (Restricted Mode)
//     async run({ page, workspace, screenshot }) { ... throw to fail; may return a short note to print ... },
//   }
// Each check gets a fresh VS Code (server, user data, workspace copy) with the extension under
// development loaded, its workbench already navigated to in `page` (Playwright Page).
// `screenshot(name, locator?)` saves test-results/screenshots/<name>.png (the page, or one element).
// A failing check also leaves test-results/screenshots/FAILED-ui-<name>.png.
// Helpers below: workbench(page), openView(page, containerLabel), widenSidebar(page, px), runCommand(page, title).
// Wait on the UI with Playwright's auto-waiting locators, never fixed sleeps.

import { chartChecks } from './ui-chart.mjs';
import { evalChecks } from './ui-eval.mjs';
import { qaChecks } from './ui-qa.mjs';
import { restrictedChecks } from './ui-restricted.mjs';
import { secretsChecks } from './ui-secrets.mjs';
import { trainingChecks } from './ui-training.mjs';
import { walkthroughChecks } from './ui-walkthrough.mjs';

/** Waits for the workbench to be up (the activity bar is drawn, the explorer shows the folder). */
export async function workbench(page) {
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
  await page.locator('.activitybar').waitFor({ state: 'visible', timeout: 60_000 });
}

/** Clicks an activity-bar container by its title (aria-label) and returns the side bar. */
export async function openView(page, containerLabel) {
  const item = page.locator(`.activitybar .action-item a[aria-label^="${containerLabel}"], .activitybar .action-item[aria-label^="${containerLabel}"]`).first();
  await item.waitFor({ state: 'visible', timeout: 60_000 });
  await item.click();
  const sidebar = page.locator('#workbench\\.parts\\.sidebar');
  await sidebar.waitFor({ state: 'visible' });
  return sidebar;
}

/** Drags the side bar's edge so that it is `width` pixels wide. */
export async function widenSidebar(page, width) {
  const box = await page.locator('#workbench\\.parts\\.sidebar').boundingBox();
  if (!box) return;
  const x = box.x + box.width;
  const y = box.y + box.height / 2;
  await page.mouse.move(x - 1, y);
  await page.mouse.down();
  await page.mouse.move(box.x + width, y, { steps: 5 });
  await page.mouse.up();
}

/** Runs a command through the command palette by its title as shown there, e.g. "Mnemo: Refresh Sources". */
export async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  // The focused row, not any row: under load the list can still show the previous filter's rows
  // when Enter is pressed, which then runs nothing or another command.
  await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: title }).first().waitFor({ state: 'visible' });
  await input.press('Enter');
}

export const checks = [
  {
    name: 'sources view',
    async run({ page, screenshot }) {
      await workbench(page);
      const sidebar = await openView(page, 'Mnemo');
      // The Sources view lists the example's PDF with its page, token and chunk counts.
      const item = sidebar.locator('.monaco-list-row', { hasText: 'rulebook.pdf' }).first();
      await item.waitFor({ state: 'visible', timeout: 90_000 });
      const description = item.locator('.label-description');
      await description.filter({ hasText: /\d+ pages? · [\d,]+ tokens · \d+ chunks?/ }).waitFor({ state: 'visible', timeout: 90_000 });
      const text = (await description.textContent())?.trim();
      const m = /(\d+) pages? · ([\d,]+) tokens · (\d+) chunks?/.exec(text ?? '');
      if (!m) throw new Error(`rulebook.pdf's description is "${text}", expected "N pages · N tokens · N chunks"`);
      const [pages, tokens, chunks] = [Number(m[1]), Number(m[2].replace(/,/g, '')), Number(m[3])];
      if (!(pages > 0 && tokens > 0 && chunks > 0)) throw new Error(`counts should be positive: "${text}"`);
      // ~500-token chunks: the count must agree with the token total.
      if (chunks < Math.floor(tokens / 600) || chunks > Math.ceil(tokens / 200)) throw new Error(`${chunks} chunks for ${tokens} tokens is not ~500-token chunking: "${text}"`);
      // A wider side bar and the source expanded, for a screenshot a person can read.
      await widenSidebar(page, 560);
      await item.locator('.monaco-tl-twistie').click();
      await sidebar.locator('.monaco-list-row[aria-expanded="true"]', { hasText: 'rulebook.pdf' }).waitFor({ state: 'visible' });
      await sidebar.locator('.monaco-list-row[aria-level="2"]').first().waitFor({ state: 'visible' });
      await page.mouse.move(1000, 700);
      await screenshot('sources-view');
      return text;
    },
  },
  // Curation checks live in their own file.
  ...qaChecks,
  // Secrets: consent before a key goes over plain http to another machine.
  ...secretsChecks,
  // Evaluation: the view, and answer sets compared in a diff with verdict marks.
  ...evalChecks,
  // Training: a run started from the palette on a real sshd, stepping on across a window reload.
  ...trainingChecks,
  // Loss charts of training runs.
  ...chartChecks,
  // The walkthrough to the end; the webviews' Content-Security-Policy.
  ...walkthroughChecks,
  // Restricted Mode: an untrusted folder's run records are not followed to their hosts.
  ...restrictedChecks,
];
