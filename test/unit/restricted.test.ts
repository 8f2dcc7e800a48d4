// Restricted Mode (an untrusted folder): what package.json declares, checked against the one list
// the command table enforces (src/extension/restricted.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RESTRICTED_COMMANDS, restrictedMessage, TRUSTED_WHEN } from '../../src/extension/restricted';

const root = join(import.meta.dirname, '../..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const commands: { command: string; title: string; enablement?: string }[] = manifest.contributes.commands;

void test('the extension declares limited support of untrusted folders: what is off there, and the settings read from user settings only', () => {
  const u = manifest.capabilities?.untrustedWorkspaces;
  assert.equal(u?.supported, 'limited');
  for (const word of ['generates nothing', 'trains', 'evaluates nothing', 'runs no scripts', 'pushes nothing']) assert.ok(u.description.includes(word), `the description says it ${word}`);
  const settings = new Set(Object.keys(manifest.contributes.configuration.properties));
  for (const key of u.restrictedConfigurations) assert.ok(settings.has(key), `restricted setting ${key} is declared`);
  // Every setting that names an address, a machine or a program is read from user settings only.
  for (const key of settings) if (/baseUrl|allowInsecureKey|hub\.url|hosts|python|scriptsDir|ssh\./.test(key)) assert.ok(u.restrictedConfigurations.includes(key), `${key} is a restricted configuration`);
});

void test('every command that generates, connects, pushes, trains or evaluates is disabled in an untrusted folder, and no other', () => {
  const ids = new Set(commands.map((c) => c.command));
  for (const id of RESTRICTED_COMMANDS) assert.ok(ids.has(id), `${id} is a contributed command`);
  for (const c of commands) {
    const restricted = RESTRICTED_COMMANDS.has(c.command);
    assert.equal(c.enablement === TRUSTED_WHEN || !!c.enablement?.includes(TRUSTED_WHEN), restricted, `${c.command}: enablement "${c.enablement ?? ''}" ${restricted ? 'must' : 'must not'} require ${TRUSTED_WHEN}`);
  }
  // The commands that reach a model, the Hub, an SSH host or a Python are all on the list.
  for (const id of ['mnemo.generate', 'mnemo.generateOffline', 'mnemo.previewFirstChunk', 'mnemo.qa.regenerateChunk', 'mnemo.testConnection', 'mnemo.pushDataset', 'mnemo.startTraining', 'mnemo.training.reattach', 'mnemo.training.download', 'mnemo.training.cancel', 'mnemo.runEvaluation']) {
    assert.ok(RESTRICTED_COMMANDS.has(id), `${id} is restricted`);
  }
});

void test('the refusal says what is off, why, and what to do', () => {
  const m = restrictedMessage('Start Training');
  assert.match(m, /"Start Training" is off in Restricted Mode/);
  assert.match(m, /not trusted/);
  assert.match(m, /Trust the folder \(Manage Workspace Trust\)/);
});
