import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { apiCommand, connect, connectionOptions, type ApiOpts } from '../api-command.js';
import { dash, fmtTime, printFields, printJson, printTable } from '../output.js';
import { runCliAction } from '../run-cli-action.js';
import { UsageError } from '../usage-error.js';
import { parseSshPublicKey, type SshPublicKey } from '../../util/ssh-public-key.js';
import { connectTenancy, registerUserAdminCommands } from './user-admin.js';
import { registerUserAccessKeyCommands } from './user-access-key.js';

/** The public keys `add` takes when given no file, in the order ssh itself tries their private halves. */
const DEFAULT_PUBLIC_KEYS = ['id_ed25519.pub', 'id_ecdsa.pub', 'id_rsa.pub'] as const;
const TAKES_EFFECT = 'keys reach the VMs created from now on (the config drive is built when a VM is prepared); running VMs keep the keys they booted with';

/** `type blob`: what makes two lines the same key, whatever their comments. */
const sameKey = (a: SshPublicKey, b: SshPublicKey): boolean => a.type === b.type && a.blob === b.blob;

/** The keys in a .pub file (or several, one a line); a line that is no public key is an input error naming the file and line. */
function keysIn(text: string, source: string): SshPublicKey[] {
  if (/PRIVATE KEY-----/.test(text)) throw new UsageError('BAD_INPUT_FILE', `${source} is a private key: give its public half (the .pub file)`, { file: source });
  const keys: SshPublicKey[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const key = parseSshPublicKey(line);
    if (typeof key === 'string') throw new UsageError('BAD_INPUT_FILE', `${source} line ${i + 1}: ${key}`, { file: source, line: i + 1 });
    keys.push(key);
  }
  if (keys.length === 0) throw new UsageError('BAD_INPUT_FILE', `${source} holds no ssh public key`, { file: source });
  return keys;
}

async function readKeyFile(file: string | undefined): Promise<{ source: string; text: string }> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return { source: 'standard input', text: Buffer.concat(chunks).toString('utf8') };
  }
  if (file !== undefined) {
    try {
      return { source: file, text: await readFile(file, 'utf8') };
    } catch (err) {
      throw new UsageError('BAD_INPUT_FILE', `${file}: ${(err as Error).message}`, { file });
    }
  }
  const dir = join(homedir(), '.ssh');
  for (const name of DEFAULT_PUBLIC_KEYS) {
    const path = join(dir, name);
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text !== undefined) return { source: path, text };
  }
  throw new UsageError('NO_SSH_KEY', `none of ${DEFAULT_PUBLIC_KEYS.map((n) => join(dir, n)).join(', ')} exists: give the .pub file, or make a key with \`ssh-keygen -t ed25519\``);
}

/** The registered key an argument of `remove` names: its index in `ssh-key list`, or its SHA256 fingerprint. */
function indexOf(keys: readonly string[], ref: string): number {
  const byIndex = /^\d+$/.test(ref) ? Number(ref) : undefined;
  const i = byIndex ?? keys.findIndex((k) => {
    const key = parseSshPublicKey(k);
    return typeof key !== 'string' && (key.fingerprint === ref || key.fingerprint === `SHA256:${ref}`);
  });
  if (i < 0 || i >= keys.length) throw new UsageError('NO_SUCH_SSH_KEY', `no registered ssh key ${ref}: give its index or fingerprint as \`nubo user ssh-key list\` shows them`, { key: ref });
  return i;
}

const describe = (line: string): { type: string; fingerprint: string; comment: string } => {
  const key = parseSshPublicKey(line);
  // Keys stored before the API checked them may be no parseable key: shown as they are, never hidden.
  return typeof key === 'string' ? { type: line.split(' ')[0] ?? '?', fingerprint: '?', comment: '' } : key;
};

/** `nubo user show` and `nubo user ssh-key add|list|remove` (the caller's own account), with the admin commands of user-admin.ts. */
export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('users: your own account (who the token belongs to, your tokens, the ssh public keys your VMs get); an admin creates, lists and deletes users');

  connectionOptions(apiCommand(user, 'show [user]', 'show a user (by id or name; default: the one the token belongs to) with their groups')).action(
    runCliAction(async (signal, ref: string | undefined, o: ApiOpts) => {
      if (ref !== undefined) {
        const u = await (await connectTenancy(o)).getUser(ref, { signal });
        if (o.json) return printJson(u);
        return printFields([['id', u.id], ['name', u.name], ['role', u.role], ['ssh keys', u.sshKeys.length], ['created', fmtTime(u.createdAt)],
          ['groups', u.groups.map((g) => `${g.name}${g.admin ? ' (admin)' : ''}`).join(', ') || '-']]);
      }
      const me = await (await connect(o)).whoami({ signal });
      if (o.json) return printJson(me);
      printFields([['id', me.id], ['name', me.name], ['role', me.role], ['ssh keys', me.sshKeys.length], ['created', fmtTime(me.createdAt)]]);
    }),
  );
  registerUserAdminCommands(user);
  registerUserAccessKeyCommands(user);

  const sshKey = user.command('ssh-key').description(
    `your ssh public keys: cloud-init installs them in your VMs, and \`nubo vm ssh\` logs in with the matching private key. The ${TAKES_EFFECT}`,
  );

  connectionOptions(apiCommand(sshKey, 'add [file]', `register the public key(s) in FILE (a .pub file; - reads standard input; default: the first of ~/.ssh/${DEFAULT_PUBLIC_KEYS.join(', ~/.ssh/')}). The ${TAKES_EFFECT}`)).action(
    runCliAction(async (signal, file: string | undefined, o: ApiOpts) => {
      const { source, text } = await readKeyFile(file);
      const adding = keysIn(text, source);
      const client = await connect(o);
      const registered = (await client.whoami({ signal })).sshKeys;
      const known = registered.map((k) => parseSshPublicKey(k)).filter((k): k is SshPublicKey => typeof k !== 'string');
      const fresh = adding.filter((k, i) => !known.some((r) => sameKey(r, k)) && adding.findIndex((a) => sameKey(a, k)) === i);
      const me = fresh.length === 0 ? undefined : await client.setSshKeys([...registered, ...fresh.map((k) => `${k.type} ${k.blob}${k.comment ? ` ${k.comment}` : ''}`)], { signal });
      if (o.json) return printJson(me?.sshKeys ?? registered);
      for (const k of adding) {
        const what = `${k.fingerprint}${k.comment ? ` (${k.comment})` : ''}`;
        process.stdout.write(fresh.includes(k) ? `added ssh key ${what}\n` : `ssh key ${what} is already registered\n`);
      }
      if (fresh.length > 0) process.stdout.write(`${TAKES_EFFECT[0]!.toUpperCase()}${TAKES_EFFECT.slice(1)}.\n`);
    }),
  );

  connectionOptions(apiCommand(sshKey, 'list', 'list your registered ssh public keys: index, type, SHA256 fingerprint, comment')).action(
    runCliAction(async (signal, o: ApiOpts) => {
      const keys = (await (await connect(o)).whoami({ signal })).sshKeys;
      if (o.json) return printJson(keys);
      printTable(['#', 'TYPE', 'FINGERPRINT', 'COMMENT'], keys.map((line, i) => {
        const k = describe(line);
        return [i, k.type, k.fingerprint, dash(k.comment)];
      }));
    }),
  );

  connectionOptions(apiCommand(sshKey, 'remove <key>', 'unregister a key, given by its index or SHA256 fingerprint as `ssh-key list` shows them; VMs that already have it keep it')).action(
    runCliAction(async (signal, ref: string, o: ApiOpts) => {
      const client = await connect(o);
      const keys = (await client.whoami({ signal })).sshKeys;
      const i = indexOf(keys, ref);
      const me = await client.setSshKeys(keys.filter((_, j) => j !== i), { signal });
      if (o.json) return printJson(me.sshKeys);
      process.stdout.write(`removed ssh key ${i} (${describe(keys[i] ?? '').fingerprint})\n`);
    }),
  );
}
