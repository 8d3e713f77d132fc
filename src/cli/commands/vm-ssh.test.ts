import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consoleHostKeys, findIdentity } from './vm-ssh.js';

// As cloud-init 22.4 prints them on a Debian 12 guest's serial console (CRLF, keys in clear after the fingerprints).
const CONSOLE = [
  '<14>Dec  4 16:23:39 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----',
  '<14>Dec  4 16:23:40 cloud-init: 256 SHA256:xLCTUI5pOLQ8SHpxrlTzrfeGrArW8qwjwBKoo7rBWB0 root@deb (ED25519)',
  '<14>Dec  4 16:23:42 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----',
  '-----BEGIN SSH HOST KEY KEYS-----',
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLvsf4eXCo7Br1XKaCpuUx1aqss7SsN8JMNkHl5XRmxvEm+ggoVKuUF27aBYaeZRvK4Q1NwHEnOT/7Q0oQD1PyA= root@deb',
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOPLwdrKSRspEhFHIOzV5Wy2oyUQIMa6i0c6T6rE/qFO root@deb',
  '-----END SSH HOST KEY KEYS-----',
  '[ 1100.068736] cloud-init[379]: Cloud-init v. 22.4.2 finished at Fri, 04 Dec 2026 16:23:43 +0000.  Up 1099.77 seconds',
].join('\r\n');

test('consoleHostKeys reads the host keys cloud-init printed, the last block winning', () => {
  assert.deepEqual(consoleHostKeys(CONSOLE), [
    'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLvsf4eXCo7Br1XKaCpuUx1aqss7SsN8JMNkHl5XRmxvEm+ggoVKuUF27aBYaeZRvK4Q1NwHEnOT/7Q0oQD1PyA=',
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOPLwdrKSRspEhFHIOzV5Wy2oyUQIMa6i0c6T6rE/qFO',
  ]);
  const later = `${CONSOLE}\r\n-----BEGIN SSH HOST KEY KEYS-----\r\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEW root@deb\r\n-----END SSH HOST KEY KEYS-----\r\n`;
  assert.deepEqual(consoleHostKeys(later), ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEW']);
  assert.deepEqual(consoleHostKeys('NUBO-READY vm-1\n'), []);
  // A block cut off by the console tail's end is no block.
  assert.deepEqual(consoleHostKeys('-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAAAC3Nz x\n'), []);
});

test('findIdentity picks the private key whose .pub is a registered key, in ssh\'s order', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-ssh-id-'));
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'id_ed25519.pub'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther me@laptop\n');
    await writeFile(join(dir, 'id_rsa.pub'), 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCx me@laptop\n');
    // The comment may differ from the registered one: only type and key count.
    assert.equal(await findIdentity(['ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCx work key'], dir), join(dir, 'id_rsa'));
    assert.equal(await findIdentity(['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther', 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCx'], dir), join(dir, 'id_ed25519'));
    assert.equal(await findIdentity(['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUnknown'], dir), undefined);
    assert.equal(await findIdentity([], join(dir, 'missing')), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
