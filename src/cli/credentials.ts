import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nuboHome } from '../util/nubo-home.js';
import { UsageError } from './usage-error.js';

export interface Credentials {
  /** The controller's base URL, without a trailing slash (the client appends `/api/v1`). */
  readonly url: string;
  readonly token: string;
}

/** Where `nubo up` writes the local controller's URL and admin token. */
export function credentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(nuboHome(env), 'credentials.json');
}

/**
 * The controller to talk to. Each of url and token is taken from the flag,
 * else from NUBO_URL / NUBO_TOKEN, else from `$NUBO_HOME/credentials.json`.
 * @throws UsageError (exit 2) when either is missing or the file is unreadable.
 */
export async function resolveCredentials(flags: { url?: string | undefined; token?: string | undefined }, env: NodeJS.ProcessEnv = process.env): Promise<Credentials> {
  let url = nonEmpty(flags.url) ?? nonEmpty(env['NUBO_URL']);
  let token = nonEmpty(flags.token) ?? nonEmpty(env['NUBO_TOKEN']);
  const file = credentialsFile(env);
  if (url === undefined || token === undefined) {
    const stored = await readCredentialsFile(file);
    url ??= stored?.url;
    token ??= stored?.token;
  }
  if (url === undefined || token === undefined) {
    const missing = [url === undefined ? 'URL' : undefined, token === undefined ? 'token' : undefined].filter(Boolean).join(' and ');
    throw new UsageError(
      'NO_CREDENTIALS',
      `no controller ${missing} configured: run \`nubo up\` (it writes ${file}), or pass --url and --token, or set NUBO_URL and NUBO_TOKEN`,
      { file },
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('BAD_CREDENTIALS', `controller URL "${url}" is not a URL`, { url });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError('BAD_CREDENTIALS', `controller URL "${url}" must be http(s)`, { url });
  return { url: url.replace(/\/+$/, ''), token };
}

async function readCredentialsFile(file: string): Promise<{ url?: string; token?: string } | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError('BAD_CREDENTIALS', `cannot read ${file}: ${(err as Error).message}`, { file });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new UsageError('BAD_CREDENTIALS', `${file} is not valid JSON (expected {"url": "...", "token": "..."})`, { file });
  }
  const o = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  const url = typeof o['url'] === 'string' ? nonEmpty(o['url']) : undefined;
  const token = typeof o['token'] === 'string' ? nonEmpty(o['token']) : undefined;
  return { ...(url !== undefined ? { url } : {}), ...(token !== undefined ? { token } : {}) };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === '' ? undefined : s.trim();
}
