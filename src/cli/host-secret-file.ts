import { readFile } from 'node:fs/promises';
import { UsageError } from './usage-error.js';

/**
 * The agent's host secret from `--token-file`. A missing or empty file is an
 * input error (exit 2) that says how to make one, not a stack trace: the
 * README's `nubo agent … --token-file h1.token` is the first time a user
 * running the parts separately meets that file.
 */
export async function readHostSecretFile(path: string): Promise<string> {
  const hint = `the host's secret, e.g. \`(umask 077; openssl rand -hex 32 > ${path})\`; register the host with \`nubo host register NAME --agent-url URL --agent-token-file ${path}\``;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError('BAD_INPUT_FILE', `--token-file ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}; it holds ${hint}`, { path });
  }
  const secret = text.trim();
  if (secret === '') throw new UsageError('BAD_INPUT_FILE', `--token-file ${path} is empty; it holds ${hint}`, { path });
  return secret;
}
