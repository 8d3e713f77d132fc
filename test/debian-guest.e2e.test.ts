import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { execFile } from 'node:child_process';
import { bootDebianVm, startDebianLabCloud, type BootedDebianVm, type DebianLabCloud } from './support/debian-lab-cloud.js';
import { consoleHostKeys } from '../src/cli/commands/vm-ssh.js';

/**
 * The contextualization nubo writes (NoCloud config drive) as real cloud-init
 * 22.4 on Debian 12 applies it: hostname, the leased static address from
 * network-config v2, the owner's ssh key, user data; and `nubo vm ssh` logs
 * in with that key. One 512 MiB VM in a one-host lab (the guest must be
 * reachable from here). Run under `flock /tmp/nubo-lab.lock`.
 */

const prefix = `nd${randomBytes(3).toString('hex')}`;
const logger = pino({ level: process.env['NUBO_TEST_LOG'] ?? 'silent' });
const nubo = fileURLToPath(new URL('../src/cli/nubo.js', import.meta.url));
let cloud: DebianLabCloud;
let booted: BootedDebianVm;
const nonce = randomBytes(8).toString('hex');

before(async () => {
  cloud = await startDebianLabCloud({ prefix, logger });
  booted = await bootDebianVm(cloud, 'deb-1', ['#!/bin/sh', `echo "user-data ran ${nonce}" > /var/lib/nubo-marker`, ''].join('\n'));
  // The number the task asks for: request → cloud-init finished, through the whole controller path.
  console.log(`# debian guest: request → cloud-init finished ${(booted.requestToFinishedMs / 1000).toFixed(1)} s (guest uptime then ${booted.guestUpSeconds.toFixed(1)} s)`);
  // A first build (~1 min idle) plus one boot (~1 min idle) take many times that on a busy 2-core machine.
}, { timeout: 60 * 60_000 });

after(async () => {
  await cloud?.stop();
});

/** `nubo vm ssh` as the owner, with the owner's ~/.ssh; stdout, stderr and exit code. */
async function vmSsh(args: readonly string[], home = cloud.owner.home): Promise<{ stdout: string; stderr: string; code: number }> {
  const env = { ...process.env, HOME: home, NUBO_URL: cloud.controller.url, NUBO_TOKEN: cloud.owner.token };
  // execFile rather than runCommand: a failing ssh's stdout matters too.
  return new Promise((resolve) => {
    execFile(process.execPath, [nubo, 'vm', 'ssh', ...args], { env, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ stdout, stderr, code });
    });
  });
}

test('cloud-init applied nubo\'s config drive: hostname, leased address, user data; `nubo vm ssh` logs in with the owner\'s key', async () => {
  const address = booted.vm.nics[0]?.address;
  assert.ok(address, 'the VM has a leased address');
  assert.match(address, /^198\.18\.67\.\d+\/24$/);
  assert.doesNotMatch(booted.console, /Traceback|WARNING\]: .*(network|ssh|hostname)/i, 'cloud-init logged no failure about what nubo gave it');
  assert.ok(consoleHostKeys(booted.console).length > 0, 'cloud-init printed the new host keys on the console');

  const r = await vmSsh(['deb-1', '--', 'hostname; ip -4 -o addr show dev eth0; ip route show default; cat /var/lib/nubo-marker; cat ~/.ssh/authorized_keys; cloud-init status']);
  assert.equal(r.code, 0, `ssh failed: ${r.stderr}`);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'deb-1', 'hostname from meta-data');
  assert.match(r.stdout, new RegExp(`inet ${address.replace(/\./g, '\\.')} `), 'the leased address, from network-config v2');
  assert.match(r.stdout, new RegExp(`default via ${cloud.network.gateway.replace(/\./g, '\\.')} dev eth0`), 'the network\'s gateway');
  assert.match(r.stdout, new RegExp(`user-data ran ${nonce}`), 'the user data ran');
  assert.ok(r.stdout.includes(cloud.owner.publicKey.split(' ').slice(0, 2).join(' ')), 'the owner\'s key is the login\'s authorized key');
  assert.match(r.stdout, /status: done/, 'cloud-init finished without error');
  assert.doesNotMatch(r.stderr, /host key is accepted unchecked/, 'the host key was checked against the console\'s');
});

test('`nubo vm ssh` without a matching key names what is missing and runs no ssh', async () => {
  const r = await vmSsh(['deb-1', '--', 'true'], '/nonexistent-home');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /VM_SSH_UNAVAILABLE.*registered ssh keys.*--identity/);
  const wrongNic = await vmSsh(['deb-1', '--nic', '3', '--', 'true']);
  assert.equal(wrongNic.code, 2);
  assert.match(wrongNic.stderr, /--nic: VM deb-1 has 1 NIC/);
});
