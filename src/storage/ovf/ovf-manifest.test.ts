import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OvfError } from './ovf-error.js';
import { formatOvfManifest, parseOvfManifest, verifyOvfManifest } from './ovf-manifest.js';

const sha = (alg: string, s: string): string => createHash(alg).update(s).digest('hex');

test('manifest lines in VMware\'s and VirtualBox\'s spellings, CR LF, upper-case hex', () => {
  const text = `SHA256(vm.ovf)= ${sha('sha256', 'a')}\r\nSHA1 (vm-disk1.vmdk) = ${sha('sha1', 'b').toUpperCase()}\r\n\r\nSHA512(my disk.vmdk)=${sha('sha512', 'c')}\n`;
  assert.deepEqual(parseOvfManifest(text, 'vm.mf'), [
    { algorithm: 'sha256', file: 'vm.ovf', digest: sha('sha256', 'a') },
    { algorithm: 'sha1', file: 'vm-disk1.vmdk', digest: sha('sha1', 'b') },
    { algorithm: 'sha512', file: 'my disk.vmdk', digest: sha('sha512', 'c') },
  ]);
});

test('a manifest line that is not one, a digest of the wrong length, or a path is an OvfError naming the line', () => {
  const cases: readonly (readonly [string, RegExp])[] = [
    ['MD5(vm.ovf)= 0123', /vm\.mf line 1: not a manifest line/],
    [`SHA256(vm.ovf)= ${sha('sha256', 'a')}\ngarbage`, /vm\.mf line 2: not a manifest line/],
    [`SHA256(vm.ovf)= ${sha('sha1', 'a')}`, /vm\.mf line 1: a SHA256 digest has 64 hex digits, not 40/],
    [`SHA1(../../etc/passwd)= ${sha('sha1', 'a')}`, /vm\.mf line 1: "\.\.\/\.\.\/etc\/passwd" is not a file of the package/],
  ];
  for (const [text, re] of cases) assert.throws(() => parseOvfManifest(text, 'vm.mf'), (e: unknown) => e instanceof OvfError && re.test(e.message), text);
});

test('formatOvfManifest writes SHA256 lines that verifyOvfManifest accepts; a changed, missing or unlisted file is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-mf-'));
  try {
    await writeFile(join(dir, 'vm.ovf'), '<Envelope/>');
    await writeFile(join(dir, 'vm-disk1.vmdk'), 'disk bytes');
    const text = await formatOvfManifest(dir, ['vm.ovf', 'vm-disk1.vmdk']);
    assert.equal(text, `SHA256(vm.ovf)= ${sha('sha256', '<Envelope/>')}\nSHA256(vm-disk1.vmdk)= ${sha('sha256', 'disk bytes')}\n`);
    const entries = parseOvfManifest(text, 'vm.mf');
    await verifyOvfManifest(dir, entries, ['vm.ovf', 'vm-disk1.vmdk'], 'vm.mf');
    await assert.rejects(verifyOvfManifest(dir, entries, ['vm.ovf', 'vm-disk1.vmdk', 'vm-disk2.vmdk'], 'vm.mf'), /vm\.mf: has no digest for vm-disk2\.vmdk/);
    await writeFile(join(dir, 'vm-disk1.vmdk'), 'disk bytes, changed');
    await assert.rejects(verifyOvfManifest(dir, entries, [], 'vm.mf'), /vm\.mf: SHA256 digest of vm-disk1\.vmdk does not match/);
    await rm(join(dir, 'vm-disk1.vmdk'));
    await assert.rejects(verifyOvfManifest(dir, entries, [], 'vm.mf'), /vm\.mf: lists vm-disk1\.vmdk, which is not in the package/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
