import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { NuboError } from '../../errors/nubo-error.js';
import { apiCommand, connect, connectionOptions, intArg, type ApiOpts } from '../api-command.js';
import { runCliAction } from '../run-cli-action.js';
import { UsageError } from '../usage-error.js';

/** The login of Debian's cloud images (and `nubo image build-debian`'s): cloud-init gives it the owner's keys. */
export const DEFAULT_SSH_USER = 'debian';

/** Tried in this order, as ssh itself does, when no --identity is given. */
const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'] as const;

/** `nubo vm ssh` cannot log in: the VM has no address, runs no guest, or no key of the caller's fits. */
export class VmSshError extends NuboError {
  readonly code = 'VM_SSH_UNAVAILABLE';
  constructor(vm: string, message: string) {
    super(message, { vm });
  }
}

interface SshOpts extends ApiOpts {
  user: string;
  identity?: string;
  nic: number;
}

/**
 * The host keys cloud-init printed on the console (its keys_to_console
 * module, between `-----BEGIN SSH HOST KEY KEYS-----` and the END line), as
 * `type base64` pairs; the last block wins, since a reboot of a new instance
 * prints new keys. Pure.
 */
export function consoleHostKeys(consoleText: string): string[] {
  const lines = consoleText.split(/\r?\n/);
  let keys: string[] = [];
  let inside: string[] | undefined;
  for (const line of lines) {
    if (line.includes('-----BEGIN SSH HOST KEY KEYS-----')) {
      inside = [];
    } else if (line.includes('-----END SSH HOST KEY KEYS-----')) {
      if (inside !== undefined && inside.length > 0) keys = inside;
      inside = undefined;
    } else if (inside !== undefined) {
      const m = /\b((?:ssh|ecdsa-sha2|sk-ssh|sk-ecdsa)-[a-z0-9@.-]+) (AAAA[A-Za-z0-9+/]+=*)/.exec(line);
      if (m?.[1] && m[2]) inside.push(`${m[1]} ${m[2]}`);
    }
  }
  return keys;
}

/** `type base64` of an authorized_keys / .pub line, or undefined. */
function keyBody(line: string): string | undefined {
  const m = /^\s*(\S+)\s+(\S+)/.exec(line);
  return m?.[1] && m[2] ? `${m[1]} ${m[2]}` : undefined;
}

/**
 * The private key in `sshDir` whose public half (`<name>.pub`) is one of the
 * registered keys; undefined when none is.
 */
export async function findIdentity(registered: readonly string[], sshDir: string): Promise<string | undefined> {
  const wanted = new Set(registered.map(keyBody).filter((k): k is string => k !== undefined));
  for (const name of DEFAULT_IDENTITIES) {
    const pub = await readFile(join(sshDir, `${name}.pub`), 'utf8').catch(() => undefined);
    const body = pub === undefined ? undefined : keyBody(pub);
    if (body !== undefined && wanted.has(body)) return join(sshDir, name);
  }
  return undefined;
}

/** `nubo vm ssh <vm> [-- command…]`: the system ssh to the VM's leased address with the owner's key. */
export function registerVmSsh(vm: Command): void {
  const cmd = apiCommand(
    vm,
    'ssh <vm> [command...]',
    'log in to the VM with the system ssh: to the address leased to its NIC, as --user, with the private key whose public half is one of your registered ssh keys ' +
      `(~/.ssh/${DEFAULT_IDENTITIES.join(', ~/.ssh/')}, the first that matches) or --identity; the host key is checked against the keys cloud-init printed on the VM's console. ` +
      'Anything after -- is the remote command; ssh\'s exit code is the command\'s',
  )
    .option('--user <name>', 'login name in the guest', DEFAULT_SSH_USER)
    .option('-i, --identity <file>', 'private key file (default: the one in ~/.ssh matching your registered keys)')
    .option('--nic <index>', 'which NIC\'s address (0-based)', intArg(0, 63, 'NIC index'), 0);
  connectionOptions(cmd, { json: false }).action(
    runCliAction(async (signal, ref: string, command: string[], o: SshOpts) => {
      const client = await connect(o);
      const v = await client.getVm(ref, { signal });
      if (v.state !== 'running') throw new VmSshError(v.id, `VM ${v.name} is ${v.state}; ssh needs it running`);
      const nic = v.nics[o.nic];
      if (nic === undefined) throw new UsageError('INVALID_ARGUMENT', `--nic: VM ${v.name} has ${v.nics.length} NIC(s); there is no NIC ${o.nic}`);
      const address = nic.address?.split('/')[0];
      if (address === undefined) throw new VmSshError(v.id, `NIC ${o.nic} of VM ${v.name} has no address (it is on no network): nothing to ssh to`);

      let identity = o.identity === undefined ? undefined : resolve(o.identity);
      if (identity === undefined) {
        const me = await client.whoami({ signal });
        const sshDir = join(homedir(), '.ssh');
        identity = await findIdentity(me.sshKeys, sshDir);
        if (identity === undefined) {
          throw new VmSshError(
            v.id,
            me.sshKeys.length === 0
              ? `user ${me.name} has no registered ssh keys, so VM ${v.name} got none: register one with \`nubo user ssh-key add\`, then create the VM (or pass --identity for a key the image has)`
              : `none of ${DEFAULT_IDENTITIES.map((n) => join(sshDir, `${n}.pub`)).join(', ')} is one of user ${me.name}'s registered ssh keys: pass --identity <private key>`,
          );
        }
      }

      const hostKeys = consoleHostKeys(await client.vmConsole(v.id, { signal }));
      const dir = await mkdtemp(join(tmpdir(), 'nubo-ssh-'));
      try {
        const knownHosts = join(dir, 'known_hosts');
        await writeFile(knownHosts, hostKeys.map((k) => `${address} ${k}\n`).join(''));
        if (hostKeys.length === 0) {
          process.stderr.write(`warning: no ssh host keys on VM ${v.name}'s console (its image does not print them, or they scrolled away): the host key is accepted unchecked\n`);
        }
        const args = [
          '-i', identity,
          // Only that key: an agent's keys would be tried first and can exhaust the server's MaxAuthTries.
          '-o', 'IdentitiesOnly=yes',
          // A VM's address is reused by later VMs with other keys: never record it in the user's known_hosts.
          '-o', `UserKnownHostsFile=${knownHosts}`,
          '-o', `StrictHostKeyChecking=${hostKeys.length > 0 ? 'yes' : 'no'}`,
          '-l', o.user,
          address,
          ...(command.length > 0 ? ['--', ...command] : []),
        ];
        return await runSsh(args);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }),
  );
}

/**
 * Runs ssh on this terminal; resolves to its exit code. No abort signal: the
 * terminal's Ctrl-C reaches ssh itself (or, with a remote tty, the remote
 * side), which ends the session as ssh users expect.
 */
function runSsh(args: readonly string[]): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('ssh', args, { stdio: 'inherit' });
    child.on('error', (err) => {
      if ((err as { code?: unknown }).code === 'ENOENT') reject(new VmSshError('-', 'ssh is not installed: apt-get install openssh-client'));
      else reject(err);
    });
    // ssh's own code (255: ssh failed; else the remote command's), passed through.
    child.on('exit', (code, sig) => resolvePromise(code ?? (sig === 'SIGINT' ? 130 : 255)));
  });
}
