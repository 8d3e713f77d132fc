import { lstatSync, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { NuboClient } from '../client/nubo-client.js';
import { RemoteError } from '../client/remote-error.js';
import { resolveCredentials } from './credentials.js';
import { UsageError } from './usage-error.js';

/** Options every command that talks to the controller has. */
export interface ApiOpts {
  readonly url?: string;
  readonly token?: string;
  readonly json?: boolean;
}

/** Options of the commands that can wait for a VM to reach a state. */
export interface WaitOpts {
  readonly wait?: boolean;
  readonly timeout: number;
  readonly pollInterval: number;
}

/** A subcommand of `parent`; give it its own options, then `connectionOptions`, then the action. */
export function apiCommand(parent: Command, nameAndArgs: string, description: string): Command {
  return parent.command(nameAndArgs).description(description);
}

/** Adds --json (unless `json: false`), --url and --token, listed after the command's own options. */
export function connectionOptions(c: Command, o: { json?: boolean } = {}): Command {
  if (o.json !== false) c.option('--json', "print the API's JSON answer instead of a table");
  return c
    .option('--url <url>', 'controller URL (default: $NUBO_URL, else $NUBO_HOME/credentials.json)')
    .option('--token <token>', 'API token (default: $NUBO_TOKEN, else $NUBO_HOME/credentials.json)');
}

/** Adds --wait and --timeout (and the hidden poll interval the tests shorten). */
export function waitOptions(c: Command, what: string): Command {
  return c
    .option('--wait', `wait until the VM is ${what}; fail (exit 1) if it goes failed`)
    .option('--timeout <seconds>', 'give up waiting after this many seconds', intArg(1, 86_400, 'seconds'), 300)
    .addOption(new Option('--poll-interval <ms>').argParser(intArg(10, 60_000, 'milliseconds')).default(500).hideHelp());
}

export async function connect(o: ApiOpts): Promise<NuboClient> {
  const c = await resolveCredentials(o);
  return new NuboClient(c.url, c.token);
}

/** A commander parser for an integer flag in [min, max]. */
export function intArg(min: number, max: number, unit: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer number of ${unit} from ${min} to ${max}.`);
    }
    return n;
  };
}

/** A commander parser for a duration: `90s`, `30m`, `12h`, `7d`, or a plain number of seconds; in seconds. */
export function durationArg(value: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(value.trim());
  const n = m ? Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as Record<string, number>)[m[2] ?? '']! : NaN;
  if (!Number.isSafeInteger(n) || n > 100 * 365 * 86_400) throw new InvalidArgumentError('expected a duration like 90s, 30m, 12h or 7d (up to 100 years).');
  return n;
}

/** Collects a repeatable flag into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Reads a file given by a flag (user data); a missing file is an input error (exit 2). */
export async function readInputFile(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError('BAD_INPUT_FILE', `${flag} ${path}: ${(err as Error).message}`, { path });
  }
}

/** Calls `byId(ref)`; if the controller knows no such id, looks `ref` up by name in `list()` and calls again with its id. */
export async function byIdOrName<T>(ref: string, byId: (id: string) => Promise<T>, list: () => Promise<readonly { id: string; name: string }[]>): Promise<T> {
  try {
    return await byId(ref);
  } catch (err) {
    if (!(err instanceof RemoteError) || err.status !== 404) throw err;
    const match = (await list()).find((r) => r.name === ref);
    if (!match || match.id === ref) throw err;
    return byId(match.id);
  }
}

/** `[file]` and `-o, --output <file>` for the commands that write a download: the file as an argument or as the flag, as the user prefers. */
export function outputFileArgs(c: Command, what: string): Command {
  return c
    .argument('[file]', `${what} (or give it with -o)`)
    .option('-o, --output <file>', `${what}; written only once the download is complete`)
    .option('--force', 'overwrite the file if it exists (without it, an existing file is refused and left as it is)');
}

/** The file `outputFileArgs` collected; exactly one of the two forms, and one that does not exist unless `force`. */
export function outputFile(positional: string | undefined, flag: string | undefined, force = false): string {
  if (positional !== undefined && flag !== undefined && positional !== flag) {
    throw new UsageError('BAD_OUTPUT_FILE', `two output files given (${positional} and --output ${flag}); give one`, { positional, output: flag });
  }
  const file = positional ?? flag;
  if (file === undefined) throw new UsageError('BAD_OUTPUT_FILE', 'no output file: give it as an argument or with -o, --output <file>');
  // Checked before asking, since an export makes the server copy a disk; a directory is the download's own refusal.
  const st = lstatOrUndefined(file);
  if (!force && st !== undefined && !st.isDirectory()) throw new UsageError('BAD_OUTPUT_FILE', `${file} already exists: give --force to overwrite it`, { output: file });
  return file;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
