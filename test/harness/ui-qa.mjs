// UI checks of curation (.qa files): the editor with the language server's diagnostics and code
// lenses, and the Q&A view. Included in the list of test/harness/ui.mjs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openView, runCommand, widenSidebar, workbench } from './ui.mjs';

const FILE_A = [
  '# Pairs for the first chunks of the rulebook (a UI check writes this file).',
  '@source: sources/rulebook.pdf',
  '@variant: nuanced',
  '@temperature: 0.45',
  '@model: gpt-4o-mini',
  '',
  '@chunk: 1',
  'Q: In Cairnrun, how many players does each team field?',
  'A: Nine.',
  '',
  '@reviewed',
  'Q: In Cairnrun, what is the Still?',
  'A: The zone formed by the circle of 1.8 m radius around each cairn.',
  '',
  'Q: How heavy is the cairnstone?',
  'A: Between 620 and 650 grams.',
  '',
  'Q: In Cairnrun, how many players does each team field?',
  'A: Nine players.',
  '',
  '# Q: In Cairnrun, is the stone round?',
  '# A: Rejected: the rulebook does not say.',
  '',
  '@chunk: 2',
  'Q: In Cairnrun, what is a Tap?',
  '',
  'Q: In Cairnrun, what is a Clasp?',
  'A: A two-handed touch by an opponent',
  'on the Carrier\'s torso or back.',
  '',
].join('\n');

const FILE_B = ['@source: sources/rulebook.pdf', '@variant: nuanced', '@temperature: 1.2', '', '@chunk: 1', 'Q: In Cairnrun, what does the Herald wear?', 'A: A white sash 8 cm wide.', ''].join('\n');
const FILE_C = ['@source: sources/rulebook.pdf', '@variant: reversed', '@temperature: 0.6', '', '@chunk: 1', 'Q: In Cairnrun, which player wears a white sash?', 'A: The Herald.', ''].join('\n');
// What a small local model wrote (SmolLM2-135M, test/fixtures/smollm2-answers.json): the prompt's example, nothing checkable, and one good pair.
const FILE_D = [
  '@source: sources/rulebook.pdf',
  '@variant: simple',
  '@temperature: 0.6',
  '@model: smollm2',
  '',
  '@chunk: 1',
  'Q: In Cairnrun rules, how many squares may a boat move in one turn?',
  'A: A boat may travel no more than three squares in a single turn.',
  '',
  'Q: What is the rules of the game of Cairnrun?',
  'A: The rules of Cairnrun are as described in the document.',
  '',
  'Q: In Cairnrun, who decides where the Laws are silent?',
  'A: The Chief Arbiter decides.',
  '',
].join('\n');

export const qaChecks = [
  {
    name: 'qa editor and view',
    timeoutMs: 180_000,
    async run({ page, workspace, screenshot }) {
      writeFileSync(join(workspace, 'qa/rulebook-nuanced-0.45.qa'), FILE_A);
      writeFileSync(join(workspace, 'qa/rulebook-nuanced-1.2.qa'), FILE_B);
      writeFileSync(join(workspace, 'qa/rulebook-reversed-0.6.qa'), FILE_C);
      writeFileSync(join(workspace, 'qa/rulebook-simple-0.6.qa'), FILE_D);
      await workbench(page);

      // The file in the editor: colours from the grammar, squiggles from the server, lenses on @chunk.
      await page.keyboard.press('Control+P');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible' });
      await input.fill('rulebook-nuanced-0.45.qa');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'rulebook-nuanced-0.45.qa' }).first().waitFor({ state: 'visible' });
      await input.press('Enter');
      const editor = page.locator('.editor-instance .monaco-editor').first();
      await editor.locator('.squiggly-warning').first().waitFor({ state: 'visible', timeout: 90_000 });
      await editor.locator('.squiggly-error').first().waitFor({ state: 'visible', timeout: 30_000 });
      await editor.locator('.codelens-decoration', { hasText: 'Regenerate this chunk' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      // The question with no answer gets its message in the Problems panel.
      await page.keyboard.press('Control+Shift+M');
      await page.locator('.markers-panel .monaco-list-row', { hasText: 'has no answer' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      await screenshot('qa-editor-diagnostics');

      // The Q&A view: source > variant > file per temperature, with pair and problem counts.
      const sidebar = await openView(page, 'Mnemo');
      await widenSidebar(page, 620);
      // Close the Problems panel: the view is the subject now.
      await page.keyboard.press('Control+Shift+M');
      const file = sidebar.locator('.monaco-list-row', { hasText: 't=0.45' }).first();
      await file.waitFor({ state: 'visible', timeout: 60_000 });
      const description = (await file.locator('.label-description').textContent())?.trim() ?? '';
      if (!/5 pairs · \d+ problems?/.test(description)) throw new Error(`the file's description is "${description}", expected "... 5 pairs · N problems"`);
      await sidebar.locator('.monaco-list-row', { hasText: 'reversed' }).first().waitFor({ state: 'visible' });
      await file.click();
      const still = sidebar.locator('.monaco-list-row', { hasText: 'what is the Still?' }).first();
      await still.waitFor({ state: 'visible', timeout: 30_000 });
      await screenshot('qa-view');

      // Selecting a pair shows it in the editor, selected: its question and answer (lines 12-13).
      await still.click();
      await page.locator('.statusbar-item', { hasText: /Ln 13, Col \d+ \(\d+ selected\)/ }).first().waitFor({ state: 'visible', timeout: 30_000 });

      // Coverage: a rendered report with the chunks that have no pairs.
      await runCommand(page, 'Mnemo: Show Coverage');
      const preview = page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
      await preview.locator('h2', { hasText: 'sources/rulebook.pdf' }).waitFor({ state: 'visible', timeout: 60_000 });
      await preview.locator('table').first().waitFor({ state: 'visible' });
      await screenshot('qa-coverage');

      // The view filtered to the pairs the generation filters flag: the echo and the vacuous answer, not the good pair.
      await runCommand(page, 'Mnemo: Show Only Echoed, Vacuous or Ungrounded Pairs');
      await sidebar.locator('.pane-header', { hasText: 'only echoed, vacuous or ungrounded pairs' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      const simple = sidebar.locator('.monaco-list-row', { hasText: 'simple' }).first();
      await simple.waitFor({ state: 'visible', timeout: 30_000 });
      // The nuanced files (pairs of the check's fixtures about other chunks) are folded away, the small model's file opened.
      const nuanced = sidebar.locator('.monaco-list-row[aria-expanded="true"]', { hasText: /^nuanced/ }).first();
      if (await nuanced.count()) await nuanced.click();
      const echoRow = sidebar.locator('.monaco-list-row', { hasText: 'how many squares may a boat move' }).first();
      const simpleFile = sidebar.locator('.monaco-list-row', { hasText: 'rulebook-simple-0.6.qa' }).first();
      await simpleFile.waitFor({ state: 'visible', timeout: 30_000 });
      if (!(await echoRow.isVisible())) await simpleFile.click();
      await echoRow.waitFor({ state: 'visible', timeout: 30_000 });
      await sidebar.locator('.monaco-list-row', { hasText: 'What is the rules of the game' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      if (await sidebar.locator('.monaco-list-row', { hasText: 'who decides where the Laws are silent' }).count()) throw new Error('the filtered view shows a good pair');
      await screenshot('qa-view-filtered');
      await runCommand(page, 'Mnemo: Show All Pairs');
      return description;
    },
  },
];
