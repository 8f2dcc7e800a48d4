/**
 * Keeping secrets in: consent before a key goes over plain http:// to another machine, and a
 * search of the project's files for secrets that leaked into them before scrubbing existed.
 * The scrubbing itself is in src/core/secrets.ts; the log is scrubbed in ctx.ts.
 */
import * as vscode from 'vscode';
import { clearTextOrigin, originAllowed } from '../core/secrets';
import { describeLeaks, findLeaks, scrubLeaks, type Leak } from '../core/leaks';
import type { Feature } from './commands';
import type { Ctx } from './ctx';

export const SECURITY_COMMANDS = {
  findSecretLeaks: 'mnemo.findSecretLeaks',
} as const;

const ALLOW = 'Send Over HTTP and Remember';

/**
 * The origins that may receive the key over plain http://, after asking the user when this
 * endpoint needs it and is not listed yet. Undefined when the user declined (nothing is sent).
 * Keyless requests and https:// or loopback endpoints never ask.
 */
export async function consentToKeyTransport(ctx: Ctx, baseUrl: string, secret: string | undefined, label = 'API key'): Promise<string[] | undefined> {
  const allowed = ctx.settings.endpointAllowInsecureKey;
  const origin = secret ? clearTextOrigin(baseUrl) : undefined;
  if (!origin || originAllowed(origin, allowed)) return allowed;
  const choice = await vscode.window.showWarningMessage(
    `Mnemo: send the ${label} to ${origin} in clear text?`,
    {
      modal: true,
      detail: `${baseUrl} is plain http:// on another machine: anyone on the network between here and there can read the ${label}. Use https:// or a server on localhost if you can. "${ALLOW}" adds ${origin} to the setting mnemo.endpoint.allowInsecureKey, so Mnemo does not ask again for it.`,
    },
    ALLOW,
  );
  if (choice !== ALLOW) {
    ctx.log.warn(`The ${label} was not sent to ${origin}: plain http:// to another machine, and it is not in mnemo.endpoint.allowInsecureKey.`);
    return undefined;
  }
  const next = [...allowed, origin];
  await ctx.settings.update('endpoint.allowInsecureKey', next);
  ctx.log.info(`${origin} may now receive secrets over plain http:// (mnemo.endpoint.allowInsecureKey).`);
  return next;
}

/** What "Find Secrets in Project Files" accepts (tests and scripts). */
export interface LeakArgs {
  /** Scrub every file found without asking. */
  scrub?: boolean;
  /** Only report (no notification), e.g. for tests. */
  quiet?: boolean;
}

/**
 * Searches the project's files (journal, logs, run records, .qa files, dataset) for the secrets
 * in use, names each file in the log and a notification, and scrubs them in place on request.
 * Returns what was found (after scrubbing: what is left).
 */
async function findSecretLeaks(ctx: Ctx, args: LeakArgs = {}, opening = false): Promise<Leak[]> {
  const project = opening ? ctx.project : ctx.requireProject();
  if (!project) return [];
  // Reading the secrets registers them: only secrets in use are searched for.
  await ctx.secrets.get('apiKey');
  await ctx.secrets.get('hfToken');
  const leaks = findLeaks(project);
  if (!leaks.length) {
    if (!opening && !args.quiet) void vscode.window.showInformationMessage('Mnemo: no project file holds the API key or the Hugging Face token.');
    return leaks;
  }
  ctx.log.warn(`Secrets found in ${leaks.length} project file(s), written before Mnemo scrubbed them or by hand:\n  ${describeLeaks(leaks).join('\n  ')}`);
  const scrub = () => {
    const changed = scrubLeaks(project, leaks.map((l) => l.file));
    ctx.log.info(`Scrubbed the secrets from ${changed.join(', ')}.`);
    return findLeaks(project);
  };
  if (args.scrub) return scrub();
  if (args.quiet) return leaks;
  const names = leaks.map((l) => l.file);
  const kinds = [...new Set(leaks.flatMap((l) => l.secrets))].join(' and ');
  void vscode.window
    .showWarningMessage(
      `Mnemo: the ${kinds} appear${kinds.includes(' and ') ? '' : 's'} in ${names.length} project file${names.length === 1 ? '' : 's'}: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}. Anyone who gets these files gets the secret; scrub them before sharing the project.`,
      'Scrub Them',
      'Show Logs',
    )
    .then((c) => {
      if (c === 'Show Logs') ctx.log.show();
      if (c === 'Scrub Them') {
        const left = scrub();
        void vscode.window.showInformationMessage(left.length ? `Mnemo: ${left.length} file(s) still hold a secret; see the log.` : `Mnemo: the secrets were replaced in ${names.length} file(s); nothing else in them changed.`);
      }
    });
  return leaks;
}

export const securityFeature: Feature = {
  name: 'security',
  commands: [{ id: SECURITY_COMMANDS.findSecretLeaks, run: (ctx, args?: LeakArgs) => findSecretLeaks(ctx, args && typeof args === 'object' ? args : {}) }],
  activate: (ctx) => {
    // On opening a project (and on switching to another), look once for old leaks.
    let scannedRoot: string | undefined;
    const scan = () => {
      const root = ctx.project?.root;
      if (!root || root === scannedRoot) return;
      scannedRoot = root;
      findSecretLeaks(ctx, {}, true).catch((err: unknown) => ctx.log.warn(`Searching the project for leaked secrets failed: ${err instanceof Error ? err.message : String(err)}`));
    };
    ctx.own(ctx.onDidChangeProject(scan));
    scan();
  },
};
