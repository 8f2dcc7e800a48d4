/**
 * Pushing a built dataset to the Hugging Face Hub with @huggingface/hub: check the token, create
 * the dataset repository if it is missing, then upload the split files and the card in one commit.
 *
 * The token is only ever handed to the library. Every message that leaves this module (errors,
 * log lines, retries) goes through `scrub`, so the token cannot show up in a notification or a log
 * even if a server echoed it back.
 */
import type { HubApiError } from '@huggingface/hub';
import { MnemoError } from '../errors';
import { clearTextOrigin, originAllowed, registerSecret, scrub as scrubSecrets, scrubDeep } from '../secrets';

export const DEFAULT_HUB_URL = 'https://huggingface.co';
/** A repository name as the Hub accepts it: `namespace/name`, or a bare `name` in the token owner's namespace. */
export const REPO_PATTERN = /^(?:[A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/;

export interface PushFile {
  /** Path inside the repository, e.g. "train.jsonl". */
  path: string;
  content: Uint8Array | string;
}

export interface PushOptions {
  /** `namespace/name`, or `name` alone for the token owner's namespace. */
  repo: string;
  token: string;
  hubUrl?: string;
  /** Visibility when the repository is created (an existing one keeps its own). */
  private: boolean;
  files: PushFile[];
  commitTitle?: string;
  /** Tries per request when the network fails or the Hub answers 429/5xx (default 4). */
  attempts?: number;
  /** First wait between tries in ms, doubled each time (default 1000). */
  retryDelayMs?: number;
  /** Called before each retry (after its wait), e.g. to log it. */
  onRetry?: (info: { what: string; attempt: number; attempts: number; delayMs: number; reason: string }) => void | Promise<void>;
  log?: (line: string) => void;
  fetch?: typeof fetch;
  /** Origins allowed to receive the token over plain http:// (a Hub that is not on this machine). */
  allowInsecureToken?: readonly string[];
}

export interface PushResult {
  /** namespace/name */
  repo: string;
  /** The dataset page on the Hub. */
  url: string;
  created: boolean;
  commitUrl?: string;
  files: string[];
}

/** The dataset page of a repository. */
export function datasetUrl(hubUrl: string, repo: string): string {
  return `${hubUrl.replace(/\/+$/, '')}/datasets/${repo}`;
}

/** Replaces the token wherever it appears, and every registered secret in full or in part (src/core/secrets.ts). */
export function scrub(text: string, token: string): string {
  return scrubSecrets(token ? text.split(token).join('hf_***') : text);
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED']);

/** The network-level reason of a failed fetch (e.g. "ECONNREFUSED"), or undefined when it is not a network failure. */
export function networkReason(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const cause = (err as { cause?: unknown }).cause as { code?: string; message?: string; cause?: { code?: string } } | undefined;
  const code = cause?.code ?? cause?.cause?.code ?? (err as { code?: string }).code;
  if (code && NETWORK_CODES.has(code)) return code;
  if (err instanceof TypeError && err.message === 'fetch failed') return cause?.message ?? 'connection failed';
  return undefined;
}

/** An HTTP error answered by the Hub (duck-typed: the library is loaded lazily, on the first push). */
function isHubApiError(err: unknown): err is HubApiError {
  return err instanceof Error && typeof (err as { statusCode?: unknown }).statusCode === 'number';
}

function retryable(err: unknown): string | undefined {
  if (isHubApiError(err) && (err.statusCode === 429 || err.statusCode >= 500)) return `HTTP ${err.statusCode}`;
  return networkReason(err);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function pushDataset(options: PushOptions): Promise<PushResult> {
  // The token is registered so every message, log line and result is scrubbed of it, whole or as the Hub echoes a part of it.
  registerSecret(options.token, 'Hugging Face token');
  const origin = options.token ? clearTextOrigin(options.hubUrl || DEFAULT_HUB_URL) : undefined;
  if (origin && !originAllowed(origin, options.allowInsecureToken)) {
    throw new MnemoError(
      `The Hugging Face token was not sent to ${origin}: that is plain http:// to a host other than this machine, so the token would cross the network in clear text.`,
      `Use an https:// Hub URL or a Hub on localhost. To send it anyway, allow this Hub: add "${origin}" to the setting mnemo.endpoint.allowInsecureKey (VS Code asks once and remembers), or on the command line pass --allow-insecure-key or set MNEMO_ALLOW_INSECURE_KEY=${origin}.`,
    );
  }
  try {
    return scrubDeep(await push(options));
  } catch (err) {
    if (err instanceof MnemoError) throw new MnemoError(scrubSecrets(err.message), err.hint && scrubSecrets(err.hint), err.file, err.fix);
    if (err instanceof Error) {
      err.message = scrubSecrets(err.message);
      if (err.stack) err.stack = scrubSecrets(err.stack);
    }
    throw err;
  }
}

async function push(options: PushOptions): Promise<PushResult> {
  // Loaded on the first push, not at extension activation.
  const { commit, createRepo, repoExists, whoAmI } = await import('@huggingface/hub');
  const token = options.token.trim();
  const hubUrl = (options.hubUrl || DEFAULT_HUB_URL).replace(/\/+$/, '');
  const attempts = Math.max(1, options.attempts ?? 4);
  const log = (line: string) => options.log?.(scrub(line, token));
  const tokenHint = 'Set a token with write access: run "Mnemo: Set Hugging Face Token" (create one at huggingface.co/settings/tokens); on the command line, set HF_TOKEN.';

  if (!token) throw new MnemoError('No Hugging Face token is set.', tokenHint, undefined, 'setHfToken');
  if (!token.startsWith('hf_')) throw new MnemoError('That is not a Hugging Face access token (they start with "hf_").', tokenHint, undefined, 'setHfToken');
  const repoInput = options.repo.trim();
  if (!REPO_PATTERN.test(repoInput)) {
    throw new MnemoError(`"${scrub(repoInput, token)}" is not a valid repository name.`, 'Use namespace/name with letters, digits, "-", "_" and ".", e.g. my-user/cairnrun-qa.');
  }

  /** Runs one request, retrying network failures and 429/5xx with doubling waits; turns the rest into clear errors. */
  const call = async <T>(what: string, run: () => Promise<T>, explain: (err: HubApiError) => MnemoError | undefined): Promise<T> => {
    let delay = options.retryDelayMs ?? 1000;
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (err) {
        const reason = retryable(err);
        if (reason && attempt < attempts) {
          log(`${what}: ${reason}; retrying in ${delay} ms (try ${attempt + 1} of ${attempts}).`);
          await sleep(delay);
          await options.onRetry?.({ what, attempt, attempts, delayMs: delay, reason });
          delay *= 2;
          continue;
        }
        if (reason && networkReason(err)) {
          throw new MnemoError(`Could not reach the Hugging Face Hub at ${hubUrl} (${reason}) while trying to ${what}, after ${attempt} tr${attempt > 1 ? 'ies' : 'y'}.`, 'Check the network connection and the mnemo.hub.url setting (--hub-url on the command line), then push again. Nothing was changed on the Hub unless it says so.');
        }
        if (isHubApiError(err)) {
          const known = explain(err);
          if (known) throw known;
          if (err.statusCode === 401) throw new MnemoError('The Hugging Face Hub refused the token (401): it is invalid, expired or revoked.', tokenHint, undefined, 'setHfToken');
          throw new MnemoError(`The Hugging Face Hub answered HTTP ${err.statusCode} while trying to ${what}: ${scrub(hubMessage(err), token)}`, reason ? 'The Hub may be having trouble; try again in a few minutes.' : undefined);
        }
        if (err instanceof Error) throw new MnemoError(`Pushing to the Hub failed while trying to ${what}: ${scrub(err.message, token)}`);
        throw err;
      }
    }
  };

  const who = await call('check the token', () => whoAmI({ accessToken: token, hubUrl, fetch: options.fetch }), () => undefined);
  const writable = new Set([who.name, ...('orgs' in who && Array.isArray(who.orgs) ? who.orgs.map((o) => o.name) : [])]);
  const repo = repoInput.includes('/') ? repoInput : `${who.name}/${repoInput}`;
  const namespace = repo.split('/')[0];
  const designation = { type: 'dataset' as const, name: repo };
  const noRights = (doing: string) =>
    new MnemoError(
      `The token of "${who.name}" has no right to ${doing} in "${namespace}" (403).`,
      writable.has(namespace) ? 'The token is read-only or fine-grained without write access to this repository: use a token with write access.' : `Push to a namespace you can write to (e.g. ${who.name}/${repo.split('/')[1]}), or ask for write access to "${namespace}".`,
    );

  const exists = await call('look up the repository', () => repoExists({ repo: designation, accessToken: token, hubUrl, fetch: options.fetch }), () => undefined);
  let created = false;
  if (!exists) {
    log(`Creating the ${options.private ? 'private' : 'public'} dataset repository ${repo}.`);
    const taken = await call(
      'create the repository',
      async () => {
        try {
          await createRepo({ repo: designation, accessToken: token, hubUrl, visibility: options.private ? 'private' : 'public', fetch: options.fetch });
          return false;
        } catch (err) {
          if (isHubApiError(err) && err.statusCode === 409) return true;
          throw err;
        }
      },
      (err) => (err.statusCode === 403 ? noRights('create a dataset repository') : undefined),
    );
    if (taken) {
      // 409: either this dataset appeared meanwhile (fine), or the name belongs to a model or a Space.
      const nowExists = await call('look up the repository', () => repoExists({ repo: designation, accessToken: token, hubUrl, fetch: options.fetch }), () => undefined);
      if (!nowExists) {
        throw new MnemoError(`The name "${repo}" is already taken on the Hub by another kind of repository (a model or a Space), so a dataset cannot be created under it.`, 'Choose another name for the dataset (e.g. add "-qa"), or set "hub.repo" in mnemo.json.');
      }
    } else created = true;
  }

  const title = options.commitTitle ?? 'Upload dataset built with Mnemo';
  log(`Uploading ${options.files.map((f) => f.path).join(', ')} to ${repo} in one commit.`);
  const out = await call(
    'upload the files',
    () =>
      commit({
        repo: designation,
        accessToken: token,
        hubUrl,
        title,
        fetch: options.fetch,
        operations: options.files.map((f) => ({ operation: 'addOrUpdate' as const, path: f.path, content: new Blob([typeof f.content === 'string' ? f.content : new Uint8Array(f.content)]) })),
      }),
    (err) => (err.statusCode === 403 ? noRights('write to the dataset') : err.statusCode === 404 ? new MnemoError(`The dataset repository "${repo}" was not found when uploading (404).`, 'It may have been deleted or renamed; push again to create it.') : undefined),
  );
  const url = datasetUrl(hubUrl, repo);
  log(`Pushed to ${url}`);
  return { repo, url, created, commitUrl: out?.commit.url, files: options.files.map((f) => f.path) };
}

function hubMessage(err: HubApiError): string {
  // The library appends ". URL: ..." to the server's message; the URL is ours and adds nothing.
  return err.message.replace(/\. URL: .*$/s, '').trim() || `HTTP ${err.statusCode}`;
}
