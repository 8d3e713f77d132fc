import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../errors/validation-error.js';
import { runCommand } from '../util/run-command.js';
import { buildIso9660Image, type IsoFile } from './iso9660-image.js';

const now = new Date('2026-12-04T22:00:00.000Z');
const files: IsoFile[] = [
  { name: 'user-data', data: Buffer.from('#!/bin/sh\necho hi\n') },
  { name: 'meta-data', data: Buffer.from('instance-id: i-1\n') },
  // Larger than a sector, so that a file spanning sectors is read whole.
  { name: 'network-config', data: Buffer.from('x'.repeat(5000)) },
  { name: 'empty', data: Buffer.alloc(0) },
  { name: 'meta-data.backup', data: Buffer.from('clash of 8.3 names with meta-data\n') },
];

async function withIso<T>(image: Buffer, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-iso-'));
  try {
    const path = join(dir, 'x.iso');
    await writeFile(path, image);
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('isoinfo reads the label, Rock Ridge and Joliet names and every file back byte for byte', async () => {
  const image = buildIso9660Image(files, { volumeId: 'cidata', now });
  assert.equal(image.length % 2048, 0);
  assert.ok(image.length >= 0x11000, `padded past the 68 KiB busybox's findfs reads at once (${image.length} bytes)`);
  await withIso(image, async (iso) => {
    const d = (await runCommand('isoinfo', ['-d', '-i', iso])).stdout;
    assert.match(d, /^Volume id: cidata$/m);
    assert.match(d, /Joliet with UCS level 3 found/);
    assert.match(d, /Rock Ridge signatures version 1 found/);
    for (const ext of ['-R', '-J']) {
      const listing = (await runCommand('isoinfo', [ext, '-l', '-i', iso])).stdout;
      for (const f of files) assert.match(listing, new RegExp(` ${f.name.replace(/\./g, '\\.')} *$`, 'm'), `${ext} lists ${f.name}`);
      for (const f of files) {
        const got = (await runCommand('isoinfo', [ext, '-i', iso, '-x', `/${f.name}`])).stdout;
        assert.equal(got, f.data.toString(), `${ext} /${f.name}`);
      }
    }
    // Rock Ridge gives the files read-only modes (what genisoimage -r does).
    assert.match((await runCommand('isoinfo', ['-R', '-l', '-i', iso])).stdout, /^-r--r--r-- .* meta-data *$/m);
  });
});

test('blkid sees an iso9660 file system labelled like the volume', async () => {
  await withIso(buildIso9660Image(files, { volumeId: 'cidata', now }), async (iso) => {
    const out = (await runCommand('blkid', ['-o', 'export', iso])).stdout;
    assert.match(out, /^TYPE=iso9660$/m);
    assert.match(out, /^LABEL=cidata$/m);
  });
});

test('the same input and time give the same image', () => {
  assert.deepEqual(buildIso9660Image(files, { volumeId: 'cidata', now }), buildIso9660Image([...files], { volumeId: 'cidata', now }));
});

test('bad names, a repeated name, too many files and a bad label are refused naming the field', () => {
  const issuesOf = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof ValidationError, String(err));
      return err.issues.map((i) => i.field);
    }
    assert.fail('expected a ValidationError');
  };
  const f = (name: string): IsoFile => ({ name, data: Buffer.from('x') });
  assert.deepEqual(issuesOf(() => buildIso9660Image([f('a'), f('b/c')], { volumeId: 'cidata' })), ['files.1.name']);
  assert.deepEqual(issuesOf(() => buildIso9660Image([f('a'), f('a')], { volumeId: 'cidata' })), ['files.1.name']);
  assert.deepEqual(issuesOf(() => buildIso9660Image([f('x'.repeat(65))], { volumeId: 'cidata' })), ['files.0.name']);
  assert.deepEqual(issuesOf(() => buildIso9660Image(Array.from({ length: 11 }, (_, i) => f(`f${i}`)), { volumeId: 'cidata' })), ['files']);
  assert.deepEqual(issuesOf(() => buildIso9660Image([f('a')], { volumeId: 'a label too long!' })), ['volumeId']);
  assert.deepEqual(issuesOf(() => buildIso9660Image([f('a')], { volumeId: '' })), ['volumeId']);
});

test('ten files with the longest names still fit the one-sector directories', async () => {
  const many = Array.from({ length: 10 }, (_, i) => ({ name: `${String(i).padStart(2, '0')}${'n'.repeat(62)}`, data: Buffer.from(`file ${i}\n`) }));
  await withIso(buildIso9660Image(many, { volumeId: 'cidata', now }), async (iso) => {
    for (const ext of ['-R', '-J']) {
      for (const m of [many[0]!, many[9]!]) assert.equal((await runCommand('isoinfo', [ext, '-i', iso, '-x', `/${m.name}`])).stdout, m.data.toString(), `${ext} ${m.name}`);
    }
  });
});
