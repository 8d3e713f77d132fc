import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSshPublicKey } from './ssh-public-key.js';

test('real keys of every common type parse, with the fingerprint ssh-keygen -l prints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nubo-sshkey-'));
  try {
    for (const type of ['ed25519', 'ecdsa', 'rsa']) {
      const file = join(dir, `id_${type}`);
      execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', `me@${type} work`, '-f', file]);
      const line = readFileSync(`${file}.pub`, 'utf8').trim();
      const key = parseSshPublicKey(line);
      if (typeof key === 'string') assert.fail(`${type}: ${key}`);
      assert.equal(key.comment, `me@${type} work`);
      assert.equal(`${key.type} ${key.blob} ${key.comment}`, line);
      const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' });
      assert.equal(key.fingerprint, printed.split(' ')[1]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('what is not a public key line is refused with a reason', () => {
  const blob = 'AAAAC3NzaC1lZDI1NTE5AAAAIOPLwdrKSRspEhFHIOzV5Wy2oyUQIMa6i0c6T6rE/qFO';
  assert.equal(typeof parseSshPublicKey(`ssh-ed25519 ${blob}`), 'object');
  assert.match(parseSshPublicKey(`ssh-ed25519 ${blob} a\nb`) as string, /one line/);
  assert.match(parseSshPublicKey('not a key') as string, /not an ssh public key type/);
  assert.match(parseSshPublicKey('ssh-ed25519') as string, /type base64/);
  assert.match(parseSshPublicKey('ssh-ed25519 AAAA!!!!') as string, /not base64/);
  assert.match(parseSshPublicKey('ssh-ed25519 AAAAC3N') as string, /not base64/);
  assert.match(parseSshPublicKey(`ssh-rsa ${blob}`) as string, /not a ssh-rsa key/);
  assert.match(parseSshPublicKey('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5') as string, /not a ssh-ed25519 key/, 'a type name and no key');
});
