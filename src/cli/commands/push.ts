import { resolve } from 'node:path';
import { builtFiles, datasetIsStale } from '../../core/dataset';
import { MnemoError } from '../../core/errors';
import { DEFAULT_HUB_URL, pushDataset } from '../../core/hub';
import { Project } from '../../core/project';
import type { CliCommand } from './types';

export const push: CliCommand = {
  name: 'push',
  summary: 'Push the built dataset (splits and card) to the Hugging Face Hub in one commit.',
  help: [
    'HF_TOKEN=hf_... npm run mnemo -- push --project DIR [--repo ns/name] [--hub-url URL] [--public]',
    '',
    'The token comes from the HF_TOKEN environment variable (never a flag, so it stays out of shell history).',
    '  --repo     dataset repository, namespace/name (default: "hub.repo" in mnemo.json)',
    `  --hub-url  Hub URL (default: HF_ENDPOINT from the environment, else ${DEFAULT_HUB_URL})`,
    '  --public   create the repository public (default: private, or "hub.private" in mnemo.json)',
    '  --allow-insecure-key  send the token to a plain http:// Hub that is not on this machine',
    '             (or MNEMO_ALLOW_INSECURE_KEY=http://host:port[,...]); otherwise that is refused',
  ].join('\n'),
  options: { repo: { type: 'string' }, 'hub-url': { type: 'string' }, public: { type: 'boolean' }, 'allow-insecure-key': { type: 'boolean' } },
  async run(values) {
    const project = Project.load(resolve(String(values.project)));
    const repo = typeof values.repo === 'string' ? values.repo : project.config.hub.repo;
    if (!repo) throw new MnemoError('No repository to push to.', 'Pass --repo namespace/name, or set "hub.repo" in mnemo.json.');
    const files = builtFiles(project);
    if (datasetIsStale(project)) console.error('warning: .qa files changed since the dataset was built; pushing the last build (run `mnemo build` first to include the changes).');
    const hubUrl = typeof values['hub-url'] === 'string' ? values['hub-url'] : process.env.HF_ENDPOINT || DEFAULT_HUB_URL;
    const allowed = (process.env.MNEMO_ALLOW_INSECURE_KEY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const result = await pushDataset({
      repo,
      token: process.env.HF_TOKEN ?? '',
      hubUrl,
      allowInsecureToken: values['allow-insecure-key'] ? [...allowed, hubUrl] : allowed,
      private: values.public ? false : project.config.hub.private,
      files,
      log: (line) => console.error(line),
    });
    console.log(`${result.created ? 'Created and pushed' : 'Pushed'} ${result.files.join(', ')}: ${result.url}`);
  },
};
