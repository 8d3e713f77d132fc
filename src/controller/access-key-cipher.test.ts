import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessKeyCipher } from './access-key-cipher.js';
import { UnreadableFileError } from '../errors/unreadable-file-error.js';

test('the key file is made 0600 once; a secret sealed for one key id opens only for it, and the same file opens it again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-akc-'));
  try {
    const path = join(dir, 'access-keys.key');
    const c = await AccessKeyCipher.load(path);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const sealed = c.seal('AKIAAAAAAAAAAAAAAAAA', 'the-secret');
    assert.ok(!sealed.includes('the-secret'));
    assert.notEqual(c.seal('AKIAAAAAAAAAAAAAAAAA', 'the-secret'), sealed, 'a fresh IV each time');
    assert.equal(c.open('AKIAAAAAAAAAAAAAAAAA', sealed), 'the-secret');
    assert.equal(c.open('AKIABBBBBBBBBBBBBBBB', sealed), undefined, 'moved to another key id, it does not open');
    const tampered = `${sealed.slice(0, -4)}${sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    assert.equal(c.open('AKIAAAAAAAAAAAAAAAAA', tampered), undefined);
    assert.equal((await AccessKeyCipher.load(path)).open('AKIAAAAAAAAAAAAAAAAA', sealed), 'the-secret', 'a restarted controller reads the same key');
    const other = await AccessKeyCipher.load(join(dir, 'other.key'));
    assert.equal(other.open('AKIAAAAAAAAAAAAAAAAA', sealed), undefined, 'another key file does not open it');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a key file of the wrong length is refused, not replaced', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-akc-'));
  try {
    const path = join(dir, 'access-keys.key');
    await writeFile(path, 'short');
    await assert.rejects(AccessKeyCipher.load(path), (e: unknown) => e instanceof UnreadableFileError && /32 bytes/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
