import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from './generate-key-pair.js';
import { parseSshPublicKey } from '../util/ssh-public-key.js';

describe('generateKeyPair', () => {
  for (const type of ['rsa', 'ed25519'] as const) {
    it(`${type}: ssh-keygen derives the same public key from the private key`, () => {
      const k = generateKeyPair(type, 'test');
      assert.equal(typeof parseSshPublicKey(k.publicKey), 'object');
      const dir = mkdtempSync(join(tmpdir(), 'nubo-keygen-'));
      try {
        const file = join(dir, 'key');
        writeFileSync(file, k.privateKey, { mode: 0o600 });
        const derived = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim();
        assert.equal(derived.split(' ').slice(0, 2).join(' '), k.publicKey.split(' ').slice(0, 2).join(' '));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
